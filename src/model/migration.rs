//! A migration resource of Azure's migration service (`…/flexibleServers/{server}/migrations/{name}`) as
//! plain data: what to ask for ([`MigrationRequest`]) and what the service reports ([`Migration`]), its
//! state and its validation items. The service's states are enums with an `Other` arm, because the service
//! may add values; item types stay strings, as the service documents them. No I/O here.

use crate::secret::Secret;

/// What `validate` asks the migration service to create. The passwords are secrets: they go into the
/// request body and nowhere else.
#[derive(Clone, Debug)]
pub struct MigrationRequest {
    /// The target server's region (a migration is a tracked resource).
    pub location: String,
    pub mode: MigrationMode,
    pub option: MigrationOption,
    /// `AWS_AURORA` for an Aurora source.
    pub source_type: String,
    /// `host:port@user` for a source outside Azure.
    pub source_server: String,
    pub ssl_mode: MigrationSslMode,
    pub databases: Vec<String>,
    /// The migration runtime server's resource id, for private networking.
    pub runtime_server: Option<String>,
    pub source_user: String,
    pub target_user: String,
    pub source_password: Secret,
    pub target_password: Secret,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationMode {
    Online,
    Offline,
}

impl MigrationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationMode::Online => "Online",
            MigrationMode::Offline => "Offline",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationOption {
    Validate,
    Migrate,
    ValidateAndMigrate,
}

impl MigrationOption {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationOption::Validate => "Validate",
            MigrationOption::Migrate => "Migrate",
            MigrationOption::ValidateAndMigrate => "ValidateAndMigrate",
        }
    }
}

/// The service's `sslMode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationSslMode {
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl MigrationSslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationSslMode::Prefer => "Prefer",
            MigrationSslMode::Require => "Require",
            MigrationSslMode::VerifyCa => "VerifyCA",
            MigrationSslMode::VerifyFull => "VerifyFull",
        }
    }
}

/// A migration as the service reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Migration {
    /// The resource id.
    pub id: String,
    pub name: String,
    pub state: MigrationState,
    pub sub_state: Option<String>,
    /// `currentStatus.error`, if the service set one.
    pub error: Option<String>,
    pub validation: Option<Validation>,
}

/// `currentStatus.state`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum MigrationState {
    #[default]
    InProgress,
    WaitingForUserAction,
    Canceled,
    Failed,
    Succeeded,
    ValidationFailed,
    CleaningUp,
    Other(String),
}

impl MigrationState {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "InProgress" => MigrationState::InProgress,
            "WaitingForUserAction" => MigrationState::WaitingForUserAction,
            "Canceled" => MigrationState::Canceled,
            "Failed" => MigrationState::Failed,
            "Succeeded" => MigrationState::Succeeded,
            "ValidationFailed" => MigrationState::ValidationFailed,
            "CleaningUp" => MigrationState::CleaningUp,
            other => MigrationState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            MigrationState::InProgress => "InProgress",
            MigrationState::WaitingForUserAction => "WaitingForUserAction",
            MigrationState::Canceled => "Canceled",
            MigrationState::Failed => "Failed",
            MigrationState::Succeeded => "Succeeded",
            MigrationState::ValidationFailed => "ValidationFailed",
            MigrationState::CleaningUp => "CleaningUp",
            MigrationState::Other(other) => other,
        }
    }

    /// A state the migration does not leave on its own.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            MigrationState::Succeeded
                | MigrationState::ValidationFailed
                | MigrationState::Failed
                | MigrationState::Canceled
        )
    }

    /// Still running or waiting: it occupies the server (one active migration per server).
    pub fn is_active(&self) -> bool {
        !self.is_final()
    }
}

/// `currentSubStateDetails.validationDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    pub status: Option<ValidationState>,
    pub server: Vec<ValidationItem>,
    pub databases: Vec<DatabaseValidation>,
}

/// `DbLevelValidationStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatabaseValidation {
    pub name: String,
    pub items: Vec<ValidationItem>,
}

/// `ValidationSummaryItem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationItem {
    /// `type`, a free string (`ServerParametersValidation`, `ExtensionsValidation`, …).
    pub kind: String,
    pub state: ValidationState,
    pub messages: Vec<ValidationMessage>,
}

/// `ValidationMessage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationMessage {
    pub state: ValidationState,
    pub text: String,
}

/// `ValidationState`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidationState {
    Failed,
    Succeeded,
    Warning,
    Other(String),
}

impl ValidationState {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "Failed" => ValidationState::Failed,
            "Succeeded" => ValidationState::Succeeded,
            "Warning" => ValidationState::Warning,
            other => ValidationState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ValidationState::Failed => "Failed",
            ValidationState::Succeeded => "Succeeded",
            ValidationState::Warning => "Warning",
            ValidationState::Other(other) => other,
        }
    }
}

/// The answer of `checkMigrationNameAvailability`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAvailability {
    pub available: bool,
    /// `Invalid` or `AlreadyExists`, when not available.
    pub reason: Option<String>,
    pub message: Option<String>,
}
