//! The executor's provider for real runs: hands each change's operation to the side that performs it.

use super::executor::Provider;
use crate::observe::Clients;
use crate::plan::{Change, Operation};

/// Dispatches operations to the source and target performers.
pub struct Dispatch<'a> {
    pub clients: &'a Clients,
}

impl Provider for Dispatch<'_> {
    async fn apply(&self, change: &Change) -> anyhow::Result<Option<String>> {
        match &change.operation {
            Some(Operation::Source(op)) => super::source::perform(op, change, self.clients).await,
            Some(Operation::Target(op)) => super::target::perform(op, change, self.clients).await,
            None => anyhow::bail!("{} has no operation to perform (a plan from a newer migprep?)", change.address),
        }
    }
}
