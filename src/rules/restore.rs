//! The restore plan: what the recorded originals say to put back, against the live state. Pure, like the
//! other rules.
//!
//! Every temporary change in the record gets exactly one outcome, so that none is ever dropped without a
//! word: a change that puts the original back; a step that forgets the record, when the address is
//! already back (put back outside migprep); or a blocker, when migprep cannot see the address (the spec
//! now names another server, the source database cannot be read). A blocker keeps the record, so a
//! restore after the cause is fixed still finds it.

use super::Findings;
use super::source::REPLICATION_ROLE;
use super::target::{describe, observe_restart, restart, server_address, summary};
use crate::model::server::{self, Configurations, Server};
use crate::model::source::Database;
use crate::plan::file::Observation;
use crate::plan::operation::{SourceOp, TargetOp};
use crate::plan::recorded::Entry;
use crate::plan::target_ops::{ReplicaDefinition, describe_high_availability};
use crate::plan::{Action, Address, Change, Operation, Original, Recorded, Removal, RuleId};
use crate::spec::Spec;

/// What restore reads of the live systems.
#[derive(Clone, Copy, Debug)]
pub struct Live<'a> {
    /// SQL on the Aurora writer, or why it could not be read.
    pub source: &'a Result<Database, String>,
    pub server: &'a Server,
    pub replicas: &'a [server::Replica],
    pub configurations: &'a Configurations,
}

/// The changes that put back what migprep changed only for the migration, then the one restart their
/// static parameters need.
pub fn plan(spec: &Spec, live: Live<'_>, recorded: &Recorded) -> Findings {
    let mut findings = Findings::default();
    for (address, entry) in recorded.temporary() {
        let change = match &entry.original {
            None => Some(unreadable(address, entry)),
            Some(original) => put_back(spec, live, address, entry.rule, original, &mut findings),
        };
        findings.changes.extend(change);
    }
    if let Some(restart) = restart(spec, live.server, live.configurations, &findings.changes) {
        findings.changes.push(restart);
    }
    observe_restart(live.server, live.configurations, &mut findings);
    findings
}

/// The one change for one original: put it back, forget it, or a blocker.
fn put_back(
    spec: &Spec,
    live: Live<'_>,
    address: &Address,
    rule: RuleId,
    original: &Original,
    findings: &mut Findings,
) -> Option<Change> {
    let server = live.server;
    match original {
        Original::Configuration { server: of, .. }
        | Original::HighAvailability { server: of, .. }
        | Original::Replica { server: of, .. }
            if *of != server.name =>
        {
            Some(elsewhere(spec, address, rule, of))
        }
        Original::Configuration { name, value, .. } => {
            let current = live.configurations.configuration(name).and_then(|c| c.value.clone()).unwrap_or_default();
            findings.observations.push(Observation::new(address.clone(), current.clone()));
            Some(configuration(address, rule, name, value, current))
        }
        Original::HighAvailability { mode, standby_zone, .. } => {
            findings.observations.push(Observation::new(address.clone(), describe(&server.high_availability)));
            Some(high_availability(address, rule, mode, standby_zone.as_deref(), server))
        }
        Original::Replica { replica, removed, .. } => {
            let names: Vec<&str> = live.replicas.iter().map(|r| r.name.as_str()).collect();
            findings.observations.push(Observation::new(server_address(&server.name, "replicas"), names.join(",")));
            Some(replica_back(spec, address, rule, replica, *removed, server, &names))
        }
        Original::Membership { role, member } => {
            if let Ok(db) = live.source {
                findings.observations.push(Observation::new(
                    address.clone(),
                    format!("member={}", db.migration_user_exists && db.migration_user_is_member),
                ));
            }
            Some(membership(spec, address, rule, role, member, live.source))
        }
    }
}

/// T1 (and any parameter recorded the same way): set the parameter back to its original value.
fn configuration(address: &Address, rule: RuleId, name: &str, original: &str, current: String) -> Change {
    if current.trim().eq_ignore_ascii_case(original.trim()) {
        return forget(address, rule, original);
    }
    let mut change =
        Change::new(address.clone(), Action::Update, rule, format!("puts back {name} as it was before the migration"));
    change.before = Some(current);
    change.after = Some(original.to_string());
    change.operation =
        Some(Operation::Target(TargetOp::SetConfiguration { name: name.to_string(), value: original.to_string() }));
    change
}

/// T2: re-enable high availability with the recorded mode and standby zone.
fn high_availability(
    address: &Address,
    rule: RuleId,
    mode: &str,
    standby_zone: Option<&str>,
    server: &Server,
) -> Change {
    let shown = describe_high_availability(mode, standby_zone);
    let same_mode = server.high_availability.mode.eq_ignore_ascii_case(mode);
    let same_zone = standby_zone.is_none() || server.high_availability.standby_zone.as_deref() == standby_zone;
    if same_mode && same_zone {
        return forget(address, rule, &shown);
    }
    let mut change = Change::new(
        address.clone(),
        Action::Update,
        rule,
        "re-enables high availability as it was before the migration; creating the standby takes time (often 10–30 minutes)",
    );
    change.before = Some(describe(&server.high_availability));
    change.after = Some(shown);
    change.operation = Some(Operation::Target(TargetOp::SetHighAvailability {
        mode: mode.to_string(),
        standby_zone: standby_zone.map(str::to_string),
    }));
    change
}

/// T3: re-create a read replica migprep removed (opt-in).
fn replica_back(
    spec: &Spec,
    address: &Address,
    rule: RuleId,
    replica: &ReplicaDefinition,
    removed: Removal,
    server: &Server,
    names: &[&str],
) -> Change {
    if names.contains(&replica.name.as_str()) {
        return forget(address, rule, &format!("{} is a read replica of {}", replica.name, server.name));
    }
    let mut reason = format!("re-creates {} as a read replica of {}", summary(replica), server.name);
    if removed == Removal::Promoted {
        reason.push_str(&format!(
            "; the promoted standalone server {} still holds the name, so delete it (or rename it) first",
            replica.name
        ));
    }
    let mut change = Change::new(address.clone(), Action::Create, rule, reason);
    change.after = Some(format!("read replica of {}", server.name));
    if !spec.allow.recreate_replicas {
        change.pending = Some("re-creating read replicas is opt-in: [allow] recreate_replicas is false".into());
        change.remedy = Some("set [allow] recreate_replicas = true in the spec and run restore again".into());
    }
    change.operation = Some(Operation::Target(TargetOp::CreateReplica { replica: replica.clone() }));
    change
}

/// S8 (when a grant is recorded as temporary): revoke the membership migprep granted, while the member
/// still has it. The writer's observation answers for the replication role and the spec's migration user
/// only; any other membership cannot be seen, and neither can any while the writer cannot be read.
fn membership(
    spec: &Spec,
    address: &Address,
    rule: RuleId,
    role: &str,
    member: &str,
    source: &Result<Database, String>,
) -> Change {
    let user = &spec.source.migration_user;
    if role != REPLICATION_ROLE || member != user {
        let mut change = blocker(
            address,
            rule,
            format!(
                "migprep granted {role} to {member} for the migration, but the spec's migration user is now {user}: \
                 migprep looks only at that user's membership of {REPLICATION_ROLE}, so it cannot tell whether the \
                 grant is still there"
            ),
        );
        change.remedy = Some(format!(
            "set [source] migration_user = {member:?} in the spec again and run `migprep restore`; the recorded \
             grant stays in the state until then"
        ));
        return change;
    }
    let db = match source {
        Ok(db) => db,
        Err(why) => {
            let mut change = blocker(
                address,
                rule,
                format!(
                    "migprep granted {role} to {member} for the migration, but the source database of cluster {} \
                     cannot be read ({why}), so whether the grant is still there is unknown",
                    spec.source.cluster
                ),
            );
            change.remedy = Some(
                "fix the connection to the source database ([source.connection] in the spec, the network, the \
                 credentials) and run `migprep restore` again; the recorded grant stays in the state until then"
                    .into(),
            );
            return change;
        }
    };
    if !(db.migration_user_exists && db.migration_user_is_member) {
        return forget(address, rule, &format!("{member} is not a member of {role}"));
    }
    let mut change = Change::new(
        address.clone(),
        Action::Delete,
        rule,
        format!("migprep granted {role} to {member} for the migration; revoke it"),
    );
    change.before = Some("member".into());
    change.after = Some("not a member".into());
    change.operation = Some(Operation::Source(SourceOp::Revoke { role: role.to_string(), member: member.to_string() }));
    change
}

/// The address is back at its original, put back outside migprep: the record goes, as a step of the
/// restore (journaled, so a kill can neither lose nor repeat it), and the next apply records afresh.
fn forget(address: &Address, rule: RuleId, original: &str) -> Change {
    let mut change = Change::new(
        address.clone(),
        Action::Delete,
        rule,
        "already back at its original (put back outside migprep): the recorded original is dropped, so that a \
         later apply records the value it finds then",
    );
    change.before = Some(format!("original recorded: {original}"));
    change.operation = Some(Operation::Forget);
    change
}

/// An original recorded for a flexible server the spec no longer names.
fn elsewhere(spec: &Spec, address: &Address, rule: RuleId, server: &str) -> Change {
    let mut change = blocker(
        address,
        rule,
        format!(
            "the original was recorded for the flexible server {server}, but the spec now names {}: migprep \
             cannot look at {server} to put it back",
            spec.target.server
        ),
    );
    change.remedy = Some(format!(
        "point [target] server in the spec back at {server} (with its resource_group and subscription) and run \
         `migprep restore` to put its originals back; they stay in the state until then"
    ));
    change
}

/// A temporary change recorded without its typed original (a state written by hand or damaged).
fn unreadable(address: &Address, entry: &Entry) -> Change {
    let mut change = blocker(
        address,
        entry.rule,
        "the state records a temporary change here without the original to put back".to_string(),
    );
    change.remedy = Some(
        "put the original back by hand, then remove the address from the state file; the journal beside it \
         shows what migprep changed"
            .into(),
    );
    change
}

fn blocker(address: &Address, rule: RuleId, reason: String) -> Change {
    Change::new(address.clone(), Action::Blocker, rule, reason)
}

#[cfg(test)]
mod tests;
