//! S2: which DB cluster parameter group S3–S6 write to, and attaching it. A custom group only this
//! cluster uses is modified in place; a `default.*` group (read-only) or one shared with other clusters is
//! never touched: a new group is created in the same family, carrying over the current one's user-set
//! parameters, and attached once S3–S6 have set it. Pure: it decides from the observed groups and plans
//! the RDS calls; it makes none.

use super::parameters::carry_over;
use crate::model::source::{GroupState, Source};
use crate::plan::file::Observation;
use crate::plan::operation::SourceOp;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::rules::Findings;
use crate::spec::Spec;

/// The description migprep gives a group it creates; how a later run knows the group is its own.
pub fn group_description(cluster: &str) -> String {
    format!("migprep: logical replication settings for Aurora cluster {cluster}")
}

/// Where S3–S6 write.
pub(super) enum Target<'a> {
    /// The attached custom group, used only by this cluster.
    InPlace(&'a GroupState),
    /// A new group (or one left by an earlier run), then attached.
    New {
        name: String,
        existing: Option<&'a GroupState>,
        /// The change creating or completing the group, when it needs one: the parameter changes wait for it.
        prepared_by: Option<Address>,
    },
}

impl<'a> Target<'a> {
    /// The name of the group the parameter changes go to.
    pub(super) fn name(&self) -> &str {
        match self {
            Target::InPlace(g) => &g.group.name,
            Target::New { name, .. } => name,
        }
    }

    /// The group the values end up in, as it is now: the attached one, the one left by an earlier run, or
    /// (for a group still to create) the attached one, whose values the new group gets by carry-over or,
    /// for engine defaults, by being of the same family.
    pub(super) fn base(&self, current: &'a GroupState) -> &'a GroupState {
        match self {
            Target::InPlace(g) => g,
            Target::New { existing: Some(e), .. } => e,
            Target::New { existing: None, .. } => current,
        }
    }

    pub(super) fn prepared_by(&self) -> Option<&Address> {
        match self {
            Target::InPlace(_) => None,
            Target::New { prepared_by, .. } => prepared_by.as_ref(),
        }
    }
}

/// `aws.cluster/<id>/parameter_group`: which group the cluster has.
fn attachment(cluster: &str) -> Address {
    Address::cluster(cluster).child("parameter_group")
}

/// S2: where to write, or `None` after a blocker (S3–S6 and the writer's reboot then plan nothing).
pub(super) fn choose<'a>(findings: &mut Findings, spec: &Spec, cluster: &str, state: &'a Source) -> Option<Target<'a>> {
    let current = &state.current;
    let migration_address = Address::parameter_group(&state.migration_name);
    findings.observations.push(Observation::new(attachment(cluster), current.group.name.clone()));
    findings.observations.push(Observation::new(
        migration_address.clone(),
        match &state.migration {
            Some(m) => format!("{} {} used by [{}]", m.group.family, m.group.description, m.users.join(",")),
            None => "absent".into(),
        },
    ));
    let Some(why) = why_not_in_place(cluster, current) else {
        findings.checks.push(Check {
            address: attachment(cluster),
            rule: RuleId::S2,
            summary: format!("{} is a custom group only this cluster uses: modified in place", current.group.name),
        });
        return Some(Target::InPlace(current));
    };
    if current.group.name == state.migration_name {
        let mut blocker = Change::new(
            attachment(cluster),
            Action::Blocker,
            RuleId::S2,
            format!("cluster {cluster} uses {why}, and migprep would create a group of that very name"),
        );
        blocker.remedy = Some("set `desired.parameter_group` in the spec to a new group name".into());
        findings.changes.push(blocker);
        return None;
    }
    if let Some(foreign) = state.migration.as_ref().filter(|m| !is_ours(m, current, cluster)) {
        findings.changes.push(foreign_blocker(spec, cluster, &why, foreign, migration_address));
        return None;
    }
    Some(prepare(findings, cluster, &why, current, &state.migration_name, state.migration.as_ref(), migration_address))
}

/// Why the attached group must not be modified, or `None` when it may be.
fn why_not_in_place(cluster: &str, current: &GroupState) -> Option<String> {
    let others: Vec<&str> = current.users.iter().map(String::as_str).filter(|u| *u != cluster).collect();
    if current.group.is_default() {
        Some(format!("{}, an AWS default group, which cannot be modified", current.group.name))
    } else if !others.is_empty() {
        Some(format!(
            "{}, which it shares with {}: changing it would change them too",
            current.group.name,
            others.join(", ")
        ))
    } else {
        None
    }
}

/// A group of migprep's name that an earlier run left for this cluster: same family, migprep's
/// description, used by no cluster yet.
fn is_ours(migration: &GroupState, current: &GroupState, cluster: &str) -> bool {
    migration.group.family == current.group.family
        && migration.users.is_empty()
        && migration.group.description == group_description(cluster)
}

fn foreign_blocker(spec: &Spec, cluster: &str, why: &str, foreign: &GroupState, address: Address) -> Change {
    let mut blocker = Change::new(
        address,
        Action::Blocker,
        RuleId::S2,
        format!(
            "cluster {cluster} needs a new parameter group because it uses {why}, but a group named {} already \
             exists and was not created by migprep for this cluster (family {}, used by {}, \
             description {:?})",
            foreign.group.name,
            foreign.group.family,
            if foreign.users.is_empty() { "no cluster".to_string() } else { foreign.users.join(", ") },
            foreign.group.description
        ),
    );
    blocker.remedy = Some(format!(
        "set `desired.parameter_group` in the spec to an unused name, or delete the group if it is \
         not needed: aws rds delete-db-cluster-parameter-group --db-cluster-parameter-group-name {} \
         --region {}",
        foreign.group.name, spec.source.region
    ));
    blocker
}

/// Creates the new group, or completes the one an earlier run left, unless it already carries every
/// user-set parameter of the current one.
fn prepare<'a>(
    findings: &mut Findings,
    cluster: &str,
    why: &str,
    current: &GroupState,
    name: &str,
    existing: Option<&'a GroupState>,
    address: Address,
) -> Target<'a> {
    let carry = carry_over(current, existing);
    if existing.is_some() && carry.is_empty() {
        findings.checks.push(Check {
            address,
            rule: RuleId::S2,
            summary: format!("{name} exists from an earlier run and carries the user-set parameters"),
        });
        return Target::New { name: name.to_string(), existing, prepared_by: None };
    }
    let (action, verb) = if existing.is_none() {
        (Action::Create, "create")
    } else {
        (Action::Update, "complete (left by an earlier run)")
    };
    let mut change = Change::new(
        address.clone(),
        action,
        RuleId::S2,
        format!(
            "cluster {cluster} uses {why}; {verb} {name} in family {}, carrying over {} of {}",
            current.group.family,
            crate::text::count(carry.len() as u64, "user-set parameter", "user-set parameters"),
            current.group.name
        ),
    );
    change.before = existing.map(|e| e.group.name.clone());
    change.after = Some(name.to_string());
    change.operation = Some(Operation::Source(SourceOp::CreateParameterGroup {
        name: name.to_string(),
        family: current.group.family.clone(),
        description: group_description(cluster),
        carry_over: carry,
    }));
    findings.changes.push(change);
    Target::New { name: name.to_string(), existing, prepared_by: Some(address) }
}

/// Attaches a new group once `group_changes` (its creation and parameters) are done; returns the attach's
/// address, `None` when the group is modified in place.
pub(super) fn attach(
    findings: &mut Findings,
    cluster: &str,
    current: &GroupState,
    target: &Target<'_>,
    group_changes: &[Address],
) -> Option<Address> {
    let Target::New { name, .. } = target else {
        return None;
    };
    let address = attachment(cluster);
    let mut change = Change::new(
        address.clone(),
        Action::Update,
        RuleId::S2,
        format!("attach {name} to cluster {cluster} (ModifyDBCluster, ApplyImmediately); takes effect on reboot"),
    );
    change.before = Some(current.group.name.clone());
    change.after = Some(name.clone());
    change.depends_on = group_changes.to_vec();
    change.operation =
        Some(Operation::Source(SourceOp::AttachParameterGroup { cluster: cluster.to_string(), group: name.clone() }));
    findings.changes.push(change);
    Some(address)
}
