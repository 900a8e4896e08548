//! Source prerequisites S1–S10 (Aurora cluster parameter group, logical replication, slots, senders,
//! timeout, reboot, rds_replication, test_decoding, read privileges). Pure.
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
mod membership;
mod version;

use super::Findings;
use crate::model::cluster::{ApplyType, Cluster, IN_SYNC, Parameter};
use crate::model::source::{Database, GroupState, Source};
use crate::plan::file::Observation;
use crate::plan::source_ops::ParameterValue;
use crate::plan::{Action, Address, Change, Check, Operation, Original, Recorded, RuleId, operation::SourceOp};
use crate::spec::Spec;

/// The oldest PostgreSQL a migration can start from (`server_version_num`).
pub const MIN_VERSION_NUM: u32 = 90500;

/// The role whose members may use logical replication on RDS.
pub const REPLICATION_ROLE: &str = "rds_replication";

/// The description migprep gives a group it creates; how a later run knows the group is its own.
pub fn group_description(cluster: &str) -> String {
    format!("migprep: logical replication settings for Aurora cluster {cluster}")
}

/// Whether `value` is within RDS's `AllowedValues` (`"0,1"`, `"8192-536870912"`, `"-1-2147483647"`, or
/// a mix). No list at all allows anything.
pub fn allowed(value: &str, allowed_values: Option<&str>) -> bool {
    let Some(allowed) = allowed_values else {
        return true;
    };
    allowed.split(',').map(str::trim).any(|item| {
        if item == value {
            return true;
        }
        // A range: the separator is the first '-' that is not a leading sign.
        let sep = item.char_indices().skip(1).find(|&(_, c)| c == '-').map(|(i, _)| i);
        match (sep, value.parse::<i64>()) {
            (Some(sep), Ok(v)) => match (item[..sep].parse::<i64>(), item[sep + 1..].parse::<i64>()) {
                (Ok(low), Ok(high)) => low <= v && v <= high,
                _ => false,
            },
            _ => false,
        }
    })
}

fn number(value: Option<&str>) -> Option<i64> {
    value.and_then(|v| v.trim().parse().ok())
}

fn apply_type_name(apply_type: &ApplyType) -> String {
    match apply_type {
        ApplyType::Static => "static".into(),
        ApplyType::Dynamic => "dynamic".into(),
        ApplyType::Other(other) => other.clone(),
    }
}

/// Where S3–S6 write.
enum Target<'a> {
    /// The attached custom group, used only by this cluster.
    InPlace(&'a GroupState),
    /// A new group (or one left by an earlier run), then attached.
    New { name: String, existing: Option<&'a GroupState> },
}

struct Addresses {
    group: Address,
    migration_group: Address,
    writer: Address,
}

impl Addresses {
    fn new(cluster: &str, migration: &str) -> Self {
        Self {
            group: Address::new(format!("aws.cluster/{cluster}/parameter_group")),
            migration_group: Address::new(format!("aws.parameter_group/{migration}")),
            writer: Address::new(format!("aws.cluster/{cluster}/writer")),
        }
    }

    fn parameter(cluster: &str, name: &str) -> Address {
        Address::new(format!("aws.cluster/{cluster}/parameter/{name}"))
    }
}

/// One managed parameter's verdict.
struct Desired<'a> {
    name: &'static str,
    rule: RuleId,
    prevents: u32,
    /// What is in force now: the group value, else the running one.
    before: Option<String>,
    /// The value to set, or `None` if what is there is good enough.
    set: Option<String>,
    /// The value the group will hold once the plan is applied (to compare with the running one).
    final_value: Option<String>,
    reason: String,
    meta: Option<&'a Parameter>,
}

pub fn plan(spec: &Spec, cluster: &Cluster, state: &Source) -> Findings {
    let mut findings = Findings::default();
    let id = cluster.id.as_str();
    let addresses = Addresses::new(id, &state.migration_name);
    let current = &state.current;
    let db = state.database.as_ref().ok();

    version::check(&mut findings, cluster, db);
    findings.observations.push(Observation::new(addresses.group.clone(), current.group.name.clone()));
    findings.observations.push(Observation::new(
        addresses.migration_group.clone(),
        match &state.migration {
            Some(m) => format!("{} {} used by [{}]", m.group.family, m.group.description, m.users.join(",")),
            None => "absent".into(),
        },
    ));

    // S2: where to write.
    let others: Vec<&String> = current.users.iter().filter(|u| u.as_str() != id).collect();
    let target = if current.group.is_default() || !others.is_empty() {
        let why = if current.group.is_default() {
            format!("{} is an AWS default group, which cannot be modified", current.group.name)
        } else {
            format!(
                "{} is shared with {} (changing it would change them too)",
                current.group.name,
                others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )
        };
        if current.group.name == state.migration_name {
            let mut blocker = Change::new(
                addresses.group.clone(),
                Action::Blocker,
                RuleId::S2,
                format!("cluster {id} uses {why}, and migprep would create a group of that very name"),
            );
            blocker.remedy = Some("set `desired.parameter_group` in the spec to a new group name".into());
            findings.changes.push(blocker);
            return finish(findings, spec, cluster, state, &addresses, None);
        }
        match state.migration.as_ref() {
            Some(m)
                if m.group.family != current.group.family
                    || !m.users.is_empty()
                    || m.group.description != group_description(id) =>
            {
                let mut blocker = Change::new(
                    addresses.migration_group.clone(),
                    Action::Blocker,
                    RuleId::S2,
                    format!(
                        "cluster {id} needs a new parameter group because {why}, but a group named {} already \
                         exists and was not created by migprep for this cluster (family {}, used by {}, \
                         description {:?})",
                        m.group.name,
                        m.group.family,
                        if m.users.is_empty() { "no cluster".to_string() } else { m.users.join(", ") },
                        m.group.description
                    ),
                );
                blocker.remedy = Some(format!(
                    "set `desired.parameter_group` in the spec to an unused name, or delete the group if it is \
                     not needed: aws rds delete-db-cluster-parameter-group --db-cluster-parameter-group-name {} \
                     --region {}",
                    m.group.name, spec.source.region
                ));
                findings.changes.push(blocker);
                return finish(findings, spec, cluster, state, &addresses, None);
            }
            existing => {
                let carry = carry_over(current, existing);
                let name = state.migration_name.clone();
                if existing.is_none() || !carry.is_empty() {
                    let (action, verb) = if existing.is_none() {
                        (Action::Create, "create")
                    } else {
                        (Action::Update, "complete (left by an earlier run)")
                    };
                    let mut change = Change::new(
                        addresses.migration_group.clone(),
                        action,
                        RuleId::S2,
                        format!(
                            "cluster {id} uses {why}: {verb} {name} in family {} carrying over {} user-set \
                             parameter(s) of {}",
                            current.group.family,
                            carry.len(),
                            current.group.name
                        ),
                    );
                    change.before = existing.map(|e| e.group.name.clone());
                    change.after = Some(name.clone());
                    change.operation = Some(Operation::Source(SourceOp::CreateParameterGroup {
                        name: name.clone(),
                        family: current.group.family.clone(),
                        description: group_description(id),
                        carry_over: carry,
                    }));
                    findings.changes.push(change);
                } else {
                    findings.checks.push(Check {
                        address: addresses.migration_group.clone(),
                        rule: RuleId::S2,
                        summary: format!("{name} exists from an earlier run and carries the user-set parameters"),
                    });
                }
                Target::New { name, existing }
            }
        }
    } else {
        findings.checks.push(Check {
            address: addresses.group.clone(),
            rule: RuleId::S2,
            summary: format!("{} is a custom group only this cluster uses: modified in place", current.group.name),
        });
        Target::InPlace(current)
    };

    // S3–S6.
    let desired = desired_values(spec, current, &target, db);
    let (group_name, base_dependency) = match &target {
        Target::InPlace(g) => (g.group.name.clone(), None),
        Target::New { name, .. } => (
            name.clone(),
            findings
                .changes
                .iter()
                .any(|c| c.address == addresses.migration_group)
                .then(|| addresses.migration_group.clone()),
        ),
    };
    let mut previous = base_dependency;
    let mut group_changes: Vec<Address> = previous.iter().cloned().collect();
    let mut static_change = false;
    for d in &desired {
        let address = Addresses::parameter(id, d.name);
        let running = db.and_then(|db| db.setting(d.name)).unwrap_or("unknown");
        findings.observations.push(Observation::new(
            address.clone(),
            format!(
                "group={} running={running}{}",
                d.before.as_deref().unwrap_or("unset"),
                match (d.name, db) {
                    ("max_replication_slots", Some(db)) => format!(" slots={}", db.slots),
                    ("max_wal_senders", Some(db)) => format!(" walsenders={}", db.walsenders),
                    _ => String::new(),
                }
            ),
        ));
        let Some(value) = &d.set else {
            findings.checks.push(Check {
                address,
                rule: d.rule,
                summary: format!("{} = {} ({})", d.name, d.before.as_deref().unwrap_or("unset"), d.reason),
            });
            continue;
        };
        let Some(meta) = d.meta else {
            let mut blocker = Change::new(
                address,
                Action::Blocker,
                d.rule,
                format!("{} is not a parameter of family {}", d.name, current.group.family),
            );
            blocker.remedy =
                Some("check the cluster's engine version: logical replication needs Aurora PostgreSQL 10+".into());
            blocker.prevents = Some(d.prevents);
            findings.changes.push(blocker);
            continue;
        };
        if !meta.is_modifiable || !allowed(value, meta.allowed_values.as_deref()) {
            let mut blocker = Change::new(
                address,
                Action::Blocker,
                d.rule,
                format!(
                    "{} must be {value} ({}), but RDS {} in family {}",
                    d.name,
                    d.reason,
                    if meta.is_modifiable {
                        format!("allows only {}", meta.allowed_values.as_deref().unwrap_or("other values"))
                    } else {
                        "does not let it be modified".to_string()
                    },
                    current.group.family
                ),
            );
            blocker.remedy = Some(match d.name {
                "wal_sender_timeout" => "set `desired.wal_sender_timeout` in the spec to an allowed value".into(),
                _ => "drop unused replication slots or choose fewer databases, then plan again".into(),
            });
            blocker.prevents = Some(d.prevents);
            findings.changes.push(blocker);
            continue;
        }
        static_change |= meta.apply_type != ApplyType::Dynamic;
        let mut change = Change::new(address.clone(), Action::Update, d.rule, d.reason.clone());
        change.before = d.before.clone();
        change.after = Some(value.clone());
        change.prevents = Some(d.prevents);
        change.depends_on = previous.iter().cloned().collect();
        change.operation = Some(Operation::Source(SourceOp::SetParameters {
            group: group_name.clone(),
            parameters: vec![ParameterValue {
                name: d.name.to_string(),
                value: value.clone(),
                apply_type: apply_type_name(&meta.apply_type),
            }],
        }));
        findings.changes.push(change);
        // One change at a time on one group: RDS wants no overlapping modifications.
        previous = Some(address.clone());
        group_changes.push(address);
    }

    // Attach.
    let mut attach = false;
    if let Target::New { name, .. } = &target {
        attach = true;
        let mut change = Change::new(
            addresses.group.clone(),
            Action::Update,
            RuleId::S2,
            format!("attach {name} to cluster {id} (ModifyDBCluster, ApplyImmediately); takes effect on reboot"),
        );
        change.before = Some(current.group.name.clone());
        change.after = Some(name.clone());
        change.depends_on = group_changes.clone();
        change.operation =
            Some(Operation::Source(SourceOp::AttachParameterGroup { cluster: id.to_string(), group: name.clone() }));
        findings.changes.push(change);
        group_changes.push(addresses.group.clone());
    }
    let in_place_dynamic: Vec<&str> = match &target {
        Target::InPlace(_) => desired
            .iter()
            .filter(|d| d.set.is_some() && d.meta.is_some_and(|m| m.apply_type == ApplyType::Dynamic))
            .map(|d| d.name)
            .collect(),
        Target::New { .. } => Vec::new(),
    };
    let mut why_reboot = Vec::new();
    if attach {
        why_reboot.push("a newly attached parameter group takes effect only after a reboot".to_string());
    }
    if static_change {
        why_reboot.push("static parameters change".to_string());
    }
    let reboot = Reboot { why: why_reboot, group_changes, in_place_dynamic };
    finish(findings, spec, cluster, state, &addresses, Some((reboot, desired)))
}

struct Reboot<'a> {
    why: Vec<String>,
    group_changes: Vec<Address>,
    in_place_dynamic: Vec<&'a str>,
}

/// Every user-set parameter of `current` that the new group does not hold yet.
fn carry_over(current: &GroupState, existing: Option<&GroupState>) -> Vec<ParameterValue> {
    current
        .user_parameters
        .iter()
        .filter(|p| p.is_modifiable)
        .filter_map(|p| {
            let value = p.value.clone()?;
            if existing.is_some_and(|e| e.user_value(&p.name) == Some(value.as_str())) {
                return None;
            }
            Some(ParameterValue { name: p.name.clone(), value, apply_type: apply_type_name(&p.apply_type) })
        })
        .collect()
}

/// S3–S6: what each managed parameter must be, never lowering a number that is high enough.
fn desired_values<'a>(
    spec: &Spec,
    current: &'a GroupState,
    target: &Target<'a>,
    db: Option<&Database>,
) -> Vec<Desired<'a>> {
    // The group the values end up in, as it is now: the attached one, the one left by an earlier run,
    // or (for a group still to create) the attached one, whose values the new group gets by carry-over
    // or, for engine defaults, by being of the same family.
    let base = match target {
        Target::InPlace(g) => *g,
        Target::New { existing: Some(e), .. } => *e,
        Target::New { existing: None, .. } => current,
    };
    let running = |name: &str| db.and_then(|db| db.setting(name)).map(str::to_string);
    let group_value = |name: &str| base.managed(name).and_then(|p| p.value.clone());
    // A formula or nothing in the group: the number in force is the running one.
    let in_force = |name: &str| match group_value(name) {
        Some(v) if number(Some(&v)).is_some() => Some(v),
        _ => running(name),
    };
    let meta = |name: &str| current.managed(name);
    let mut out = Vec::new();

    let logical = group_value("rds.logical_replication");
    let set = (logical.as_deref() != Some("1")).then(|| "1".to_string());
    out.push(Desired {
        name: "rds.logical_replication",
        rule: RuleId::S3,
        prevents: 603107,
        before: logical.clone().or_else(|| Some("0".into())),
        final_value: Some("1".into()),
        set,
        reason: "logical replication needs rds.logical_replication = 1 (wal_level = logical)".into(),
        meta: meta("rds.logical_replication"),
    });

    let databases = spec.source.databases.len() as i64;
    let slots_in_use = db.map_or(0, |db| db.slots as i64);
    let slots_min = (databases + slots_in_use + 1).max(2);
    let slots_now = number(in_force("max_replication_slots").as_deref());
    let slots_final = slots_now.filter(|n| *n >= slots_min).unwrap_or(slots_min);
    out.push(Desired {
        name: "max_replication_slots",
        rule: RuleId::S4,
        prevents: 603105,
        before: in_force("max_replication_slots"),
        set: (slots_now < Some(slots_min)).then(|| slots_min.to_string()),
        final_value: Some(slots_final.to_string()),
        reason: format!(
            "must exceed the {databases} selected database(s) plus the {slots_in_use} slot(s) that exist, and 1: \
             at least {slots_min}"
        ),
        meta: meta("max_replication_slots"),
    });

    let walsenders = db.map_or(0, |db| db.walsenders as i64);
    let senders_min = slots_final + walsenders;
    let senders_now = number(in_force("max_wal_senders").as_deref());
    let senders_final = senders_now.filter(|n| *n >= senders_min).unwrap_or(senders_min);
    out.push(Desired {
        name: "max_wal_senders",
        rule: RuleId::S5,
        prevents: 603106,
        before: in_force("max_wal_senders"),
        set: (senders_now < Some(senders_min)).then(|| senders_min.to_string()),
        final_value: Some(senders_final.to_string()),
        reason: format!(
            "must be at least max_replication_slots ({slots_final}) plus the {walsenders} walsender(s) in use: \
             at least {senders_min}"
        ),
        meta: meta("max_wal_senders"),
    });

    let timeout = spec.desired.wal_sender_timeout.unwrap_or(0).to_string();
    let timeout_now = in_force("wal_sender_timeout");
    out.push(Desired {
        name: "wal_sender_timeout",
        rule: RuleId::S6,
        prevents: 603106,
        before: timeout_now.clone(),
        set: (number(timeout_now.as_deref()) != number(Some(&timeout))).then(|| timeout.clone()),
        final_value: Some(timeout.clone()),
        reason: format!("walsenders must not time out during a long initial load: {timeout} ms (0 = never)"),
        meta: meta("wal_sender_timeout"),
    });
    out
}

/// S7–S10, after the group work.
fn finish(
    mut findings: Findings,
    spec: &Spec,
    cluster: &Cluster,
    state: &Source,
    addresses: &Addresses,
    reboot: Option<(Reboot<'_>, Vec<Desired<'_>>)>,
) -> Findings {
    let db = state.database.as_ref().ok();
    if let Some((reboot, desired)) = reboot {
        writer_reboot(&mut findings, spec, cluster, db, addresses, reboot, &desired);
    }
    readers(&mut findings, spec, cluster);
    if let Some(db) = db {
        membership::check(&mut findings, spec, db);
        let reboot_planned = findings.changes.iter().any(|c| c.address == addresses.writer);
        decoding::check(&mut findings, db, reboot_planned);
        access::check(&mut findings, spec, db);
    }
    findings
}

/// S7: reboot the writer when the group it runs with is not the group it has.
fn writer_reboot(
    findings: &mut Findings,
    spec: &Spec,
    cluster: &Cluster,
    db: Option<&Database>,
    addresses: &Addresses,
    reboot: Reboot<'_>,
    desired: &[Desired<'_>],
) {
    let Some(writer) = cluster.writer() else {
        let mut blocker = Change::new(
            addresses.writer.clone(),
            Action::Blocker,
            RuleId::S7,
            format!("cluster {} has no writer", cluster.id),
        );
        blocker.remedy = Some("add a writer instance to the cluster (or wait for a failover to finish)".into());
        findings.changes.push(blocker);
        return;
    };
    findings.observations.push(Observation::new(
        addresses.writer.clone(),
        format!("{} {}", writer.instance_id, writer.parameter_group_status),
    ));
    let mut why = reboot.why;
    if writer.parameter_group_status != IN_SYNC {
        why.push(format!("the writer's parameter group status is {}", writer.parameter_group_status));
    }
    let mut verify = Vec::new();
    for d in desired {
        let Some(value) = &d.final_value else { continue };
        let (setting, expected) = match d.name {
            "rds.logical_replication" => ("wal_level", if value == "1" { "logical" } else { "replica" }.to_string()),
            name => (name, value.clone()),
        };
        verify.push((setting.to_string(), expected.clone()));
        let running = db.and_then(|db| db.setting(setting));
        if reboot.in_place_dynamic.contains(&d.name) || running.is_none() {
            continue;
        }
        if running != Some(expected.as_str()) && d.set.is_none() {
            why.push(format!("the writer runs {setting} = {} but its group says {expected}", running.unwrap_or("")));
        }
    }
    if why.is_empty() {
        findings.checks.push(Check {
            address: addresses.writer.clone(),
            rule: RuleId::S7,
            summary: format!("writer {} runs the values of its parameter group (in-sync)", writer.instance_id),
        });
        return;
    }
    let mut change = Change::new(
        addresses.writer.clone(),
        Action::Restart,
        RuleId::S7,
        format!("reboot writer {} so the values take effect: {}", writer.instance_id, why.join("; ")),
    );
    change.before = Some(writer.parameter_group_status.clone());
    change.after = Some(IN_SYNC.into());
    change.disruptive = true;
    change.prevents = Some(603107);
    change.depends_on = reboot.group_changes;
    change.remedy = Some(format!(
        "aws rds reboot-db-instance --db-instance-identifier {} --region {}",
        writer.instance_id, spec.source.region
    ));
    if !spec.allow.reboot_source_writer {
        change.pending = Some(
            "[allow] reboot_source_writer is false: the writer must be rebooted for logical replication to take \
             effect; reboot it yourself (see remedy) or set reboot_source_writer = true"
                .into(),
        );
    }
    change.operation = Some(Operation::Source(SourceOp::RebootWriter {
        cluster: cluster.id.clone(),
        instance: writer.instance_id.clone(),
        verify,
    }));
    findings.changes.push(change);
}

/// Readers left `pending-reboot` (Aurora 15.2+/14.7+/13.10+/12.14+ does not reboot them with the writer).
fn readers(findings: &mut Findings, spec: &Spec, cluster: &Cluster) {
    for reader in cluster.members.iter().filter(|m| !m.is_writer && m.parameter_group_status != IN_SYNC) {
        findings.checks.push(Check {
            address: Address::new(format!("aws.cluster/{}/reader/{}", cluster.id, reader.instance_id)),
            rule: RuleId::S7,
            summary: format!(
                "reader {} is {}: it keeps the old values until rebooted (the migration reads from the writer); \
                 aws rds reboot-db-instance --db-instance-identifier {} --region {}",
                reader.instance_id, reader.parameter_group_status, reader.instance_id, spec.source.region
            ),
        });
    }
}

/// Puts back what the source rules changed only for the migration: a role membership migprep granted and
/// recorded as temporary, while the member still has it. (S8's grant is lasting today, so this finds
/// nothing unless a change records a [`Original::Membership`].)
pub fn restore(spec: &Spec, state: &Source, recorded: &Recorded) -> Findings {
    let mut findings = Findings::default();
    let Ok(db) = &state.database else {
        return findings;
    };
    for (address, original) in recorded.originals() {
        let Original::Membership { role, member } = original else {
            continue;
        };
        // The writer's observation answers for the replication role and the migration user only.
        if role != REPLICATION_ROLE || *member != spec.source.migration_user {
            continue;
        }
        findings
            .observations
            .push(Observation::new(address.clone(), format!("member={}", db.migration_user_is_member)));
        if !(db.migration_user_exists && db.migration_user_is_member) {
            continue;
        }
        let mut change = Change::new(
            address.clone(),
            Action::Delete,
            RuleId::S8,
            format!("migprep granted {role} to {member} for the migration; revoke it"),
        );
        change.before = Some("member".into());
        change.after = Some("not a member".into());
        change.operation = Some(Operation::Source(SourceOp::Revoke { role: role.clone(), member: member.clone() }));
        findings.changes.push(change);
    }
    findings
}

#[cfg(test)]
mod tests;
