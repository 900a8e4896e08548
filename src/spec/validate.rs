//! Validation: every raw value checked against what AWS, Azure and PostgreSQL accept, paths resolved
//! against the spec's folder, and the validated [`Spec`] built; the first mistake is the error.

use super::locate::Locator;
use super::raw::{Backend, RawConnection, RawSource, RawSpec, RawState, RawTarget, default_sslmode};
use super::{Allow, Connection, Desired, PasswordSource, Source, Spec, SslMode, StateBackend, Target};
use crate::error::UserError;
use crate::tls::is_loopback_host;
use std::path::PathBuf;
use toml::Spanned;

pub(super) struct Validator<'a> {
    pub(super) at: Locator<'a>,
    pub(super) base: PathBuf,
}

impl Validator<'_> {
    pub(super) fn spec(&self, raw: RawSpec, _text: &str) -> Result<Spec, UserError> {
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
        let state = match raw.state {
            Some(state) => self.state(state)?,
            None => StateBackend::Local,
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
            state,
        })
    }

    fn state(&self, raw: Spanned<RawState>) -> Result<StateBackend, UserError> {
        let span = raw.span();
        let raw = raw.into_inner();
        let text = |value: &Option<Spanned<String>>| value.as_ref().map(|v| v.get_ref().clone());
        let required = |value: &Option<Spanned<String>>, key: &str, example: &str| match value {
            Some(value) if !value.get_ref().trim().is_empty() => Ok(value.get_ref().clone()),
            _ => Err(self.at.error(span.clone(), key, "is missing", format!("set {example}"))),
        };
        let unused = |value: &Option<Spanned<String>>, key: &str, backend: &str| match value {
            Some(value) => Err(self.at.error(
                value.span(),
                key,
                &format!("is not used with backend = \"{backend}\""),
                "remove it, or choose the backend it belongs to",
            )),
            None => Ok(()),
        };
        let prefix = text(&raw.prefix).unwrap_or_default().trim_matches('/').to_string();
        match *raw.backend.get_ref() {
            Backend::Local => {
                for (value, key) in [
                    (&raw.bucket, "state.bucket"),
                    (&raw.region, "state.region"),
                    (&raw.account, "state.account"),
                    (&raw.container, "state.container"),
                    (&raw.endpoint, "state.endpoint"),
                    (&raw.prefix, "state.prefix"),
                ] {
                    unused(value, key, "local")?;
                }
                Ok(StateBackend::Local)
            }
            Backend::S3 => {
                for (value, key) in [
                    (&raw.account, "state.account"),
                    (&raw.container, "state.container"),
                    (&raw.endpoint, "state.endpoint"),
                ] {
                    unused(value, key, "s3")?;
                }
                let bucket = required(&raw.bucket, "state.bucket", "bucket = \"my-migprep-state\"")?;
                if let Some(region) = &raw.region {
                    self.check(region, "state.region", is_region, "an AWS region such as us-east-1")?;
                }
                Ok(StateBackend::S3 { bucket, prefix, region: text(&raw.region) })
            }
            Backend::Azblob => {
                for (value, key) in [(&raw.bucket, "state.bucket"), (&raw.region, "state.region")] {
                    unused(value, key, "azblob")?;
                }
                let account = required(&raw.account, "state.account", "account = \"mystorageaccount\"")?;
                let container = required(&raw.container, "state.container", "container = \"migprep-state\"")?;
                Ok(StateBackend::AzBlob { account, container, prefix, endpoint: text(&raw.endpoint) })
            }
        }
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
        let mut seen = std::collections::HashSet::new();
        for (index, database) in raw.databases.get_ref().iter().enumerate() {
            let key = format!("source.databases[{index}]");
            let name =
                self.check(database, &key, is_pg_identifier, "a PostgreSQL database name: 1–63 bytes, no NUL")?;
            if !seen.insert(name.clone()) {
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
        let migration_password = match &raw.migration_password {
            Some(password) => Some(self.password(password, "source.migration_password", PasswordSide::Migration)?),
            None => None,
        };
        let connection = self.connection(raw.connection, "source", PasswordSide::Source)?;
        Ok(Source { cluster, region, profile, databases, migration_user, migration_password, connection })
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
        let tenant = match &raw.tenant {
            Some(tenant) => Some(self.check(
                tenant,
                "target.tenant",
                is_uuid,
                "the tenant ID is a UUID such as 00000000-0000-0000-0000-000000000000 (az account show --query tenantId)",
            )?),
            None => None,
        };
        let migration_runtime_server = match &raw.migration_runtime_server {
            Some(id) => Some(self.check(
                id,
                "target.migration_runtime_server",
                is_flexible_server_id,
                "the runtime server's resource id: /subscriptions/…/resourceGroups/…/providers/Microsoft.DBforPostgreSQL/flexibleServers/NAME",
            )?),
            None => None,
        };
        let connection = self.connection(raw.connection, "target", PasswordSide::Target)?;
        Ok(Target {
            subscription,
            resource_group,
            server,
            arm_endpoint,
            authority_host,
            tenant,
            migration_runtime_server,
            connection,
        })
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
        let sslmode = match &raw.sslmode {
            Some(mode) if *mode.get_ref() == SslMode::Disable && !host.as_deref().is_some_and(is_loopback_host) => {
                let problem = match &host {
                    Some(host) => {
                        format!("\"disable\" sends the password in plain text; {host:?} is not a loopback address")
                    }
                    None => {
                        "\"disable\" sends the password in plain text; it needs host set to a loopback address".into()
                    }
                };
                return Err(self.at.error(
                    mode.span(),
                    &format!("{prefix}.sslmode"),
                    &problem,
                    "remove sslmode to use \"verify-full\" (the default); \"disable\" is only for host = \"localhost\", 127.0.0.0/8 or \"::1\"",
                ));
            }
            // A token is sent as a cleartext password (inside TLS), and stays valid for minutes: only a server
            // whose certificate verifies may have it.
            Some(mode) if *mode.get_ref() != SslMode::VerifyFull && password.is_token() => {
                return Err(self.at.error(
                    mode.span(),
                    &format!("{prefix}.sslmode"),
                    "a token login needs sslmode = \"verify-full\": the token is sent as a password, and an unverified server could use it",
                    "remove sslmode (the default is \"verify-full\") and put the server's CA in ca_file if the platform does not trust it",
                ));
            }
            Some(mode) => *mode.get_ref(),
            None => default_sslmode(),
        };
        Ok(Connection { host, port, user, password, sslmode })
    }

    fn password(&self, raw: &Spanned<toml::Value>, key: &str, side: PasswordSide) -> Result<PasswordSource, UserError> {
        let hint = match side {
            PasswordSide::Source => {
                "use password = { env = \"VAR\" }, { file = \"path\" }, { aws_secret = \"arn or name\" } or \"iam\""
            }
            PasswordSide::Target => "use password = { env = \"VAR\" }, { file = \"path\" } or \"entra\"",
            PasswordSide::Migration => {
                "use migration_password = { env = \"VAR\" } or { file = \"path\" }: the migration service logs in with a password"
            }
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
                ("iam" | "entra", PasswordSide::Migration) => {
                    Err(self.at.error(span, key, "the migration service cannot use a token", hint))
                }
                // Never echo the string: it may be a password pasted into the spec.
                _ => Err(self.at.error(span, key, "a password cannot be written in the spec", hint)),
            },
            toml::Value::Table(table) if table.contains_key("aws_secret") => {
                self.aws_secret(raw, table, key, side, hint)
            }
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
                                // Not echoed: a password pasted here must not reach a CI log.
                                "the value is not an environment variable name (not shown: it may be a secret)",
                                "name a variable: letters, digits and '_', not starting with a digit",
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

    /// `{ aws_secret = "<arn or name>" [, key = "password"] }`: a secret in AWS Secrets Manager.
    fn aws_secret(
        &self,
        raw: &Spanned<toml::Value>,
        table: &toml::Table,
        key: &str,
        side: PasswordSide,
        hint: &str,
    ) -> Result<PasswordSource, UserError> {
        let span = raw.span();
        if let PasswordSide::Target = side {
            return Err(self.at.error(
                span,
                &format!("{key}.aws_secret"),
                "\"aws_secret\" is for the Aurora source",
                hint,
            ));
        }
        if let Some(unknown) = table.keys().find(|k| *k != "aws_secret" && *k != "key") {
            return Err(self.at.error(
                span,
                &format!("{key}.{unknown}"),
                "unknown key",
                "an aws_secret source takes aws_secret (the secret's ARN or name) and, optionally, key",
            ));
        }
        let secret_hint = "the secret's ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf) or its name \
                           (letters, digits and /_+=.@-!), as `aws secretsmanager list-secrets` shows it";
        let id = match &table["aws_secret"] {
            toml::Value::String(id) if is_secret_id(id) => id.clone(),
            toml::Value::String(_) => {
                return Err(self.at.error(
                    span,
                    &format!("{key}.aws_secret"),
                    // Not echoed: a password pasted here must not reach a CI log.
                    "the value is not a secret's ARN or name (not shown: it may be a secret)",
                    secret_hint,
                ));
            }
            _ => return Err(self.at.error(span, &format!("{key}.aws_secret"), "must be a string", secret_hint)),
        };
        let secret_key = match table.get("key") {
            None => None,
            Some(toml::Value::String(name)) if !name.is_empty() && name.len() <= 256 => Some(name.clone()),
            Some(_) => {
                return Err(self.at.error(
                    span,
                    &format!("{key}.key"),
                    "must be a non-empty string",
                    "the JSON key that holds the password; RDS writes it as \"password\" (the default)",
                ));
            }
        };
        Ok(PasswordSource::AwsSecret { id, key: secret_key })
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
            Err(self.at.error(value.span(), key, &format!("{} is not valid", shortened(text)), hint))
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
    /// The migration user's password, which the migration service sends itself: no token modes.
    Migration,
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

/// An AWS region name as the SDK's partitions define them: lowercase groups joined by `-`, a number last, the
/// first group two to four letters (`us-east-1`, `us-gov-west-1`, `us-isob-east-1`, `eusc-de-east-1`).
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && (2..=4).contains(&parts[0].len())
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

/// `/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.DBforPostgreSQL/flexibleServers/<name>`.
fn is_flexible_server_id(s: &str) -> bool {
    let segments: Vec<&str> = s.split('/').collect();
    matches!(segments.as_slice(), ["", subscriptions, subscription, groups, group, providers, provider, servers, name]
        if subscriptions.eq_ignore_ascii_case("subscriptions")
            && is_uuid(subscription)
            && groups.eq_ignore_ascii_case("resourceGroups")
            && is_resource_group(group)
            && providers.eq_ignore_ascii_case("providers")
            && provider.eq_ignore_ascii_case("Microsoft.DBforPostgreSQL")
            && servers.eq_ignore_ascii_case("flexibleServers")
            && is_server_name(name))
}

fn is_https_url(s: &str) -> bool {
    matches!(reqwest::Url::parse(s), Ok(url) if url.scheme() == "https" && url.host().is_some())
}

fn is_host(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
}

/// A value from the spec for an error message: quoted, and cut short, so a megabyte in is not a megabyte
/// out (and the terminal sees no control character: `{:?}` escapes them).
fn shortened(text: &str) -> String {
    const SHOWN: usize = 80;
    if text.chars().count() <= SHOWN {
        return format!("{text:?}");
    }
    let start: String = text.chars().take(SHOWN).collect();
    format!("{start:?}… ({} characters)", text.chars().count())
}

/// A Secrets Manager secret id: an ARN of a secret, or a name of 1–512 characters from `A-Za-z0-9/_+=.@-`
/// (and `!`, which RDS puts in the names of the secrets it manages: `rds!cluster-…`).
fn is_secret_id(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return matches!(parts.as_slice(), [partition, "secretsmanager", region, account, resource]
            if partition.starts_with("aws") && !region.is_empty() && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("secret:").is_some_and(|name| !name.is_empty()));
    }
    (1..=512).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-!".contains(&b))
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
