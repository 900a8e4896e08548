//! T7's role creation: the source role's attributes on the target, minus the three the flexible server
//! cannot give it (SUPERUSER, REPLICATION, BYPASSRLS), each reported as a warning that says what to grant
//! instead. Pure.
//!
//! Whether the target's admin may give REPLICATION or BYPASSRLS back is read from the target, not assumed:
//! since PostgreSQL 16 a role with CREATEROLE may give either only if it has it itself; before 16 only a
//! superuser may, and the flexible server has none to offer.

use super::password_hint;
use crate::model::roles::{Role, TargetRoles};
use crate::plan::operation::TargetSqlOp;
use crate::plan::sql::quote_ident;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};

/// The attributes that matter to T7, for the fingerprint: a change on the source makes a saved plan stale.
pub(super) fn observed(role: &Role) -> String {
    format!(
        "super={} inherit={} createrole={} createdb={} login={} replication={} bypassrls={} connlimit={} until={}",
        role.superuser,
        role.inherit,
        role.createrole,
        role.createdb,
        role.login,
        role.replication,
        role.bypassrls,
        role.connection_limit,
        role.valid_until.as_deref().unwrap_or("-"),
    )
}

/// `CREATE ROLE` with everything the source role has but SUPERUSER, REPLICATION and BYPASSRLS.
pub(super) fn create(role: &Role, address: Address, createrole: Option<Address>) -> Change {
    let stripped: Vec<&str> = stripped(role).into_iter().map(|(word, _)| word).collect();
    let mut reason = format!("source role {} does not exist on the target", role.name);
    if !stripped.is_empty() {
        reason.push_str(&format!(
            "; created without {} (see the warnings for what to grant instead)",
            stripped.join(" and ")
        ));
    }
    let op = TargetSqlOp::CreateRole {
        name: role.name.clone(),
        login: role.login,
        inherit: role.inherit,
        createdb: role.createdb,
        createrole: role.createrole,
        connection_limit: role.connection_limit,
        valid_until: role.valid_until.clone(),
    };
    let mut change = Change::new(address, Action::Create, RuleId::T7, reason);
    change.before = Some("absent".into());
    change.after = Some(created(role));
    if role.login {
        change.remedy = Some(password_hint(&role.name));
    }
    change.depends_on = createrole.into_iter().collect();
    change.operation = Some(Operation::TargetSql(op));
    change
}

/// The warnings for the attributes the source role has and its namesake on the target lacks (all of them
/// when the role is still to be created): the role keeps working only with what is granted instead.
pub(super) fn warnings(role: &Role, target: &TargetRoles, address: &Address) -> Vec<Check> {
    let on_target = target.roles.role(&role.name);
    stripped(role)
        .into_iter()
        .filter(|(_, attribute)| on_target.is_none_or(|r| !attribute.held_by(r)))
        .map(|(_, attribute)| Check {
            address: address.clone(),
            rule: RuleId::T7,
            summary: instead(&role.name, attribute, target),
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Stripped {
    Superuser,
    Replication,
    BypassRls,
}

impl Stripped {
    fn held_by(self, role: &Role) -> bool {
        match self {
            Stripped::Superuser => role.superuser,
            Stripped::Replication => role.replication,
            Stripped::BypassRls => role.bypassrls,
        }
    }
}

fn stripped(role: &Role) -> Vec<(&'static str, Stripped)> {
    [("SUPERUSER", Stripped::Superuser), ("REPLICATION", Stripped::Replication), ("BYPASSRLS", Stripped::BypassRls)]
        .into_iter()
        .filter(|(_, attribute)| attribute.held_by(role))
        .collect()
}

/// What to grant instead of one stripped attribute, as far as the target shows it can be granted.
fn instead(name: &str, attribute: Stripped, target: &TargetRoles) -> String {
    let quoted = quote_ident(name);
    let admin = &target.user;
    let me = target.roles.role(admin);
    // PostgreSQL 16 and later: a CREATEROLE role may give REPLICATION or BYPASSRLS if it has it itself.
    let may_give = |attribute: Stripped| {
        me.is_some_and(|me| me.superuser || (target.version_num >= 160000 && me.createrole && attribute.held_by(me)))
    };
    match attribute {
        Stripped::Superuser => format!(
            "{name} is SUPERUSER on the source; the flexible server makes no role a superuser, so it is created \
             without. Membership in azure_pg_admin gives most of an admin's rights on the flexible server: \
             GRANT \"azure_pg_admin\" TO {quoted};"
        ),
        Stripped::Replication if may_give(attribute) => format!(
            "{name} has REPLICATION on the source and is created without it; the target's admin {admin} has it \
             and may give it: ALTER ROLE {quoted} REPLICATION;"
        ),
        Stripped::Replication => format!(
            "{name} has REPLICATION on the source and is created without it; the target's admin {admin} may \
             not give it (before PostgreSQL 16 only a superuser may; since, only a role that has it): a client \
             that streams or decodes WAL as {name} needs another role on the target"
        ),
        Stripped::BypassRls if may_give(attribute) => format!(
            "{name} has BYPASSRLS on the source and is created without it, so row-level security policies \
             apply to it on the target; the target's admin {admin} has it and may give it: ALTER ROLE {quoted} \
             BYPASSRLS;"
        ),
        Stripped::BypassRls => format!(
            "{name} has BYPASSRLS on the source and is created without it, and the target's admin {admin} may \
             not give it (before PostgreSQL 16 only a superuser may; since, only a role that has it): \
             row-level security policies apply to {name} on the target; review the policies of the tables it \
             reads or writes"
        ),
    }
}

/// What the created role will be, for people.
fn created(role: &Role) -> String {
    let mut words = vec![if role.login { "LOGIN" } else { "NOLOGIN" }];
    if !role.inherit {
        words.push("NOINHERIT");
    }
    if role.createdb {
        words.push("CREATEDB");
    }
    if role.createrole {
        words.push("CREATEROLE");
    }
    let mut text = words.join(" ");
    if role.connection_limit >= 0 {
        text.push_str(&format!(" CONNECTION LIMIT {}", role.connection_limit));
    }
    if let Some(until) = &role.valid_until {
        text.push_str(&format!(" VALID UNTIL {until}"));
    }
    text
}
