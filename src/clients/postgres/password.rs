//! How a connection gets its password: a fixed one (from a variable, a file or a secrets store), or a
//! token minted for that very connection (an RDS IAM token lives 15 minutes, an Entra token about an
//! hour), so a connection opened late in a long apply, after the writer's reboot for instance, never
//! carries an expired one.
//!
//! Tokens are minted by the cloud clients ([`crate::clients::rds`], [`crate::clients::arm`]) through
//! [`Mint`]; this module only asks for one when a connection is opened. Neither a password nor a token
//! shows in `Debug` output or in an error.

use crate::secret::Secret;
use futures::future::BoxFuture;
use std::fmt;
use std::sync::Arc;

/// Where a connection's password comes from.
#[derive(Clone)]
pub enum Password {
    /// The same password for every connection.
    Fixed(Secret),
    /// A token minted for each connection.
    Minted(Arc<dyn Mint>),
}

/// The kinds of token a database takes as its password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An RDS IAM authentication token (a SigV4-presigned `connect` request).
    RdsIam,
    /// A Microsoft Entra access token for Azure Database for PostgreSQL.
    Entra,
}

impl TokenKind {
    /// How the token is named in messages.
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::RdsIam => "an RDS IAM authentication token",
            TokenKind::Entra => "a Microsoft Entra token",
        }
    }
}

/// Why no token could be had. `detail` is the credential's own explanation, never a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintError {
    pub detail: String,
    /// What the user can do, when the client knows better than the generic hint.
    pub hint: Option<String>,
}

/// Mints tokens for one database login.
pub trait Mint: Send + Sync {
    fn kind(&self) -> TokenKind;

    /// A token for `user` at `host:port`, valid from now on.
    fn mint<'a>(&'a self, host: &'a str, port: u16, user: &'a str) -> BoxFuture<'a, Result<Secret, MintError>>;
}

impl Password {
    /// The password for one new connection.
    pub async fn for_connection(&self, host: &str, port: u16, user: &str) -> Result<Secret, MintError> {
        match self {
            Password::Fixed(secret) => Ok(secret.clone()),
            Password::Minted(mint) => mint.mint(host, port, user).await,
        }
    }

    /// The same password, with tokens minted for `host:port` whatever address is dialled: a login through
    /// a tunnel or an alias must carry a token for the endpoint name the service itself knows (RDS
    /// compares the token's host and port with its own), not for the tunnel's local end.
    pub fn signed_for(self, host: String, port: u16) -> Password {
        match self {
            Password::Minted(inner) => Password::Minted(Arc::new(SignedFor { inner, host, port })),
            fixed @ Password::Fixed(_) => fixed,
        }
    }

    /// The kind of token, or `None` for a fixed password.
    pub fn token_kind(&self) -> Option<TokenKind> {
        match self {
            Password::Fixed(_) => None,
            Password::Minted(mint) => Some(mint.kind()),
        }
    }
}

impl From<Secret> for Password {
    fn from(secret: Secret) -> Self {
        Password::Fixed(secret)
    }
}

/// Tokens for one endpoint name, whatever address a connection dials.
struct SignedFor {
    inner: Arc<dyn Mint>,
    host: String,
    port: u16,
}

impl Mint for SignedFor {
    fn kind(&self) -> TokenKind {
        self.inner.kind()
    }

    fn mint<'a>(&'a self, _dialled: &'a str, _port: u16, user: &'a str) -> BoxFuture<'a, Result<Secret, MintError>> {
        self.inner.mint(&self.host, self.port, user)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Password::Fixed(secret) => write!(f, "Fixed({secret:?})"),
            Password::Minted(mint) => write!(f, "Minted({:?})", mint.kind()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    impl Mint for Counting {
        fn kind(&self) -> TokenKind {
            TokenKind::RdsIam
        }

        fn mint<'a>(&'a self, host: &'a str, port: u16, user: &'a str) -> BoxFuture<'a, Result<Secret, MintError>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Secret::new(format!("{host}:{port}/{user}#{n}"))) }.boxed()
        }
    }

    #[tokio::test]
    async fn a_minted_password_is_new_for_every_connection() {
        let password = Password::Minted(Arc::new(Counting(AtomicUsize::new(0))));
        let first = password.for_connection("db", 5432, "migrator").await.unwrap();
        let second = password.for_connection("db", 5432, "migrator").await.unwrap();
        assert_eq!(first.expose(), "db:5432/migrator#0");
        assert_eq!(second.expose(), "db:5432/migrator#1");
        assert_eq!(format!("{password:?}"), "Minted(RdsIam)");
        assert_eq!(format!("{:?}", Password::from(Secret::new("hunter2"))), "Fixed(Secret(***))");
    }

    #[tokio::test]
    async fn a_password_signed_for_an_endpoint_ignores_the_address_dialled() {
        let password = Password::Minted(Arc::new(Counting(AtomicUsize::new(0))));
        let tunnelled = password.signed_for("orders.cluster-abc.rds.amazonaws.com".into(), 5432);
        let token = tunnelled.for_connection("127.0.0.1", 15432, "migrator").await.unwrap();
        assert_eq!(token.expose(), "orders.cluster-abc.rds.amazonaws.com:5432/migrator#0");
        let fixed = Password::from(Secret::new("hunter2")).signed_for("elsewhere".into(), 1);
        assert_eq!(fixed.for_connection("db", 5432, "u").await.unwrap().expose(), "hunter2");
    }
}
