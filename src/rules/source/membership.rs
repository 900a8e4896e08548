//! S8: the migration user is a member of `rds_replication`, the role that lets it use logical replication
//! on RDS. Pure: it reads what SQL on the writer showed and plans the `GRANT`; it runs nothing.

use super::REPLICATION_ROLE;
use crate::model::source::Database;
use crate::plan::file::Observation;
use crate::plan::operation::SourceOp;
use crate::plan::sql::quote_ident;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::rules::Findings;
use crate::spec::Spec;

pub(super) fn check(findings: &mut Findings, spec: &Spec, db: &Database) {
    let user = &spec.source.migration_user;
    let role_address = Address::source_database().named("role", user);
    let address = role_address.named("grant", REPLICATION_ROLE);
    findings.observations.push(Observation::new(
        address.clone(),
        format!("exists={} member={}", db.migration_user_exists, db.migration_user_is_member),
    ));
    if !db.rds_replication_exists {
        let mut blocker = Change::new(
            address,
            Action::Blocker,
            RuleId::S8,
            format!("the role {REPLICATION_ROLE} does not exist on the writer: is this an RDS/Aurora database?"),
        );
        blocker.prevents = Some(603104);
        blocker.remedy = Some("point source.cluster and source.connection at the Aurora PostgreSQL writer".into());
        findings.changes.push(blocker);
        return;
    }
    if !db.migration_user_exists {
        let mut blocker = Change::new(
            role_address,
            Action::Blocker,
            RuleId::S8,
            format!("the migration user {user:?} does not exist on the source"),
        );
        blocker.prevents = Some(603104);
        blocker.remedy = Some(format!(
            "create it (as the master user): CREATE ROLE {} LOGIN PASSWORD '…'; or fix source.migration_user",
            quote_ident(user)
        ));
        findings.changes.push(blocker);
        return;
    }
    if db.migration_user_is_member {
        findings.checks.push(Check {
            address,
            rule: RuleId::S8,
            summary: format!("{user} is a member of {REPLICATION_ROLE}"),
        });
        return;
    }
    let mut change = Change::new(
        address,
        Action::Create,
        RuleId::S8,
        format!("the migration user must be a member of {REPLICATION_ROLE} to use logical replication"),
    );
    change.before = Some("not a member".into());
    change.after = Some("member".into());
    change.prevents = Some(603104);
    change.operation = Some(Operation::Source(SourceOp::Grant { role: REPLICATION_ROLE.into(), member: user.clone() }));
    findings.changes.push(change);
}
