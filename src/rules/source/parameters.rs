//! S3–S6: the parameters logical replication needs in the group S2 chose — `rds.logical_replication` (S3),
//! `max_replication_slots` (S4), `max_wal_senders` (S5), `wal_sender_timeout` (S6) — and the user-set
//! parameters a new group carries over. A number that is high enough is never lowered. Pure: the values
//! come from the observed groups and the writer's settings; the RDS calls are only planned.

use super::group::Target;
use crate::model::cluster::{ApplyType, Parameter};
use crate::model::source::{Database, GroupState};
use crate::plan::file::Observation;
use crate::plan::operation::SourceOp;
use crate::plan::source_ops::{MAX_PARAMETERS_PER_CALL, ParameterValue};
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::rules::Findings;
use crate::spec::Spec;

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

/// Every user-set parameter of `current` that the new group does not hold yet.
pub(super) fn carry_over(current: &GroupState, existing: Option<&GroupState>) -> Vec<ParameterValue> {
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

/// One managed parameter's verdict.
pub(super) struct Desired<'a> {
    pub name: &'static str,
    rule: RuleId,
    prevents: u32,
    /// What is in force now: the group value, else the running one.
    before: Option<String>,
    /// The value to set, or `None` if what is there is good enough.
    pub set: Option<String>,
    /// The value the group will hold once the plan is applied (to compare with the running one).
    pub final_value: Option<String>,
    reason: String,
    /// The parameter's metadata in the current group's family; `None` if the family lacks it.
    meta: Option<&'a Parameter>,
}

/// The values a parameter has now, in the group the values end up in and on the writer.
struct Now<'a> {
    base: &'a GroupState,
    db: Option<&'a Database>,
}

impl Now<'_> {
    fn running(&self, name: &str) -> Option<String> {
        self.db.and_then(|db| db.setting(name)).map(str::to_string)
    }

    fn group_value(&self, name: &str) -> Option<String> {
        self.base.managed(name).and_then(|p| p.value.clone())
    }

    /// A formula or nothing in the group: the number in force is the running one.
    fn in_force(&self, name: &str) -> Option<String> {
        match self.group_value(name) {
            Some(v) if number(Some(&v)).is_some() => Some(v),
            _ => self.running(name),
        }
    }
}

/// S3–S6: what each managed parameter must be, in the order they are set.
pub(super) fn desired<'a>(
    spec: &Spec,
    current: &'a GroupState,
    target: &Target<'a>,
    db: Option<&'a Database>,
) -> Vec<Desired<'a>> {
    let now = Now { base: target.base(current), db };
    let databases = spec.source.databases.len() as i64;
    let (slots, slots_final) = replication_slots(&now, databases, current.managed("max_replication_slots"));
    vec![
        logical_replication(&now, current.managed("rds.logical_replication")),
        slots,
        wal_senders(&now, slots_final, current.managed("max_wal_senders")),
        wal_sender_timeout(&now, spec.desired.wal_sender_timeout, current.managed("wal_sender_timeout")),
    ]
}

/// S3: `rds.logical_replication = 1`, which makes `wal_level` logical.
fn logical_replication<'a>(now: &Now<'_>, meta: Option<&'a Parameter>) -> Desired<'a> {
    let logical = now.group_value("rds.logical_replication");
    Desired {
        name: "rds.logical_replication",
        rule: RuleId::S3,
        prevents: 603107,
        before: logical.clone().or_else(|| Some("0".into())),
        set: (logical.as_deref() != Some("1")).then(|| "1".to_string()),
        final_value: Some("1".into()),
        reason: "logical replication needs wal_level = logical, which this turns on".into(),
        meta,
    }
}

/// S4: a slot for each selected database on top of the slots in use, and one to spare; also returns the
/// number the group will hold, which S5 builds on.
fn replication_slots<'a>(now: &Now<'_>, databases: i64, meta: Option<&'a Parameter>) -> (Desired<'a>, i64) {
    let slots_in_use = now.db.map_or(0, |db| db.slots as i64);
    let slots_min = (databases + slots_in_use + 1).max(2);
    let slots_now = number(now.in_force("max_replication_slots").as_deref());
    let slots_final = slots_now.filter(|n| *n >= slots_min).unwrap_or(slots_min);
    let desired = Desired {
        name: "max_replication_slots",
        rule: RuleId::S4,
        prevents: 603105,
        before: now.in_force("max_replication_slots"),
        set: (slots_now < Some(slots_min)).then(|| slots_min.to_string()),
        final_value: Some(slots_final.to_string()),
        reason: format!(
            "it must exceed the selected databases ({databases}) plus the replication slots that exist \
             ({slots_in_use}): at least {slots_min}"
        ),
        meta,
    };
    (desired, slots_final)
}

/// S5: a walsender for every slot, on top of the walsenders in use.
fn wal_senders<'a>(now: &Now<'_>, slots_final: i64, meta: Option<&'a Parameter>) -> Desired<'a> {
    let walsenders = now.db.map_or(0, |db| db.walsenders as i64);
    let senders_min = slots_final + walsenders;
    let senders_now = number(now.in_force("max_wal_senders").as_deref());
    let senders_final = senders_now.filter(|n| *n >= senders_min).unwrap_or(senders_min);
    Desired {
        name: "max_wal_senders",
        rule: RuleId::S5,
        prevents: 603106,
        before: now.in_force("max_wal_senders"),
        set: (senders_now < Some(senders_min)).then(|| senders_min.to_string()),
        final_value: Some(senders_final.to_string()),
        reason: format!(
            "it must be at least max_replication_slots ({slots_final}) plus the walsenders in use \
             ({walsenders}): at least {senders_min}"
        ),
        meta,
    }
}

/// S6: the spec's `desired.wal_sender_timeout`, by default 0 (never time out).
fn wal_sender_timeout<'a>(now: &Now<'_>, wanted: Option<u32>, meta: Option<&'a Parameter>) -> Desired<'a> {
    let timeout = wanted.unwrap_or(0).to_string();
    let timeout_now = now.in_force("wal_sender_timeout");
    Desired {
        name: "wal_sender_timeout",
        rule: RuleId::S6,
        prevents: 603106,
        before: timeout_now.clone(),
        set: (number(timeout_now.as_deref()) != number(Some(&timeout))).then(|| timeout.clone()),
        final_value: Some(timeout.clone()),
        reason: format!("walsenders must not time out during a long initial load: {timeout} ms, where 0 means never"),
        meta,
    }
}

/// What S3–S6 planned, for the attach and the reboot.
pub(super) struct Written {
    /// The parameter changes, in the order they run.
    pub changes: Vec<Address>,
    /// A parameter that is not dynamic changes: only a reboot applies it.
    pub static_change: bool,
}

/// Plans a change for every parameter that must be set (a blocker if RDS would refuse the value) and a
/// check for every one that is good enough; `family` is the current group's, whose metadata `desired`
/// carries.
///
/// Each parameter stays its own change (its address, rule, values and reason), but the changes share
/// their request: the parameters to set are cut into batches of at most
/// [`MAX_PARAMETERS_PER_CALL`](crate::plan::source_ops::MAX_PARAMETERS_PER_CALL), and every change of a
/// batch carries the same `SetParameters` operation, which the executor performs once for all of them
/// (static and dynamic parameters share a call, each with its own apply method). A batch waits for the
/// one before it: RDS wants no overlapping modifications of one group.
pub(super) fn write(
    findings: &mut Findings,
    cluster: &str,
    family: &str,
    target: &Target<'_>,
    desired: &[Desired<'_>],
    db: Option<&Database>,
) -> Written {
    let mut written = Written { changes: Vec::new(), static_change: false };
    // Where each settable parameter's change sits in `findings.changes` (plan order stays desired order).
    let mut settable: Vec<(usize, ParameterValue)> = Vec::new();
    for d in desired {
        let address = Address::cluster(cluster).named("parameter", d.name);
        findings.observations.push(observation(address.clone(), d, db));
        let Some(value) = &d.set else {
            findings.checks.push(Check {
                address,
                rule: d.rule,
                summary: format!("{} = {}: {}", d.name, d.before.as_deref().unwrap_or("unset"), d.reason),
            });
            continue;
        };
        let meta = match d.meta {
            Some(meta) if meta.is_modifiable && allowed(value, meta.allowed_values.as_deref()) => meta,
            meta => {
                findings.changes.push(refusal(address, d, value, meta, family));
                continue;
            }
        };
        written.static_change |= meta.apply_type != ApplyType::Dynamic;
        let mut change = Change::new(address, Action::Update, d.rule, d.reason.clone());
        change.before = d.before.clone();
        change.after = Some(value.clone());
        change.prevents = Some(d.prevents);
        let parameter = ParameterValue {
            name: d.name.to_string(),
            value: value.clone(),
            apply_type: apply_type_name(&meta.apply_type),
        };
        settable.push((findings.changes.len(), parameter));
        findings.changes.push(change);
    }
    let mut previous: Vec<Address> = target.prepared_by().cloned().into_iter().collect();
    for batch in settable.chunks(MAX_PARAMETERS_PER_CALL) {
        let operation = Operation::Source(SourceOp::SetParameters {
            group: target.name().to_string(),
            parameters: batch.iter().map(|(_, parameter)| parameter.clone()).collect(),
        });
        let addresses: Vec<Address> = batch.iter().map(|&(at, _)| findings.changes[at].address.clone()).collect();
        for &(at, _) in batch {
            findings.changes[at].depends_on = previous.clone();
            findings.changes[at].operation = Some(operation.clone());
        }
        previous = addresses.clone();
        written.changes.extend(addresses);
    }
    written
}

/// The group's and the writer's value, and the slots or walsenders in use that the minimum counts.
fn observation(address: Address, d: &Desired<'_>, db: Option<&Database>) -> Observation {
    let running = db.and_then(|db| db.setting(d.name)).unwrap_or("unknown");
    let in_use = match (d.name, db) {
        ("max_replication_slots", Some(db)) => format!(" slots={}", db.slots),
        ("max_wal_senders", Some(db)) => format!(" walsenders={}", db.walsenders),
        _ => String::new(),
    };
    Observation::new(address, format!("group={} running={running}{in_use}", d.before.as_deref().unwrap_or("unset")))
}

/// The blocker for a value RDS would refuse: the family lacks the parameter, does not let it be modified,
/// or does not allow the value.
fn refusal(address: Address, d: &Desired<'_>, value: &str, meta: Option<&Parameter>, family: &str) -> Change {
    let Some(meta) = meta else {
        let mut blocker =
            Change::new(address, Action::Blocker, d.rule, format!("{} is not a parameter of family {family}", d.name));
        blocker.remedy =
            Some("check the cluster's engine version: logical replication needs Aurora PostgreSQL 10+".into());
        blocker.prevents = Some(d.prevents);
        return blocker;
    };
    let mut blocker = Change::new(
        address,
        Action::Blocker,
        d.rule,
        format!(
            "{} must be {value} ({}), but RDS {} in family {family}",
            d.name,
            d.reason,
            if meta.is_modifiable {
                format!("allows only {}", meta.allowed_values.as_deref().unwrap_or("other values"))
            } else {
                "does not let it be modified".to_string()
            },
        ),
    );
    blocker.remedy = Some(match d.name {
        "wal_sender_timeout" => "set `desired.wal_sender_timeout` in the spec to an allowed value".into(),
        _ => "drop unused replication slots or choose fewer databases, then plan again".into(),
    });
    blocker.prevents = Some(d.prevents);
    blocker
}
