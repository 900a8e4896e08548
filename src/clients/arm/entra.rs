//! Microsoft Entra tokens for the flexible server's PostgreSQL (`password = "entra"`): the same
//! credential as ARM, asked for a second scope, the database resource of the ARM endpoint's cloud.
//! Tokens are cached until shortly before they expire (an hour, as Entra issues them), so each
//! connection gets one that is still valid without a round trip to Entra or a process start each.

use super::credential::Tokens;
use super::{Arm, AzureError};
use crate::clients::postgres::{Mint, MintError, Password, TokenKind};
use crate::secret::Secret;
use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::Url;
use std::sync::Arc;

/// The database resource of Azure's public cloud.
pub const PUBLIC_DATABASE_AUDIENCE: &str = "https://ossrdbms-aad.database.windows.net";

/// The `.default` scope of the database resource in the ARM endpoint's cloud; the public cloud's for an
/// endpoint that is not Azure's own (a proxy or a stand-in accepts what Azure would).
pub(super) fn database_scope(arm_endpoint: &Url) -> String {
    let audience = match arm_endpoint.host_str() {
        Some("management.usgovcloudapi.net") => "https://ossrdbms-aad.database.usgovcloudapi.net",
        Some("management.chinacloudapi.cn") => "https://ossrdbms-aad.database.chinacloudapi.cn",
        _ => PUBLIC_DATABASE_AUDIENCE,
    };
    format!("{audience}/.default")
}

struct DatabaseTokens(Arc<Tokens>);

impl Arm {
    /// The password source for `password = "entra"`: an Entra token for each connection.
    pub fn entra_password(&self) -> Password {
        Password::Minted(Arc::new(DatabaseTokens(self.database_tokens.clone())))
    }
}

impl Mint for DatabaseTokens {
    fn kind(&self) -> TokenKind {
        TokenKind::Entra
    }

    fn mint<'a>(&'a self, _host: &'a str, _port: u16, _user: &'a str) -> BoxFuture<'a, Result<Secret, MintError>> {
        async move {
            self.0
                .token()
                .await
                .map_err(|error: AzureError| MintError { detail: error.to_string(), hint: error.to_user_error().hint })
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_scope_follows_the_cloud() {
        let scope = |url: &str| database_scope(&Url::parse(url).unwrap());
        assert_eq!(scope("https://management.azure.com"), "https://ossrdbms-aad.database.windows.net/.default");
        assert_eq!(
            scope("https://management.usgovcloudapi.net"),
            "https://ossrdbms-aad.database.usgovcloudapi.net/.default"
        );
        assert_eq!(
            scope("https://management.chinacloudapi.cn"),
            "https://ossrdbms-aad.database.chinacloudapi.cn/.default"
        );
        assert_eq!(scope("https://127.0.0.1:8443"), "https://ossrdbms-aad.database.windows.net/.default");
    }
}
