//! T4–T6 end to end: the real binary against the stand-ins. Extensions used in the source databases are
//! allowlisted on the target and their libraries preloaded with the one restart (seen on the target
//! PostgreSQL); an extension the target does not support blocks until it is dropped; parameters the
//! user set in the source's cluster group are matched on the target, and one the target cannot take is
//! reported without blocking.

mod common;

use common::{attach_and_reboot, change, changes, json_plan, migprep, rds, running, text, with_allow};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::rds::GroupSeed;
use migprep_testkit::scenario::{SERVER, Scenario, ScenarioConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The spec with both restarts allowed, so one apply converges.
fn spec(scenario: &Scenario) -> PathBuf {
    with_allow(scenario, &[("restart_target", true.into()), ("reboot_source_writer", true.into())])
}

/// Every change of the spec's JSON plan.
async fn plan_changes(scenario: &Scenario, spec: &Path) -> Vec<Value> {
    changes(&json_plan(scenario, spec).await)
}

fn configuration(name: &str) -> String {
    format!("azure.server/{SERVER}/configuration/{name}")
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

    let out = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let line = out.stdout.lines().find(|l| l.contains("extension/seg")).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.contains('!'), "{line}");
    assert!(out.stdout.contains("database orders") && out.stdout.contains("603108"), "{}", out.stdout);

    let changes = plan_changes(&scenario, &spec).await;
    let allowlist = change(&changes, &configuration("azure.extensions"));
    assert_eq!(allowlist["after"], "hstore,pg_stat_statements,pgcrypto");
    assert_eq!(allowlist["prevents"], 603108);
    let preload = change(&changes, &configuration("shared_preload_libraries"));
    assert_eq!(
        (preload["before"].as_str(), preload["after"].as_str()),
        (Some("pg_cron"), Some("pg_cron,pg_stat_statements"))
    );
    assert_eq!(preload["prevents"], 603109);
    let restart = change(&changes, &format!("azure.server/{SERVER}/restart"));
    assert!(restart["depends_on"].as_array().unwrap().iter().any(|d| *d == configuration("shared_preload_libraries")));

    orders.batch_execute("DROP EXTENSION seg").await.unwrap();
    let out = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(running(&scenario, "azure.extensions"), "hstore,pg_stat_statements,pgcrypto");
    assert_eq!(running(&scenario, "shared_preload_libraries"), "pg_cron,pg_stat_statements");
    assert_eq!(scenario.arm.count_requests("POST", "/restart"), 1);
    let target = scenario.target.superuser("postgres").await.unwrap();
    let preloaded: String = target.query_one("SHOW shared_preload_libraries", &[]).await.unwrap().get(0);
    assert!(preloaded.contains("pg_stat_statements"), "{preloaded}");

    let out = migprep(&scenario, &["plan", "--detailed-exitcode", text(&spec)], &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
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
    attach_and_reboot(&rds(&scenario).await, "orders-pg").await;
    let spec = spec(&scenario);

    let changes = plan_changes(&scenario, &spec).await;
    for (name, before, after) in
        [("work_mem", "4096", "8192"), ("statement_timeout", "0", "30000"), ("TimeZone", "UTC", "Europe/Berlin")]
    {
        let matched = change(&changes, &configuration(name));
        assert_eq!((matched["before"].as_str(), matched["after"].as_str()), (Some(before), Some(after)), "{matched:#}");
        assert!(matched["pending"].is_null(), "{matched:#}");
    }
    let unmatched = change(&changes, &configuration("plan_cache_mode"));
    assert!(unmatched["pending"].as_str().unwrap().contains("read-only"), "{unmatched:#}");
    assert_eq!(unmatched["action"], "update");

    let out = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(running(&scenario, "work_mem"), "8192");
    assert_eq!(running(&scenario, "statement_timeout"), "30000");
    assert_eq!(running(&scenario, "TimeZone"), "Europe/Berlin");
    assert_ne!(running(&scenario, "plan_cache_mode"), "force_generic_plan");

    let out = migprep(&scenario, &["plan", "--detailed-exitcode", text(&spec)], &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("plan_cache_mode"), "the unmatched parameter stays visible:\n{}", out.stdout);
}
