//! The executor's provider for real runs: hands each change's operation to the side that performs it.

mod roles;
mod source;
mod target;

use super::executor::Provider;
use super::progress::Progress;
use crate::clients::{Clients, Databases};
use crate::plan::{Change, Operation};
use std::time::Duration;

/// Dispatches operations to the source and target performers, showing progress.
pub struct Dispatch<'a> {
    clients: &'a Clients,
    databases: &'a Databases,
    /// The pause between two looks at a server that is still busy.
    poll_interval: Duration,
    progress: Progress,
}

impl<'a> Dispatch<'a> {
    pub fn new(clients: &'a Clients, databases: &'a Databases, poll_interval: Duration, progress: Progress) -> Self {
        Self { clients, databases, poll_interval, progress }
    }
}

impl Provider for Dispatch<'_> {
    async fn apply(&self, change: &Change) -> anyhow::Result<Option<String>> {
        self.perform(&[change], true).await
    }

    async fn perform(&self, changes: &[&Change], resumed: bool) -> anyhow::Result<Option<String>> {
        let attempt = if resumed { Attempt::Resumed } else { Attempt::Fresh };
        // Every change of the step is reported, though its operation runs once.
        self.progress.follow_all(changes, self.operation(changes[0], attempt)).await
    }
}

/// Whether a step is new (the plan's observation of its address is current, and no earlier run started
/// it) or resumed (an earlier run started it and never recorded the end: look first, and wait out what
/// that run may have left in flight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    Fresh,
    Resumed,
}

impl Dispatch<'_> {
    async fn operation(&self, change: &Change, attempt: Attempt) -> anyhow::Result<Option<String>> {
        match &change.operation {
            Some(Operation::Source(op)) => source::perform(op, self.clients, self.databases, attempt).await,
            Some(Operation::Target(op)) => target::perform(op, change, self.clients, self.poll_interval, attempt).await,
            Some(Operation::TargetSql(op)) => roles::perform(op, self.clients, self.databases).await,
            // The executor's bookkeeping is the whole step: a restore drops the address from the state.
            Some(Operation::Forget) => Ok(None),
            None => anyhow::bail!("{} has no operation to perform (a plan from a newer migprep?)", change.address),
        }
    }
}
