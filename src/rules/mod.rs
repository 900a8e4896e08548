//! The prerequisites, as pure functions from the spec and the observed state to plan changes, checks,
//! and the observations the changes depend on (the saved plan's fingerprint).
//! No I/O, no clock, no async: same inputs, same plan, in the same order.

#[cfg(test)]
pub(crate) mod fixtures;

pub mod extensions;
pub mod inventory;
pub mod network;
pub mod parity;
pub mod premigration;
pub mod restore;
pub mod roles;
pub mod sizing;
pub mod source;
pub mod target;

use crate::model::Observed;
use crate::plan::file::Observation;
use crate::plan::{Change, Check, Kind, Plan, Recorded};
use crate::spec::Spec;

/// What one group of rules found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub changes: Vec<Change>,
    pub checks: Vec<Check>,
    /// Findings that need the user's attention but neither block nor change anything.
    pub warnings: Vec<Check>,
    /// Prerequisites that could not be verified yet; never shown as passed.
    pub not_verified: Vec<Check>,
    /// Things left as they are on purpose, with the reason; never shown as passed.
    pub left_out: Vec<Check>,
    /// Every observed value a change depends on: if one differs at apply time, the plan is stale.
    pub observations: Vec<Observation>,
}

impl Findings {
    pub fn extend(&mut self, other: Findings) {
        self.changes.extend(other.changes);
        self.checks.extend(other.checks);
        self.warnings.extend(other.warnings);
        self.not_verified.extend(other.not_verified);
        self.left_out.extend(other.left_out);
        self.observations.extend(other.observations);
    }

    fn into_plan(self, kind: Kind, name: &str) -> (Plan, Vec<Observation>) {
        let mut plan = Plan::new(kind, name);
        plan.changes = self.changes;
        plan.checks = self.checks;
        plan.warnings = self.warnings;
        plan.not_verified = self.not_verified;
        plan.left_out = self.left_out;
        let mut observations = self.observations;
        observations.sort();
        observations.dedup();
        (plan, observations)
    }
}

/// The plan that prepares the migration.
pub fn plan(spec: &Spec, observed: &Observed) -> (Plan, Vec<Observation>) {
    let mut findings = Findings::default();
    let (checks, blockers) = network::reachability(&observed.endpoints);
    findings.checks.extend(checks);
    findings.changes.extend(blockers);
    findings.extend(inventory::clouds(observed));
    findings.extend(source::plan(spec, &observed.cluster, &observed.source));
    // T4–T6 set server parameters too; T11's one restart must cover their static ones, so the target
    // rules see them before deciding on the restart.
    let mut parameters = extensions::plan(spec, observed);
    parameters.extend(parity::plan(spec, observed));
    let target =
        target::plan(spec, &observed.server, &observed.replicas, &observed.configurations, &parameters.changes);
    findings.extend(parameters);
    findings.extend(target);
    findings.extend(roles::plan(spec, observed));
    findings.extend(sizing::plan(spec, observed));
    findings.into_plan(Kind::Apply, &spec.name)
}

/// The plan that puts back what was changed only for the migration, from the recorded originals.
pub fn restore(spec: &Spec, observed: &Observed, recorded: &Recorded) -> (Plan, Vec<Observation>) {
    let live = restore::Live {
        source: &observed.source.database,
        server: &observed.server,
        replicas: &observed.replicas,
        configurations: &observed.configurations,
    };
    restore::plan(spec, live, recorded).into_plan(Kind::Restore, &spec.name)
}
