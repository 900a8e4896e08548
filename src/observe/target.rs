//! What the target rules need from the flexible server, beyond the server and its replicas (which
//! [`super::observe`] reads for every rule): its server parameters.
//!
//! The parameters are listed, not read one by one: T11 must find every parameter already waiting for a
//! restart (`isConfigPendingRestart`), which only the list shows, and the list (a handful of pages) then
//! also answers T1 and the later parameter rules without a call each. I/O only; nothing is decided here.

use crate::clients::Clients;
use crate::error::UserError;
use crate::model::server::Configurations;

/// The target's observed state.
/// Reads the target. Problems are returned together.
pub async fn observe(clients: &Clients) -> Result<Configurations, Vec<UserError>> {
    let configurations = clients.arm.configurations(&clients.server).await.map_err(|e| vec![e.to_user_error()])?;
    Ok(Configurations { by_name: configurations.into_iter().map(|c| (c.name.clone(), c)).collect() })
}
