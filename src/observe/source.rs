//! What the source rules need from the Aurora cluster and its writer, beyond the cluster itself.

use super::Clients;
use super::aws::Cluster;
use super::postgres::Endpoint;
use crate::error::UserError;
use crate::spec::Spec;

/// The source's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceState {}

/// Reads the source. Problems are returned together.
pub async fn observe(
    _spec: &Spec,
    _clients: &Clients,
    _cluster: &Cluster,
    _writer: &Endpoint,
) -> Result<SourceState, Vec<UserError>> {
    Ok(SourceState {})
}
