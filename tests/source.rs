//! Source prerequisites S1–S10 end to end: the real binary against the RDS stand-in (moto behind the
//! fidelity layer) and the Aurora-like PostgreSQL stand-in, whose writer restarts with the parameter
//! group's values when the stand-in reboots it.
//!
//! Every test first lets the migration user read the selected databases (S10 would otherwise block) and
//! gives the master user the replication right Aurora's `rds_superuser` has (so the S9 slot check runs).

mod common;

use common::{
    MIGRATION_GROUP, WRITER, attach_and_reboot, change, changes_under, json_plan, member_of, migprep, parse_plan, rds,
    set, state, text,
};
use migprep::clients::rds::ParameterChange;
use migprep::model::cluster::ApplyType;
use migprep_testkit::rds::{ClusterSeed, Fault, GroupSeed};
use migprep_testkit::scenario::{CLUSTER, REGION, Scenario};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The addresses of the source side: the Aurora cluster and its writer's SQL.
const SOURCE: &[&str] = &["aws.", "source."];

/// Lets `user` read every selected database and gives the master user the replication right.
async fn prepare(scenario: &Scenario, user: &str) {
    let ident = format!("\"{}\"", user.replace('"', "\"\""));
    for database in scenario.source.databases() {
        let db = scenario.source.superuser(database).await.unwrap();
        db.batch_execute(&format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ident}")).await.unwrap();
    }
    let db = scenario.source.superuser("postgres").await.unwrap();
    let admin = &scenario.source.admin().user;
    db.batch_execute(&format!("ALTER ROLE \"{admin}\" REPLICATION")).await.unwrap();
}

async fn setting(scenario: &Scenario, name: &str) -> String {
    let db = scenario.source.superuser("postgres").await.unwrap();
    db.query_one("SELECT setting FROM pg_settings WHERE name = $1", &[&name]).await.unwrap().get(0)
}

/// The source side of the spec's JSON plan.
async fn source_plan(scenario: &Scenario, spec: &Path) -> Vec<Value> {
    changes_under(&json_plan(scenario, spec).await, SOURCE)
}

/// No source change left to make (the target side may still have its own).
async fn assert_nothing_left(scenario: &Scenario, spec: &Path) {
    let changes = source_plan(scenario, spec).await;
    assert!(changes.is_empty(), "{changes:#?}");
}

/// A cluster on `default.aurora-postgresql15`: the plan creates the migration group, sets the four
/// values, attaches it and lists the writer reboot as pending with the exact command. With the reboot
/// allowed, apply converges: the writer runs `wal_level=logical` and the new numbers, and the next plan
/// has nothing left for the source. The default group is never modified, and only the writer is
/// rebooted, with `RebootDBInstance`.
#[tokio::test]
async fn default_group_is_replaced_attached_and_the_writer_rebooted() {
    let scenario = Scenario::start().await.unwrap();
    prepare(&scenario, &scenario.source.migration_user().user).await;
    let mut spec = scenario.spec();
    let path = scenario.write_spec(&spec).unwrap();

    let human = migprep(&scenario, &["plan", text(&path)], &[]).await;
    assert_eq!(human.code, 0, "stdout:\n{}\nstderr:\n{}", human.stdout, human.stderr);
    assert!(
        human.stdout.contains("aws rds reboot-db-instance --db-instance-identifier orders-prod-instance-1"),
        "{}",
        human.stdout
    );
    let changes = source_plan(&scenario, &path).await;
    let create = change(&changes, &format!("aws.parameter_group/{MIGRATION_GROUP}"));
    assert_eq!(create["action"], "create");
    for (name, after) in [("rds.logical_replication", "1"), ("max_wal_senders", "20"), ("wal_sender_timeout", "0")] {
        let set = change(&changes, &format!("aws.cluster/{CLUSTER}/parameter/{name}"));
        assert_eq!(set["after"], after, "{set:#}");
        assert_eq!(set["operation"]["source"]["group"], MIGRATION_GROUP, "{set:#}");
        // One request for all three: every change shows it whole, and each waits only for the group.
        assert_eq!(set["operation"]["source"]["parameters"].as_array().unwrap().len(), 3, "{set:#}");
        assert_eq!(set["depends_on"], serde_json::json!([format!("aws.parameter_group/{MIGRATION_GROUP}")]));
    }
    // 20 slots by default: more than 2 databases + 0 slots in use, so left alone.
    assert!(changes.iter().all(|c| c["address"] != format!("aws.cluster/{CLUSTER}/parameter/max_replication_slots")));
    let attach = change(&changes, &format!("aws.cluster/{CLUSTER}/parameter_group"));
    assert_eq!(
        (attach["before"].as_str(), attach["after"].as_str()),
        (Some("default.aurora-postgresql15"), Some(MIGRATION_GROUP))
    );
    let reboot = change(&changes, &format!("aws.cluster/{CLUSTER}/writer"));
    assert_eq!(reboot["action"], "restart");
    assert_eq!(reboot["disruptive"], true);
    assert!(reboot["pending"].as_str().unwrap().contains("reboot_source_writer"), "{reboot:#}");
    assert!(
        reboot["depends_on"].as_array().unwrap().iter().any(|d| d == &format!("aws.cluster/{CLUSTER}/parameter_group"))
    );
    let grant = change(&changes, "source.pg/role/migrator/grant/rds_replication");
    assert_eq!(grant["prevents"], 603104);

    set(&mut spec, "allow.reboot_source_writer", true);
    let path = scenario.write_spec(&spec).unwrap();
    let apply = migprep(&scenario, &["apply", "--auto-approve", text(&path)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);

    assert_eq!(setting(&scenario, "wal_level").await, "logical");
    assert_eq!(setting(&scenario, "max_wal_senders").await, "20");
    assert_eq!(setting(&scenario, "wal_sender_timeout").await, "0");
    let values = scenario.rds.user_parameters(MIGRATION_GROUP).unwrap();
    assert_eq!(values.get("rds.logical_replication").map(String::as_str), Some("1"));
    assert_eq!(scenario.rds.user_parameters("default.aurora-postgresql15").unwrap_or_default().len(), 0);
    let requests = scenario.rds.requests();
    assert!(requests.iter().all(|r| r.action != "RebootDBCluster"));
    let reboots: Vec<_> = requests.iter().filter(|r| r.action == "RebootDBInstance").collect();
    assert_eq!(reboots.len(), 1, "{reboots:#?}");
    assert_eq!(reboots[0].param("DBInstanceIdentifier"), Some(WRITER));
    let modifies: Vec<_> = requests.iter().filter(|r| r.action == "ModifyDBClusterParameterGroup").collect();
    assert!(modifies.iter().all(|r| r.param("DBClusterParameterGroupName") == Some(MIGRATION_GROUP)));
    // The three parameters (two static, one dynamic) go in one request, each with its own apply method.
    assert_eq!(modifies.len(), 1, "{modifies:#?}");
    assert!(member_of(&scenario.source, "migrator", "rds_replication").await);

    assert_nothing_left(&scenario, &path).await;
    let again = migprep(&scenario, &["plan", "--format", "json", text(&path)], &[]).await;
    assert!(again.stdout.contains("a temporary test_decoding slot was created, read and dropped"), "{}", again.stdout);
}

/// A migration user whose name needs quoting gets the grant; the reboot stays pending (not allowed) and
/// the rest is applied anyway.
#[tokio::test]
async fn a_quoted_migration_user_gets_rds_replication() {
    let scenario = Scenario::start().await.unwrap();
    let user = "Mig \"rator\"";
    let db = scenario.source.superuser("postgres").await.unwrap();
    db.batch_execute("CREATE ROLE \"Mig \"\"rator\"\"\" LOGIN").await.unwrap();
    prepare(&scenario, user).await;
    let mut spec = scenario.spec();
    set(&mut spec, "source.migration_user", user);
    let path = scenario.write_spec(&spec).unwrap();
    let changes = source_plan(&scenario, &path).await;
    let grant = change(&changes, "source.pg/role/Mig \"rator\"/grant/rds_replication");
    assert_eq!(grant["action"], "create");

    let apply = migprep(&scenario, &["apply", "--auto-approve", text(&path)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);
    assert!(member_of(&scenario.source, user, "rds_replication").await);
    // The writer was not rebooted: the reboot is still the one thing left, pending.
    assert!(scenario.rds.requests_for("RebootDBInstance").is_empty());
    let changes = source_plan(&scenario, &path).await;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert!(changes[0]["pending"].is_string(), "{changes:#?}");
}

const USER_SET: &[(&str, &str)] = &[
    ("apg_plan_mgmt.use_plan_baselines", "1"),
    ("array_nulls", "1"),
    ("aurora_stat_plans.calls_until_recapture", "1"),
    ("aurora_stat_plans.minutes_until_recapture", "1"),
    ("authentication_timeout", "2"),
    ("auto_explain.log_analyze", "1"),
    ("auto_explain.log_min_duration", "0"),
    ("autovacuum", "1"),
    ("autovacuum_analyze_threshold", "1"),
    ("autovacuum_naptime", "2"),
    ("autovacuum_vacuum_cost_limit", "0"),
    ("autovacuum_vacuum_insert_threshold", "0"),
    ("autovacuum_vacuum_threshold", "1"),
    ("autovacuum_work_mem", "0"),
    ("bgwriter_delay", "11"),
    ("bgwriter_lru_maxpages", "1"),
    ("check_function_bodies", "1"),
    ("checkpoint_timeout", "31"),
    ("client_connection_check_interval", "1"),
    ("deadlock_timeout", "2"),
    ("debug_pretty_print", "1"),
    ("debug_print_parse", "1"),
    ("debug_print_plan", "1"),
    ("debug_print_rewritten", "1"),
    ("default_statistics_target", "2"),
    ("default_transaction_deferrable", "1"),
    ("effective_cache_size", "2"),
    ("effective_io_concurrency", "1"),
    ("enable_async_append", "1"),
    ("enable_bitmapscan", "1"),
    ("enable_gathermerge", "1"),
    ("enable_hashagg", "1"),
    ("enable_hashjoin", "1"),
    ("enable_incremental_sort", "1"),
    ("enable_indexonlyscan", "1"),
    ("enable_indexscan", "1"),
    ("enable_material", "1"),
    ("enable_memoize", "1"),
    ("enable_mergejoin", "1"),
    ("enable_nestloop", "1"),
    ("enable_parallel_append", "1"),
    ("enable_parallel_hash", "1"),
    ("enable_partition_pruning", "1"),
    ("enable_partitionwise_aggregate", "1"),
    ("enable_partitionwise_join", "1"),
];

/// A custom group with 45 user-set parameters that a second cluster also uses: it is not touched; the
/// new group carries all 45 plus the migration values (read back with the aws CLI), and is attached.
#[tokio::test]
async fn a_shared_group_is_copied_with_every_user_setting() {
    let scenario = Scenario::start().await.unwrap();
    prepare(&scenario, &scenario.source.migration_user().user).await;
    // The stand-in seeds at most 20 values per group, as RDS modifies; the rest go through the API.
    scenario.rds.seed_parameter_group(GroupSeed::new("shared-pg", "aurora-postgresql15")).unwrap();
    let client = rds(&scenario).await;
    let values: Vec<ParameterChange> = USER_SET
        .iter()
        .map(|(name, value)| ParameterChange {
            name: name.to_string(),
            value: value.to_string(),
            apply_type: ApplyType::Dynamic,
        })
        .collect();
    client.modify_parameters("shared-pg", &values).await.unwrap();
    let other = ClusterSeed { parameter_group: Some("shared-pg".into()), ..ClusterSeed::new("reporting", "15.4") };
    scenario.rds.seed_cluster(other).await.unwrap();
    attach_and_reboot(&client, "shared-pg").await;
    scenario.rds.clear_requests();

    let mut spec = scenario.spec();
    set(&mut spec, "allow.reboot_source_writer", true);
    let path = scenario.write_spec(&spec).unwrap();
    let changes = source_plan(&scenario, &path).await;
    let create = change(&changes, &format!("aws.parameter_group/{MIGRATION_GROUP}"));
    assert_eq!(create["operation"]["source"]["carry_over"].as_array().unwrap().len(), 45, "{create:#}");
    assert!(create["reason"].as_str().unwrap().contains("reporting"), "{create:#}");

    let apply = migprep(&scenario, &["apply", "--auto-approve", text(&path)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);

    let output = tokio::process::Command::new("aws")
        .args(["rds", "describe-db-cluster-parameters", "--db-cluster-parameter-group-name", MIGRATION_GROUP])
        .args(["--source", "user", "--output", "json", "--endpoint-url", &scenario.rds.endpoint(), "--region", REGION])
        .envs(scenario.env())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let listed: std::collections::BTreeMap<String, String> = listed["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["ParameterName"].as_str().unwrap().into(), p["ParameterValue"].as_str().unwrap_or("").into()))
        .collect();
    for (name, value) in USER_SET {
        assert_eq!(listed.get(*name).map(String::as_str), Some(*value), "{name} in {listed:#?}");
    }
    for (name, value) in [("rds.logical_replication", "1"), ("max_wal_senders", "20"), ("wal_sender_timeout", "0")] {
        assert_eq!(listed.get(name).map(String::as_str), Some(value), "{name} in {listed:#?}");
    }
    assert_eq!(listed.len(), 48, "{listed:#?}");

    // 45 carried over go out 20 a call (⌈45/20⌉ = 3 calls), the migration's 3 values in one more.
    let modifies = scenario.rds.requests_for("ModifyDBClusterParameterGroup");
    let mut sizes: Vec<usize> = modifies.iter().map(|r| r.parameter_names().len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [3, 5, 20, 20], "parameters per ModifyDBClusterParameterGroup call");
    assert!(modifies.iter().all(|r| r.status == Some(200)));

    let shared = scenario.rds.user_parameters("shared-pg").unwrap();
    assert_eq!(shared.len(), 45);
    assert!(
        scenario
            .rds
            .requests_for("ModifyDBClusterParameterGroup")
            .iter()
            .all(|r| r.param("DBClusterParameterGroupName") == Some(MIGRATION_GROUP))
    );
    assert_eq!(client.cluster("reporting").await.unwrap().parameter_group, "shared-pg");
    assert_eq!(client.cluster(CLUSTER).await.unwrap().parameter_group, MIGRATION_GROUP);
    assert_eq!(setting(&scenario, "wal_level").await, "logical");
    assert_nothing_left(&scenario, &path).await;
}

/// A custom group only this cluster uses is modified in place, its originals recorded in the state
/// file; 18 slots already exist, so max_replication_slots must rise to 2 databases + 18 + 1 = 21 and
/// max_wal_senders with it.
#[tokio::test]
async fn a_dedicated_group_is_modified_in_place_with_room_for_existing_slots() {
    let scenario = Scenario::start().await.unwrap();
    prepare(&scenario, &scenario.source.migration_user().user).await;
    scenario
        .rds
        .seed_parameter_group(GroupSeed::new("orders-pg", "aurora-postgresql15").value("work_mem", "8192"))
        .unwrap();
    attach_and_reboot(&rds(&scenario).await, "orders-pg").await;
    scenario.rds.clear_requests();
    let db = scenario.source.superuser("postgres").await.unwrap();
    db.batch_execute("SELECT pg_create_physical_replication_slot('standby_' || i) FROM generate_series(1, 18) i")
        .await
        .unwrap();

    let mut spec = scenario.spec();
    set(&mut spec, "allow.reboot_source_writer", true);
    let path = scenario.write_spec(&spec).unwrap();
    let changes = source_plan(&scenario, &path).await;
    assert!(changes.iter().all(|c| c["address"] != format!("aws.parameter_group/{MIGRATION_GROUP}")));
    let slots = change(&changes, &format!("aws.cluster/{CLUSTER}/parameter/max_replication_slots"));
    assert_eq!((slots["before"].as_str(), slots["after"].as_str()), (Some("20"), Some("21")));
    let senders = change(&changes, &format!("aws.cluster/{CLUSTER}/parameter/max_wal_senders"));
    assert_eq!((senders["before"].as_str(), senders["after"].as_str()), (Some("10"), Some("21")));
    assert_eq!(senders["operation"]["source"]["group"], "orders-pg");

    let apply = migprep(&scenario, &["apply", "--auto-approve", text(&path)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);
    assert!(scenario.rds.requests_for("CreateDBClusterParameterGroup").is_empty());
    assert!(scenario.rds.requests_for("ModifyDBCluster").len() <= 1);
    let values = scenario.rds.user_parameters("orders-pg").unwrap();
    assert_eq!(values.get("max_replication_slots").map(String::as_str), Some("21"));
    assert_eq!(values.get("work_mem").map(String::as_str), Some("8192"));
    assert_eq!(setting(&scenario, "max_replication_slots").await, "21");
    assert_eq!(setting(&scenario, "wal_level").await, "logical");

    let state = state(&scenario);
    let recorded = &state["changed"][format!("aws.cluster/{CLUSTER}/parameter/max_wal_senders")];
    assert_eq!((recorded["before"].as_str(), recorded["after"].is_string()), (Some("10"), true), "{state:#}");
    assert_nothing_left(&scenario, &path).await;
}

/// Throttling on about a third of the RDS calls while apply runs: the SDK waits it out, apply converges,
/// and nothing is done twice (one group created, one attach, one reboot).
#[tokio::test]
async fn apply_converges_under_throttling() {
    let scenario = Scenario::start().await.unwrap();
    prepare(&scenario, &scenario.source.migration_user().user).await;
    let mut spec = scenario.spec();
    set(&mut spec, "allow.reboot_source_writer", true);
    let path = scenario.write_spec(&spec).unwrap();

    let injector = async {
        let mut seen = 0;
        loop {
            let count = scenario.rds.requests().len();
            if count >= seen + 3 {
                // One in three: the next request, whatever it is, is throttled.
                scenario.rds.inject(None, 1, Fault::Throttle);
                seen = count;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let args = ["apply", "--auto-approve", text(&path)];
    let run = migprep(&scenario, &args, &[("AWS_MAX_ATTEMPTS", "10")]);
    let apply = tokio::select! {
        apply = run => apply,
        () = injector => unreachable!("the injector runs until apply ends"),
    };
    scenario.rds.clear_faults();
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);

    let requests = scenario.rds.requests();
    let throttled = requests.iter().filter(|r| r.fault == Some(Fault::Throttle)).count();
    assert!(throttled * 5 >= requests.len(), "{throttled} of {} throttled", requests.len());
    let succeeded = |action: &str| requests.iter().filter(|r| r.action == action && r.status == Some(200)).count();
    assert_eq!(succeeded("CreateDBClusterParameterGroup"), 1);
    assert_eq!(succeeded("ModifyDBCluster"), 1);
    assert_eq!(succeeded("RebootDBInstance"), 1);
    assert_eq!(setting(&scenario, "wal_level").await, "logical");
    assert_nothing_left(&scenario, &path).await;
}

/// The migration user cannot read a table of `orders` and has no CONNECT on `billing`: S10 blocks
/// (exit 3) with one blocker per database, each quoting the exact GRANT to run, and nothing else hides it.
#[tokio::test]
async fn missing_read_privileges_are_blockers_with_the_grant_to_run() {
    let scenario = Scenario::start().await.unwrap();
    let migrator = scenario.source.migration_user().user.clone();
    let orders = scenario.source.superuser("orders").await.unwrap();
    orders.batch_execute(&format!("REVOKE SELECT ON items FROM \"{migrator}\"")).await.unwrap();
    let billing = scenario.source.superuser("billing").await.unwrap();
    billing
        .batch_execute(&format!(
            "REVOKE CONNECT ON DATABASE billing FROM PUBLIC; REVOKE SELECT ON items FROM \"{migrator}\""
        ))
        .await
        .unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let run = migprep(&scenario, &["plan", "--format", "json", text(&spec)], &[]).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let changes = changes_under(&parse_plan(&run.stdout), SOURCE);
    for database in ["orders", "billing"] {
        let blocker = change(&changes, &format!("source.pg/database/{database}/privileges"));
        assert_eq!(blocker["action"], "blocker", "{blocker:#}");
        let remedy = blocker["remedy"].as_str().unwrap();
        assert!(remedy.contains("GRANT SELECT ON ALL TABLES IN SCHEMA"), "{remedy}");
    }
    let billing = change(&changes, "source.pg/database/billing/privileges");
    assert!(billing["remedy"].as_str().unwrap().contains("GRANT CONNECT ON DATABASE"), "{billing:#}");
}

/// The writer is dialled as soon as DescribeDBClusters names it: its members' details, which only the
/// rules need, are read meanwhile. Judged at the writer's door: with every DescribeDBInstances answered
/// only after seconds, the first connection reaches it while that request is still unanswered.
#[tokio::test]
async fn the_writer_is_dialled_before_its_instances_are_described() {
    let scenario = Scenario::start().await.unwrap();
    let door = migprep_testkit::delay::DelayProxy::start(scenario.source.port()).await.unwrap();
    scenario.rds.set_cluster_endpoint(CLUSTER, Some(door.port()));
    scenario.rds.set_latency(Some("DescribeDBInstances"), Duration::from_secs(4));
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let watch = async {
        loop {
            if door.connections() > 0 {
                let described = scenario.rds.requests_for("DescribeDBInstances");
                return described.iter().all(|r| r.status.is_none()) && !described.is_empty();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let args = ["plan", "--format", "json", text(&spec)];
    let (run, dialled_first) = tokio::join!(migprep(&scenario, &args, &[]), async {
        tokio::time::timeout(Duration::from_secs(60), watch).await.unwrap_or(false)
    });
    assert!([0, 2, 3].contains(&run.code), "{}\n{}", run.stdout, run.stderr);
    assert!(dialled_first, "the writer was dialled only after DescribeDBInstances was answered");
    let plan = parse_plan(&run.stdout);
    assert!(!changes_under(&plan, SOURCE).is_empty(), "the source was read: {plan:#}");
}
