//! Target prerequisites T1–T3 and T11 (temp tablespaces, high availability, read replicas, one batched
//! restart) and their restore. Pure.

use super::Findings;
use crate::apply::state::State;
use crate::observe::azure::{Replica, Server};
use crate::observe::target::TargetState;
use crate::spec::Spec;

pub fn plan(_spec: &Spec, _server: &Server, _replicas: &[Replica], _state: &TargetState) -> Findings {
    Findings::default()
}

pub fn restore(
    _spec: &Spec,
    _server: &Server,
    _replicas: &[Replica],
    _state: &TargetState,
    _recorded: &State,
) -> Findings {
    Findings::default()
}
