//! The connections of one observation: one per database, opened once and shared by every observer.
//!
//! A [`Pool`] starts connecting to its main database the moment it is made, in the background, so the
//! six or so round trips of TCP, TLS and SCRAM overlap with the cloud reads that happen meanwhile. Every
//! observer then sends its statements on the same connection, where tokio-postgres pipelines them: a
//! statement costs one round trip, however many observers want one, instead of a connection each.
//!
//! Connections are opened concurrently, at most [`MAX_OPENING`] at a time per server: a spec that
//! selects hundreds of databases gets them in one wave, and one with thousands does not storm the
//! server's postmaster with handshakes all at once.
//!
//! A statement that may block (creating a logical slot waits for running transactions) does not belong
//! here: it would hold up every statement queued behind it. It opens its own connection instead.

use super::{ConnectError, Endpoint};
use crate::tls::Trust;
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::task::{AbortHandle, JoinHandle};

/// How many connections to one server may be in their handshake (TCP, TLS, SCRAM) at once. Each
/// selected database has its own connection, and they are opened concurrently up to this bound, which
/// is well below what Aurora allows on its smallest classes (hundreds of connections).
pub const MAX_OPENING: usize = 256;

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
    /// Permits for connections in their handshake (see [`MAX_OPENING`]).
    opening: Arc<tokio::sync::Semaphore>,
    /// A connection of its own to the main database, opened ahead by [`Pool::warm`] for the first
    /// caller of [`Pool::dedicated`].
    spare: Mutex<Option<JoinHandle<Result<tokio_postgres::Client, ConnectError>>>>,
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
                opening: Arc::new(tokio::sync::Semaphore::new(MAX_OPENING)),
                spare: Mutex::new(None),
            }),
        };
        // Spawned now; the map keeps the session for the first caller.
        let _main = pool.session(&main);
        pool
    }

    /// Starts connecting to each of `databases` now (those not started yet), so that their handshakes
    /// overlap with whatever the caller waits for before it needs them.
    /// A dedicated connection to the main database is opened ahead too, for the first [`Pool::dedicated`].
    pub fn warm(&self, databases: &[String]) {
        for database in databases {
            let _started = self.session(database);
        }
        let mut spare = self.inner.spare.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if spare.is_none() {
            let (endpoint, trust) = (self.inner.endpoint.clone(), self.inner.trust.clone());
            let opening = self.inner.opening.clone();
            let task = tokio::spawn(async move {
                let _permit = opening.acquire_owned().await;
                super::connect(&endpoint, &trust, super::CONNECT_TIMEOUT).await
            });
            self.inner.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(task.abort_handle());
            *spare = Some(task);
        }
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
        let spare = self.inner.spare.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        match spare {
            Some(task) => task.await.unwrap_or_else(|error| {
                Err(ConnectError::Other {
                    address: self.inner.endpoint.address(),
                    detail: format!("the connection task ended: {error}"),
                })
            }),
            None => super::connect(&self.inner.endpoint, &self.inner.trust, super::CONNECT_TIMEOUT).await,
        }
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
        let opening = self.inner.opening.clone();
        let task = tokio::spawn(async move {
            // Held for the handshake only: an open connection no longer counts.
            let _permit = opening.acquire_owned().await;
            super::connect(&endpoint, &trust, super::CONNECT_TIMEOUT).await.map(Arc::new)
        });
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
