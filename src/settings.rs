//! What the environment configures, read once at the start of a run into one value. Nothing below the
//! command layer reads an environment variable; it is handed the piece of [`Settings`] it needs.

use std::path::PathBuf;
use std::time::Duration;

/// The pause between two polls of a slow operation (a reboot, an ARM operation, a busy server) when
/// `MIGPREP_POLL_INTERVAL_MS` does not set one: soon enough to notice the end, light on the API rate.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// How often a step that is still running says so in a log without a terminal, when
/// `MIGPREP_HEARTBEAT_SECS` does not set it: often enough that a CI log never looks stuck.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);

/// Every environment variable migprep reads (besides the clouds' own credential chains).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `MIGPREP_STATE_DIR`: where state folders live instead of `.migprep/` beside the spec.
    pub state_dir: Option<PathBuf>,
    /// `MIGPREP_CA_FILE`: an extra CA bundle when the spec sets no `ca_file`.
    pub ca_file: Option<PathBuf>,
    /// `AWS_CA_BUNDLE`: a CA bundle for AWS's endpoints only, as the AWS CLI and SDKs take it.
    pub aws_ca_bundle: Option<PathBuf>,
    /// `MIGPREP_POLL_INTERVAL_MS`.
    pub poll_interval: Option<Duration>,
    /// `MIGPREP_HEARTBEAT_SECS`.
    pub heartbeat: Option<Duration>,
    /// `MIGPREP_REQUEST_TIMEOUT_SECS`: how long one request to AWS or Azure may take.
    pub request_timeout: Option<Duration>,
    /// `MIGPREP_ARM_ENDPOINT`, when the spec sets no `target.arm_endpoint`.
    pub arm_endpoint: Option<String>,
    /// `AZURE_AUTHORITY_HOST`, when the spec sets no `target.authority_host`.
    pub authority_host: Option<String>,
    /// `MIGPREP_ARM_AUDIENCE`: the token audience, for sovereign or private clouds.
    pub arm_audience: Option<String>,
    /// `MIGPREP_ALLOW_CUSTOM_ENDPOINTS=1`: credentials may go to an ARM endpoint or authority host outside
    /// Azure's clouds (set where the spec is trusted: a proxy, a private cloud, the local stand-ins).
    pub allow_custom_endpoints: bool,
    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`,
    /// `AZURE_CLIENT_CERTIFICATE_PASSWORD`, `AZURE_FEDERATED_TOKEN_FILE`: the Azure credential chain's.
    pub azure_tenant_id: Option<String>,
    pub azure_client_id: Option<String>,
    pub azure_client_secret: Option<crate::secret::Secret>,
    pub azure_client_certificate_path: Option<PathBuf>,
    pub azure_client_certificate_password: Option<crate::secret::Secret>,
    pub azure_federated_token_file: Option<String>,
    /// `AZURE_TOKEN_CREDENTIALS`: which of the chain's credentials to try (`dev`, `prod` or a name),
    /// checked where the chain is built.
    pub azure_token_credentials: Option<String>,
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`: the instance metadata endpoint instead of 169.254.169.254.
    pub azure_pod_identity_authority_host: Option<String>,
    /// `IDENTITY_ENDPOINT`: the managed identity endpoint of App Service and Container Apps (named in the
    /// plan's header; azure_identity reads it with `IDENTITY_HEADER` itself).
    pub identity_endpoint: Option<String>,
    /// `AZURE_STORAGE_KEY`: an account key for `[state] backend = "azblob"` instead of an Entra token.
    pub azure_storage_key: Option<crate::secret::Secret>,
    /// `SOURCE_PGPASSWORD`: for `init`, the source admin's password, to list the databases.
    pub source_password: Option<crate::secret::Secret>,
    /// `NO_COLOR` (https://no-color.org).
    pub no_color: bool,
    /// Who runs migprep, for the lock: `USER` (or `LOGNAME`, `USERNAME`) and `HOSTNAME`.
    pub user: Option<String>,
    pub hostname: Option<String>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads variables through `var`; empty values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        Self {
            state_dir: get("MIGPREP_STATE_DIR").map(PathBuf::from),
            ca_file: get("MIGPREP_CA_FILE").map(PathBuf::from),
            aws_ca_bundle: get("AWS_CA_BUNDLE").map(PathBuf::from),
            // Zero would turn every wait into a busy loop against the clouds' rate limits.
            poll_interval: get("MIGPREP_POLL_INTERVAL_MS")
                .and_then(|ms| ms.trim().parse::<u64>().ok())
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            heartbeat: get("MIGPREP_HEARTBEAT_SECS")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            request_timeout: get("MIGPREP_REQUEST_TIMEOUT_SECS")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            arm_endpoint: get("MIGPREP_ARM_ENDPOINT"),
            authority_host: get("AZURE_AUTHORITY_HOST"),
            arm_audience: get("MIGPREP_ARM_AUDIENCE"),
            allow_custom_endpoints: get("MIGPREP_ALLOW_CUSTOM_ENDPOINTS")
                .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")),
            azure_tenant_id: get("AZURE_TENANT_ID"),
            azure_client_id: get("AZURE_CLIENT_ID"),
            azure_client_secret: get("AZURE_CLIENT_SECRET").map(crate::secret::Secret::new),
            azure_client_certificate_path: get("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            azure_client_certificate_password: var("AZURE_CLIENT_CERTIFICATE_PASSWORD")
                .filter(|v| !v.is_empty())
                .map(crate::secret::Secret::new),
            azure_federated_token_file: get("AZURE_FEDERATED_TOKEN_FILE"),
            azure_token_credentials: get("AZURE_TOKEN_CREDENTIALS"),
            azure_pod_identity_authority_host: get("AZURE_POD_IDENTITY_AUTHORITY_HOST"),
            identity_endpoint: get("IDENTITY_ENDPOINT"),
            azure_storage_key: get("AZURE_STORAGE_KEY").map(crate::secret::Secret::new),
            source_password: get("SOURCE_PGPASSWORD").map(crate::secret::Secret::new),
            no_color: get("NO_COLOR").is_some(),
            user: ["USER", "LOGNAME", "USERNAME"].iter().find_map(|name| get(name)),
            hostname: get("HOSTNAME"),
        }
    }

    /// The poll interval in force.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL)
    }

    /// The heartbeat interval in force.
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat.unwrap_or(DEFAULT_HEARTBEAT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_variables_are_unset_and_numbers_parse() {
        let settings = Settings::from_vars(|name| match name {
            "MIGPREP_POLL_INTERVAL_MS" => Some("250".into()),
            "MIGPREP_STATE_DIR" => Some(" ".into()),
            "LOGNAME" => Some("dba".into()),
            "MIGPREP_HEARTBEAT_SECS" => Some("0".into()),
            _ => None,
        });
        assert_eq!(settings.heartbeat(), DEFAULT_HEARTBEAT, "zero would log without pause");
        assert_eq!(settings.poll_interval(), Duration::from_millis(250));
        assert_eq!(settings.state_dir, None);
        assert_eq!(settings.user.as_deref(), Some("dba"));
        assert_eq!(Settings::default().poll_interval(), DEFAULT_POLL_INTERVAL);
    }

    #[test]
    fn the_azure_chain_variables_are_read() {
        let settings = Settings::from_vars(|name| match name {
            "AZURE_CLIENT_CERTIFICATE_PATH" => Some("/etc/app.pem".into()),
            "AZURE_CLIENT_CERTIFICATE_PASSWORD" => Some(" pass phrase ".into()),
            "AZURE_TOKEN_CREDENTIALS" => Some("dev".into()),
            "AZURE_POD_IDENTITY_AUTHORITY_HOST" => Some("http://127.0.0.1:2377".into()),
            _ => None,
        });
        assert_eq!(settings.azure_client_certificate_path, Some(PathBuf::from("/etc/app.pem")));
        let password = settings.azure_client_certificate_password.expect("the password");
        assert_eq!(password.expose(), " pass phrase ", "a password is taken as it is");
        assert_eq!(settings.azure_token_credentials.as_deref(), Some("dev"));
        assert_eq!(settings.azure_pod_identity_authority_host.as_deref(), Some("http://127.0.0.1:2377"));
    }
}
