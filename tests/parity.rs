//! T6 end to end: the real binary against the stand-ins. The source runs server parameters from its own
//! configuration (not from a parameter group, and so invisible to the RDS API), and its group sets a few
//! more; apply sets the target's server parameters to the same values in the target's units, and the
//! verdict is read from the fake ARM's configurations. Values that are already equal in another spelling
//! (a decimal written `0.010`, a size in MB) are left alone, migprep's own session (`application_name`)
//! is never copied, and the parameters the target lacks are one warning.

mod common;

use common::{attach_and_reboot, changes, json_plan, migprep, rds, running, text, with_allow};
use migprep_testkit::rds::GroupSeed;
use migprep_testkit::scenario::{SERVER, Scenario};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The spec with both restarts allowed, so one apply converges.
fn spec(scenario: &Scenario) -> PathBuf {
    with_allow(scenario, &[("restart_target", true.into()), ("reboot_source_writer", true.into())])
}

/// The T6 changes of the spec's JSON plan, and its T6 warnings.
async fn t6(scenario: &Scenario, spec: &Path) -> (Vec<Value>, Vec<Value>) {
    let plan = json_plan(scenario, spec).await;
    let changes = changes(&plan).into_iter().filter(|c| c["rule"] == "T6").collect();
    let warnings = plan["warnings"].as_array().unwrap().iter().filter(|w| w["rule"] == "T6").cloned().collect();
    (changes, warnings)
}

/// (parameter, before, after) of the T6 changes that apply would run, by parameter name.
fn runnable(changes: &[Value]) -> Vec<(String, String, String)> {
    let prefix = format!("azure.server/{SERVER}/configuration/");
    let mut runnable: Vec<(String, String, String)> = changes
        .iter()
        .filter(|c| c["pending"].is_null())
        .map(|c| {
            let name = c["address"].as_str().unwrap().strip_prefix(prefix.as_str()).unwrap().to_string();
            (name, c["before"].as_str().unwrap().into(), c["after"].as_str().unwrap().into())
        })
        .collect();
    runnable.sort_by_key(|(name, _, _)| name.to_ascii_lowercase());
    runnable
}

/// The source's running configuration sets `timezone`, `work_mem` (in MB), `statement_timeout` (in
/// seconds) and a decimal, plus two parameters the target (a PostgreSQL 13 catalog) does not have; its
/// cluster group sets `random_page_cost` and, in another spelling of the target's value,
/// `cpu_tuple_cost`. The plan proposes exactly the four differing values in the target's units, lists
/// the two unknown parameters in one warning, and never `application_name`; after apply the fake ARM
/// holds the source's values, and a second plan has no T6 change left.
#[tokio::test]
async fn the_target_runs_what_the_source_runs() {
    let scenario = Scenario::start().await.unwrap();
    let group = GroupSeed::new("orders-pg", "aurora-postgresql15")
        .value("random_page_cost", "1.10")
        .value("cpu_tuple_cost", "0.010");
    scenario.rds.seed_parameter_group(group).unwrap();
    attach_and_reboot(&rds(&scenario).await, "orders-pg").await;
    let running_config: BTreeMap<String, String> = [
        ("timezone", "Europe/Berlin"),
        ("work_mem", "8MB"),
        ("statement_timeout", "30s"),
        ("autovacuum_analyze_scale_factor", "0.05"),
        ("idle_session_timeout", "10min"),
        ("enable_memoize", "off"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    scenario.source.reload_with(&running_config).await.unwrap();
    let spec = spec(&scenario);

    let (changes, warnings) = t6(&scenario, &spec).await;
    let expected = [
        ("autovacuum_analyze_scale_factor", "0.1", "0.05"),
        ("random_page_cost", "2", "1.1"),
        ("statement_timeout", "0", "30000"),
        ("TimeZone", "UTC", "Europe/Berlin"),
        ("work_mem", "4096", "8192"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(n, b, a)| (n.to_string(), b.to_string(), a.to_string())).collect();
    assert_eq!(runnable(&changes), expected, "{changes:#?}");
    assert_eq!(changes.len(), expected.len(), "nothing pending either: {changes:#?}");
    assert!(changes.iter().all(|c| !c["address"].as_str().unwrap().contains("application_name")), "{changes:#?}");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let summary = warnings[0]["summary"].as_str().unwrap();
    assert!(summary.ends_with(": enable_memoize = off, idle_session_timeout = 600000"), "{summary}");

    let out = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for (name, _, after) in &expected {
        assert_eq!(&running(&scenario, name), after, "{name}");
    }
    assert_eq!(running(&scenario, "cpu_tuple_cost"), "0.01");
    assert_eq!(running(&scenario, "application_name"), "");

    let (changes, warnings) = t6(&scenario, &spec).await;
    assert!(changes.is_empty(), "{changes:#?}");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
}

/// The stand-ins as they start: whatever the source's configuration holds beyond PostgreSQL's defaults is
/// sizing, service-managed, the host's, or equal on the target, so T6 has nothing to do or say.
#[tokio::test]
async fn a_fresh_source_has_nothing_to_match() {
    let scenario = Scenario::start().await.unwrap();
    let spec = spec(&scenario);
    let (changes, warnings) = t6(&scenario, &spec).await;
    assert!(changes.is_empty(), "{changes:#?}");
    assert!(warnings.is_empty(), "{warnings:#?}");
}
