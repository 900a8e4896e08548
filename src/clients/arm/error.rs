//! What went wrong talking to ARM, as data: the HTTP status and ARM's `error.code` are kept and branched
//! on, never parsed from the message. Every error can become a [`UserError`] with a hint.

// Errors

use std::time::Duration;

use crate::error::UserError;

/// What went wrong talking to Entra ID or ARM. ARM's `error.code` and `message` are kept as data.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AzureError {
    /// Every source of the chain failed; one line per source, with its own message.
    #[error("no Azure credential gave a token; tried:{}", .tried.iter().map(|t| format!("\n  - {t}")).collect::<String>())]
    NoCredentials { tried: Vec<String> },
    #[error("Microsoft Entra ID refused a token for {source_name}: {detail}")]
    Authentication { source_name: String, detail: String, hint: Option<String> },
    /// A decisive source answered by a developer tool or a managed identity endpoint failed.
    #[error("{source_name} gave no token: {detail}")]
    CredentialFailed { source_name: String, detail: String, hint: Option<String> },
    #[error("could not get a token for {source_name} from Microsoft Entra ID: {detail}")]
    TokenUnreachable { source_name: String, detail: String },
    #[error("ARM refused access to {resource} (HTTP {status}): {code}: {message}")]
    Access { resource: String, status: u16, code: String, message: String },
    #[error("{resource} not found: {code}: {message}")]
    NotFound { resource: String, code: String, message: String },
    #[error("{operation} on {resource} failed (HTTP {status}): {code}: {message}")]
    Arm { operation: String, resource: String, status: u16, code: String, message: String },
    #[error("{operation} on {resource} ended {status}: {code}: {message}")]
    OperationFailed { operation: String, resource: String, status: String, code: String, message: String },
    #[error("{operation} on {resource} did not finish within {}s", .waited.as_secs())]
    Timeout { operation: String, resource: String, waited: Duration },
    #[error("{operation} on {resource} could not reach ARM: {detail}")]
    Transport { operation: String, resource: String, detail: String },
    #[error("unexpected answer from ARM for {resource}: {detail}")]
    Decode { resource: String, detail: String },
    #[error("{what} {url} is not one of Azure's clouds; migprep sends it {sends} only when told to trust it")]
    UnknownEndpoint { what: &'static str, url: String, sends: &'static str },
    #[error("{0}")]
    Setup(String),
    /// The environment configures a credential that cannot be used as it is (a variable's value, a file).
    #[error("{message}")]
    Configuration { message: String, hint: String },
}

impl AzureError {
    /// ARM's `error.code` (or the operation's), when ARM answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AzureError::Access { code, .. }
            | AzureError::NotFound { code, .. }
            | AzureError::Arm { code, .. }
            | AzureError::OperationFailed { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            AzureError::Access { message, .. }
            | AzureError::NotFound { message, .. }
            | AzureError::Arm { message, .. }
            | AzureError::OperationFailed { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The HTTP status of ARM's refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            AzureError::Access { status, .. } | AzureError::Arm { status, .. } => Some(*status),
            AzureError::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, AzureError::NotFound { .. })
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            AzureError::NoCredentials { .. } => "sign in with `az login` (or `azd auth login`), or set \
                 AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH \
                 for a service principal; AZURE_TOKEN_CREDENTIALS (dev, prod or a credential's name) chooses \
                 which credentials are tried"
                .into(),
            AzureError::Authentication { hint, .. } | AzureError::CredentialFailed { hint, .. } => hint.clone()?,
            AzureError::Configuration { hint, .. } => hint.clone(),
            AzureError::TokenUnreachable { .. } => "check the network path to the authority \
                 host (`target.authority_host`, AZURE_AUTHORITY_HOST) and, behind a TLS-inspecting \
                 proxy, `ca_file`"
                .into(),
            AzureError::Access { .. } => "the identity needs a role with \
                 Microsoft.DBforPostgreSQL/flexibleServers read and write permissions (e.g. \
                 Contributor) on the server; check which identity is used (`az account show`, \
                 AZURE_CLIENT_ID)"
                .into(),
            AzureError::NotFound { code, .. } if code == "ResourceGroupNotFound" => {
                "check `target.subscription` and `target.resource_group`".into()
            }
            AzureError::NotFound { code, .. } if code == "ConfigurationNotExists" => {
                "this parameter does not exist for the server's PostgreSQL version".into()
            }
            AzureError::NotFound { .. } => "check `target.subscription`, \
                 `target.resource_group` and `target.server` (`az postgres flexible-server list \
                 -g <resource group>`)"
                .into(),
            AzureError::Arm { status: 429, .. } => "ARM kept throttling; wait a few minutes and run again".into(),
            AzureError::Arm { status: 409, .. } => {
                "another operation is running on the server; wait until its state is Ready and \
                 run again"
                    .into()
            }
            AzureError::Timeout { .. } => "the operation may still finish: check the server \
                 in the portal and run `migprep apply` again, which resumes"
                .into(),
            AzureError::Transport { .. } => "check the network path to ARM (proxy, \
                 MIGPREP_ARM_ENDPOINT) and, behind a TLS-inspecting proxy, `ca_file`"
                .into(),
            AzureError::UnknownEndpoint { .. } => "if this endpoint is yours (a proxy, a private cloud, a local \
                 stand-in), set MIGPREP_ALLOW_CUSTOM_ENDPOINTS=1 in the environment; otherwise remove it from \
                 the spec and the environment"
                .into(),
            _ => return None,
        })
    }

    /// The error as the user sees it: one line plus a hint.
    pub fn to_user_error(&self) -> UserError {
        let error = UserError::new(self.to_string());
        match self.hint() {
            Some(hint) => error.hint(hint),
            None => error,
        }
    }
}

impl From<AzureError> for UserError {
    fn from(error: AzureError) -> Self {
        error.to_user_error()
    }
}
