//! S7: the writer runs the values of its parameter group. A new group or a static parameter takes effect
//! only with a reboot of the writer (`RebootDBInstance`; never `RebootDBCluster` on Aurora), which waits
//! for every group change and stays pending unless `[allow] reboot_source_writer`. Readers left
//! `pending-reboot` are reported, not rebooted. Pure: the reboot is only planned.

use super::parameters::Desired;
use crate::model::cluster::{Cluster, IN_SYNC};
use crate::model::source::Database;
use crate::plan::file::Observation;
use crate::plan::operation::SourceOp;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::rules::Findings;
use crate::spec::Spec;

/// `aws.cluster/<id>/writer`: the writer instance and its reboot.
pub(super) fn address(cluster: &str) -> Address {
    Address::cluster(cluster).child("writer")
}

/// What S2–S6 planned that the reboot must apply.
pub(super) struct Reboot {
    /// Why the writer must reboot whatever it reports now.
    why: Vec<String>,
    /// Every change to the group and to which group the cluster has, in order; the reboot waits for them.
    group_changes: Vec<Address>,
}

impl Reboot {
    pub(super) fn new(attached: bool, static_change: bool, group_changes: Vec<Address>) -> Self {
        let mut why = Vec::new();
        if attached {
            why.push("a newly attached parameter group takes effect only after a reboot".to_string());
        }
        if static_change {
            why.push("static parameters change".to_string());
        }
        Self { why, group_changes }
    }
}

/// S7: reboot the writer when the group it runs with is not the group it has.
pub(super) fn reboot(
    findings: &mut Findings,
    spec: &Spec,
    cluster: &Cluster,
    db: Option<&Database>,
    reboot: Reboot,
    desired: &[Desired<'_>],
) {
    let address = address(&cluster.id);
    let Some(writer) = cluster.writer() else {
        let mut blocker =
            Change::new(address, Action::Blocker, RuleId::S7, format!("cluster {} has no writer", cluster.id));
        blocker.remedy = Some("add a writer instance to the cluster (or wait for a failover to finish)".into());
        findings.changes.push(blocker);
        return;
    };
    findings
        .observations
        .push(Observation::new(address.clone(), format!("{} {}", writer.instance_id, writer.parameter_group_status)));
    let mut why = reboot.why;
    // What the writer's status is when the reboot runs: the planned group changes leave it pending.
    let before = if !why.is_empty() {
        "pending-reboot".to_string()
    } else if writer.parameter_group_status != IN_SYNC {
        writer.parameter_group_status.clone()
    } else {
        "in-sync, running older values".to_string()
    };
    if writer.parameter_group_status != IN_SYNC {
        why.push(format!("the writer's parameter group status is {}", writer.parameter_group_status));
    }
    let (verify, drift) = compare(desired, db);
    why.extend(drift);
    if why.is_empty() {
        findings.checks.push(Check {
            address,
            rule: RuleId::S7,
            summary: format!("writer {} runs the values of its parameter group (in-sync)", writer.instance_id),
        });
        return;
    }
    let mut change = Change::new(
        address,
        Action::Restart,
        RuleId::S7,
        format!("reboot writer {} so the values take effect: {}", writer.instance_id, why.join("; ")),
    );
    change.before = Some(before);
    change.after = Some(IN_SYNC.into());
    change.disruptive = true;
    change.prevents = Some(603107);
    change.depends_on = reboot.group_changes;
    if !spec.allow.reboot_source_writer {
        // Only then is the reboot the user's to do; otherwise apply does it and a command would mislead.
        change.pending = Some(
            "[allow] reboot_source_writer is false: the writer must be rebooted for logical replication to take \
             effect; reboot it yourself (see hint) or set reboot_source_writer = true"
                .into(),
        );
        change.remedy = Some(format!(
            "aws rds reboot-db-instance --db-instance-identifier {} --region {}",
            writer.instance_id, spec.source.region
        ));
    }
    change.operation = Some(Operation::Source(SourceOp::RebootWriter {
        cluster: cluster.id.clone(),
        instance: writer.instance_id.clone(),
        verify,
    }));
    findings.changes.push(change);
}

/// The running values the reboot verifies (`pg_settings` name → setting), and the reasons to reboot
/// although the group stays as it is: the writer runs another value than a group that needs no change
/// says (a reboot the last run did not get, or one left to the user). S3 shows up as `wal_level`.
fn compare(desired: &[Desired<'_>], db: Option<&Database>) -> (Vec<(String, String)>, Vec<String>) {
    let mut verify = Vec::new();
    let mut drift = Vec::new();
    for d in desired {
        let Some(value) = &d.final_value else { continue };
        let (setting, expected) = match d.name {
            "rds.logical_replication" => ("wal_level", if value == "1" { "logical" } else { "replica" }.to_string()),
            name => (name, value.clone()),
        };
        verify.push((setting.to_string(), expected.clone()));
        // A value being set is covered by the set's own reason; an unknown running value proves nothing.
        let Some(running) = db.and_then(|db| db.setting(setting)) else { continue };
        if running != expected && d.set.is_none() {
            drift.push(format!("the writer runs {setting} = {running} but its group says {expected}"));
        }
    }
    (verify, drift)
}

/// Readers left `pending-reboot` (Aurora 15.2+/14.7+/13.10+/12.14+ does not reboot them with the writer).
pub(super) fn readers(findings: &mut Findings, spec: &Spec, cluster: &Cluster) {
    for reader in cluster.members.iter().filter(|m| !m.is_writer && m.parameter_group_status != IN_SYNC) {
        findings.left_out.push(Check {
            address: Address::cluster(&cluster.id).named("reader", &reader.instance_id),
            rule: RuleId::S7,
            summary: format!(
                "reader {} is {} and is not rebooted: the migration reads from the writer, and the reader keeps \
                 the old values until you reboot it (aws rds reboot-db-instance --db-instance-identifier {} \
                 --region {})",
                reader.instance_id, reader.parameter_group_status, reader.instance_id, spec.source.region
            ),
        });
    }
}
