//! Roles across both sides: T7 (the source's roles exist on the target, without superuser powers) and T8
//! (the target's migration user is a member of `azure_pg_admin` and has CREATEROLE). Pure.
//!
//! T7 copies what `pg_roles`, `pg_auth_members` and `pg_db_role_setting` show: the attributes, the direct
//! memberships among the copied roles (with their admin option) and the role-level settings, never a
//! password (Aurora does not expose them; each LOGIN role gets the exact `ALTER ROLE … PASSWORD` to run).
//! Skipped: the provider's roles (`rds*`, and `pg_*`, which every server has), the source's master and
//! connection users (the target has its own admin) and the target's admin roles. Every other role is
//! created, a SUPERUSER one too: objects it owns and grants to it need it on the target. SUPERUSER,
//! REPLICATION and BYPASSRLS are stripped from what is created, each with a warning that says what to grant
//! instead ([`attributes`]). The source's migration user is copied like any other role: it may own objects
//! or hold grants the restore replays. Nothing is ever dropped or weakened on the target: a role that exists
//! there keeps its attributes; a missing membership, admin option or setting is added.

mod attributes;
mod settings;

pub use settings::setting_address;

use super::Findings;
use crate::model::Observed;
use crate::model::roles::{Membership, Role, Roles, TargetRoles};
use crate::plan::file::Observation;
use crate::plan::operation::TargetSqlOp;
use crate::plan::sql::quote_ident;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::spec::Spec;
use std::collections::BTreeSet;

/// The role whose members administer a flexible server; the migration service requires its user in it.
pub const ADMIN_ROLE: &str = "azure_pg_admin";

/// The flexible server's own roles, never created from the source.
const TARGET_RESERVED: [&str; 2] = [ADMIN_ROLE, "azuresu"];

/// `target.pg/role/<name>`
pub fn role_address(name: &str) -> Address {
    Address::target_database().named("role", name)
}

/// `target.pg/role/<member>/member_of/<role>`
pub fn membership_address(member: &str, role: &str) -> Address {
    Address::target_database().named("role", member).named("member_of", role)
}

fn createrole_address(user: &str) -> Address {
    Address::target_database().named("role", user).child("createrole")
}

pub fn plan(spec: &Spec, observed: &Observed) -> Findings {
    let mut findings = Findings::default();
    let roles = &observed.roles;
    // An unreachable side is reported by N1; there is nothing to compare without it.
    let Ok(target) = &roles.target else {
        return findings;
    };
    let createrole = migration_user(target, &mut findings);
    if let Ok(source) = &roles.source {
        let master = observed.cluster.master_username.as_deref();
        copy_roles(spec, master, source, target, createrole, &mut findings);
    }
    findings
}

/// T8. Returns the address of a planned CREATEROLE change, which the role creations wait for.
fn migration_user(target: &TargetRoles, findings: &mut Findings) -> Option<Address> {
    let user = &target.user;
    let me = target.roles.role(user);
    let superuser = me.is_some_and(|r| r.superuser);
    let has_createrole = me.is_some_and(|r| r.createrole || r.superuser);

    let address = membership_address(user, ADMIN_ROLE);
    let state = if target.in_azure_pg_admin { "member" } else { "not a member" };
    findings.observations.push(Observation::new(address.clone(), state));
    if target.roles.role(ADMIN_ROLE).is_none() {
        let mut blocker = Change::new(
            address,
            Action::Blocker,
            RuleId::T8,
            format!("the role {ADMIN_ROLE} does not exist on the target: is this an Azure flexible server?"),
        );
        blocker.prevents = Some(603115);
        blocker.remedy = Some("point target.server and target.connection at the flexible server".into());
        findings.changes.push(blocker);
    } else if target.in_azure_pg_admin {
        findings.checks.push(Check {
            address,
            rule: RuleId::T8,
            summary: format!("{user}, the migration service's user on the target, is a member of {ADMIN_ROLE}"),
        });
    } else {
        let grant = TargetSqlOp::GrantMembership { role: ADMIN_ROLE.into(), member: user.clone(), admin_option: false };
        // Before PostgreSQL 16 CREATEROLE may grant any role that is not a superuser; since, only the
        // admin option does.
        let can_grant = superuser || target.admin_of_azure_pg_admin || (target.version_num < 160000 && has_createrole);
        let reason = format!("the migration service requires its target user {user} to be a member of {ADMIN_ROLE}");
        if can_grant {
            let mut change = Change::new(address, Action::Create, RuleId::T8, reason);
            change.before = Some("not a member".into());
            change.after = Some("member".into());
            change.prevents = Some(603115);
            change.operation = Some(Operation::TargetSql(grant));
            findings.changes.push(change);
        } else {
            let mut blocker = Change::new(
                address,
                Action::Blocker,
                RuleId::T8,
                format!("{reason}, and it may not grant that itself"),
            );
            blocker.prevents = Some(603115);
            blocker.remedy = Some(format!("as the server admin, run: {};", grant.statement()));
            findings.changes.push(blocker);
        }
    }

    let address = createrole_address(user);
    findings.observations.push(Observation::new(address.clone(), if has_createrole { "yes" } else { "no" }));
    if has_createrole {
        findings.checks.push(Check {
            address,
            rule: RuleId::T8,
            summary: format!("{user}, the migration service's user on the target, has CREATEROLE"),
        });
        return None;
    }
    let op = TargetSqlOp::AllowCreateRole { role: user.clone() };
    let reason = format!("the migration service creates roles on the target, so its user {user} needs CREATEROLE");
    // A role without CREATEROLE cannot give it to itself; only a superuser could, which Azure has none of.
    if superuser {
        let mut change = Change::new(address.clone(), Action::Update, RuleId::T8, reason);
        change.before = Some("NOCREATEROLE".into());
        change.after = Some("CREATEROLE".into());
        change.prevents = Some(603116);
        change.operation = Some(Operation::TargetSql(op));
        findings.changes.push(change);
        return Some(address);
    }
    let mut blocker = Change::new(address, Action::Blocker, RuleId::T8, reason);
    blocker.prevents = Some(603116);
    blocker.remedy = Some(format!("as the server admin, run: {};", op.statement()));
    findings.changes.push(blocker);
    None
}

/// Why a source role is not copied, or `None` to copy it. `None` inside: skipped without a word (the
/// provider's and PostgreSQL's own roles, which are noise in a plan).
fn skipped(role: &Role, spec: &Spec, master: Option<&str>, target_user: &str) -> Option<Option<String>> {
    let name = role.name.as_str();
    if name.starts_with("pg_") || name.starts_with("rds") {
        return Some(None);
    }
    if Some(name) == master || name == spec.source.connection.user {
        return Some(Some(format!("{name} is the source's master user: the target has its own admin ({target_user})")));
    }
    if TARGET_RESERVED.contains(&name) || name == target_user {
        return Some(Some(format!("{name} is one of the flexible server's admin roles")));
    }
    None
}

/// T7: the source's roles, their memberships and their settings on the target.
fn copy_roles(
    spec: &Spec,
    master: Option<&str>,
    source: &Roles,
    target: &TargetRoles,
    createrole: Option<Address>,
    findings: &mut Findings,
) {
    // Sorted here, not trusted from the reader: same inputs, same plan order.
    let mut roles: Vec<&Role> = source.roles.iter().collect();
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    let mut memberships: Vec<_> = source.memberships.iter().collect();
    memberships.sort();
    let mut copied = BTreeSet::new();
    for role in roles {
        match skipped(role, spec, master, &target.user) {
            Some(None) => continue,
            Some(Some(why)) => {
                findings.left_out.push(Check {
                    address: role_address(&role.name),
                    rule: RuleId::T7,
                    summary: format!("not copied: {why}"),
                });
                continue;
            }
            None => {}
        }
        copied.insert(role.name.as_str());
        let address = role_address(&role.name);
        findings
            .observations
            .push(Observation::new(Address::source_database().named("role", &role.name), attributes::observed(role)));
        findings.warnings.extend(attributes::warnings(role, target, &address));
        let exists = target.roles.role(&role.name).is_some();
        findings.observations.push(Observation::new(address.clone(), if exists { "present" } else { "absent" }));
        if exists {
            findings.checks.push(Check {
                address,
                rule: RuleId::T7,
                summary: format!("role {} exists on the target", role.name),
            });
            continue;
        }
        findings.changes.push(attributes::create(role, address, createrole.clone()));
    }

    for membership in memberships {
        if copied.contains(membership.role.as_str()) && copied.contains(membership.member.as_str()) {
            copy_membership(membership, target, findings);
        }
    }
    settings::copy(spec, &source.settings, &copied, target, findings);
}

/// One membership among copied roles: granted where missing, its admin option added where only the source
/// has it. An admin option only the target has is left alone.
fn copy_membership(membership: &Membership, target: &TargetRoles, findings: &mut Findings) {
    let (role, member) = (&membership.role, &membership.member);
    let address = membership_address(member, role);
    let state = |m: Option<&Membership>| match m {
        None => "not a member",
        Some(m) if m.admin_option => "member with admin option",
        Some(_) => "member",
    };
    let present = target.roles.membership(member, role);
    findings.observations.push(Observation::new(address.clone(), state(present)));
    let (action, reason) = match present {
        Some(m) if m.admin_option || !membership.admin_option => {
            findings.checks.push(Check {
                address,
                rule: RuleId::T7,
                summary: format!("{member} is a member of {role} on the target, as on the source"),
            });
            return;
        }
        Some(_) => (
            Action::Update,
            format!("{member} may grant {role} to others on the source (admin option), not on the target"),
        ),
        None => {
            (Action::Create, format!("{member} is a member of {role} on the source; the migrated grants rely on it"))
        }
    };
    let mut change = Change::new(address, action, RuleId::T7, reason);
    change.before = Some(state(present).into());
    change.after = Some(state(Some(membership)).into());
    // Dependencies the plan does not create are already there.
    change.depends_on = vec![role_address(role), role_address(member)];
    change.operation = Some(Operation::TargetSql(TargetSqlOp::GrantMembership {
        role: role.clone(),
        member: member.clone(),
        admin_option: membership.admin_option,
    }));
    findings.changes.push(change);
}

/// What a LOGIN role needs after it is created: passwords are never copied.
pub fn password_hint(name: &str) -> String {
    format!(
        "passwords are not copied (Aurora does not expose them); set one on the target: ALTER ROLE {} PASSWORD '…';",
        quote_ident(name)
    )
}

#[cfg(test)]
mod tests;
