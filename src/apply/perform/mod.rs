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
        self.progress.follow(change, self.perform(change)).await
    }
}

impl Dispatch<'_> {
    async fn perform(&self, change: &Change) -> anyhow::Result<Option<String>> {
        match &change.operation {
            Some(Operation::Source(op)) => source::perform(op, self.clients, self.databases).await,
            Some(Operation::Target(op)) => target::perform(op, change, self.clients, self.poll_interval).await,
            Some(Operation::TargetSql(op)) => roles::perform(op, self.clients, self.databases).await,
            // The executor's bookkeeping is the whole step: a restore drops the address from the state.
            Some(Operation::Forget) => Ok(None),
            None => anyhow::bail!("{} has no operation to perform (a plan from a newer migprep?)", change.address),
        }
    }
}
