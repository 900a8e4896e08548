//! The migration spec: a TOML file turned into validated values.
//!
//! Everything the user can get wrong in the file is caught here, before anything is observed, and
//! reported as one line naming the file, the line and column, and the key, followed by a `hint:` line.
//! Secrets are not read here: a password is only a *source* (an environment variable, a file, a secret
//! in AWS Secrets Manager, or a token mode) until a provider resolves it. No I/O besides reading the spec and checking that files it
//! names exist.
//!
//! This module holds the validated types and [`Spec::load`]/[`Spec::parse`]; `raw` is the file's shape as
//! serde sees it, `locate` turns byte spans into `file:line:column` errors, and `validate` checks the raw
//! values and builds the validated ones.

mod keys;
mod locate;
mod raw;
mod validate;

use crate::error::UserError;
use crate::secret::Secret;
use locate::Locator;
use raw::RawSpec;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use validate::Validator;

/// A validated migration spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The file it was read from.
    pub file: PathBuf,
    /// `sha256:<hex>` of the file's bytes; saved plans carry it to refuse being applied to another spec.
    pub digest: String,
    pub name: String,
    /// An extra CA bundle for every TLS connection, resolved against the spec's folder.
    pub ca_file: Option<PathBuf>,
    pub source: Source,
    pub target: Target,
    pub desired: Desired,
    pub allow: Allow,
    /// Where the state, the journal and the lock live.
    pub state: StateBackend,
}

/// `[state]`: where the state, the journal and the lock live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StateBackend {
    /// The state folder beside the spec (or under `MIGPREP_STATE_DIR`).
    #[default]
    Local,
    /// An S3 bucket, under `prefix`; the lock is an object created only if absent.
    S3 { bucket: String, prefix: String, region: Option<String> },
    /// An Azure Blob container, under `prefix`; the lock is a leased blob. `endpoint` is the account's
    /// blob endpoint when it is not `https://<account>.blob.core.windows.net`.
    AzBlob { account: String, container: String, prefix: String, endpoint: Option<String> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub cluster: String,
    pub region: String,
    pub profile: Option<String>,
    pub databases: Vec<String>,
    pub migration_user: String,
    /// The migration user's password: the migration service logs in as `migration_user` with it.
    /// Optional; `validate` needs it.
    pub migration_password: Option<PasswordSource>,
    pub connection: Connection,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub subscription: String,
    pub resource_group: String,
    pub server: String,
    pub arm_endpoint: Option<String>,
    pub authority_host: Option<String>,
    /// The Microsoft Entra tenant (id) of the server's subscription: the az CLI and azd are asked for a
    /// token in it, and a token for any other tenant is refused before it reaches ARM.
    pub tenant: Option<String>,
    /// The ARM resource id of the migration runtime server (a flexible server in the source's network),
    /// for private networking; `validate` hands it to the migration service.
    pub migration_runtime_server: Option<String>,
    pub connection: Connection,
}

/// How to reach one database. `host`/`port` default to what the cloud API reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: String,
    pub password: PasswordSource,
    pub sslmode: SslMode,
}

/// Where a password comes from. The value itself is read only when connecting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// An environment variable.
    Env(String),
    /// A file (resolved against the spec's folder); one trailing newline is ignored.
    File(PathBuf),
    /// An RDS IAM authentication token (source only).
    Iam,
    /// A Microsoft Entra token (target only).
    Entra,
    /// A secret in AWS Secrets Manager, by ARN or name (source only): a JSON object as RDS writes it,
    /// from which `key` (default `password`) is taken, or a plain string that is the password itself.
    AwsSecret { id: String, key: Option<String> },
}

pub use crate::tls::SslMode;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// `wal_sender_timeout` in milliseconds; default 0 (never time out).
    pub wal_sender_timeout: Option<u32>,
    /// The name of the cluster parameter group to create; default `<cluster>-migration`.
    pub parameter_group: Option<String>,
}

/// Disruptive actions the user allows. Everything is off unless the spec says otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    pub reboot_source_writer: bool,
    pub restart_target: bool,
    pub remove_replicas: RemoveReplicas,
    pub resize_target: bool,
    /// `restore` re-creates the read replicas that `apply` promoted or deleted (they cost money again).
    pub recreate_replicas: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoveReplicas {
    #[default]
    No,
    Promote,
    Delete,
}

impl Desired {
    /// The group to create for `cluster`, lowercase as RDS stores group names.
    pub fn parameter_group_for(&self, cluster: &str) -> String {
        self.parameter_group.clone().unwrap_or_else(|| format!("{cluster}-migration")).to_lowercase()
    }
}

impl PasswordSource {
    /// Reads a password kept on this machine (an environment variable or a file). `None` for the
    /// sources a cloud provides (Secrets Manager, RDS IAM and Entra tokens): the clients resolve those.
    pub fn resolve(&self, key: &str) -> Result<Option<Secret>, UserError> {
        match self {
            PasswordSource::Env(var) => std::env::var(var).map(|value| Some(Secret::new(value))).map_err(|_| {
                UserError::new(format!("{key}: environment variable {var} is not set"))
                    .hint(format!("export {var}=…, or use password = {{ file = \"…\" }}"))
            }),
            PasswordSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    UserError::new(format!("{key}: cannot read the password file {}: {e}", path.display()))
                        .hint("check the path in the spec; it is relative to the spec's folder")
                })?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                Ok(Some(Secret::new(text)))
            }
            PasswordSource::Iam | PasswordSource::Entra | PasswordSource::AwsSecret { .. } => Ok(None),
        }
    }

    /// Whether the password is a short-lived token, sent as a cleartext password inside TLS.
    pub fn is_token(&self) -> bool {
        matches!(self, PasswordSource::Iam | PasswordSource::Entra)
    }
}

impl Spec {
    /// Reads and validates the spec at `path`.
    pub fn load(path: &Path) -> Result<Self, UserError> {
        // A spec is a small regular file: a FIFO would block and a device could be endless.
        const LARGEST: u64 = 1024 * 1024;
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(UserError::new(format!("{} is not a regular file", path.display()))
                    .hint("pass the spec's path (default: migprep.toml in the current folder)"));
            }
            Ok(meta) if meta.len() > LARGEST => {
                return Err(UserError::new(format!(
                    "{} is {} bytes; a spec is at most 1 MiB",
                    path.display(),
                    meta.len()
                ))
                .hint("pass the spec's path, not another file"));
            }
            _ => {}
        }
        let bytes = std::fs::read(path).map_err(|e| {
            UserError::new(format!("cannot read the spec {}: {e}", path.display()))
                .hint("pass the spec's path (default: migprep.toml in the current folder)")
        })?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| {
            UserError::new(format!("{}: the spec is not UTF-8 text", path.display()))
                .hint("save the spec as UTF-8 text (TOML files are UTF-8)")
        })?;
        let mut spec = Self::parse(path, &text)?;
        spec.digest = crate::digest::sha256(&bytes);
        Ok(spec)
    }

    /// Validates spec text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, UserError> {
        let located = Locator { file: path, text };
        let deserializer = toml::Deserializer::parse(text).map_err(|e| located.syntax_error(&e))?;
        let raw: RawSpec = serde_path_to_error::deserialize(deserializer).map_err(|e| located.serde_error(e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        Validator { at: located, base }.spec(raw, text)
    }
}
