use super::*;
use crate::model::roles::{Membership, Parameter, RoleSetting};

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
        valid_until: None,
    }
}

fn member(role: &str, member: &str) -> Membership {
    Membership { role: role.into(), member: member.into(), admin_option: false }
}

fn admin_member(role: &str, member: &str) -> Membership {
    Membership { admin_option: true, ..self::member(role, member) }
}

fn setting(role: &str, database: Option<&str>, name: &str, value: &str) -> RoleSetting {
    RoleSetting { role: role.into(), database: database.map(Into::into), name: name.into(), value: value.into() }
}

fn roles(roles: Vec<Role>, memberships: Vec<Membership>) -> Roles {
    Roles { roles, memberships, settings: Vec::new() }
}

fn spec() -> Spec {
    crate::rules::fixtures::spec("")
}

fn target(roles: Vec<Role>, memberships: Vec<Membership>) -> TargetRoles {
    TargetRoles {
        roles: self::roles(roles, memberships),
        version_num: 150004,
        user: "azureadmin".into(),
        in_azure_pg_admin: true,
        admin_of_azure_pg_admin: false,
        databases: vec!["postgres".into()],
        parameters: [("statement_timeout", "user"), ("search_path", "user"), ("log_statement", "superuser")]
            .into_iter()
            .map(|(name, context)| Parameter { name: name.into(), context: context.into() })
            .collect(),
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
        settings: Vec::new(),
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
            "target.pg/role/boss",
            "target.pg/role/app_ro/member_of/app",
            "target.pg/role/boss/member_of/app",
            "target.pg/role/app_rw/member_of/app_ro",
        ]
    );
    let rw = find(&findings, "target.pg/role/app_rw").unwrap();
    assert!(rw.reason.contains("without REPLICATION and BYPASSRLS"), "{}", rw.reason);
    assert!(rw.remedy.as_deref().unwrap().contains("ALTER ROLE \"app_rw\" PASSWORD"));
    let nested = find(&findings, "target.pg/role/app_rw/member_of/app_ro").unwrap();
    assert_eq!(nested.depends_on, [role_address("app_ro"), role_address("app_rw")]);
    // The SUPERUSER role is created like the others, never as a superuser.
    let boss = find(&findings, "target.pg/role/boss").unwrap();
    assert!(boss.reason.contains("without SUPERUSER"), "{}", boss.reason);
    let Some(Operation::TargetSql(op)) = &boss.operation else { panic!("{boss:?}") };
    assert_eq!(op.statement(), "CREATE ROLE \"boss\" WITH LOGIN INHERIT NOCREATEDB NOCREATEROLE");
    assert!(!findings.checks.iter().any(|c| c.address.as_str() == "target.pg/role/boss"));
    // T8 holds for an admin in azure_pg_admin with CREATEROLE.
    assert!(!findings.changes.iter().any(|c| c.rule == RuleId::T8));
}

fn warnings_at<'a>(findings: &'a Findings, address: &str) -> Vec<&'a str> {
    findings.warnings.iter().filter(|w| w.address.as_str() == address).map(|w| w.summary.as_str()).collect()
}

#[test]
fn each_stripped_attribute_is_a_warning_that_says_what_to_grant_instead() {
    let source = roles(
        vec![
            Role { superuser: true, login: true, ..role("app_admin") },
            Role { replication: true, bypassrls: true, ..role("etl") },
            role("app"),
        ],
        Vec::new(),
    );
    let findings = run(&source, &target(vec![admin(), role(ADMIN_ROLE)], Vec::new()));
    let boss = warnings_at(&findings, "target.pg/role/app_admin");
    assert_eq!(boss.len(), 1, "{boss:?}");
    assert!(boss[0].contains("GRANT \"azure_pg_admin\" TO \"app_admin\";"), "{}", boss[0]);
    // PostgreSQL 15 and an admin without the attributes: nobody on the target may give them.
    let etl = warnings_at(&findings, "target.pg/role/etl");
    assert_eq!(etl.len(), 2, "{etl:?}");
    assert!(etl[0].contains("REPLICATION") && etl[0].contains("may not give it"), "{}", etl[0]);
    assert!(etl[1].contains("BYPASSRLS") && etl[1].contains("review the policies"), "{}", etl[1]);
    assert!(warnings_at(&findings, "target.pg/role/app").is_empty());

    // PostgreSQL 16 with an admin that has both: it may give them, and the warning names the statement.
    let mut target = target(vec![Role { replication: true, bypassrls: true, ..admin() }, role(ADMIN_ROLE)], Vec::new());
    target.version_num = 160004;
    let findings = run(&source, &target);
    let etl = warnings_at(&findings, "target.pg/role/etl");
    assert!(etl[0].contains("ALTER ROLE \"etl\" REPLICATION;"), "{}", etl[0]);
    assert!(etl[1].contains("ALTER ROLE \"etl\" BYPASSRLS;"), "{}", etl[1]);

    // Once the target's role has what was granted instead, the warning is gone.
    let granted = Role { replication: true, ..role("etl") };
    target.roles.roles.push(granted);
    let findings = run(&source, &target);
    let etl = warnings_at(&findings, "target.pg/role/etl");
    assert_eq!(etl.len(), 1, "{etl:?}");
    assert!(etl[0].contains("BYPASSRLS"));
}

#[test]
fn a_role_keeps_its_connection_limit_and_expiry() {
    let source = roles(
        vec![Role {
            login: true,
            connection_limit: 3,
            valid_until: Some("2030-01-01 00:00:00.000000+00".into()),
            ..role("temp")
        }],
        Vec::new(),
    );
    let findings = run(&source, &target(vec![admin(), role(ADMIN_ROLE)], Vec::new()));
    let temp = find(&findings, "target.pg/role/temp").unwrap();
    let Some(Operation::TargetSql(op)) = &temp.operation else { panic!("{temp:?}") };
    assert_eq!(
        op.statement(),
        "CREATE ROLE \"temp\" WITH LOGIN INHERIT NOCREATEDB NOCREATEROLE CONNECTION LIMIT 3 \
         VALID UNTIL '2030-01-01 00:00:00.000000+00'"
    );
}

#[test]
fn an_admin_option_only_the_source_has_is_added() {
    let source = roles(vec![role("app"), role("lead")], vec![admin_member("app", "lead")]);
    let target = target(vec![admin(), role(ADMIN_ROLE), role("app"), role("lead")], vec![member("app", "lead")]);
    let findings = run(&source, &target);
    let grant = find(&findings, "target.pg/role/lead/member_of/app").unwrap();
    assert_eq!(grant.action, Action::Update);
    assert_eq!((grant.before.as_deref(), grant.after.as_deref()), (Some("member"), Some("member with admin option")));
    assert_eq!(
        grant.operation.as_ref().unwrap().describe(),
        "SQL on the target: GRANT \"app\" TO \"lead\" WITH ADMIN OPTION;"
    );
    // The other way round (only the target has it) nothing is taken away.
    let source = roles(vec![role("app"), role("lead")], vec![member("app", "lead")]);
    let target =
        self::target(vec![admin(), role(ADMIN_ROLE), role("app"), role("lead")], vec![admin_member("app", "lead")]);
    assert!(run(&source, &target).changes.is_empty());
}

#[test]
fn role_settings_are_set_where_missing_or_different() {
    let mut source = roles(vec![role("app"), role("app_ro"), Role { login: true, ..role("postgres") }], Vec::new());
    source.settings = vec![
        setting("app", None, "statement_timeout", "5min"),
        setting("app", Some("postgres"), "search_path", "\"$user\", app"),
        setting("app_ro", None, "statement_timeout", "1min"),
        setting("app_ro", None, "search_path", "app"),
        // Not copied: the master user's settings are the target admin's business.
        setting("postgres", None, "statement_timeout", "0"),
    ];
    let mut target = target(vec![admin(), role(ADMIN_ROLE), role("app_ro")], Vec::new());
    target.roles.settings =
        vec![setting("app_ro", None, "statement_timeout", "30s"), setting("app_ro", None, "search_path", "app")];
    let findings = run(&source, &target);
    let settings: Vec<(&str, Action, Option<&str>)> = findings
        .changes
        .iter()
        .filter(|c| c.address.as_str().contains("/setting/"))
        .map(|c| (c.address.as_str(), c.action, c.before.as_deref()))
        .collect();
    assert_eq!(
        settings,
        [
            ("target.pg/role/app/setting/statement_timeout", Action::Create, Some("(not set)")),
            ("target.pg/role/app/database/postgres/setting/search_path", Action::Create, Some("(not set)")),
            ("target.pg/role/app_ro/setting/statement_timeout", Action::Update, Some("30s")),
        ]
    );
    let per_database = find(&findings, "target.pg/role/app/database/postgres/setting/search_path").unwrap();
    assert_eq!(per_database.depends_on, [role_address("app")]);
    assert_eq!(
        per_database.operation.as_ref().unwrap().describe(),
        "SQL on the target: ALTER ROLE \"app\" IN DATABASE \"postgres\" SET \"search_path\" TO '$user', 'app';"
    );
    assert!(findings.checks.iter().any(|c| c.address.as_str() == "target.pg/role/app_ro/setting/search_path"));
}

#[test]
fn settings_the_target_cannot_take_now_are_warnings_with_the_statement() {
    let mut source = roles(vec![role("app")], Vec::new());
    source.settings = vec![
        // `orders` is migrated, so the migration creates it; `scratch` is not migrated at all.
        setting("app", Some("orders"), "statement_timeout", "1min"),
        setting("app", Some("scratch"), "statement_timeout", "1min"),
        setting("app", None, "log_statement", "all"),
        setting("app", None, "apg_plan_mgmt.use_plan_baselines", "on"),
    ];
    let findings = run(&source, &target(vec![admin(), role(ADMIN_ROLE)], Vec::new()));
    assert!(findings.changes.iter().all(|c| !c.address.as_str().contains("/setting/")), "{:?}", findings.changes);
    let later = warnings_at(&findings, "target.pg/role/app/database/orders/setting/statement_timeout");
    assert!(
        later[0].contains("afterwards")
            && later[0].contains("ALTER ROLE \"app\" IN DATABASE \"orders\" SET \"statement_timeout\" TO '1min';"),
        "{later:?}"
    );
    assert!(warnings_at(&findings, "target.pg/role/app/database/scratch/setting/statement_timeout").is_empty());
    let superuser = warnings_at(&findings, "target.pg/role/app/setting/log_statement");
    assert!(superuser[0].contains("superuser parameter"), "{superuser:?}");
    let missing = warnings_at(&findings, "target.pg/role/app/setting/apg_plan_mgmt.use_plan_baselines");
    assert!(missing[0].contains("the target has no parameter"), "{missing:?}");
}

#[test]
fn nothing_to_do_when_the_target_has_them() {
    let source = roles(vec![role("app"), role("app_ro")], vec![member("app", "app_ro")]);
    let target = target(vec![admin(), role(ADMIN_ROLE), role("app"), role("app_ro")], vec![member("app", "app_ro")]);
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
