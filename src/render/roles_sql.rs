//! The roles SQL `plan --roles-sql FILE` writes for review: the plan's T7 statements (roles without
//! SUPERUSER, REPLICATION and BYPASSRLS, memberships with their admin option, role settings), exactly as
//! apply runs them ([`TargetSqlOp::statement`]: every name a quoted identifier, every value a quoted
//! literal, no control character), then the passwords the LOGIN roles need, as comments. Pure.

use crate::plan::operation::TargetSqlOp;
use crate::plan::sql::quote_ident;
use crate::plan::{Operation, Plan, RuleId};

/// The statements of the plan's T7 changes, one per line with `;`, and then, as comments, the passwords
/// the LOGIN roles need: what `plan --roles-sql` writes for review.
pub fn render(plan: &Plan) -> String {
    let mut lines =
        vec!["-- migprep: roles to create on the target (T7). Review, then run as the target's admin.".to_string()];
    let mut passwords = Vec::new();
    for change in plan.changes.iter().filter(|c| c.rule == RuleId::T7) {
        if let Some(Operation::TargetSql(op)) = &change.operation {
            lines.push(format!("{};", op.statement()));
            if let TargetSqlOp::CreateRole { name, login: true, .. } = op {
                passwords.push(format!("-- ALTER ROLE {} PASSWORD '…';", quote_ident(name)));
            }
        }
    }
    if !passwords.is_empty() {
        lines.push("-- Passwords are not copied (Aurora does not expose them); set one for each LOGIN role:".into());
        lines.extend(passwords);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Address, Change, Kind};

    #[test]
    fn the_statements_come_first_and_the_passwords_as_comments() {
        let mut plan = Plan::new(Kind::Apply, "orders");
        let mut create = Change::new(Address::target_database().named("role", "app"), Action::Create, RuleId::T7, "r");
        create.operation = Some(Operation::TargetSql(TargetSqlOp::CreateRole {
            name: "app".into(),
            login: true,
            inherit: true,
            createdb: false,
            createrole: false,
            connection_limit: -1,
            valid_until: None,
        }));
        let mut createrole =
            Change::new(Address::target_database().named("role", "migrator"), Action::Update, RuleId::T8, "r");
        createrole.operation = Some(Operation::TargetSql(TargetSqlOp::AllowCreateRole { role: "migrator".into() }));
        plan.changes = vec![create, createrole];
        let sql = render(&plan);
        assert!(sql.contains("\nCREATE ROLE \"app\" WITH LOGIN INHERIT NOCREATEDB NOCREATEROLE;\n"), "{sql}");
        assert!(sql.contains("-- ALTER ROLE \"app\" PASSWORD '…';"), "{sql}");
        assert!(!sql.contains("ALTER ROLE \"migrator\" CREATEROLE"), "only T7's roles: {sql}");
    }

    #[test]
    fn a_hostile_setting_value_stays_on_its_line() {
        let mut plan = Plan::new(Kind::Apply, "orders");
        let address = Address::target_database().named("role", "app").named("setting", "application_name");
        let mut set = Change::new(address, Action::Create, RuleId::T7, "r");
        set.operation = Some(Operation::TargetSql(TargetSqlOp::SetRoleSetting {
            role: "app".into(),
            database: None,
            name: "application_name".into(),
            value: "x';\nDROP ROLE sentinel; --".into(),
        }));
        plan.changes = vec![set];
        let sql = render(&plan);
        assert_eq!(sql.lines().count(), 2, "{sql}");
        assert!(
            sql.ends_with("\nALTER ROLE \"app\" SET \"application_name\" TO E'x'';\\u000aDROP ROLE sentinel; --';\n"),
            "{sql}"
        );
    }
}
