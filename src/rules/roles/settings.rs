//! T7's role-level settings (`ALTER ROLE … [IN DATABASE …] SET`, from `pg_db_role_setting`): a copied
//! role's settings on the source are set on the target where missing or different. Pure.
//!
//! A setting is left to the user, with a warning that names the statement, when the target cannot take it
//! now: its parameter does not exist there, the target's admin may not set it per role (only `user`
//! parameters, and `superuser` ones as a superuser), or its database is one the migration has yet to
//! create. Settings of databases that are not migrated are not the target's business. A setting that
//! exists only on the target is left as it is.

use super::{Findings, role_address};
use crate::model::roles::{RoleSetting, TargetRoles};
use crate::plan::file::Observation;
use crate::plan::operation::TargetSqlOp;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::spec::Spec;
use std::collections::BTreeSet;

/// `target.pg/role/<role>/setting/<name>`, or `target.pg/role/<role>/database/<database>/setting/<name>`.
pub fn setting_address(setting: &RoleSetting) -> Address {
    let role = role_address(&setting.role);
    let scope = match &setting.database {
        Some(database) => role.named("database", database),
        None => role,
    };
    scope.named("setting", &setting.name)
}

pub(super) fn copy(
    spec: &Spec,
    settings: &[RoleSetting],
    copied: &BTreeSet<&str>,
    target: &TargetRoles,
    findings: &mut Findings,
) {
    let mut settings: Vec<&RoleSetting> = settings.iter().filter(|s| copied.contains(s.role.as_str())).collect();
    settings.sort();
    for setting in settings {
        let address = setting_address(setting);
        let op = TargetSqlOp::SetRoleSetting {
            role: setting.role.clone(),
            database: setting.database.clone(),
            name: setting.name.clone(),
            value: setting.value.clone(),
        };
        let describe = || match &setting.database {
            Some(database) => format!("{}'s setting {} in database {database}", setting.role, setting.name),
            None => format!("{}'s setting {}", setting.role, setting.name),
        };
        if let Some(database) = &setting.database
            && !target.databases.contains(database)
        {
            if spec.source.databases.contains(database) {
                findings.warnings.push(Check {
                    address,
                    rule: RuleId::T7,
                    summary: format!(
                        "{} is not set: database {database} is not on the target yet (the migration creates \
                         it); afterwards, as the target's admin, run: {};",
                        describe(),
                        op.statement()
                    ),
                });
            }
            continue;
        }
        if let Some(why) = unsettable(&setting.name, target) {
            findings.warnings.push(Check {
                address,
                rule: RuleId::T7,
                summary: format!(
                    "{} is not set: {why}; if the role needs it, have it set on the target: {};",
                    describe(),
                    op.statement()
                ),
            });
            continue;
        }

        let source_address = Address::source_database().named("role", &setting.role);
        let source_address = match &setting.database {
            Some(database) => source_address.named("database", database),
            None => source_address,
        };
        findings.observations.push(Observation::new(source_address.named("setting", &setting.name), &setting.value));
        let current = target.roles.setting(&setting.role, setting.database.as_deref(), &setting.name);
        findings.observations.push(Observation::new(address.clone(), current.unwrap_or("(not set)")));
        if current == Some(setting.value.as_str()) {
            findings.checks.push(Check {
                address,
                rule: RuleId::T7,
                summary: format!("{} is {} on the target, as on the source", describe(), setting.value),
            });
            continue;
        }
        let action = if current.is_some() { Action::Update } else { Action::Create };
        let mut change = Change::new(
            address,
            action,
            RuleId::T7,
            format!("{} is {} on the source; sessions of the role rely on it", describe(), setting.value),
        );
        change.before = Some(current.unwrap_or("(not set)").into());
        change.after = Some(setting.value.clone());
        change.depends_on = vec![role_address(&setting.role)];
        change.operation = Some(Operation::TargetSql(op));
        findings.changes.push(change);
    }
}

/// Why the target's admin cannot set the parameter `name` per role, or `None` when it can.
fn unsettable(name: &str, target: &TargetRoles) -> Option<String> {
    let Some(parameter) = target.parameters.iter().find(|p| p.name.eq_ignore_ascii_case(name)) else {
        return Some(format!("the target has no parameter {name}"));
    };
    let superuser = target.roles.role(&target.user).is_some_and(|r| r.superuser);
    match parameter.context.as_str() {
        "user" => None,
        "superuser" if superuser => None,
        "superuser" => {
            Some(format!("{name} is a superuser parameter on the target and {} is no superuser", target.user))
        }
        context => Some(format!("{name} is a {context} parameter on the target, not a per-role one")),
    }
}
