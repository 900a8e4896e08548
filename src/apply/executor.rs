//! The executor: walks a plan's changes through a [`Provider`] in dependency order, journaling each step
//! before and after it runs, and stops at the first failure.
//!
//! Changes run in layers: a change runs only after every change it `depends_on` finished, and the changes
//! of one layer run concurrently, at most [`Options::concurrency`] at a time. Pending changes and blockers
//! are never run, and neither is anything that depends on them. A second attempt at the same plan after a
//! crash or a failure skips the steps the first one finished and runs the unfinished ones again (the
//! provider re-observes before acting). After a failure no new step starts; steps already running are
//! allowed to finish, so the journal never holds a step abandoned midway by us.
//!
//! The executor holds no client: every change to a live system goes through the provider, and the only
//! files it writes are the journal and the state file of the lock's state folder.

use super::Clock;
use super::journal::{History, Journal, JournalError, Phase, Record, Run};
use super::lock::Lock;
use super::random_id;
use super::state::{self, StateError};
use crate::error::UserError;
use crate::plan::Recorded;
use crate::plan::recorded::Step;
use crate::plan::{Action, Address, Change, Kind, Plan};
use futures::stream::{self, StreamExt};
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
    let runnable: BTreeSet<Address> =
        order.layers.iter().flatten().map(|&index| plan.changes[index].address.clone()).collect();
    let digest = plan.digest();
    let resume = history.resume(&digest, &runnable);
    let retried: BTreeSet<&Address> = resume.unfinished.iter().map(|record| &record.address).collect();

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
    let mut results: Vec<(usize, StepResult)> = Vec::new();
    let mut bookkeeping_error = None;
    for (depth, layer) in order.layers.iter().enumerate() {
        let steps = layer.iter().copied().filter(|&index| {
            let address = &plan.changes[index].address;
            let done_before = resume.done.contains_key(address);
            if done_before {
                outcome.skipped.push(address.clone());
            }
            !done_before
        });
        let mut finished: Vec<(usize, Result<StepResult, ExecuteError>)> = stream::iter(steps)
            .map(|index| {
                let (bookkeeping, stop) = (&bookkeeping, &stop);
                async move {
                    if interrupted() {
                        return (index, Ok(StepResult::NotStarted));
                    }
                    (index, step(index, &plan.changes[index], provider, bookkeeping, stop).await)
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        finished.sort_by_key(|(index, _)| *index);
        for (index, result) in finished {
            match result {
                Ok(result) => results.push((index, result)),
                Err(error) => bookkeeping_error = bookkeeping_error.or(Some(error)),
            }
        }
        if stop.load(Ordering::SeqCst) || interrupted() {
            // Later layers never start; list them so the caller can say what was left.
            let later = order.layers[depth + 1..]
                .iter()
                .flatten()
                .filter(|&&index| !resume.done.contains_key(&plan.changes[index].address));
            results.extend(later.map(|&index| (index, StepResult::NotStarted)));
            break;
        }
    }
    if let Some(error) = bookkeeping_error {
        return Err(error);
    }

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
    let position: BTreeMap<&Address, usize> =
        plan.changes.iter().enumerate().map(|(index, change)| (&change.address, index)).collect();
    outcome.skipped.sort_by_key(|address| position[address]);
    outcome.interrupted = interrupted() && !outcome.not_started.is_empty();
    Ok(outcome)
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
        let steps: Vec<(usize, Address)> = history
            .unfinished()
            .into_iter()
            .filter(|intent| intent.kind == Kind::Apply)
            .map(|intent| (intent.step, intent.address.clone()))
            .collect();
        if !steps.is_empty() {
            return Err(ExecuteError::UnsettledApply { journal: dir.journal(), steps });
        }
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

/// One step: intent, the provider, then done (and the state) or failed. Any failure sets `stop`, so that
/// no further step starts.
async fn step<P: Provider>(
    index: usize,
    change: &Change,
    provider: &P,
    bookkeeping: &Bookkeeping,
    stop: &AtomicBool,
) -> Result<StepResult, ExecuteError> {
    if stop.load(Ordering::SeqCst) {
        return Ok(StepResult::NotStarted);
    }
    let number = index + 1;
    let stopping = |error| {
        stop.store(true, Ordering::SeqCst);
        error
    };
    // Never act without the intent on disk: a crash would leave a change nobody knows about.
    bookkeeping.write(&bookkeeping.run.record(number, change, Phase::Intent)).map_err(stopping)?;
    match provider.apply(change).await {
        Ok(observed) => {
            let after = observed.or_else(|| change.after.clone());
            // The state first: a crash between the two leaves an unfinished intent, which the next run
            // settles; the other order would leave a `done` step the state (and so restore) never learns.
            bookkeeping.remember(change, after.clone()).map_err(stopping)?;
            let mut done = bookkeeping.run.record(number, change, Phase::Done);
            done.after = after.clone();
            bookkeeping.write(&done).map_err(stopping)?;
            Ok(StepResult::Applied(after))
        }
        Err(error) => {
            stop.store(true, Ordering::SeqCst);
            let mut failed = bookkeeping.run.record(number, change, Phase::Failed);
            failed.error = Some(format!("{error:#}"));
            bookkeeping.write(&failed)?;
            Ok(StepResult::Failed(error))
        }
    }
}

/// The order to run a plan in: layers of change indices (each layer in plan order) and the held changes.
#[derive(Debug)]
struct Order {
    layers: Vec<Vec<usize>>,
    held: Vec<Held>,
}

/// Whether a change runs at all: pending changes and blockers never do.
fn runs(change: &Change) -> bool {
    change.pending.is_none() && change.action != Action::Blocker
}

impl Order {
    fn of(plan: &Plan) -> Result<Self, ExecuteError> {
        let mut by_address: BTreeMap<&Address, usize> = BTreeMap::new();
        for (index, change) in plan.changes.iter().enumerate() {
            if by_address.insert(&change.address, index).is_some() && runs(change) {
                return Err(ExecuteError::Duplicate(change.address.clone()));
            }
        }
        // Depth of each runnable change (0: depends on nothing runnable), or the address that holds it.
        let mut placed: Vec<Option<Placement>> = vec![None; plan.changes.len()];
        for index in 0..plan.changes.len() {
            if runs(&plan.changes[index]) {
                place(plan, &by_address, index, &mut placed, &mut Vec::new())?;
            }
        }
        let mut layers: Vec<Vec<usize>> = Vec::new();
        let mut held = Vec::new();
        for (index, placement) in placed.into_iter().enumerate() {
            match placement {
                Some(Placement::Depth(depth)) => {
                    if layers.len() <= depth {
                        layers.resize(depth + 1, Vec::new());
                    }
                    layers[depth].push(index);
                }
                Some(Placement::Held(waits_for)) => {
                    held.push(Held { address: plan.changes[index].address.clone(), waits_for })
                }
                None => {}
            }
        }
        Ok(Self { layers, held })
    }
}

#[derive(Clone, Debug)]
enum Placement {
    Depth(usize),
    /// Waits for this address, which does not run (directly or through its own dependencies).
    Held(Address),
}

/// Places one runnable change after its dependencies (depth-first; `path` detects cycles).
fn place(
    plan: &Plan,
    by_address: &BTreeMap<&Address, usize>,
    index: usize,
    placed: &mut Vec<Option<Placement>>,
    path: &mut Vec<usize>,
) -> Result<Placement, ExecuteError> {
    if let Some(placement) = &placed[index] {
        return Ok(placement.clone());
    }
    if let Some(start) = path.iter().position(|&on_path| on_path == index) {
        let mut cycle: Vec<Address> = path[start..].iter().map(|&i| plan.changes[i].address.clone()).collect();
        cycle.push(plan.changes[index].address.clone());
        return Err(ExecuteError::Cycle(cycle));
    }
    path.push(index);
    let mut placement = Placement::Depth(0);
    for dependency in &plan.changes[index].depends_on {
        // A dependency outside the plan is already satisfied: the rules found nothing to do there.
        let Some(&dependency_index) = by_address.get(dependency) else {
            continue;
        };
        if !runs(&plan.changes[dependency_index]) {
            placement = Placement::Held(dependency.clone());
            break;
        }
        match place(plan, by_address, dependency_index, placed, path)? {
            Placement::Held(_) => {
                placement = Placement::Held(dependency.clone());
                break;
            }
            Placement::Depth(depth) => {
                if let Placement::Depth(current) = placement {
                    placement = Placement::Depth(current.max(depth + 1));
                }
            }
        }
    }
    path.pop();
    placed[index] = Some(placement.clone());
    Ok(placement)
}
