//! What the target rules need from the flexible server, beyond the server and its replicas (which
//! [`super::observe`] reads for every rule): its server parameters.
//!
//! The parameters are listed, not read one by one: T11 must find every parameter already waiting for a
//! restart (`isConfigPendingRestart`), which only the list shows, and the list (a handful of pages) then
//! also answers T1 and the later parameter rules without a call each. I/O only; nothing is decided here.

use super::Clients;
use super::azure::Configuration;
use crate::error::UserError;
use std::collections::BTreeMap;

/// The target's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetState {
    /// Every server parameter, by name.
    pub configurations: BTreeMap<String, Configuration>,
}

impl TargetState {
    pub fn configuration(&self, name: &str) -> Option<&Configuration> {
        self.configurations.get(name)
    }

    /// Parameters whose new value waits for a restart, by name.
    pub fn pending_restart(&self) -> impl Iterator<Item = &Configuration> {
        self.configurations.values().filter(|c| c.is_pending_restart)
    }
}

/// Reads the target. Problems are returned together.
pub async fn observe(clients: &Clients) -> Result<TargetState, Vec<UserError>> {
    let configurations = clients.arm.configurations(&clients.server).await.map_err(|e| vec![e.to_user_error()])?;
    Ok(TargetState { configurations: configurations.into_iter().map(|c| (c.name.clone(), c)).collect() })
}
