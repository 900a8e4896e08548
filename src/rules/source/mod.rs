//! Source prerequisites S1–S10 (Aurora cluster parameter group, logical replication, slots, senders,
//! timeout, reboot, rds_replication, test_decoding, read privileges), one module per rule. Pure: the
//! rules read the spec and the observed state and plan changes; they do no I/O, and read no clock.
//!
//! The parameter group (S2) decides where S3–S6 write: a custom group only this cluster uses is modified
//! in place; a `default.*` group (read-only) or one shared with other clusters is never touched, and a new
//! group (`desired.parameter_group`, default `<cluster>-migration`) is created in the same family carrying
//! over every user-set parameter of the current one, then attached. A group of that name left by an
//! earlier run (same family, migprep's description, used by no other cluster) is reused; any other group
//! of that name is a blocker.
//!
//! The rules recognise their own finished work: once the group is attached, the writer in sync and the
//! running values equal to the group's, the next plan has nothing to do.

mod access;
mod decoding;
mod group;
mod membership;
mod parameters;
mod version;
mod writer;

pub use group::group_description;
pub use parameters::allowed;

use super::Findings;
use crate::model::cluster::Cluster;
use crate::model::source::Source;
use crate::spec::Spec;

/// The oldest PostgreSQL a migration can start from (`server_version_num`).
pub const MIN_VERSION_NUM: u32 = 90500;

/// The role whose members may use logical replication on RDS.
pub const REPLICATION_ROLE: &str = "rds_replication";

/// S1–S10 in order. A blocker in S2 stops S3–S6 and the writer's reboot (S7), whose values would have
/// nowhere to go; readers are reported all the same. S8–S10 need the writer's SQL answers.
pub fn plan(spec: &Spec, cluster: &Cluster, state: &Source) -> Findings {
    let mut findings = Findings::default();
    let db = state.database.as_ref().ok();
    version::check(&mut findings, cluster, db);
    if let Some(target) = group::choose(&mut findings, spec, &cluster.id, state) {
        let desired = parameters::desired(spec, &state.current, &target, db);
        let written = parameters::write(&mut findings, &cluster.id, &state.current.group.family, &target, &desired, db);
        // The attach waits for the group to be complete, the reboot for the attach as well.
        let mut group_changes: Vec<_> = target.prepared_by().cloned().into_iter().chain(written.changes).collect();
        let attached = group::attach(&mut findings, &cluster.id, &state.current, &target, &group_changes);
        let attach_planned = attached.is_some();
        group_changes.extend(attached);
        let reboot = writer::Reboot::new(attach_planned, written.static_change, group_changes);
        writer::reboot(&mut findings, spec, cluster, db, reboot, &desired);
    }
    writer::readers(&mut findings, spec, cluster);
    if let Some(db) = db {
        membership::check(&mut findings, spec, db);
        // A change on the writer (its reboot, or the blocker that there is none) means S9's probe is not
        // expected to have run yet.
        let writer = writer::address(&cluster.id);
        let reboot_planned = findings.changes.iter().any(|c| c.address == writer);
        decoding::check(&mut findings, db, reboot_planned);
        access::check(&mut findings, spec, db);
    }
    findings
}

#[cfg(test)]
mod tests;
