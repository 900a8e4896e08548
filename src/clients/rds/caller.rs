//! Who AWS says the run is: STS `GetCallerIdentity` with the RDS client's configuration (credentials,
//! region, endpoint overrides, CA). It needs no permission, so it answers for any valid credentials; it
//! is only for the plan's header, so a failure is a line in the header, never an error of the run.

use super::Rds;
use crate::error::chain;
use aws_sdk_sts::error::ProvideErrorMetadata;
use std::time::Duration;

/// What STS said, or why it could not be asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerIdentity {
    Known { account: String, arn: String },
    Unknown(String),
}

impl CallerIdentity {
    /// For the header, e.g. `arn:aws:iam::123456789012:user/dba (account 123456789012)`.
    pub fn describe(&self) -> String {
        match self {
            CallerIdentity::Known { account, arn } => format!("{arn} (account {account})"),
            CallerIdentity::Unknown(why) => format!("an identity STS did not name ({why})"),
        }
    }
}

/// The header waits at most this long for STS; the plan does not.
const PATIENCE: Duration = Duration::from_secs(10);

impl Rds {
    /// Asks STS who the credentials belong to. Meant to run beside the first RDS call, off the plan's
    /// critical path.
    pub async fn caller_identity(&self) -> CallerIdentity {
        let sts = aws_sdk_sts::Client::new(self.sdk_config());
        match tokio::time::timeout(PATIENCE, sts.get_caller_identity().send()).await {
            Err(_) => {
                CallerIdentity::Unknown(format!("GetCallerIdentity did not answer within {}s", PATIENCE.as_secs()))
            }
            Ok(Err(error)) => {
                tracing::debug!("GetCallerIdentity failed: {}", chain(&error));
                CallerIdentity::Unknown(format!("GetCallerIdentity failed: {}", error.code().unwrap_or("no answer")))
            }
            Ok(Ok(answer)) => match (answer.account, answer.arn) {
                (Some(account), Some(arn)) => CallerIdentity::Known { account, arn },
                _ => CallerIdentity::Unknown("GetCallerIdentity answered without an account or ARN".into()),
            },
        }
    }
}
