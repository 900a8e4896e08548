//! The passwords of the two database logins, from the sources the spec names: a variable or a file on
//! this machine, a secret in AWS Secrets Manager (read once, with the RDS client's credentials), or a
//! token minted for each connection (RDS IAM, Microsoft Entra) by the cloud client that holds the
//! credentials.

use crate::clients::postgres::Password;
use crate::clients::{Clients, secrets};
use crate::error::UserError;
use crate::spec::{PasswordSource, Spec};

/// How each database login gets its password.
pub struct Logins {
    pub source: Password,
    pub target: Password,
}

/// Resolves both sources; problems with either are reported together.
pub async fn logins(spec: &Spec, clients: &Clients) -> Result<Logins, Vec<UserError>> {
    let (source, target) = tokio::join!(
        password(&spec.source.connection.password, "source.connection.password", clients),
        password(&spec.target.connection.password, "target.connection.password", clients),
    );
    match (source, target) {
        (Ok(source), Ok(target)) => Ok(Logins { source, target }),
        (source, target) => Err(source.err().into_iter().chain(target.err()).collect()),
    }
}

async fn password(source: &PasswordSource, key: &str, clients: &Clients) -> Result<Password, UserError> {
    match source {
        PasswordSource::Iam => Ok(clients.rds.iam_password()),
        PasswordSource::Entra => Ok(clients.arm.entra_password()),
        PasswordSource::AwsSecret { id, key: json_key } => {
            secrets::password(&clients.rds, key, id, json_key.as_deref()).await.map(Password::Fixed)
        }
        PasswordSource::Env(_) | PasswordSource::File(_) => match source.resolve(key)? {
            Some(secret) => Ok(Password::Fixed(secret)),
            None => unreachable!("a variable or a file is read here"),
        },
    }
}
