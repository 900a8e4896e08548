//! RDS IAM authentication tokens (`password = "iam"`): a SigV4-presigned `connect` request for the
//! login's host, port and user, signed with the RDS client's own credentials for the cluster's region
//! (the SDK's generator falls back to us-east-1 when it has no region, which would sign for the wrong one).
//! A token is valid for 15 minutes, so one is minted for every connection.

use super::Rds;
use crate::clients::postgres::{Mint, MintError, Password, TokenKind};
use crate::secret::Secret;
use aws_config::Region;
use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The longest lifetime RDS accepts for a token, in seconds.
const LIFETIME_SECS: u64 = 900;

/// Mints RDS IAM tokens with the RDS client's credentials.
struct AuthTokens {
    sdk: aws_config::SdkConfig,
    region: String,
}

impl Rds {
    /// The password source for `password = "iam"`: a fresh token per connection.
    pub fn iam_password(&self) -> Password {
        Password::Minted(Arc::new(AuthTokens { sdk: self.sdk.clone(), region: self.region.clone() }))
    }
}

impl Mint for AuthTokens {
    fn kind(&self) -> TokenKind {
        TokenKind::RdsIam
    }

    fn mint<'a>(&'a self, host: &'a str, port: u16, user: &'a str) -> BoxFuture<'a, Result<Secret, MintError>> {
        async move {
            let config = Config::builder()
                .hostname(host)
                .port(u64::from(port))
                .username(user)
                .region(Region::new(self.region.clone()))
                .expires_in(LIFETIME_SECS)
                .build()
                .map_err(|e| MintError { detail: crate::error::chain(e.as_ref()), hint: None })?;
            let token = AuthTokenGenerator::new(config).auth_token(&self.sdk).await.map_err(|e| MintError {
                detail: crate::error::chain(e.as_ref()),
                hint: Some(
                    "the token is signed with the AWS credentials of the RDS calls: check them (profile, \
                     AWS_PROFILE, environment, SSO login)"
                        .into(),
                ),
            })?;
            Ok(Secret::new(token.as_str()))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::rds::{Settings, StaticCredentials};
    use crate::tls::Trust;

    /// The token is a presigned `connect` for exactly this host, port and user, for the cluster's region
    /// (not the SDK's us-east-1 fallback), valid for 15 minutes, and signed with the client's key.
    #[tokio::test]
    async fn a_token_is_signed_for_the_login_and_the_clusters_region() {
        let settings = Settings {
            region: "eu-west-3".into(),
            static_credentials: Some(StaticCredentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            }),
            ..Settings::default()
        };
        let rds = Rds::connect(&settings, &Trust::load(None).unwrap()).await.unwrap();
        let password = rds.iam_password();
        assert_eq!(password.token_kind(), Some(TokenKind::RdsIam));
        let token = password.for_connection("orders.cluster-abc.eu-west-3.rds.amazonaws.com", 5432, "migrator").await;
        let token = token.unwrap();
        let token = token.expose();
        assert!(
            token.starts_with("orders.cluster-abc.eu-west-3.rds.amazonaws.com:5432/?Action=connect&DBUser=migrator&"),
            "{token}"
        );
        assert!(
            token.contains("X-Amz-Credential=AKIDEXAMPLE%2F") && token.contains("%2Feu-west-3%2Frds-db%2Faws4_request"),
            "{token}"
        );
        assert!(token.contains("X-Amz-Expires=900") && token.contains("X-Amz-Signature="), "{token}");
        assert!(!token.contains("wJalrXUtnFEMI"), "{token}");
    }
}
