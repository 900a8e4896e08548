//! The connections of one observation: one per database, opened once and shared by every observer.
//!
//! A [`Pool`] starts connecting to its main database the moment it is made, in the background, so the
//! six or so round trips of TCP, TLS and SCRAM overlap with the cloud reads that happen meanwhile. Every
//! observer then sends its statements on the same connection, where tokio-postgres pipelines them: a
//! statement costs one round trip, however many observers want one, instead of a connection each.
//!
//! A statement that may block (creating a logical slot waits for running transactions) does not belong
//! here: it would hold up every statement queued behind it. It opens its own connection instead.

use super::{ConnectError, Endpoint};
use crate::tls::Trust;
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::task::AbortHandle;

type Client = Arc<tokio_postgres::Client>;
type Connecting = Shared<BoxFuture<'static, Result<Client, ConnectError>>>;

/// Shared connections to the databases of one server. Cloning shares them; dropping the last clone
/// abandons connections still being opened.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    trust: Trust,
    sessions: Mutex<HashMap<String, Connecting>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..) {
            task.abort();
        }
    }
}

impl Pool {
    /// Starts connecting to `endpoint.database` now. Must be called within a tokio runtime.
    pub fn open(endpoint: Endpoint, trust: Trust) -> Self {
        let main = endpoint.database.clone();
        let pool = Self {
            inner: Arc::new(Inner {
                endpoint,
                trust,
                sessions: Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
            }),
        };
        // Spawned now; the map keeps the session for the first caller.
        let _main = pool.session(&main);
        pool
    }

    /// The endpoint of the main database (the one the pool was opened for).
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The connection to the main database.
    pub async fn main(&self) -> Result<Client, ConnectError> {
        self.session(&self.inner.endpoint.database).await
    }

    /// The connection to `database` on the same server, opened on first use.
    pub async fn client(&self, database: &str) -> Result<Client, ConnectError> {
        self.session(database).await
    }

    /// A connection of its own to the main database, for statements that may block.
    pub async fn dedicated(&self) -> Result<tokio_postgres::Client, ConnectError> {
        super::connect(&self.inner.endpoint, &self.inner.trust, super::CONNECT_TIMEOUT).await
    }

    fn session(&self, database: &str) -> Connecting {
        let mut sessions = self.inner.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(session) = sessions.get(database) {
            return session.clone();
        }
        let mut endpoint = self.inner.endpoint.clone();
        endpoint.database = database.to_string();
        let trust = self.inner.trust.clone();
        // Spawned, so the handshake makes progress before anyone awaits it.
        let task =
            tokio::spawn(async move { super::connect(&endpoint, &trust, super::CONNECT_TIMEOUT).await.map(Arc::new) });
        self.inner.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(task.abort_handle());
        let address = self.inner.endpoint.address();
        let session = task
            .map(move |joined| match joined {
                Ok(result) => result,
                Err(error) => {
                    Err(ConnectError::Other { address, detail: format!("the connection task ended: {error}") })
                }
            })
            .boxed()
            .shared();
        sessions.insert(database.to_string(), session.clone());
        session
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::tls::SslMode;

    fn refused_endpoint() -> Endpoint {
        // A port nothing listens on: bind one, note it, and let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Endpoint {
            side: crate::clients::postgres::Side::Source,
            host: "127.0.0.1".into(),
            port,
            user: "migrator".into(),
            database: "orders".into(),
            password: Secret::new("not-used").into(),
            sslmode: SslMode::Require,
        }
    }

    #[tokio::test]
    async fn every_caller_of_one_database_shares_one_attempt_and_its_error() {
        let pool = Pool::open(refused_endpoint(), Trust::load(None).unwrap());
        let (a, b, c) = tokio::join!(pool.main(), pool.client("orders"), pool.client("billing"));
        assert!(matches!(a, Err(ConnectError::Refused { .. })), "{a:?}");
        assert!(matches!(b, Err(ConnectError::Refused { .. })), "{b:?}");
        assert!(matches!(c, Err(ConnectError::Refused { .. })), "{c:?}");
        let sessions = pool.inner.sessions.lock().unwrap();
        assert_eq!(sessions.len(), 2, "one session per database: {:?}", sessions.keys().collect::<Vec<_>>());
    }
}
