//! What went wrong talking to RDS, as data: AWS error codes and messages are kept and branched on,
//! never parsed from text. Every error can become a [`UserError`] with a hint.

// Errors

use std::error::Error as StdError;
use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};

use crate::error::UserError;
use crate::poll::{Ended, TimedOut};

/// What went wrong talking to RDS. Service codes and messages are kept as data ([`AwsError::code`]).
#[derive(Clone, Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS credentials found{}: {detail}", profile_note(.profile))]
    NoCredentials { profile: Option<String>, detail: String },
    #[error("AWS rejected the credentials{} on {operation}: {code}: {message}", profile_note(.profile))]
    Auth { operation: &'static str, profile: Option<String>, code: String, message: String },
    #[error("DB cluster {cluster} not found in {region}")]
    ClusterNotFound { cluster: String, region: String },
    #[error("DB cluster parameter group {group} not found in {region}")]
    ParameterGroupNotFound { group: String, region: String },
    #[error("DB instance {instance} not found in {region}")]
    InstanceNotFound { instance: String, region: String },
    #[error("{operation} on {subject} failed: {code}: {message}")]
    Service {
        operation: &'static str,
        subject: String,
        /// HTTP status of the refusal, when there was a response.
        status: Option<u16>,
        code: String,
        message: String,
    },
    #[error("{operation} on {subject} could not reach AWS RDS: {detail}")]
    Transport { operation: &'static str, subject: String, detail: String },
    #[error(transparent)]
    Timeout(#[from] TimedOut),
    #[error("DB instance {instance} is {status} and will not become available by waiting")]
    Stuck { instance: String, status: String },
    #[error(
        "cannot read the engine defaults of family {family}: the endpoint does not implement \
         DescribeEngineDefaultClusterParameters and has no group {fallback}"
    )]
    NoEngineDefaults { family: String, fallback: String },
    #[error("cannot set up the AWS client: {0}")]
    Setup(String),
    #[error("the AWS profile {profile} ({named_by}) is not in the AWS config or credentials files")]
    ProfileNotFound {
        profile: String,
        /// Where the name came from: `source.profile` or `AWS_PROFILE`.
        named_by: &'static str,
        /// The profiles the files define.
        known: Vec<String>,
    },
}

impl From<Ended<AwsError>> for AwsError {
    fn from(ended: Ended<AwsError>) -> Self {
        match ended {
            Ended::TimedOut(timed_out) => AwsError::Timeout(timed_out),
            Ended::Failed(error) => error,
        }
    }
}

fn profile_note(profile: &Option<String>) -> String {
    match profile {
        Some(p) => format!(" (profile {p})"),
        None => String::new(),
    }
}

impl AwsError {
    /// The AWS error code (`Throttling`, `InvalidParameterCombination`, `DBClusterNotFoundFault`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Auth { code, .. } | AwsError::Service { code, .. } => Some(code),
            AwsError::ClusterNotFound { .. } => Some("DBClusterNotFoundFault"),
            AwsError::ParameterGroupNotFound { .. } => Some("DBParameterGroupNotFound"),
            AwsError::InstanceNotFound { .. } => Some("DBInstanceNotFound"),
            _ => None,
        }
    }

    /// The service's message, when the service answered.
    pub fn message(&self) -> Option<&str> {
        match self {
            AwsError::Auth { message, .. } | AwsError::Service { message, .. } => Some(message),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            AwsError::ClusterNotFound { .. }
                | AwsError::ParameterGroupNotFound { .. }
                | AwsError::InstanceNotFound { .. }
        )
    }

    /// The endpoint does not implement the operation at all (an emulator or proxy, never RDS itself):
    /// an `InvalidAction`-like code, HTTP 501, or an HTTP 500 that is no AWS error document (moto's
    /// answer to an action it lacks). RDS's own `InternalFailure` carries its code and is not this.
    pub fn is_not_implemented(&self) -> bool {
        match self {
            AwsError::Service { code, status, .. } => {
                NOT_IMPLEMENTED_CODES.contains(&code.as_str())
                    || *status == Some(501)
                    || (*status == Some(500) && code.starts_with("HTTP"))
            }
            _ => false,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        let credentials = "give migprep credentials as for the aws CLI: `profile` in the spec or \
                           AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or `aws sso login`";
        Some(match self {
            AwsError::NoCredentials { .. } => credentials.to_string(),
            AwsError::ProfileNotFound { named_by, known, .. } if known.is_empty() => format!(
                "no profile is defined (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE or ~/.aws/); run \
                 `aws configure --profile NAME` or `aws configure sso`, or remove {named_by}"
            ),
            AwsError::ProfileNotFound { named_by, known, .. } => {
                format!("the profiles defined are {}; correct {named_by}", known.join(", "))
            }
            AwsError::Auth { code, operation, .. } => match code.as_str() {
                "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
                    "the session has expired: refresh it (`aws sso login`, or new temporary keys) \
                     and run again"
                        .to_string()
                }
                "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
                    format!("allow rds:{operation} for this identity, or use a profile that has it")
                }
                _ => format!("the access key is not valid for this account and partition; {credentials}"),
            },
            AwsError::ClusterNotFound { region, .. } => format!(
                "check `source.cluster` (the DB cluster identifier, not an instance), `source.region` \
                 (now {region}) and the AWS profile: the cluster must exist in that account and region"
            ),
            AwsError::ParameterGroupNotFound { region, .. } => format!(
                "the group may have been deleted or renamed; check it with \
                 `aws rds describe-db-cluster-parameter-groups --region {region}`"
            ),
            AwsError::InstanceNotFound { .. } => "the cluster's members changed; run `migprep plan` again".to_string(),
            AwsError::Service { code, .. } if is_throttling(code) => {
                "AWS kept throttling RDS requests; wait a minute and run again, or raise \
                 AWS_MAX_ATTEMPTS"
                    .to_string()
            }
            AwsError::Service { .. } => return None,
            AwsError::Transport { .. } => {
                "check the network path to the RDS endpoint (proxy, VPN, AWS_ENDPOINT_URL) and, \
                 behind a TLS-inspecting proxy, `ca_file`"
                    .to_string()
            }
            AwsError::Timeout { .. } => "the change may still finish: check the cluster in the console and run \
                 `migprep apply` again, which resumes"
                .to_string(),
            AwsError::Stuck { status, .. } => format!(
                "fix the instance's {status} state in the RDS console (for incompatible-parameters: \
                 correct the group's values and reboot), then run again"
            ),
            AwsError::NoEngineDefaults { fallback, .. } => format!(
                "point AWS_ENDPOINT_URL at RDS itself, or at an endpoint that implements \
                 DescribeEngineDefaultClusterParameters or has the group {fallback}"
            ),
            AwsError::Setup(_) => return None,
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

impl From<AwsError> for UserError {
    fn from(error: AwsError) -> Self {
        error.to_user_error()
    }
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
    )
}

/// Codes with which an endpoint says it does not know the action.
const NOT_IMPLEMENTED_CODES: &[&str] =
    &["InvalidAction", "NotImplemented", "UnknownOperation", "UnknownOperationException", "UnsupportedOperation"];

const AUTH_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidSignatureException",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
];

/// What a call addressed, so a not-found code can name the right thing.
#[derive(Clone, Copy, Default)]
pub(super) struct Subject<'a> {
    pub(super) cluster: Option<&'a str>,
    pub(super) group: Option<&'a str>,
    pub(super) instance: Option<&'a str>,
    pub(super) family: Option<&'a str>,
}

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(c) = self.cluster {
            parts.push(format!("DB cluster {c}"));
        }
        if let Some(g) = self.group {
            parts.push(format!("DB cluster parameter group {g}"));
        }
        if let Some(i) = self.instance {
            parts.push(format!("DB instance {i}"));
        }
        if let Some(f) = self.family {
            parts.push(format!("DB parameter group family {f}"));
        }
        if parts.is_empty() { f.write_str("the account's DB clusters") } else { f.write_str(&parts.join(", ")) }
    }
}

/// Turns an SDK error into an [`AwsError`]: credentials, auth codes, not-found codes (naming what the
/// call addressed), transport problems, and everything else with its code and message.
pub(super) fn classify<E>(
    operation: &'static str,
    subject: Subject<'_>,
    region: &str,
    profile: &Option<String>,
    err: SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if let Some(credentials) = find_source::<CredentialsError>(&err as &(dyn StdError + 'static)) {
        return AwsError::NoCredentials { profile: profile.clone(), detail: error_chain(credentials) };
    }
    let status = err.raw_response().map(|r| r.status().as_u16());
    if let Some(code) = err.code() {
        let code = code.to_string();
        let message = err.message().unwrap_or_default().to_string();
        if AUTH_CODES.contains(&code.as_str()) {
            return AwsError::Auth { operation, profile: profile.clone(), code, message };
        }
        let region = region.to_string();
        match code.as_str() {
            "DBClusterNotFoundFault" if subject.cluster.is_some() => {
                return AwsError::ClusterNotFound { cluster: subject.cluster.unwrap_or_default().to_string(), region };
            }
            "DBParameterGroupNotFound" | "DBClusterParameterGroupNotFound" if subject.group.is_some() => {
                return AwsError::ParameterGroupNotFound {
                    group: subject.group.unwrap_or_default().to_string(),
                    region,
                };
            }
            "DBInstanceNotFound" if subject.instance.is_some() => {
                return AwsError::InstanceNotFound {
                    instance: subject.instance.unwrap_or_default().to_string(),
                    region,
                };
            }
            _ => {}
        }
        return AwsError::Service { operation, subject: subject.to_string(), status, code, message };
    }
    match &err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => AwsError::Service {
            operation,
            subject: subject.to_string(),
            status,
            code: status.map_or_else(|| "Unknown".to_string(), |s| format!("HTTP{s}")),
            message: error_chain(&err),
        },
        _ => AwsError::Transport { operation, subject: subject.to_string(), detail: error_chain(&err) },
    }
}

/// An error and its causes on one line, without the SDK's `Debug` dumps (which include raw
/// responses). Causes that repeat the previous message are skipped.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// The first error of type `T` in `err`'s source chain.
fn find_source<'e, T: StdError + 'static>(err: &'e (dyn StdError + 'static)) -> Option<&'e T> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_cluster_and_hints_at_region_and_profile() {
        let error =
            AwsError::ClusterNotFound { cluster: "orders-prod".into(), region: "eu-west-1".into() }.to_user_error();
        assert_eq!(error.message, "DB cluster orders-prod not found in eu-west-1");
        let hint = error.hint.unwrap();
        assert!(hint.contains("source.region") && hint.contains("profile"), "{hint}");
    }

    #[test]
    fn an_action_the_endpoint_lacks_is_told_from_a_failure_of_rds() {
        let service = |status: Option<u16>, code: &str| AwsError::Service {
            operation: "DescribeEngineDefaultClusterParameters",
            subject: "the account's DB clusters".into(),
            status,
            code: code.into(),
            message: String::new(),
        };
        // (the error, whether it means "not implemented")
        let cases = [
            (service(Some(500), "HTTP500"), true),
            (service(Some(501), "HTTP501"), true),
            (service(Some(400), "InvalidAction"), true),
            (service(Some(400), "UnknownOperationException"), true),
            (service(Some(500), "InternalFailure"), false),
            (service(Some(503), "HTTP503"), false),
            (service(Some(400), "Throttling"), false),
            (service(Some(400), "InvalidParameterValue"), false),
            (AwsError::Transport { operation: "X", subject: "Y".into(), detail: "refused".into() }, false),
        ];
        for (error, expected) in cases {
            assert_eq!(error.is_not_implemented(), expected, "{error}");
        }
    }
}
