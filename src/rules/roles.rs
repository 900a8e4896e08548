//! Roles across both sides: T7 (the source's roles exist on the target, without superuser powers) and T8
//! (the target's migration user is a member of `azure_pg_admin` and has CREATEROLE). Pure.
//!
//! T7 copies what `pg_roles` shows: the attributes and the direct memberships among the copied roles,
//! never a password (Aurora does not expose them; each LOGIN role gets the exact `ALTER ROLE … PASSWORD`
//! to run). Skipped: the provider's roles (`rds*`, and `pg_*`, which every server has), the source's master
//! and connection users (the target has its own admin), the target's admin roles, and SUPERUSER roles
//! (on Aurora only AWS's own `rdsadmin` is one; the flexible server has no superuser to give). SUPERUSER,
//! REPLICATION and BYPASSRLS are dropped from what is created, and the change says so. The source's
//! migration user is copied like any other role: it may own objects or hold grants the restore replays.
//! Nothing is ever dropped or altered on the target: a role that exists there is left as it is.

use super::Findings;
use crate::model::Observed;
use crate::model::roles::{Role, Roles, TargetRoles};
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
            summary: format!("the migration user {user} is a member of {ADMIN_ROLE}"),
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
            summary: format!("the migration user {user} has CREATEROLE"),
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
    if role.superuser {
        return Some(Some(format!(
            "{name} is SUPERUSER: on Aurora only AWS's own roles are, and the flexible server gives superuser \
             to no role; grant what it needs on the target instead"
        )));
    }
    None
}

/// T7: the source's roles and their memberships on the target.
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
                findings.checks.push(Check {
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
            .push(Observation::new(Address::source_database().named("role", &role.name), attributes(role)));
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
        findings.changes.push(create(role, address, createrole.clone()));
    }

    for membership in memberships {
        if !(copied.contains(membership.role.as_str()) && copied.contains(membership.member.as_str())) {
            continue;
        }
        let (role, member) = (&membership.role, &membership.member);
        let address = membership_address(member, role);
        let present = target.roles.is_member(member, role);
        findings.observations.push(Observation::new(address.clone(), if present { "member" } else { "not a member" }));
        if present {
            findings.checks.push(Check {
                address,
                rule: RuleId::T7,
                summary: format!("{member} is a member of {role} on the target, as on the source"),
            });
            continue;
        }
        let mut change = Change::new(
            address,
            Action::Create,
            RuleId::T7,
            format!("{member} is a member of {role} on the source; the migrated grants rely on it"),
        );
        change.before = Some("not a member".into());
        change.after = Some(if membership.admin_option { "member with admin option" } else { "member" }.into());
        // Dependencies the plan does not create are already there.
        change.depends_on = vec![role_address(role), role_address(member)];
        change.operation = Some(Operation::TargetSql(TargetSqlOp::GrantMembership {
            role: role.clone(),
            member: member.clone(),
            admin_option: membership.admin_option,
        }));
        findings.changes.push(change);
    }
}

fn create(role: &Role, address: Address, createrole: Option<Address>) -> Change {
    let dropped: Vec<&str> = [(role.replication, "REPLICATION"), (role.bypassrls, "BYPASSRLS")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    let mut reason = format!("source role {} does not exist on the target", role.name);
    if !dropped.is_empty() {
        reason.push_str(&format!(
            "; created without {} (the flexible server grants it to no role)",
            dropped.join(" and ")
        ));
    }
    let op = TargetSqlOp::CreateRole {
        name: role.name.clone(),
        login: role.login,
        inherit: role.inherit,
        createdb: role.createdb,
        createrole: role.createrole,
        connection_limit: role.connection_limit,
    };
    let mut change = Change::new(address, Action::Create, RuleId::T7, reason);
    change.before = Some("absent".into());
    change.after = Some(created_attributes(role));
    if role.login {
        change.remedy = Some(password_hint(&role.name));
    }
    change.depends_on = createrole.into_iter().collect();
    change.operation = Some(Operation::TargetSql(op));
    change
}

/// What a LOGIN role needs after it is created: passwords are never copied.
pub fn password_hint(name: &str) -> String {
    format!(
        "passwords are not copied (Aurora does not expose them); set one on the target: ALTER ROLE {} PASSWORD '…';",
        quote_ident(name)
    )
}

/// The attributes that matter to T7, for the fingerprint: a change on the source makes a saved plan stale.
fn attributes(role: &Role) -> String {
    format!(
        "super={} inherit={} createrole={} createdb={} login={} replication={} bypassrls={} connlimit={}",
        role.superuser,
        role.inherit,
        role.createrole,
        role.createdb,
        role.login,
        role.replication,
        role.bypassrls,
        role.connection_limit
    )
}

fn created_attributes(role: &Role) -> String {
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
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::roles::Membership;

    fn role(name: &str) -> Role {
        Role {
            name: name.into(),
            superuser: false,
            inherit: true,
            createrole: false,
            createdb: false,
            login: false,
            replication: false,
            bypassrls: false,
            connection_limit: -1,
        }
    }

    fn member(role: &str, member: &str) -> Membership {
        Membership { role: role.into(), member: member.into(), admin_option: false }
    }

    fn spec() -> Spec {
        crate::rules::fixtures::spec("")
    }

    fn target(roles: Vec<Role>, memberships: Vec<Membership>) -> TargetRoles {
        TargetRoles {
            roles: Roles { roles, memberships },
            version_num: 150004,
            user: "azureadmin".into(),
            in_azure_pg_admin: true,
            admin_of_azure_pg_admin: false,
        }
    }

    fn admin() -> Role {
        Role { login: true, createrole: true, createdb: true, ..role("azureadmin") }
    }

    fn run(source: &Roles, target: &TargetRoles) -> Findings {
        let mut findings = Findings::default();
        let createrole = migration_user(target, &mut findings);
        copy_roles(&spec(), Some("postgres"), source, target, createrole, &mut findings);
        findings
    }

    fn find<'a>(findings: &'a Findings, address: &str) -> Option<&'a Change> {
        findings.changes.iter().find(|c| c.address.as_str() == address)
    }

    #[test]
    fn copies_roles_without_superuser_powers_and_their_memberships() {
        let source = Roles {
            roles: vec![
                role("app"),
                Role { login: true, replication: true, bypassrls: true, ..role("app_rw") },
                role("app_ro"),
                Role { superuser: true, login: true, ..role("boss") },
                Role { login: true, ..role("postgres") },
                role("rds_superuser"),
                role("pg_monitor"),
            ],
            memberships: vec![
                member("app", "app_ro"),
                member("app_ro", "app_rw"),
                member("rds_superuser", "postgres"),
                member("app", "boss"),
            ],
        };
        let findings = run(&source, &target(vec![admin(), role(ADMIN_ROLE)], Vec::new()));
        let created: Vec<&str> =
            findings.changes.iter().filter(|c| c.rule == RuleId::T7).map(|c| c.address.as_str()).collect();
        assert_eq!(
            created,
            [
                "target.pg/role/app",
                "target.pg/role/app_ro",
                "target.pg/role/app_rw",
                "target.pg/role/app_ro/member_of/app",
                "target.pg/role/app_rw/member_of/app_ro",
            ]
        );
        let rw = find(&findings, "target.pg/role/app_rw").unwrap();
        assert!(rw.reason.contains("without REPLICATION and BYPASSRLS"), "{}", rw.reason);
        assert!(rw.remedy.as_deref().unwrap().contains("ALTER ROLE \"app_rw\" PASSWORD"));
        let nested = find(&findings, "target.pg/role/app_rw/member_of/app_ro").unwrap();
        assert_eq!(nested.depends_on, [role_address("app_ro"), role_address("app_rw")]);
        assert!(findings.checks.iter().any(|c| c.address.as_str() == "target.pg/role/boss"));
        // T8 holds for an admin in azure_pg_admin with CREATEROLE.
        assert!(!findings.changes.iter().any(|c| c.rule == RuleId::T8));
    }

    #[test]
    fn nothing_to_do_when_the_target_has_them() {
        let source = Roles { roles: vec![role("app"), role("app_ro")], memberships: vec![member("app", "app_ro")] };
        let target =
            target(vec![admin(), role(ADMIN_ROLE), role("app"), role("app_ro")], vec![member("app", "app_ro")]);
        assert!(run(&source, &target).changes.is_empty());
    }

    #[test]
    fn a_migration_user_outside_azure_pg_admin_without_createrole_is_blocked_with_the_statements() {
        let mut target = target(vec![Role { login: true, ..role("azureadmin") }, role(ADMIN_ROLE)], Vec::new());
        target.in_azure_pg_admin = false;
        let findings = run(&Roles::default(), &target);
        let member = find(&findings, "target.pg/role/azureadmin/member_of/azure_pg_admin").unwrap();
        assert_eq!(member.action, Action::Blocker);
        assert_eq!(member.prevents, Some(603115));
        assert!(member.remedy.as_deref().unwrap().contains("GRANT \"azure_pg_admin\" TO \"azureadmin\";"));
        let createrole = find(&findings, "target.pg/role/azureadmin/createrole").unwrap();
        assert_eq!((createrole.action, createrole.prevents), (Action::Blocker, Some(603116)));
        assert!(createrole.remedy.as_deref().unwrap().contains("ALTER ROLE \"azureadmin\" CREATEROLE;"));
    }

    #[test]
    fn createrole_lets_the_user_join_azure_pg_admin_before_postgres_16() {
        let mut target = target(vec![admin(), role(ADMIN_ROLE)], Vec::new());
        target.in_azure_pg_admin = false;
        let findings = run(&Roles::default(), &target);
        let member = find(&findings, "target.pg/role/azureadmin/member_of/azure_pg_admin").unwrap();
        assert_eq!(member.action, Action::Create);
        target.version_num = 160002;
        let findings = run(&Roles::default(), &target);
        let member = find(&findings, "target.pg/role/azureadmin/member_of/azure_pg_admin").unwrap();
        assert_eq!(member.action, Action::Blocker);
    }
}
