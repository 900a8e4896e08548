//! Waiting for something to become true — a reboot to finish, an ARM operation to end, a busy server to
//! settle — in one place: probe, and while it is not done, pause (the service's `Retry-After` when it sent
//! one, else the interval) until the deadline. Every wait logs what it waits for and what it last saw,
//! and tells a [`Watch`] around it, so that a step's progress can say what it is waiting for without
//! the waiting code knowing who listens.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

tokio::task_local! {
    static WATCH: Watch;
}

/// What the waits inside a future last saw; see [`Watch::around`].
#[derive(Clone, Debug, Default)]
pub struct Watch(Arc<Mutex<Option<Sighting>>>);

/// The wait under way and what it last saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    /// As [`Wait::what`]: `DB instance orders-1 to be available`.
    pub what: String,
    /// As the service last reported it: `rebooting`, `InProgress`, `Updating (high availability …)`.
    pub seen: String,
}

impl Watch {
    /// Runs `future`, recording what every [`Wait`] inside it (in the same task) sees.
    pub async fn around<F: Future>(&self, future: F) -> F::Output {
        WATCH.scope(self.clone(), future).await
    }

    /// The wait under way, if one is.
    pub fn latest(&self) -> Option<Sighting> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn tell(sighting: Option<Sighting>) {
        // Outside a watched future there is nobody to tell.
        let _ = WATCH.try_with(|watch| *watch.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = sighting);
    }
}

/// What to wait for, how often to look, and for how long at most.
#[derive(Clone, Debug)]
pub struct Wait {
    /// For messages: `DB instance orders-1 to be available`.
    pub what: String,
    pub interval: Duration,
    pub deadline: Duration,
}

/// One look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe<T> {
    /// Done: stop waiting.
    Done(T),
    /// Not yet: what was seen (for the log and a timeout's message), and how long the service asked to be
    /// left alone, if it said.
    Pending { seen: String, retry_after: Option<Duration> },
}

impl<T> Probe<T> {
    /// Not yet, with no advice from the service on when to look again.
    pub fn pending(seen: impl Into<String>) -> Self {
        Probe::Pending { seen: seen.into(), retry_after: None }
    }
}

/// A wait that reached its deadline.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {}s waiting for {what}; last seen: {last_seen}", .waited.as_secs())]
pub struct TimedOut {
    pub what: String,
    pub waited: Duration,
    pub last_seen: String,
}

/// Why a wait ended without its result.
#[derive(Debug)]
pub enum Ended<E> {
    TimedOut(TimedOut),
    /// The probe failed (a failure waiting cannot fix).
    Failed(E),
}

impl Wait {
    pub fn new(what: impl Into<String>, interval: Duration, deadline: Duration) -> Self {
        Self { what: what.into(), interval, deadline }
    }

    /// Probes until it is done, the probe fails, or the next pause would pass the deadline.
    pub async fn until<T, E, F, Fut>(&self, probe: F) -> Result<T, Ended<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Probe<T>, E>>,
    {
        let ended = self.probe_until(probe).await;
        Watch::tell(None);
        ended
    }

    async fn probe_until<T, E, F, Fut>(&self, mut probe: F) -> Result<T, Ended<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Probe<T>, E>>,
    {
        let started = Instant::now();
        loop {
            let (seen, retry_after) = match probe().await.map_err(Ended::Failed)? {
                Probe::Done(value) => return Ok(value),
                Probe::Pending { seen, retry_after } => (seen, retry_after),
            };
            let pause = retry_after.unwrap_or(self.interval);
            let waited = started.elapsed();
            if waited + pause > self.deadline {
                return Err(Ended::TimedOut(TimedOut { what: self.what.clone(), waited, last_seen: seen }));
            }
            tracing::info!(seen = %seen, waited_s = waited.as_secs(), "waiting for {}", self.what);
            Watch::tell(Some(Sighting { what: self.what.clone(), seen }));
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn probes_until_done_and_honours_the_services_pause() {
        let looks = Cell::new(0);
        let wait = Wait::new("the thing", Duration::from_millis(1), Duration::from_secs(5));
        let done: Result<u32, Ended<()>> = wait
            .until(|| async {
                looks.set(looks.get() + 1);
                Ok(if looks.get() < 3 {
                    Probe::Pending { seen: "busy".into(), retry_after: Some(Duration::from_millis(2)) }
                } else {
                    Probe::Done(7)
                })
            })
            .await;
        assert_eq!(done.ok(), Some(7));
        assert_eq!(looks.get(), 3);
    }

    #[tokio::test]
    async fn a_watch_sees_what_a_wait_inside_it_last_saw_until_it_ends() {
        let watch = Watch::default();
        let looks = Cell::new(0);
        let wait = Wait::new("the server to be ready", Duration::from_millis(1), Duration::from_secs(5));
        let seen_meanwhile = std::sync::Mutex::new(None);
        let done: Result<(), Ended<()>> = watch
            .around(wait.until(|| async {
                looks.set(looks.get() + 1);
                if looks.get() == 2 {
                    *seen_meanwhile.lock().unwrap() = watch.latest();
                }
                Ok(if looks.get() < 3 { Probe::pending(format!("Updating {}", looks.get())) } else { Probe::Done(()) })
            }))
            .await;
        assert!(done.is_ok());
        let sighting = Sighting { what: "the server to be ready".into(), seen: "Updating 1".into() };
        assert_eq!(seen_meanwhile.into_inner().unwrap(), Some(sighting));
        assert_eq!(watch.latest(), None, "a wait that ended is not under way");
    }

    #[tokio::test]
    async fn a_wait_past_its_deadline_names_what_it_saw_and_a_failure_ends_it() {
        let wait = Wait::new("the thing", Duration::from_millis(20), Duration::from_millis(50));
        let ended = wait.until(|| async { Ok::<Probe<()>, ()>(Probe::pending("still busy")) }).await;
        let Err(Ended::TimedOut(timed_out)) = ended else { panic!("expected a timeout") };
        assert_eq!((timed_out.what.as_str(), timed_out.last_seen.as_str()), ("the thing", "still busy"));
        let failed = wait.until(|| async { Err::<Probe<()>, &str>("gone") }).await;
        assert!(matches!(failed, Err(Ended::Failed("gone"))));
    }
}
