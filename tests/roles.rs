//! Roles across both sides, T7 and T8, end to end: the real binary against the Aurora-like and the
//! flexible-server-like PostgreSQL stand-ins. The source's roles are arranged as its bootstrap superuser
//! (the stand-in's `rdsadmin`), the way they would have been made over the years; the target is checked
//! the same way.

mod common;

use common::{change, changes_under, json_plan, member_of, migprep, text};
use migprep::clients::postgres::{self, Endpoint, Side};
use migprep::secret::Secret;
use migprep::spec::SslMode;
use migprep::tls::Trust;
use migprep_testkit::postgres::{find_bindir, ident};
use migprep_testkit::scenario::Scenario;
use serde_json::Value;
use std::path::Path;

/// Five roles, one of them SUPERUSER, memberships nested two deep, two with the admin option, one name
/// that needs quoting, attributes the flexible server does not give (SUPERUSER, REPLICATION, BYPASSRLS),
/// an expiry, and role settings: one for every database, one for `postgres` (on both servers) and one for
/// `orders` (which the migration itself creates on the target).
const SOURCE_ROLES: &str = r#"
    CREATE ROLE app NOLOGIN;
    CREATE ROLE app_ro NOLOGIN IN ROLE app;
    CREATE ROLE "Report Writer" LOGIN PASSWORD 'secret' IN ROLE app_ro;
    CREATE ROLE etl LOGIN CREATEDB REPLICATION BYPASSRLS CONNECTION LIMIT 3 PASSWORD 'secret'
        VALID UNTIL '2031-06-30 12:00:00+02';
    GRANT app TO etl WITH ADMIN OPTION;
    CREATE ROLE app_admin SUPERUSER LOGIN;
    GRANT app TO app_admin WITH ADMIN OPTION;
    ALTER ROLE app_admin SET statement_timeout = '5min';
    ALTER ROLE app_admin IN DATABASE postgres SET search_path = "$user", app;
    ALTER ROLE app_admin IN DATABASE orders SET work_mem = '64MB';
"#;

/// The copied roles' names, for the queries below.
const COPIED: &str = "('app', 'app_ro', 'Report Writer', 'etl', 'app_admin', 'lead')";

async fn arrange(scenario: &Scenario) {
    let db = scenario.source.superuser("postgres").await.unwrap();
    db.batch_execute(SOURCE_ROLES).await.unwrap();
}

/// The T7/T8 changes of a JSON plan.
async fn role_changes(scenario: &Scenario, spec: &Path) -> Vec<Value> {
    changes_under(&json_plan(scenario, spec).await, &["target.pg/role/"])
}

/// (name, superuser, login, replication, bypassrls, connection limit) of the target's roles.
async fn target_roles(scenario: &Scenario) -> Vec<(String, bool, bool, bool, bool, i32)> {
    let db = scenario.target.superuser("postgres").await.unwrap();
    db.query(
        &format!(
            "SELECT rolname::text, rolsuper, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit
               FROM pg_roles WHERE rolname IN {COPIED} ORDER BY 1"
        ),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
    .collect()
}

/// (role, member, admin option) among the copied roles on the target.
async fn target_memberships(scenario: &Scenario) -> Vec<(String, String, bool)> {
    let db = scenario.target.superuser("postgres").await.unwrap();
    db.query(
        &format!(
            "SELECT r.rolname::text, m.rolname::text, a.admin_option
               FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
              WHERE m.rolname IN {COPIED} ORDER BY 1, 2"
        ),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// (role, database or "", setting) of the copied roles' settings on the target.
async fn target_settings(scenario: &Scenario) -> Vec<(String, String, String)> {
    let db = scenario.target.superuser("postgres").await.unwrap();
    db.query(
        &format!(
            "SELECT r.rolname::text, coalesce(d.datname::text, ''), c.setting
               FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
               LEFT JOIN pg_database d ON d.oid = s.setdatabase
               CROSS JOIN LATERAL unnest(s.setconfig) AS c(setting)
              WHERE r.rolname IN {COPIED} ORDER BY 1, 2, 3"
        ),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// The expiry of a role on the target, in UTC.
async fn valid_until(scenario: &Scenario, role: &str) -> Option<String> {
    let db = scenario.target.superuser("postgres").await.unwrap();
    db.query_one(
        "SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM pg_roles WHERE rolname = $1",
        &[&role],
    )
    .await
    .unwrap()
    .get(0)
}

/// Five source roles → five on the target, none with superuser powers: the SUPERUSER one is created too
/// (objects it owns and grants to it need it), stripped, and the plan warns what to grant instead; the
/// memberships come with their admin option, the role settings with their values (the one for a database
/// the migration has yet to create is a warning with its statement); LOGIN roles get the password
/// statement; a second plan has nothing left.
#[tokio::test]
async fn source_roles_are_created_on_the_target_without_superuser() {
    let scenario = Scenario::start().await.unwrap();
    arrange(&scenario).await;
    let path = scenario.write_spec(&scenario.spec()).unwrap();

    let plan = json_plan(&scenario, &path).await;
    let changes = changes_under(&plan, &["target.pg/role/"]);
    let etl = change(&changes, "target.pg/role/etl");
    assert_eq!(etl["action"], "create");
    assert!(etl["reason"].as_str().unwrap().contains("without REPLICATION and BYPASSRLS"), "{etl:#}");
    assert!(etl["remedy"].as_str().unwrap().contains(r#"ALTER ROLE "etl" PASSWORD"#), "{etl:#}");
    assert_eq!(change(&changes, "target.pg/role/Report Writer/member_of/app_ro")["action"], "create");
    let admin = change(&changes, "target.pg/role/app_admin");
    assert_eq!(admin["action"], "create");
    assert!(admin["reason"].as_str().unwrap().contains("without SUPERUSER"), "{admin:#}");
    assert_eq!(admin["operation"]["target_sql"]["op"], "create_role");
    let timeout = change(&changes, "target.pg/role/app_admin/setting/statement_timeout");
    assert_eq!(timeout["operation"]["target_sql"]["op"], "set_role_setting", "{timeout:#}");
    // The stripped attributes are warnings on the role's address that say what to grant instead.
    let warnings: Vec<(&str, &str)> = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["address"].as_str().unwrap(), w["summary"].as_str().unwrap()))
        .collect();
    let warned = |address: &str, words: &[&str]| {
        warnings.iter().any(|(a, summary)| *a == address && words.iter().all(|w| summary.contains(w)))
    };
    assert!(
        warned("target.pg/role/app_admin", &["SUPERUSER", r#"GRANT "azure_pg_admin" TO "app_admin";"#]),
        "{warnings:#?}"
    );
    assert!(warned("target.pg/role/etl", &["REPLICATION"]), "{warnings:#?}");
    assert!(warned("target.pg/role/etl", &["BYPASSRLS"]), "{warnings:#?}");
    assert!(
        warned(
            "target.pg/role/app_admin/database/orders/setting/work_mem",
            &[r#"ALTER ROLE "app_admin" IN DATABASE "orders" SET "work_mem" TO '64MB';"#]
        ),
        "{warnings:#?}"
    );
    // The master user, the migration user already on the target, and the admin (T8 holds) are no change.
    assert!(
        changes.iter().all(|c| !["postgres", "migrator", "azureadmin"]
            .iter()
            .any(|name| c["address"].as_str().unwrap().starts_with(&format!("target.pg/role/{name}/")))),
        "{changes:#?}"
    );

    let human = migprep(&scenario, &["plan", text(&path)], &[]).await;
    assert!(human.stdout.contains("app_admin is SUPERUSER on the source"), "{}", human.stdout);

    let apply = migprep(&scenario, &["apply", "--auto-approve", text(&path)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);

    let s = |v: &str| v.to_string();
    assert_eq!(
        target_roles(&scenario).await,
        [
            (s("Report Writer"), false, true, false, false, -1),
            (s("app"), false, false, false, false, -1),
            (s("app_admin"), false, true, false, false, -1),
            (s("app_ro"), false, false, false, false, -1),
            (s("etl"), false, true, false, false, 3),
        ]
    );
    assert_eq!(valid_until(&scenario, "etl").await.as_deref(), Some("2031-06-30 10:00"));
    assert_eq!(
        target_memberships(&scenario).await,
        [
            (s("app"), s("app_admin"), true),
            (s("app"), s("app_ro"), false),
            (s("app"), s("etl"), true),
            (s("app_ro"), s("Report Writer"), false),
        ]
    );
    assert_eq!(
        target_settings(&scenario).await,
        [
            (s("app_admin"), s(""), s("statement_timeout=5min")),
            (s("app_admin"), s("postgres"), s("search_path=\"$user\", app")),
        ]
    );

    assert_eq!(role_changes(&scenario, &path).await, Vec::<Value>::new());
}

/// Roles that already exist on the target keep their attributes, but what they lack next to the source is
/// added: the admin option of a membership (granted there without it) and a role setting whose value
/// differs. Apply makes them equal; a second plan has nothing left.
#[tokio::test]
async fn an_existing_role_gets_the_admin_option_and_the_setting_it_lacks() {
    let scenario = Scenario::start().await.unwrap();
    let source = scenario.source.superuser("postgres").await.unwrap();
    source
        .batch_execute(
            "CREATE ROLE app NOLOGIN;
             CREATE ROLE lead NOLOGIN;
             GRANT app TO lead WITH ADMIN OPTION;
             ALTER ROLE lead SET statement_timeout = '5min';",
        )
        .await
        .unwrap();
    let target = scenario.target.superuser("postgres").await.unwrap();
    target
        .batch_execute(
            "CREATE ROLE app NOLOGIN;
             CREATE ROLE lead NOLOGIN IN ROLE app;
             ALTER ROLE lead SET statement_timeout = '30s';",
        )
        .await
        .unwrap();
    let path = scenario.write_spec(&scenario.spec()).unwrap();

    let changes = role_changes(&scenario, &path).await;
    let grant = change(&changes, "target.pg/role/lead/member_of/app");
    assert_eq!((grant["action"].as_str(), grant["before"].as_str()), (Some("update"), Some("member")), "{grant:#}");
    assert_eq!(grant["operation"]["target_sql"]["admin_option"], true);
    let setting = change(&changes, "target.pg/role/lead/setting/statement_timeout");
    assert_eq!((setting["action"].as_str(), setting["before"].as_str()), (Some("update"), Some("30s")));
    assert!(changes.iter().all(|c| c["address"] != "target.pg/role/lead"), "{changes:#?}");

    let apply = migprep(&scenario, &["apply", "--auto-approve", text(&path)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);
    let s = |v: &str| v.to_string();
    assert!(target_memberships(&scenario).await.contains(&(s("app"), s("lead"), true)));
    let timeout: Vec<String> = target
        .query_one(
            "SELECT s.setconfig::text[] FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
              WHERE r.rolname = 'lead' AND s.setdatabase = 0",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(timeout, ["statement_timeout=5min"]);
    assert_eq!(role_changes(&scenario, &path).await, Vec::<Value>::new());
}

/// `plan --roles-sql FILE` writes the statements (and the passwords to set) without applying them, and
/// the file loads cleanly into an empty target as its admin.
#[tokio::test]
async fn roles_sql_loads_into_an_empty_target() {
    let scenario = Scenario::start().await.unwrap();
    arrange(&scenario).await;
    let path = scenario.write_spec(&scenario.spec()).unwrap();
    let file = scenario.dir().join("roles.sql");

    let output = migprep(&scenario, &["plan", "--roles-sql", text(&file), text(&path)], &[]).await;
    assert_eq!(output.code, 0, "stdout:\n{}\nstderr:\n{}", output.stdout, output.stderr);
    let sql = std::fs::read_to_string(&file).unwrap();
    assert!(sql.contains(r#"CREATE ROLE "Report Writer" WITH LOGIN INHERIT NOCREATEDB NOCREATEROLE;"#), "{sql}");
    assert!(sql.contains(r#"GRANT "app" TO "etl" WITH ADMIN OPTION;"#), "{sql}");
    assert!(sql.contains(r#"-- ALTER ROLE "etl" PASSWORD '…';"#), "{sql}");
    assert!(sql.contains(r#"CREATE ROLE "app_admin" WITH LOGIN INHERIT NOCREATEDB NOCREATEROLE;"#), "{sql}");
    assert!(sql.contains(r#"GRANT "app" TO "app_admin" WITH ADMIN OPTION;"#), "{sql}");
    assert!(sql.contains(r#"ALTER ROLE "app_admin" SET "statement_timeout" TO '5min';"#), "{sql}");
    assert!(
        sql.contains(r#"ALTER ROLE "app_admin" IN DATABASE "postgres" SET "search_path" TO '$user', 'app';"#),
        "{sql}"
    );
    assert!(!sql.contains("SUPERUSER") && !sql.contains("REPLICATION") && !sql.contains("BYPASSRLS"), "{sql}");
    assert!(target_roles(&scenario).await.is_empty(), "plan must not create roles");

    let admin = scenario.target.admin();
    let endpoint = Endpoint {
        side: Side::Target,
        host: "127.0.0.1".into(),
        port: scenario.target.port(),
        user: admin.user.clone(),
        database: "postgres".into(),
        password: Secret::new(admin.password.clone()).into(),
        sslmode: SslMode::VerifyFull,
    };
    let trust = Trust::load(Some(&scenario.dir().join("ca.pem"))).unwrap();
    let client = postgres::connect(&endpoint, &trust, postgres::CONNECT_TIMEOUT).await.unwrap();
    client.batch_execute(&sql).await.unwrap_or_else(|e| panic!("{e:?}\n{sql}"));
    assert_eq!(target_roles(&scenario).await.len(), 5);
    assert_eq!(target_memberships(&scenario).await.len(), 4);
    assert_eq!(target_settings(&scenario).await.len(), 2);
}

/// T8: an admin outside `azure_pg_admin` but with CREATEROLE (PostgreSQL 15) joins it on apply; without
/// CREATEROLE the plan is blocked and names the statement the server admin must run.
#[tokio::test]
async fn the_target_migration_user_joins_azure_pg_admin_or_is_blocked() {
    let scenario = Scenario::start().await.unwrap();
    let admin = scenario.target.admin().user.clone();
    let db = scenario.target.superuser("postgres").await.unwrap();
    db.batch_execute(&format!("REVOKE azure_pg_admin FROM \"{admin}\"")).await.unwrap();
    let path = scenario.write_spec(&scenario.spec()).unwrap();

    let address = format!("target.pg/role/{admin}/member_of/azure_pg_admin");
    let changes = role_changes(&scenario, &path).await;
    let grant = change(&changes, &address);
    assert_eq!((grant["action"].as_str(), grant["prevents"].as_u64()), (Some("create"), Some(603115)), "{grant:#}");

    let apply = migprep(&scenario, &["apply", "--auto-approve", text(&path)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);
    assert!(member_of(&scenario.target, &admin, "azure_pg_admin").await);

    db.batch_execute(&format!("ALTER ROLE \"{admin}\" NOCREATEROLE")).await.unwrap();
    let plan = migprep(&scenario, &["plan", text(&path)], &[]).await;
    assert_eq!(plan.code, 3, "stdout:\n{}\nstderr:\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains(&format!("ALTER ROLE \"{admin}\" CREATEROLE;")), "{}", plan.stdout);
    let changes = role_changes(&scenario, &path).await;
    let blocker = change(&changes, &format!("target.pg/role/{admin}/createrole"));
    assert_eq!((blocker["action"].as_str(), blocker["prevents"].as_u64()), (Some("blocker"), Some(603116)));
}

/// A source role whose name holds a line break followed by SQL (`x` newline `DROP ROLE sentinel; --`), with
/// a role setting whose value does the same after a backslash and a quote: `--roles-sql` writes both so
/// that no control character reaches the file, and the file, run with psql by the target's admin, creates
/// the role under its exact name with the exact value and leaves the target's `sentinel` alone.
#[tokio::test]
async fn roles_sql_with_a_hostile_role_name_is_inert_under_psql() {
    let scenario = Scenario::start().await.unwrap();
    let hostile = "x\nDROP ROLE sentinel; --";
    let source = scenario.source.superuser("postgres").await.unwrap();
    source.batch_execute(&format!("CREATE ROLE {} LOGIN", ident(hostile))).await.unwrap();
    let value = "x\\'; \nDROP ROLE sentinel; --";
    source
        .batch_execute(&format!("ALTER ROLE {} SET application_name = '{}'", ident(hostile), value.replace('\'', "''")))
        .await
        .unwrap();
    let target = scenario.target.superuser("postgres").await.unwrap();
    target.batch_execute("CREATE ROLE sentinel NOLOGIN").await.unwrap();
    let path = scenario.write_spec(&scenario.spec()).unwrap();
    let file = scenario.dir().join("roles.sql");

    let output = migprep(&scenario, &["plan", "--roles-sql", text(&file), text(&path)], &[]).await;
    assert_eq!(output.code, 0, "stdout:\n{}\nstderr:\n{}", output.stdout, output.stderr);
    // The plan names the role too: escaped, so it forges no line of its own.
    assert!(output.stdout.contains(r"target.pg/role/x\u{a}DROP ROLE sentinel; --"), "{}", output.stdout);
    assert!(!output.stdout.lines().any(|line| line.trim_start().starts_with("DROP")), "{}", output.stdout);
    let sql = std::fs::read_to_string(&file).unwrap();
    assert!(!sql.lines().any(|line| line.trim_start().starts_with("DROP")), "{sql}");
    assert!(sql.contains(r#"CREATE ROLE U&"x\000aDROP ROLE sentinel; --" WITH LOGIN"#), "{sql}");
    assert!(
        sql.contains(
            r#"ALTER ROLE U&"x\000aDROP ROLE sentinel; --" SET "application_name" TO E'x\\''; \u000aDROP ROLE sentinel; --';"#
        ),
        "{sql}"
    );

    let admin = scenario.target.admin();
    let psql = find_bindir().map(|dir| dir.join("psql")).unwrap_or_else(|_| "psql".into());
    let run = tokio::process::Command::new(psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", text(&file)])
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", scenario.target.port().to_string())
        .env("PGUSER", &admin.user)
        .env("PGPASSWORD", &admin.password)
        .env("PGDATABASE", "postgres")
        .env("PGSSLMODE", "require")
        .output()
        .await
        .expect("running psql");
    assert!(run.status.success(), "psql: {}\n{sql}", String::from_utf8_lossy(&run.stderr));
    let exists = |name: &'static str| {
        let target = &target;
        async move { target.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name]).await.unwrap().is_some() }
    };
    assert!(exists("sentinel").await, "the sentinel role was dropped:\n{sql}");
    assert!(exists("x\nDROP ROLE sentinel; --").await, "the role was not created under its exact name:\n{sql}");
    let stored: Vec<String> = target
        .query_one(
            "SELECT s.setconfig::text[] FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
              WHERE r.rolname = $1",
            &[&hostile],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, [format!("application_name={value}")], "the value was not set exactly:\n{sql}");
}
