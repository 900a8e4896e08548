//! S9: logical decoding with `test_decoding` works on the writer. A check only: the probe (a temporary
//! slot created, read and dropped) ran while observing; this rule judges its outcome and does no I/O.

use crate::model::source::{Database, Decoding};
use crate::plan::{Action, Address, Change, Check, RuleId};
use crate::rules::Findings;

/// `reboot_planned`: the plan already has a change on the writer, so a probe not tried yet is expected
/// (`wal_level` becomes logical only with that reboot).
pub(super) fn check(findings: &mut Findings, db: &Database, reboot_planned: bool) {
    let address = Address::source_database().child("logical_decoding");
    let verified = |summary: String| Check { address: address.clone(), rule: RuleId::S9, summary };
    match &db.decoding {
        Decoding::Works => {
            findings.checks.push(verified("a temporary test_decoding slot was created, read and dropped".into()))
        }
        Decoding::NotTried if reboot_planned => findings.not_verified.push(verified(
            "the decoding probe runs once wal_level is logical, after the writer's reboot: plan again after apply"
                .into(),
        )),
        Decoding::NotTried => findings.not_verified.push(verified(format!(
            "the decoding probe needs wal_level = logical, and it is {} (S3 and S7 make it logical)",
            db.setting("wal_level").unwrap_or("unknown")
        ))),
        Decoding::NoPrivilege(message) => findings.not_verified.push(verified(format!(
            "the connection user may not create replication slots ({message}); the migration user's \
             rds_replication membership (S8) is what the migration needs"
        ))),
        Decoding::Failed(message) => {
            let mut blocker = Change::new(
                address,
                Action::Blocker,
                RuleId::S9,
                format!("logical decoding with test_decoding does not work on the writer: {message}"),
            );
            blocker.prevents = Some(603107);
            blocker.remedy = Some(
                "check that rds.logical_replication = 1 took effect (SHOW wal_level; must be logical), that \
                 max_replication_slots has room, and that no long transaction blocks slot creation"
                    .into(),
            );
            findings.changes.push(blocker);
        }
    }
}
