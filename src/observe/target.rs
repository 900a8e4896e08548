//! What the target rules need from the flexible server, beyond the server itself.

use super::Clients;
use super::azure::Server;
use super::postgres::Endpoint;
use crate::error::UserError;
use crate::spec::Spec;

/// The target's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetState {}

/// Reads the target. Problems are returned together.
pub async fn observe(
    _spec: &Spec,
    _clients: &Clients,
    _server: &Server,
    _database: &Endpoint,
) -> Result<TargetState, Vec<UserError>> {
    Ok(TargetState {})
}
