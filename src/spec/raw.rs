//! The spec file's shape, as serde sees it. Unknown keys are refused; spans are kept where a later check
//! needs to point at a value.

use super::{RemoveReplicas, SslMode};
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpec {
    pub(super) name: Spanned<String>,
    pub(super) ca_file: Option<Spanned<String>>,
    pub(super) source: RawSource,
    pub(super) target: RawTarget,
    #[serde(default)]
    pub(super) desired: RawDesired,
    #[serde(default)]
    pub(super) allow: RawAllow,
    pub(super) state: Option<Spanned<RawState>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) cluster: Spanned<String>,
    pub(super) region: Spanned<String>,
    pub(super) profile: Option<Spanned<String>>,
    pub(super) databases: Spanned<Vec<Spanned<String>>>,
    pub(super) migration_user: Spanned<String>,
    /// The migration user's password, which the migration service logs in with (`validate` needs it).
    pub(super) migration_password: Option<Spanned<toml::Value>>,
    pub(super) connection: RawConnection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) subscription: Spanned<String>,
    pub(super) resource_group: Spanned<String>,
    pub(super) server: Spanned<String>,
    pub(super) arm_endpoint: Option<Spanned<String>>,
    pub(super) authority_host: Option<Spanned<String>>,
    /// The Microsoft Entra tenant the server's subscription belongs to.
    pub(super) tenant: Option<Spanned<String>>,
    /// The resource id of a migration runtime server (private networking), for `validate`.
    pub(super) migration_runtime_server: Option<Spanned<String>>,
    pub(super) connection: RawConnection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConnection {
    pub(super) host: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<u16>>,
    pub(super) user: Spanned<String>,
    pub(super) password: Spanned<toml::Value>,
    /// Absent means [`default_sslmode`]; the span points a refusal of `disable` at the value.
    #[serde(default)]
    pub(super) sslmode: Option<Spanned<SslMode>>,
}

/// TLS that verifies the server: a password goes only to the server the spec names. `require` (encrypt
/// without verifying) is an explicit opt-in.
pub(super) fn default_sslmode() -> SslMode {
    SslMode::VerifyFull
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDesired {
    pub(super) wal_sender_timeout: Option<Spanned<u32>>,
    pub(super) parameter_group: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAllow {
    #[serde(default)]
    pub(super) reboot_source_writer: bool,
    #[serde(default)]
    pub(super) restart_target: bool,
    #[serde(default)]
    pub(super) remove_replicas: RemoveReplicas,
    #[serde(default)]
    pub(super) resize_target: bool,
    #[serde(default)]
    pub(super) recreate_replicas: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    pub(super) backend: Spanned<Backend>,
    pub(super) bucket: Option<Spanned<String>>,
    pub(super) region: Option<Spanned<String>>,
    pub(super) account: Option<Spanned<String>>,
    pub(super) container: Option<Spanned<String>>,
    pub(super) endpoint: Option<Spanned<String>>,
    pub(super) prefix: Option<Spanned<String>>,
}

/// `[state] backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Backend {
    Local,
    S3,
    Azblob,
}
