//! Identical reads in flight at the same moment share one request.
//!
//! The specs of a fleet share one RDS client per profile and region, and observe at the same moment:
//! twenty clusters on `default.aurora-postgresql15` would each describe that group, list its
//! parameters twice and list every cluster of the account, eighty requests for four answers. RDS
//! throttles Describe calls per account, and each listing of every cluster grows with the account, so a
//! read already on its way answers every caller that asks the same meanwhile.
//!
//! Only reads in flight are shared, never a finished answer: a caller that comes after the answer
//! arrived sends its own request. And a write through the client, when it starts and when it ends,
//! opens a new generation of flights: a read asked after a write never joins one sent before it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::{BoxFuture, FutureExt, Shared};

use super::AwsError;
use crate::model::cluster::{Parameter, ParameterGroup};

type Flight<T> = Shared<BoxFuture<'static, Result<T, AwsError>>>;

/// The reads of one client that are in flight, by what they ask.
#[derive(Default)]
pub(super) struct Flights {
    /// Bumped by every write, as it starts and as it ends.
    generation: AtomicU64,
    /// Every cluster of the account and region, with its parameter group.
    pub clusters: Table<Vec<(String, Option<String>)>>,
    pub groups: Table<Option<ParameterGroup>>,
    pub parameters: Table<Vec<Parameter>>,
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights").field("generation", &self.generation.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl Flights {
    /// Runs `write`; reads asked from its start on do not join flights sent before it ended.
    pub async fn write<T>(&self, write: impl Future<Output = T>) -> T {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let written = write.await;
        self.generation.fetch_add(1, Ordering::SeqCst);
        written
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

/// The flights of one kind of read, by key.
pub(super) struct Table<T> {
    in_flight: Mutex<HashMap<(u64, String), Flight<T>>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self { in_flight: Mutex::new(HashMap::new()) }
    }
}

impl<T: Clone + Send + Sync + 'static> Table<T> {
    /// The answer to `key`: the flight already on its way in this generation, or `read` sent now.
    pub async fn share<F>(&self, flights: &Flights, key: String, read: F) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, AwsError>> + Send + 'static,
    {
        let key = (flights.generation(), key);
        let flight = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            in_flight.entry(key.clone()).or_insert_with(|| read.boxed().shared()).clone()
        };
        let landing = Landing { table: self, key, flight };
        landing.flight.clone().await
    }
}

/// Takes a flight off the table once a caller has its answer, or gave up waiting for it: the next
/// caller asks anew, never joining a request sent long before.
struct Landing<'a, T> {
    table: &'a Table<T>,
    key: (u64, String),
    flight: Flight<T>,
}

impl<T> Drop for Landing<'_, T> {
    fn drop(&mut self) {
        let mut in_flight = self.table.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        // A later flight under the same key is not this one.
        if in_flight.get(&self.key).is_some_and(|current| current.ptr_eq(&self.flight)) {
            in_flight.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::Notify;

    /// A read that counts how often it was sent and answers when `gate` opens.
    async fn read(sent: Arc<AtomicUsize>, gate: Arc<Notify>) -> Result<Vec<Parameter>, AwsError> {
        let n = sent.fetch_add(1, Ordering::SeqCst);
        gate.notified().await;
        Ok(vec![Parameter {
            name: format!("answer {n}"),
            value: None,
            source: None,
            apply_type: crate::model::cluster::ApplyType::Static,
            data_type: None,
            allowed_values: None,
            is_modifiable: true,
        }])
    }

    type Fixture = (Arc<Flights>, Arc<AtomicUsize>, Arc<Notify>);

    fn fixture() -> Fixture {
        (Arc::new(Flights::default()), Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()))
    }

    /// Asks for `key` on a task of its own.
    fn ask(
        flights: &Arc<Flights>,
        key: &str,
        sent: &Arc<AtomicUsize>,
        gate: &Arc<Notify>,
    ) -> tokio::task::JoinHandle<Result<Vec<Parameter>, AwsError>> {
        let (flights, key, read) = (flights.clone(), key.to_string(), read(sent.clone(), gate.clone()));
        tokio::spawn(async move { flights.parameters.share(&flights, key, read).await })
    }

    #[tokio::test]
    async fn identical_reads_in_flight_share_one_request_and_a_landed_answer_is_not_reused() {
        let (flights, sent, gate) = fixture();
        let ask = |key: &str| ask(&flights, key, &sent, &gate);
        let (a, b, other) = (ask("g user"), ask("g user"), ask("g all"));
        while sent.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        gate.notify_waiters();
        let (a, b, other) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap(), other.await.unwrap().unwrap());
        assert_eq!(a, b, "the same read in flight answers both callers");
        assert_ne!(a, other, "another key is another request");
        assert_eq!(sent.load(Ordering::SeqCst), 2);

        let later = ask("g user");
        while sent.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
        gate.notify_waiters();
        assert_eq!(later.await.unwrap().unwrap()[0].name, "answer 2", "a landed answer is never handed out again");
    }

    #[tokio::test]
    async fn a_read_asked_during_or_after_a_write_does_not_join_one_sent_before_it() {
        let (flights, sent, gate) = fixture();
        let ask = |key: &str| ask(&flights, key, &sent, &gate);
        let before = ask("g user");
        while sent.load(Ordering::SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        flights.write(async {}).await;
        let after = ask("g user");
        while sent.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        gate.notify_waiters();
        let (before, after) = (before.await.unwrap().unwrap(), after.await.unwrap().unwrap());
        assert_eq!((before[0].name.as_str(), after[0].name.as_str()), ("answer 0", "answer 1"));
    }
}
