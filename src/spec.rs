//! The migration spec: a TOML file turned into validated values.
//!
//! Everything the user can get wrong in the file is caught here, before anything is observed, and
//! reported as one line naming the file, the line and column, and the key, followed by a `hint:` line.
//! Secrets are not read here: a password is only a *source* (an environment variable, a file, or a
//! token mode) until a provider resolves it. No I/O besides reading the spec and checking that files it
//! names exist.

use crate::error::UserError;
use crate::secret::Secret;
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

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
}

#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub cluster: String,
    pub region: String,
    pub profile: Option<String>,
    pub databases: Vec<String>,
    pub migration_user: String,
    pub connection: Connection,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub subscription: String,
    pub resource_group: String,
    pub server: String,
    pub arm_endpoint: Option<String>,
    pub authority_host: Option<String>,
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
    /// Reads the password. Token modes are resolved by their providers, not here.
    pub fn resolve(&self, key: &str) -> Result<Secret, UserError> {
        match self {
            PasswordSource::Env(var) => std::env::var(var).map(Secret::new).map_err(|_| {
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
                Ok(Secret::new(text))
            }
            PasswordSource::Iam => {
                Err(UserError::new(format!("{key}: RDS IAM authentication tokens are not supported yet"))
                    .hint("use password = { env = \"…\" } or { file = \"…\" } for now"))
            }
            PasswordSource::Entra => {
                Err(UserError::new(format!("{key}: Microsoft Entra tokens for PostgreSQL are not supported yet"))
                    .hint("use password = { env = \"…\" } or { file = \"…\" } for now"))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The file's shape, as serde sees it. Spans are kept where a later check needs to point at a value.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Spanned<String>,
    ca_file: Option<Spanned<String>>,
    source: RawSource,
    target: RawTarget,
    #[serde(default)]
    desired: RawDesired,
    #[serde(default)]
    allow: RawAllow,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    cluster: Spanned<String>,
    region: Spanned<String>,
    profile: Option<Spanned<String>>,
    databases: Spanned<Vec<Spanned<String>>>,
    migration_user: Spanned<String>,
    connection: RawConnection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    subscription: Spanned<String>,
    resource_group: Spanned<String>,
    server: Spanned<String>,
    arm_endpoint: Option<Spanned<String>>,
    authority_host: Option<Spanned<String>>,
    connection: RawConnection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    host: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    user: Spanned<String>,
    password: Spanned<toml::Value>,
    #[serde(default = "default_sslmode")]
    sslmode: SslMode,
}

fn default_sslmode() -> SslMode {
    SslMode::Require
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDesired {
    wal_sender_timeout: Option<Spanned<u32>>,
    parameter_group: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    #[serde(default)]
    reboot_source_writer: bool,
    #[serde(default)]
    restart_target: bool,
    #[serde(default)]
    remove_replicas: RemoveReplicas,
    #[serde(default)]
    resize_target: bool,
    #[serde(default)]
    recreate_replicas: bool,
}

const EXAMPLE: &str = "see plans/example.toml for every key, its type and an example";

impl Spec {
    /// Reads and validates the spec at `path`.
    pub fn load(path: &Path) -> Result<Self, UserError> {
        let bytes = std::fs::read(path).map_err(|e| {
            UserError::new(format!("cannot read the spec {}: {e}", path.display()))
                .hint("pass the spec's path (default: migprep.toml in the current folder)")
        })?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| UserError::new(format!("{}: the spec is not UTF-8 text", path.display())).hint(EXAMPLE))?;
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

/// Turns byte spans into `file:line:column` and builds the error lines.
struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        (line, column)
    }

    fn error(&self, span: Range<usize>, key: &str, problem: &str, hint: impl Into<String>) -> UserError {
        let (line, column) = self.position(span.start);
        UserError::new(format!("{}:{line}:{column}: {key}: {problem}", self.file.display())).hint(hint)
    }

    fn syntax_error(&self, error: &toml::de::Error) -> UserError {
        let span = error.span().unwrap_or(0..0);
        self.error(span, "(syntax)", error.message().trim(), "fix the TOML syntax at that position")
    }

    fn serde_error(&self, error: serde_path_to_error::Error<toml::de::Error>) -> UserError {
        let path: Vec<String> = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } | serde_path_to_error::Segment::Enum { variant: key } => {
                    // Spanned<T> is deserialized through private marker fields; they are not keys.
                    (!key.starts_with("$__")).then(|| key.clone())
                }
                serde_path_to_error::Segment::Seq { index } => Some(format!("[{index}]")),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let inner = error.inner();
        let message = inner.message().trim().to_string();
        let span = inner.span().unwrap_or(0..0);
        let mut key = path.join(".").replace(".[", "[");

        if message.starts_with("unknown field `") {
            // The path already ends with the unknown key.
            let table = key.rsplit_once('.').map(|(table, _)| format!("[{table}]"));
            let allowed =
                message.split_once("expected ").map(|(_, rest)| rest.replace("one of ", "")).unwrap_or_default();
            let hint = format!("keys allowed in {}: {allowed}", table.as_deref().unwrap_or("the top level"));
            return self.error(span, &key, "unknown key", hint);
        }
        if let Some(missing) = backticked(&message, "missing field `") {
            let full = if key.is_empty() { missing.clone() } else { format!("{key}.{missing}") };
            return self.error(span, &full, "required key is missing", format!("add {missing} = … ({EXAMPLE})"));
        }
        if key.is_empty() {
            key = "(top level)".into();
        }
        let hint = if message.starts_with("unknown variant") {
            format!("use one of the listed values ({EXAMPLE})")
        } else {
            EXAMPLE.to_string()
        };
        self.error(span, &key, &message, hint)
    }
}

/// The text between `prefix` and the next backtick.
fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = message.split_once(prefix)?.1;
    Some(rest.split('`').next()?.to_string())
}

struct Validator<'a> {
    at: Locator<'a>,
    base: PathBuf,
}

impl Validator<'_> {
    fn spec(&self, raw: RawSpec, _text: &str) -> Result<Spec, UserError> {
        let name = self.check(&raw.name, "name", is_spec_name, "a name of letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters (it names the state folder)")?;
        let ca_file = match &raw.ca_file {
            Some(file) => Some(self.existing_file(file, "ca_file")?),
            None => None,
        };
        let source = self.source(raw.source)?;
        let target = self.target(raw.target)?;
        let desired = Desired {
            wal_sender_timeout: raw.desired.wal_sender_timeout.as_ref().map(|v| *v.get_ref()),
            parameter_group: match &raw.desired.parameter_group {
                Some(group) => Some(self.check(group, "desired.parameter_group", is_parameter_group_name,
                    "1–255 letters, digits and hyphens, starting with a letter, no two hyphens in a row, not ending with a hyphen")?),
                None => None,
            },
        };
        if let Some(timeout) = &raw.desired.wal_sender_timeout
            && *timeout.get_ref() > 3_600_000
        {
            return Err(self.at.error(
                timeout.span(),
                "desired.wal_sender_timeout",
                "must be between 0 and 3600000 (milliseconds)",
                "0 disables the timeout, which the migration service recommends",
            ));
        }
        let allow = Allow {
            reboot_source_writer: raw.allow.reboot_source_writer,
            restart_target: raw.allow.restart_target,
            remove_replicas: raw.allow.remove_replicas,
            resize_target: raw.allow.resize_target,
            recreate_replicas: raw.allow.recreate_replicas,
        };
        Ok(Spec {
            file: self.at.file.to_path_buf(),
            digest: String::new(),
            name,
            ca_file,
            source,
            target,
            desired,
            allow,
        })
    }

    fn source(&self, raw: RawSource) -> Result<Source, UserError> {
        let cluster = self.check(&raw.cluster, "source.cluster", is_cluster_identifier,
            "an Aurora DB cluster identifier: 1–63 letters, digits and hyphens, starting with a letter, no two hyphens in a row, not ending with a hyphen")?
            .to_lowercase();
        let region = self.check(&raw.region, "source.region", is_region, "an AWS region such as us-east-1")?;
        let profile = raw.profile.as_ref().map(|p| p.get_ref().clone());
        if raw.databases.get_ref().is_empty() {
            return Err(self.at.error(
                raw.databases.span(),
                "source.databases",
                "the list is empty",
                "name at least one database to migrate, e.g. databases = [\"orders\"]",
            ));
        }
        let mut databases = Vec::new();
        for (index, database) in raw.databases.get_ref().iter().enumerate() {
            let key = format!("source.databases[{index}]");
            let name =
                self.check(database, &key, is_pg_identifier, "a PostgreSQL database name: 1–63 bytes, no NUL")?;
            if databases.contains(&name) {
                return Err(self.at.error(
                    database.span(),
                    &key,
                    &format!("database {name:?} is listed twice"),
                    "list each database once",
                ));
            }
            databases.push(name);
        }
        let migration_user = self.check(
            &raw.migration_user,
            "source.migration_user",
            is_pg_identifier,
            "a PostgreSQL role name: 1–63 bytes, no NUL",
        )?;
        let connection = self.connection(raw.connection, "source", PasswordSide::Source)?;
        Ok(Source { cluster, region, profile, databases, migration_user, connection })
    }

    fn target(&self, raw: RawTarget) -> Result<Target, UserError> {
        let subscription = self.check(
            &raw.subscription,
            "target.subscription",
            is_uuid,
            "the subscription ID is a UUID such as 00000000-0000-0000-0000-000000000000 (az account show --query id)",
        )?;
        let resource_group = self.check(
            &raw.resource_group,
            "target.resource_group",
            is_resource_group,
            "1–90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.'",
        )?;
        let server = self.check(
            &raw.server,
            "target.server",
            is_server_name,
            "a flexible server name: 3–63 lowercase letters, digits and hyphens, not starting or ending with a hyphen",
        )?;
        let arm_endpoint = match &raw.arm_endpoint {
            Some(url) => Some(self.check(
                url,
                "target.arm_endpoint",
                is_https_url,
                "an https:// URL such as https://management.azure.com",
            )?),
            None => None,
        };
        let authority_host = match &raw.authority_host {
            Some(url) => Some(self.check(
                url,
                "target.authority_host",
                is_https_url,
                "an https:// URL such as https://login.microsoftonline.com",
            )?),
            None => None,
        };
        let connection = self.connection(raw.connection, "target", PasswordSide::Target)?;
        Ok(Target { subscription, resource_group, server, arm_endpoint, authority_host, connection })
    }

    fn connection(&self, raw: RawConnection, side: &str, password_side: PasswordSide) -> Result<Connection, UserError> {
        let prefix = format!("{side}.connection");
        let host = match &raw.host {
            Some(host) => Some(self.check(host, &format!("{prefix}.host"), is_host, "a host name or IP address")?),
            None => None,
        };
        let port = match &raw.port {
            Some(port) if *port.get_ref() == 0 => {
                return Err(self.at.error(
                    port.span(),
                    &format!("{prefix}.port"),
                    "port 0 is not a port",
                    "PostgreSQL listens on 5432 unless configured otherwise",
                ));
            }
            Some(port) => Some(*port.get_ref()),
            None => None,
        };
        let user = self.check(
            &raw.user,
            &format!("{prefix}.user"),
            is_pg_identifier,
            "a PostgreSQL role name: 1–63 bytes, no NUL",
        )?;
        let password = self.password(&raw.password, &format!("{prefix}.password"), password_side)?;
        Ok(Connection { host, port, user, password, sslmode: raw.sslmode })
    }

    fn password(&self, raw: &Spanned<toml::Value>, key: &str, side: PasswordSide) -> Result<PasswordSource, UserError> {
        let hint = match side {
            PasswordSide::Source => "use password = { env = \"VAR\" }, { file = \"path\" } or \"iam\"",
            PasswordSide::Target => "use password = { env = \"VAR\" }, { file = \"path\" } or \"entra\"",
        };
        let span = raw.span();
        match raw.get_ref() {
            toml::Value::String(mode) => match (mode.as_str(), side) {
                ("iam", PasswordSide::Source) => Ok(PasswordSource::Iam),
                ("entra", PasswordSide::Target) => Ok(PasswordSource::Entra),
                ("iam", PasswordSide::Target) => {
                    Err(self.at.error(span, key, "\"iam\" is for the Aurora source", hint))
                }
                ("entra", PasswordSide::Source) => {
                    Err(self.at.error(span, key, "\"entra\" is for the Azure target", hint))
                }
                // Never echo the string: it may be a password pasted into the spec.
                _ => Err(self.at.error(span, key, "a password cannot be written in the spec", hint)),
            },
            toml::Value::Table(table) => {
                let mut entries = table.iter();
                match (entries.next(), entries.next()) {
                    (Some((kind, toml::Value::String(value))), None) if kind == "env" => {
                        if is_env_name(value) {
                            Ok(PasswordSource::Env(value.clone()))
                        } else {
                            Err(self.at.error(
                                span,
                                &format!("{key}.env"),
                                &format!("{value:?} is not an environment variable name"),
                                "letters, digits and '_', not starting with a digit",
                            ))
                        }
                    }
                    (Some((kind, toml::Value::String(value))), None) if kind == "file" => {
                        Ok(PasswordSource::File(self.base.join(value)))
                    }
                    (Some((kind, _)), None) if kind == "env" || kind == "file" => {
                        Err(self.at.error(span, &format!("{key}.{kind}"), "must be a string", hint))
                    }
                    (Some((kind, _)), None) => Err(self.at.error(span, &format!("{key}.{kind}"), "unknown key", hint)),
                    _ => Err(self.at.error(span, key, "must name exactly one source", hint)),
                }
            }
            other => Err(self.at.error(
                span,
                key,
                &format!("expected a table or a string, found {}", other.type_str()),
                hint,
            )),
        }
    }

    fn check(
        &self,
        value: &Spanned<String>,
        key: &str,
        valid: fn(&str) -> bool,
        hint: &str,
    ) -> Result<String, UserError> {
        let text = value.get_ref();
        if valid(text) {
            Ok(text.clone())
        } else {
            Err(self.at.error(value.span(), key, &format!("{text:?} is not valid"), hint))
        }
    }

    fn existing_file(&self, value: &Spanned<String>, key: &str) -> Result<PathBuf, UserError> {
        let path = self.base.join(value.get_ref());
        if path.is_file() {
            Ok(path)
        } else {
            Err(self.at.error(
                value.span(),
                key,
                &format!("file {} does not exist", path.display()),
                "the path is relative to the spec's folder",
            ))
        }
    }
}

#[derive(Clone, Copy)]
enum PasswordSide {
    Source,
    Target,
}

fn is_spec_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && s.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// RDS identifiers: letters, digits, hyphens; a letter first; no `--`; no trailing hyphen.
fn is_rds_identifier(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.contains("--")
        && !s.ends_with('-')
}

fn is_cluster_identifier(s: &str) -> bool {
    is_rds_identifier(s, 63)
}

fn is_parameter_group_name(s: &str) -> bool {
    is_rds_identifier(s, 255)
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn is_pg_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && !s.contains('\0')
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

fn is_resource_group(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= 90
        && !s.ends_with('.')
        && s.chars().all(|c| c.is_alphanumeric() || "-_.()".contains(c))
}

fn is_server_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_https_url(s: &str) -> bool {
    matches!(reqwest::Url::parse(s), Ok(url) if url.scheme() == "https" && url.host().is_some())
}

fn is_host(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
