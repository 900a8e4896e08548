//! The executor's provider for real runs: hands each change's operation to the side that performs it.

use super::executor::Provider;
use super::progress::Progress;
use crate::observe::Clients;
use crate::plan::{Change, Operation};

/// Dispatches operations to the source and target performers, showing progress.
pub struct Dispatch<'a> {
    clients: &'a Clients,
    progress: Progress,
}

impl<'a> Dispatch<'a> {
    pub fn new(clients: &'a Clients) -> Self {
        Self { clients, progress: Progress::to_stderr() }
    }
}

impl Provider for Dispatch<'_> {
    async fn apply(&self, change: &Change) -> anyhow::Result<Option<String>> {
        let step = self.progress.start(change);
        let result = self.perform(change).await;
        step.finish(&result);
        result
    }
}

impl Dispatch<'_> {
    async fn perform(&self, change: &Change) -> anyhow::Result<Option<String>> {
        match &change.operation {
            Some(Operation::Source(op)) => super::source::perform(op, change, self.clients).await,
            Some(Operation::Target(op)) => super::target::perform(op, change, self.clients).await,
            Some(Operation::TargetSql(op)) => super::roles::perform(op, change, self.clients).await,
            None => anyhow::bail!("{} has no operation to perform (a plan from a newer migprep?)", change.address),
        }
    }
}
