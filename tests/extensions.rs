//! T4–T6 end to end: the real binary against the stand-ins. Extensions used in the source databases are
//! allowlisted on the target and their libraries preloaded with the one restart (seen on the target
//! PostgreSQL); an extension the target does not support blocks until it is dropped; parameters the
//! user set in the source's cluster group are matched on the target, and one the target cannot take is
//! reported without blocking.

use migprep::clients::rds::{Rds, Settings, StaticCredentials};
use migprep::secret::Secret;
use migprep::tls::Trust;
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::rds::GroupSeed;
use migprep_testkit::scenario::{
    CLUSTER, Output, REGION, RESOURCE_GROUP, SERVER, SUBSCRIPTION, Scenario, ScenarioConfig,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const WRITER: &str = "orders-prod-instance-1";

async fn migprep(scenario: &Scenario, args: &[&str], spec: &Path) -> Output {
    let mut args = args.to_vec();
    args.push(spec.to_str().unwrap());
    scenario.run(env!("CARGO_BIN_EXE_migprep"), &args, &[]).await
}

/// The spec with both restarts allowed, so one apply converges.
fn spec(scenario: &Scenario) -> PathBuf {
    let mut spec = scenario.spec();
    let mut allow = toml::Table::new();
    allow.insert("restart_target".into(), true.into());
    allow.insert("reboot_source_writer".into(), true.into());
    spec.insert("allow".into(), toml::Value::Table(allow));
    scenario.write_spec(&spec).unwrap()
}

async fn changes(scenario: &Scenario, spec: &Path) -> Vec<Value> {
    let out = migprep(scenario, &["plan", "--format", "json"], spec).await;
    assert!(out.code == 0 || out.code == 3, "plan failed:\n{}", out.stderr);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    plan["changes"].as_array().unwrap().clone()
}

fn find<'a>(changes: &'a [Value], address: &str) -> &'a Value {
    changes.iter().find(|c| c["address"] == address).unwrap_or_else(|| panic!("no {address} in {changes:#?}"))
}

fn configuration(name: &str) -> String {
    format!("azure.server/{SERVER}/configuration/{name}")
}

fn running(scenario: &Scenario, parameter: &str) -> String {
    scenario.arm.running_value(SUBSCRIPTION, RESOURCE_GROUP, SERVER, parameter).unwrap()
}

/// The source uses pg_stat_statements, hstore, pgcrypto (the stand-in's databases) and `seg`, which the
/// target does not support; the target preloads only pg_cron. The plan blocks (exit 3) naming `seg` and
/// its database; once it is dropped, apply allowlists the three, preloads pg_stat_statements with one
/// restart (the target PostgreSQL shows it), and a second plan has nothing left to do.
#[tokio::test]
async fn extensions_are_allowlisted_and_preloaded_and_an_unsupported_one_blocks() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).configuration("shared_preload_libraries", "pg_cron"),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let orders = scenario.source.superuser("orders").await.unwrap();
    orders.batch_execute("CREATE EXTENSION seg").await.unwrap();
    let spec = spec(&scenario);

    let out = migprep(&scenario, &["plan"], &spec).await;
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let line = out.stdout.lines().find(|l| l.contains("extension/seg")).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.contains('!'), "{line}");
    assert!(out.stdout.contains("database orders") && out.stdout.contains("603108"), "{}", out.stdout);

    let changes = changes(&scenario, &spec).await;
    let allowlist = find(&changes, &configuration("azure.extensions"));
    assert_eq!(allowlist["after"], "hstore,pg_stat_statements,pgcrypto");
    assert_eq!(allowlist["prevents"], 603108);
    let preload = find(&changes, &configuration("shared_preload_libraries"));
    assert_eq!(
        (preload["before"].as_str(), preload["after"].as_str()),
        (Some("pg_cron"), Some("pg_cron,pg_stat_statements"))
    );
    assert_eq!(preload["prevents"], 603109);
    let restart = find(&changes, &format!("azure.server/{SERVER}/restart"));
    assert!(restart["depends_on"].as_array().unwrap().iter().any(|d| *d == configuration("shared_preload_libraries")));

    orders.batch_execute("DROP EXTENSION seg").await.unwrap();
    let out = migprep(&scenario, &["apply", "--auto-approve"], &spec).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(running(&scenario, "azure.extensions"), "hstore,pg_stat_statements,pgcrypto");
    assert_eq!(running(&scenario, "shared_preload_libraries"), "pg_cron,pg_stat_statements");
    assert_eq!(scenario.arm.count_requests("POST", "/restart"), 1);
    let target = scenario.target.superuser("postgres").await.unwrap();
    let preloaded: String = target.query_one("SHOW shared_preload_libraries", &[]).await.unwrap().get(0);
    assert!(preloaded.contains("pg_stat_statements"), "{preloaded}");

    let out = migprep(&scenario, &["plan", "--detailed-exitcode"], &spec).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

/// An independent RDS client for arranging the stand-in's groups.
async fn rds(scenario: &Scenario) -> Rds {
    let settings = Settings {
        region: REGION.into(),
        endpoint_url: Some(scenario.rds.endpoint()),
        static_credentials: Some(StaticCredentials {
            access_key_id: "testing".into(),
            secret_access_key: Secret::new("testing"),
        }),
        poll_interval: Some(Duration::from_millis(100)),
        ..Settings::default()
    };
    Rds::connect(&settings, &Trust::load(None).unwrap()).await.unwrap()
}

/// The source's own group sets work_mem, statement_timeout, timezone and plan_cache_mode. Apply sets the
/// first three on the target (timezone under Azure's name `TimeZone`); plan_cache_mode is read-only on
/// the target, so it is reported as pending with the reason, and does not block. Afterwards nothing is
/// left to do.
#[tokio::test]
async fn parameters_the_user_set_on_the_source_are_matched() {
    let scenario = Scenario::start().await.unwrap();
    let group = GroupSeed::new("orders-pg", "aurora-postgresql15")
        .value("work_mem", "8192")
        .value("statement_timeout", "30000")
        .value("timezone", "Europe/Berlin")
        .value("plan_cache_mode", "force_generic_plan");
    scenario.rds.seed_parameter_group(group).unwrap();
    let client = rds(&scenario).await;
    client.attach_parameter_group(CLUSTER, "orders-pg").await.unwrap();
    client.reboot_instance(WRITER).await.unwrap();
    client.wait_until_in_sync(CLUSTER, &[WRITER], Duration::from_secs(60)).await.unwrap();
    let spec = spec(&scenario);

    let changes = changes(&scenario, &spec).await;
    for (name, before, after) in
        [("work_mem", "4096", "8192"), ("statement_timeout", "0", "30000"), ("TimeZone", "UTC", "Europe/Berlin")]
    {
        let change = find(&changes, &configuration(name));
        assert_eq!((change["before"].as_str(), change["after"].as_str()), (Some(before), Some(after)), "{change:#}");
        assert!(change["pending"].is_null(), "{change:#}");
    }
    let unmatched = find(&changes, &configuration("plan_cache_mode"));
    assert!(unmatched["pending"].as_str().unwrap().contains("read-only"), "{unmatched:#}");
    assert_eq!(unmatched["action"], "update");

    let out = migprep(&scenario, &["apply", "--auto-approve"], &spec).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(running(&scenario, "work_mem"), "8192");
    assert_eq!(running(&scenario, "statement_timeout"), "30000");
    assert_eq!(running(&scenario, "TimeZone"), "Europe/Berlin");
    assert_ne!(running(&scenario, "plan_cache_mode"), "force_generic_plan");

    let out = migprep(&scenario, &["plan", "--detailed-exitcode"], &spec).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("plan_cache_mode"), "the unmatched parameter stays visible:\n{}", out.stdout);
}
