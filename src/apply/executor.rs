//! The executor: walks a plan's changes through a [`Provider`] in dependency order, journaling each step
//! before and after it runs, and stops at the first failure.
//!
//! Each change starts as soon as every change it `depends_on` finished, not when everything at its depth
//! did, so independent chains (the source's and the target's) overlap; at most [`Options::concurrency`]
//! steps run at once. Pending changes and blockers are never run, and neither is anything that depends on
//! them. A second attempt at the same plan after a crash or a failure skips the steps the first one
//! finished and runs the unfinished ones again (the provider re-observes before acting). After a failure
//! no new step starts; steps already running are allowed to finish, so the journal never holds a step
//! abandoned midway by us.
//!
//! The executor holds no client: every change to a live system goes through the provider, and the only
//! files it writes are the journal and the state file of the lock's state folder.

use super::Clock;
use super::StateDir;
use super::journal::{History, Journal, JournalError, Phase, Record, Run};
use super::lock::Lock;
use super::random_id;
use super::schedule::{Order, Schedule};
use super::state::{self, StateError};
use crate::error::UserError;
use crate::plan::Recorded;
use crate::plan::recorded::Step;
use crate::plan::{Address, Change, Kind, Plan};
use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;

/// Makes one change on a live system. Kept to one method so that a test can fake it in a few lines.
pub trait Provider {
    /// Makes `change` and returns the value observed afterwards (`None`: the planned `after` stands).
    ///
    /// It must be safe to call again for a change that may already have been made: after a crash, a
    /// step that was started but not recorded as finished is run again, so the provider re-observes the
    /// address first and does nothing if it already holds `after`.
    fn apply(&self, change: &Change) -> impl Future<Output = anyhow::Result<Option<String>>> + Send;

    /// Makes one step: `changes` share one operation (one change, or the parameters one request sets),
    /// which is performed once for all of them. `resumed`: an earlier run started a step at one of these
    /// addresses and never recorded how it ended (or it failed), so the provider must first wait out an
    /// operation that run may have left in flight and look at the address; a fresh step may trust the
    /// plan's observation. The value returned is for `changes[0]`. By default, [`Provider::apply`] of the
    /// first change, which looks first anyway.
    fn perform(
        &self,
        changes: &[&Change],
        resumed: bool,
    ) -> impl Future<Output = anyhow::Result<Option<String>>> + Send {
        let _ = resumed;
        self.apply(changes[0])
    }
}

/// How to run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The most steps running at once (at least 1).
    pub concurrency: usize,
    pub clock: Clock,
    /// Set (by Ctrl-C) to start no further step; the running ones finish and are recorded.
    pub interrupt: Option<&'static AtomicBool>,
}

/// A step that ran and finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub address: Address,
    pub before: Option<String>,
    /// As the provider reported it, or the planned value.
    pub after: Option<String>,
}

/// A change that was not run because something it depends on is not run (pending, or a blocker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub address: Address,
    pub waits_for: Address,
}

/// A step that failed.
#[derive(Debug)]
pub struct Failed {
    pub address: Address,
    pub error: anyhow::Error,
}

/// What a run did, each list in plan order.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Finished in this run.
    pub applied: Vec<Applied>,
    /// Finished by an earlier, interrupted attempt at this plan; not run again.
    pub skipped: Vec<Address>,
    /// Started but not finished by that attempt; run again in this one.
    pub retried: Vec<Address>,
    /// Started but not finished by an earlier run, and no longer in the plan made from a fresh
    /// observation: the step took effect, so it is recorded as done (see [`reconcile`]).
    pub reconciled: Vec<Address>,
    /// Not run because a change they depend on is pending or a blocker.
    pub held: Vec<Held>,
    /// Failed in this run (more than one only if they ran at the same time).
    pub failed: Vec<Failed>,
    /// Not started because a step failed or the run was interrupted.
    pub not_started: Vec<Address>,
    /// Interrupted (Ctrl-C) before every step started.
    pub interrupted: bool,
}

impl Outcome {
    /// True when every runnable step finished, in this run or an earlier one.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.not_started.is_empty()
    }

    /// The error to show when the run stopped at a failure.
    pub fn error(&self) -> Option<UserError> {
        let first = self.failed.first()?;
        let mut message = format!("stopped at {}: {:#}", first.address, first.error);
        for other in &self.failed[1..] {
            message.push_str(&format!("\n{} also failed: {:#}", other.address, other.error));
        }
        Some(UserError::new(message).hint(
            "fix the cause and run the command again; finished steps are recorded in the journal and are not repeated",
        ))
    }
}

/// Failures of the executor itself (not of a step).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExecuteError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the plan's changes depend on each other in a cycle: {}", join(.0))]
    Cycle(Vec<Address>),
    #[error("the plan has more than one change to {0}")]
    Duplicate(Address),
    #[error(
        "the journal {} holds an apply that stopped midway: {} started and never finished, so what it changed \
         is not recorded yet",
        journal.display(),
        steps.iter().map(|(step, address)| format!("step {step} ({address})")).collect::<Vec<_>>().join(", ")
    )]
    UnsettledApply { journal: std::path::PathBuf, steps: Vec<(usize, Address)> },
}

impl ExecuteError {
    /// The error for the user, with what to do about it.
    pub fn to_user_error(&self) -> UserError {
        let error = UserError::new(self.to_string());
        match self {
            ExecuteError::Journal(journal) => error.hint(journal.hint()),
            ExecuteError::State(state) => error.hint(state.hint()),
            ExecuteError::Cycle(_) | ExecuteError::Duplicate(_) => {
                error.hint("the plan file is not one migprep wrote; make it again with `migprep plan --out`")
            }
            ExecuteError::UnsettledApply { .. } => error.hint("run `migprep apply` to settle it, then restore"),
        }
    }
}

fn join(addresses: &[Address]) -> String {
    addresses.iter().map(Address::as_str).collect::<Vec<_>>().join(" → ")
}

/// Runs the plan's changes under `lock` (holding it proves no other run writes the same journal).
pub async fn execute<P: Provider + Sync>(
    plan: &Plan,
    provider: &P,
    lock: &Lock,
    options: Options,
) -> Result<Outcome, ExecuteError> {
    let order = Order::of(plan)?;
    let reconciled = reconcile(plan, lock, options.clock)?;
    let dir = lock.dir();
    let history = History::read(&dir.journal())?;
    let runnable: BTreeSet<Address> = order.runnable().map(|index| plan.changes[index].address.clone()).collect();
    let digest = plan.digest();
    let resume = history.resume(&digest, &runnable);
    let retried: BTreeSet<&Address> = resume.unfinished.iter().map(|record| &record.address).collect();
    // Addresses an earlier run (of this plan or another) may have left an operation in flight at: it
    // started a step there and never recorded its end, or the step failed (a timeout may leave the
    // operation running in the cloud). Their steps look before they act.
    let unsettled: BTreeSet<Address> = {
        let mut last: BTreeMap<&Address, Phase> = BTreeMap::new();
        for record in history.records() {
            last.insert(&record.address, record.phase);
        }
        last.into_iter().filter(|(_, phase)| *phase != Phase::Done).map(|(address, _)| address.clone()).collect()
    };

    let run = Run { id: random_id(), plan: digest, kind: plan.kind, clock: options.clock };
    let bookkeeping = Bookkeeping {
        run,
        journal: Mutex::new(dir.open_journal()?),
        state: Mutex::new(state::load(&dir.state())?),
        dir: dir.clone(),
    };
    let stop = AtomicBool::new(false);
    let interrupted = || options.interrupt.is_some_and(|flag| flag.load(Ordering::SeqCst));

    let mut outcome = Outcome { held: order.held.clone(), reconciled, ..Outcome::default() };
    let mut schedule = Schedule::new(&order, |index| resume.done.contains_key(&plan.changes[index].address));
    outcome.skipped = schedule.skipped.iter().map(|&index| plan.changes[index].address.clone()).collect();
    let mut results: Vec<(usize, StepResult)> = Vec::new();
    let mut bookkeeping_error = None;
    let launch = |(leader, unit): (usize, Vec<usize>)| {
        let (bookkeeping, stop) = (&bookkeeping, &stop);
        let resumed = unit.iter().any(|&index| unsettled.contains(&plan.changes[index].address));
        async move { (leader, step(plan, &unit, resumed, provider, bookkeeping, stop).await) }
    };
    let mut running = FuturesUnordered::new();
    loop {
        // Nothing new starts after a failure or Ctrl-C; the steps already running finish and are recorded.
        while running.len() < options.concurrency.max(1) && !stop.load(Ordering::SeqCst) && !interrupted() {
            let Some(unit) = schedule.next() else { break };
            running.push(launch(unit));
        }
        let Some(first) = running.next().await else { break };
        // Every step that ended by now counts before anything new starts, so that a failure seen in the
        // same instant as a success stops the run before the success's dependents begin.
        let mut ended = vec![first];
        while let Some(Some(more)) = running.next().now_or_never() {
            ended.push(more);
        }
        for (leader, result) in ended {
            match result {
                Ok(unit) => {
                    if unit.iter().all(|(_, result)| matches!(result, StepResult::Applied(_))) {
                        schedule.finished(leader);
                    }
                    results.extend(unit);
                }
                Err(error) => {
                    stop.store(true, Ordering::SeqCst);
                    bookkeeping_error = bookkeeping_error.or(Some(error));
                }
            }
        }
    }
    if let Some(error) = bookkeeping_error {
        return Err(error);
    }
    // What never started (a failure or Ctrl-C came first): listed so the caller can say what was left.
    let ran: BTreeSet<usize> = results.iter().map(|(index, _)| *index).collect();
    let left = order.runnable().filter(|index| !ran.contains(index) && !schedule.skipped.contains(index));
    results.extend(left.map(|index| (index, StepResult::NotStarted)).collect::<Vec<_>>());

    results.sort_by_key(|(index, _)| *index);
    for (index, result) in results {
        let change = &plan.changes[index];
        match result {
            StepResult::Applied(after) => {
                if retried.contains(&change.address) {
                    outcome.retried.push(change.address.clone());
                }
                outcome.applied.push(Applied { address: change.address.clone(), before: change.before.clone(), after });
            }
            StepResult::Failed(error) => outcome.failed.push(Failed { address: change.address.clone(), error }),
            StepResult::NotStarted => outcome.not_started.push(change.address.clone()),
        }
    }
    outcome.interrupted = interrupted() && !outcome.not_started.is_empty();
    Ok(outcome)
}

/// Whether a restore may run from the state in `dir`: not while the journal holds an apply step that
/// started and never finished (see [`reconcile`]). Checked before a restore observes anything, so that
/// `restore --out` does not save a plan that could not run.
pub fn restorable(dir: &StateDir) -> Result<(), ExecuteError> {
    refuse_restore(dir, &History::read(&dir.journal())?)
}

fn refuse_restore(dir: &StateDir, history: &History) -> Result<(), ExecuteError> {
    let steps: Vec<(usize, Address)> = history
        .unfinished()
        .into_iter()
        .filter(|intent| intent.kind == Kind::Apply)
        .map(|intent| (intent.step, intent.address.clone()))
        .collect();
    if steps.is_empty() { Ok(()) } else { Err(ExecuteError::UnsettledApply { journal: dir.journal(), steps }) }
}

/// Settles the steps an earlier run started and never finished (killed between its `intent` and `done`)
/// that `plan`, made from a fresh observation, no longer contains: the live system already holds what
/// the step was to set, so the step took effect. Each gets a `done` record and its state entry (with the
/// value the intent saw before, which is the original to restore); without this a change made just
/// before a crash would be forgotten and never restored. Unfinished steps still in the plan are left
/// alone: the plan runs them again. Only steps of the same kind (apply or restore) as `plan` are settled.
/// Returns their addresses; writes nothing when there are none.
///
/// A restore refuses while an apply's step is unfinished: that step may have changed an address whose
/// original only the next apply records, and a restore now would leave it changed and forget it.
pub fn reconcile(plan: &Plan, lock: &Lock, clock: super::Clock) -> Result<Vec<Address>, ExecuteError> {
    let dir = lock.dir();
    let history = History::read(&dir.journal())?;
    if plan.kind == Kind::Restore {
        refuse_restore(dir, &history)?;
    }
    let planned: BTreeSet<&Address> = plan.changes.iter().map(|change| &change.address).collect();
    let settled: Vec<&Record> = history
        .unfinished()
        .into_iter()
        .filter(|intent| intent.kind == plan.kind && !planned.contains(&intent.address))
        .collect();
    if settled.is_empty() {
        return Ok(Vec::new());
    }
    let (run, digest) = (random_id(), plan.digest());
    let mut journal = dir.open_journal()?;
    let mut recorded = state::load(&dir.state())?;
    for intent in &settled {
        let done = Record {
            phase: Phase::Done,
            at: super::timestamp(clock()),
            plan: digest.clone(),
            run: run.clone(),
            error: None,
            ..(*intent).clone()
        };
        // The state before the journal, as in a step.
        recorded.record(done.step());
        dir.save_state(&recorded)?;
        journal.append(&done)?;
    }
    Ok(settled.into_iter().map(|intent| intent.address.clone()).collect())
}

/// The journal, the state and what the records of this run share.
struct Bookkeeping {
    run: Run,
    journal: Mutex<Journal>,
    state: Mutex<Recorded>,
    dir: super::StateDir,
}

impl Bookkeeping {
    fn write(&self, record: &Record) -> Result<(), ExecuteError> {
        // The guard is never held across an await: writes are short and synchronous.
        let mut journal = self.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(journal.append(record)?)
    }

    fn remember(&self, change: &Change, after: Option<String>) -> Result<(), ExecuteError> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.record(Step::of(self.run.kind, change, after.as_deref()));
        Ok(self.dir.save_state(&state)?)
    }
}

/// How a step ended (a failure of the bookkeeping itself is an [`ExecuteError`] instead).
enum StepResult {
    Applied(Option<String>),
    Failed(anyhow::Error),
    NotStarted,
}

/// One step: the intents, the provider, then done (and the state) or failed, for each change of the step.
/// A step is one change, or the changes that share one operation (parameters set by one request): the
/// operation is performed once for all of them. A step an earlier run left unfinished is `resumed`. Any
/// failure sets `stop`, so that no further step starts.
async fn step<P: Provider>(
    plan: &Plan,
    unit: &[usize],
    resumed: bool,
    provider: &P,
    bookkeeping: &Bookkeeping,
    stop: &AtomicBool,
) -> Result<Vec<(usize, StepResult)>, ExecuteError> {
    if stop.load(Ordering::SeqCst) {
        return Ok(unit.iter().map(|&index| (index, StepResult::NotStarted)).collect());
    }
    let stopping = |error| {
        stop.store(true, Ordering::SeqCst);
        error
    };
    // Never act without the intents on disk: a crash would leave a change nobody knows about.
    for &index in unit {
        bookkeeping.write(&bookkeeping.run.record(index + 1, &plan.changes[index], Phase::Intent)).map_err(stopping)?;
    }
    let mut results = Vec::with_capacity(unit.len());
    let changes: Vec<&Change> = unit.iter().map(|&index| &plan.changes[index]).collect();
    match provider.perform(&changes, resumed).await {
        Ok(observed) => {
            for &index in unit {
                let change = &plan.changes[index];
                // What the provider observed describes the one change it was asked about; the others of a
                // shared operation keep their planned values.
                let seen = if unit.len() == 1 { observed.clone() } else { None };
                let after = seen.or_else(|| change.after.clone());
                // The state first: a crash between the two leaves an unfinished intent, which the next run
                // settles; the other order would leave a `done` step the state (and so restore) never learns.
                bookkeeping.remember(change, after.clone()).map_err(stopping)?;
                let mut done = bookkeeping.run.record(index + 1, change, Phase::Done);
                done.after = after.clone();
                bookkeeping.write(&done).map_err(stopping)?;
                results.push((index, StepResult::Applied(after)));
            }
        }
        Err(error) => {
            stop.store(true, Ordering::SeqCst);
            let message = format!("{error:#}");
            for &index in unit {
                let mut failed = bookkeeping.run.record(index + 1, &plan.changes[index], Phase::Failed);
                failed.error = Some(message.clone());
                bookkeeping.write(&failed)?;
            }
            let mut error = Some(error);
            for &index in unit {
                let error = error.take().unwrap_or_else(|| anyhow::anyhow!("{message}"));
                results.push((index, StepResult::Failed(error)));
            }
        }
    }
    Ok(results)
}
