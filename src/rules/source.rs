//! Source prerequisites S1–S10 (Aurora cluster parameter group, logical replication, slots, senders,
//! timeout, reboot, rds_replication, test_decoding, read privileges). Pure.

use super::Findings;
use crate::apply::state::State;
use crate::observe::aws::Cluster;
use crate::observe::source::SourceState;
use crate::spec::Spec;

pub fn plan(_spec: &Spec, _cluster: &Cluster, _state: &SourceState) -> Findings {
    Findings::default()
}

pub fn restore(_spec: &Spec, _cluster: &Cluster, _state: &SourceState, _recorded: &State) -> Findings {
    Findings::default()
}
