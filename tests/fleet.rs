//! Several specs in one run, with the real binary against one set of stand-ins that holds three Aurora
//! clusters and three flexible servers (the clusters lead to the same source PostgreSQL, the servers to
//! the same target PostgreSQL: the specs differ where the clouds are concerned).
//!
//! `plan` over three specs prints each plan whole under a heading naming its spec, in the order given,
//! then one summary table; the exit code is the most severe (a spec naming a server that does not exist
//! fails, exit 1, and the others are planned all the same). `--format json` writes one document with every
//! plan and the summary. `apply` over a folder of specs asks once, applies every spec that can be, and
//! leaves each its own state; the spec that fails changes nothing and stops no other. A spec whose server
//! is held busy by someone else's operation past `--deadline` fails mid-apply: the others are applied, and
//! its own journal lets the next apply, once the server is free, finish without repeating what was done.

mod common;

use common::{TEMP, migprep, rds, text};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::rds::ClusterSeed;
use migprep_testkit::scenario::{RESOURCE_GROUP, SUBSCRIPTION, Scenario};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The three pairs: the scenario's own, and two more seeded beside it.
const PAIRS: [(&str, &str, &str); 3] = [
    ("orders", "orders-prod", "pg-orders"),
    ("billing", "billing-prod", "pg-billing"),
    ("ledger", "ledger-prod", "pg-ledger"),
];

async fn three_pairs() -> Scenario {
    let scenario = Scenario::start().await.unwrap();
    for (_, cluster, server) in &PAIRS[1..] {
        let seed = ClusterSeed {
            endpoint_port: Some(scenario.source.port()),
            master_username: scenario.source.admin().user.clone(),
            ..ClusterSeed::new(cluster, &scenario.engine_version)
        };
        scenario.rds.seed_cluster(seed).await.unwrap();
        scenario.arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, ServerSeed::new(server)).unwrap();
        let target = &scenario.target;
        scenario.arm.set_database_address(SUBSCRIPTION, RESOURCE_GROUP, server, target.host(), target.port());
    }
    scenario
}

/// Writes the spec of one pair as `<folder>/<name>.toml` (state beside it, as by default).
fn write_spec(scenario: &Scenario, folder: &Path, name: &str, cluster: &str, server: &str) -> PathBuf {
    let mut spec = scenario.spec();
    spec.insert("name".into(), name.into());
    spec.insert("ca_file".into(), scenario.dir().join("ca.pem").to_str().unwrap().into());
    spec["source"].as_table_mut().unwrap().insert("cluster".into(), cluster.into());
    spec["target"].as_table_mut().unwrap().insert("server".into(), server.into());
    for (side, file) in [("source", "source-password"), ("target", "target-password")] {
        let mut password = toml::Table::new();
        password.insert("file".into(), scenario.dir().join("secrets").join(file).to_str().unwrap().into());
        spec[side]["connection"].as_table_mut().unwrap().insert("password".into(), password.into());
    }
    let mut migration = toml::Table::new();
    migration.insert("file".into(), scenario.dir().join("secrets/migration-password").to_str().unwrap().into());
    spec["source"].as_table_mut().unwrap().insert("migration_password".into(), migration.into());
    let path = folder.join(format!("{name}.toml"));
    std::fs::write(&path, toml::to_string(&spec).unwrap()).unwrap();
    path
}

/// The specs of the three pairs in `folder`, in order.
fn write_pairs(scenario: &Scenario, folder: &Path) -> Vec<PathBuf> {
    PAIRS.iter().map(|(name, cluster, server)| write_spec(scenario, folder, name, cluster, server)).collect()
}

#[tokio::test]
async fn three_specs_are_planned_in_one_run_with_one_summary_and_the_most_severe_exit_code() {
    let scenario = three_pairs().await;
    let folder = tempfile::tempdir().unwrap();
    let specs = write_pairs(&scenario, folder.path());
    let args: Vec<&str> = ["plan"].into_iter().chain(specs.iter().map(|spec| text(spec))).collect();

    let mut with_codes = args.clone();
    with_codes.push("--detailed-exitcode");
    let plan = migprep(&scenario, &with_codes, &[]).await;
    assert_eq!(plan.code, 2, "changes in every spec, no blocker, no error:\n{}\n{}", plan.stdout, plan.stderr);
    let headings: Vec<usize> = PAIRS
        .iter()
        .map(|(name, cluster, server)| {
            let heading =
                format!("=== {}: {cluster} → {server} ===", folder.path().join(format!("{name}.toml")).display());
            plan.stdout.find(&heading).unwrap_or_else(|| panic!("no heading {heading}:\n{}", plan.stdout))
        })
        .collect();
    assert!(headings.windows(2).all(|pair| pair[0] < pair[1]), "in the order given");
    // Each plan whole under its heading: the next heading comes only after this plan's summary line.
    for pair in headings.windows(2) {
        assert!(plan.stdout[pair[0]..pair[1]].contains("Plan:"), "{}", &plan.stdout[pair[0]..pair[1]]);
    }
    let summary = plan.stdout.find("Summary of 3 specs:").expect("one summary");
    assert!(summary > headings[2]);
    for (_, cluster, server) in PAIRS {
        let row = plan.stdout[summary..].lines().find(|l| l.contains(&format!("{cluster} → {server}"))).unwrap();
        assert!(row.trim_end().ends_with("changes"), "{row}");
    }

    // A spec whose server does not exist fails; the others are planned all the same.
    let missing = write_spec(&scenario, folder.path(), "missing", "orders-prod", "pg-missing");
    let mut with_missing = args.clone();
    with_missing.push(text(&missing));
    with_missing.extend(["--format", "json"]);
    let json = migprep(&scenario, &with_missing, &[]).await;
    assert_eq!(json.code, 1, "{}", json.stderr);
    let document: Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.stdout));
    let specs = document["specs"].as_array().unwrap();
    assert_eq!(specs.len(), 4);
    for spec in &specs[..3] {
        assert_eq!(spec["result"], "changes", "{spec:#}");
        assert!(spec["plan"]["changes"].as_array().is_some_and(|c| !c.is_empty()));
    }
    assert_eq!(specs[3]["result"], "failed");
    assert!(specs[3]["error"].as_str().unwrap().contains("pg-missing"), "{}", specs[3]["error"]);
    assert!(json.stderr.contains("missing.toml"), "the failure names its spec: {}", json.stderr);
}

/// The specs of a run share one RDS client, and a read one spec has in flight answers the others asking
/// the same: with every DescribeDBClusters answered after a second, the three specs' listings of every
/// cluster (to find who else uses their group) overlap, and RDS sees one listing, not three. Each spec
/// still gets its own cluster and its own plan.
#[tokio::test]
async fn identical_rds_reads_in_flight_are_one_request() {
    let scenario = three_pairs().await;
    let folder = tempfile::tempdir().unwrap();
    let specs = write_pairs(&scenario, folder.path());
    scenario.rds.set_latency(Some("DescribeDBClusters"), std::time::Duration::from_secs(1));
    scenario.rds.clear_requests();
    let args: Vec<&str> = ["plan", "--format", "json"].into_iter().chain(specs.iter().map(|s| text(s))).collect();
    let plan = migprep(&scenario, &args, &[]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let document: Value = serde_json::from_str(&plan.stdout).unwrap_or_else(|e| panic!("{e}: {}", plan.stdout));
    for (spec, (_, cluster, _)) in document["specs"].as_array().unwrap().iter().zip(PAIRS) {
        assert_eq!(spec["result"], "changes", "{spec:#}");
        let own = format!("aws.cluster/{cluster}/");
        let changes = spec["plan"]["changes"].as_array().unwrap();
        assert!(changes.iter().any(|c| c["address"].as_str().unwrap().starts_with(&own)), "{spec:#}");
    }
    let describes = scenario.rds.requests_for("DescribeDBClusters");
    let (listings, single): (Vec<_>, Vec<_>) = describes.iter().partition(|r| r.param("DBClusterIdentifier").is_none());
    assert_eq!(single.len(), 3, "each spec reads its own cluster: {single:?}");
    assert_eq!(listings.len(), 1, "one listing of every cluster for the three specs: {listings:?}");
}

#[tokio::test]
async fn a_folder_of_specs_is_applied_after_one_confirmation_and_a_failing_spec_stops_no_other() {
    let scenario = three_pairs().await;
    let folder = tempfile::tempdir().unwrap();
    for (name, cluster, server) in &PAIRS[..2] {
        write_spec(&scenario, folder.path(), name, cluster, server);
    }
    write_spec(&scenario, folder.path(), "missing", "ledger-prod", "pg-missing");

    let refused = migprep(&scenario, &["apply", text(folder.path())], &[]).await;
    assert_eq!(refused.code, 1, "no terminal and no --auto-approve: {}", refused.stderr);
    assert!(refused.stderr.contains("--auto-approve"), "{}", refused.stderr);
    assert_eq!(common::running(&scenario, TEMP), "on", "nothing was changed");

    let apply = migprep(&scenario, &["apply", text(folder.path()), "--auto-approve", "--parallel", "2"], &[]).await;
    assert_eq!(apply.code, 1, "one spec failed:\n{}\n{}", apply.stdout, apply.stderr);
    let summary = &apply.stdout[apply.stdout.find("Summary of 3 specs:").expect("summary")..];
    for (_, cluster, server) in &PAIRS[..2] {
        let row = summary.lines().find(|l| l.contains(&format!("{cluster} → {server}"))).unwrap();
        assert!(row.trim_end().ends_with("applied"), "{row}");
    }
    assert!(summary.lines().any(|l| l.contains("pg-missing") && l.trim_end().ends_with("failed")), "{summary}");
    for (name, _, server) in &PAIRS[..2] {
        let state = folder.path().join(".migprep").join(name).join("state.json");
        assert!(state.exists(), "{name} keeps its own state");
        let value = scenario.arm.running_value(SUBSCRIPTION, RESOURCE_GROUP, server, TEMP).unwrap();
        assert_eq!(value, "off", "{server} was applied");
    }
    assert!(!folder.path().join(".migprep/missing/state.json").exists());
    // Specs applied at once are told apart: every step line names its spec.
    for (name, _, server) in &PAIRS[..2] {
        let step = format!("done azure.server/{server}/");
        let tagged = format!("[{}] {step}", folder.path().join(format!("{name}.toml")).display());
        let lines: Vec<&str> = apply.stderr.lines().filter(|line| line.contains(&step)).collect();
        assert!(!lines.is_empty() && lines.iter().all(|line| line.contains(&tagged)), "{}", apply.stderr);
    }
}

/// The RDS writes of a run that concern `cluster` (its migration group, or the cluster itself).
fn rds_writes_for(scenario: &Scenario, cluster: &str) -> Vec<String> {
    const WRITES: [&str; 4] =
        ["CreateDBClusterParameterGroup", "ModifyDBClusterParameterGroup", "ModifyDBCluster", "RebootDBInstance"];
    scenario
        .rds
        .requests()
        .into_iter()
        .filter(|r| WRITES.contains(&r.action.as_str()))
        .filter(|r| r.params.iter().any(|(_, value)| value.starts_with(cluster)))
        .map(|r| r.action)
        .collect()
}

#[tokio::test]
async fn a_spec_whose_server_stays_busy_past_the_deadline_fails_alone_and_its_journal_resumes() {
    let scenario = three_pairs().await;
    let folder = tempfile::tempdir().unwrap();
    for (name, cluster, server) in &PAIRS {
        write_spec(&scenario, folder.path(), name, cluster, server);
    }
    let (_, busy_cluster, busy_server) = PAIRS[2];
    // Someone else's operation holds the ledger's server for longer than the run may take.
    scenario.arm.hold_server(SUBSCRIPTION, RESOURCE_GROUP, busy_server).unwrap();

    let args = ["apply", text(folder.path()), "--auto-approve", "--deadline", "10s", "--parallel", "3"];
    let apply = migprep(&scenario, &args, &[]).await;
    assert_eq!(apply.code, 1, "the busy spec failed:\n{}\n{}", apply.stdout, apply.stderr);
    assert!(apply.stderr.contains("ledger.toml"), "the failure names its spec: {}", apply.stderr);
    assert!(apply.stderr.contains("gave up after 10s (--deadline)"), "{}", apply.stderr);
    let summary = &apply.stdout[apply.stdout.find("Summary of 3 specs:").expect("summary")..];
    for (_, cluster, server) in PAIRS {
        let row = summary.lines().find(|l| l.contains(&format!("{cluster} → {server}"))).unwrap();
        let result = if server == busy_server { "failed" } else { "applied" };
        assert!(row.trim_end().ends_with(result), "{row}");
    }

    // The others are applied: their migration groups hold the replication values and are attached, their
    // servers run the new value.
    let aws = rds(&scenario).await;
    for (_, cluster, server) in &PAIRS {
        let group = format!("{cluster}-migration");
        let values = scenario.rds.user_parameters(&group).unwrap_or_else(|| panic!("no group {group}"));
        assert_eq!(values.get("rds.logical_replication").map(String::as_str), Some("1"), "{group}: {values:#?}");
        assert_eq!(aws.cluster(cluster).await.unwrap().parameter_group, group, "{cluster} is on {group}");
        let running = scenario.arm.running_value(SUBSCRIPTION, RESOURCE_GROUP, server, TEMP).unwrap();
        let expected = if *server == busy_server { "on" } else { "off" };
        assert_eq!(running, expected, "{server}");
    }
    // The busy one: its source side done, its server untouched, its lock released and its journal kept.
    let state = folder.path().join(".migprep/ledger");
    assert!(state.join("journal.jsonl").exists(), "the ledger's journal is kept");
    assert!(!state.join("lock.json").exists(), "the ledger's lock is released");
    let written = rds_writes_for(&scenario, busy_cluster);
    assert!(written.contains(&"CreateDBClusterParameterGroup".to_string()), "{written:?}");

    // Once the server is free, the ledger's next apply finishes what is left, and only that.
    scenario.arm.release_server(SUBSCRIPTION, RESOURCE_GROUP, busy_server).unwrap();
    scenario.rds.clear_requests();
    scenario.arm.clear_requests();
    let spec = folder.path().join("ledger.toml");
    let again = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(scenario.arm.running_value(SUBSCRIPTION, RESOURCE_GROUP, busy_server, TEMP).unwrap(), "off");
    assert_eq!(rds_writes_for(&scenario, busy_cluster), Vec::<String>::new(), "the source side is not done again");
    let configuration = format!("/flexibleServers/{busy_server}/configurations/{TEMP}");
    assert_eq!(scenario.arm.count_requests("PATCH", &configuration), 1, "{:#?}", scenario.arm.requests());
}
