//! The parameter-group loops on both RDS backends: moto behind the fidelity layer, and plain
//! `moto_server` with no layer (filters ignored, custom groups listing only what was set, no
//! `DescribeEngineDefaultClusterParameters`, members always `in-sync`, reboots that restart nothing).
//!
//! Each loop is plan → apply (the writer reboot left pending, as `[allow]` says nothing) → the reboot done
//! by hand as a DBA would (`RebootDBInstance`, and on plain moto the source PostgreSQL restarted with the
//! group's values, which moto does not do) → plan with nothing left for the source → restore. The
//! verdicts are read from the stand-ins: which groups hold which user values, which group the cluster
//! has, what the writer runs.

mod common;

use common::{MIGRATION_GROUP, WRITER, change, changes, changes_under, json_plan, migprep, rds, text};
use migprep::clients::rds::ParameterChange;
use migprep::model::cluster::ApplyType;
use migprep_testkit::rds::{ClusterSeed, GroupSeed, RdsBackend};
use migprep_testkit::scenario::{CLUSTER, Scenario, ScenarioConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The parameters logical replication needs (S3–S6): the only values migprep may add to a group.
const REPLICATION: [&str; 4] =
    ["rds.logical_replication", "max_replication_slots", "max_wal_senders", "wal_sender_timeout"];

/// The addresses of the source side: the Aurora cluster and its writer's SQL.
const SOURCE: &[&str] = &["aws.", "source."];

/// Every group's user values, by group.
type Groups = BTreeMap<String, BTreeMap<String, String>>;

async fn start(backend: RdsBackend) -> Scenario {
    let mut config = ScenarioConfig::default();
    config.rds.backend = backend;
    let scenario = Scenario::start_with(config).await.unwrap();
    // The migration user may read the selected databases (S10), the master user may replicate (S9).
    let migrator = &scenario.source.migration_user().user;
    for database in scenario.source.databases() {
        let db = scenario.source.superuser(database).await.unwrap();
        db.batch_execute(&format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{migrator}\"")).await.unwrap();
    }
    let db = scenario.source.superuser("postgres").await.unwrap();
    db.batch_execute(&format!("ALTER ROLE \"{}\" REPLICATION", scenario.source.admin().user)).await.unwrap();
    scenario
}

async fn setting(scenario: &Scenario, name: &str) -> String {
    let db = scenario.source.superuser("postgres").await.unwrap();
    db.query_one("SELECT setting FROM pg_settings WHERE name = $1", &[&name]).await.unwrap().get(0)
}

/// What a DBA does for a pending writer reboot: `aws rds reboot-db-instance`, wait for it, and, where the
/// backend does not, restart the source with the group's values.
async fn reboot_by_hand(scenario: &Scenario) {
    let client = rds(scenario).await;
    client.reboot_instance(WRITER).await.unwrap();
    client.wait_until_in_sync(CLUSTER, &[WRITER], Duration::from_secs(60)).await.unwrap();
    scenario.rds.complete_reboot(CLUSTER, &scenario.engine_version).await.unwrap();
}

/// Attaches `group` to the cluster and reboots into it, as the account was before migprep ran.
async fn attach_by_hand(scenario: &Scenario, group: &str) {
    rds(scenario).await.attach_parameter_group(CLUSTER, group).await.unwrap();
    reboot_by_hand(scenario).await;
}

async fn groups(scenario: &Scenario) -> Groups {
    scenario.rds.all_user_values().await.unwrap()
}

/// plan (no blocker on the source, no parameter to match on the target when the source set none) →
/// apply → the reboot by hand → nothing left for the source → restore. Returns the groups before and
/// after.
async fn the_loop(scenario: &Scenario, user_set: usize) -> (Groups, Groups) {
    let before = groups(scenario).await;
    let path = scenario.write_spec(&scenario.spec()).unwrap();
    let plan = json_plan(scenario, &path).await;
    let source = changes_under(&plan, SOURCE);
    let blockers: Vec<_> = changes(&plan).into_iter().filter(|c| c["action"] == "blocker").collect();
    assert!(blockers.is_empty(), "{blockers:#?}");
    let t6 = changes(&plan).into_iter().filter(|c| c["rule"] == "T6").count();
    assert!(t6 <= user_set, "{t6} T6 changes for {user_set} user-set parameters:\n{:#?}", changes(&plan));
    assert!(change(&source, &format!("aws.cluster/{CLUSTER}/writer"))["pending"].is_string(), "{source:#?}");

    let apply = migprep(scenario, &["apply", "--auto-approve", text(&path)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);
    reboot_by_hand(scenario).await;
    assert_eq!(setting(scenario, "wal_level").await, "logical");
    assert_nothing_left(scenario, &path).await;

    let after = groups(scenario).await;
    let restore = migprep(scenario, &["restore", "--auto-approve", text(&path)], &[]).await;
    assert_eq!(restore.code, 0, "stdout:\n{}\nstderr:\n{}", restore.stdout, restore.stderr);
    assert_eq!(groups(scenario).await, after, "restore changed a parameter group");
    (before, after)
}

async fn assert_nothing_left(scenario: &Scenario, spec: &Path) {
    let changes = changes_under(&json_plan(scenario, spec).await, SOURCE);
    assert!(changes.is_empty(), "{changes:#?}");
}

/// The migration values migprep wrote to `values`, and nothing else in it beyond `kept`.
fn assert_replication_values(values: &BTreeMap<String, String>, kept: &BTreeMap<String, String>) {
    assert_eq!(values.get("rds.logical_replication").map(String::as_str), Some("1"), "{values:#?}");
    assert_eq!(values.get("wal_sender_timeout").map(String::as_str), Some("0"), "{values:#?}");
    let extra: Vec<_> =
        values.keys().filter(|k| !REPLICATION.contains(&k.as_str()) && !kept.contains_key(*k)).collect();
    assert!(extra.is_empty(), "values that are neither the group's nor replication's: {extra:?} in {values:#?}");
    for (name, value) in kept {
        assert_eq!(values.get(name), Some(value), "{name} in {values:#?}");
    }
}

/// On the default group: a new group holding nothing but the replication parameters, attached; the
/// default group and every other group untouched.
async fn default_group(backend: RdsBackend) {
    let scenario = start(backend).await;
    let (before, after) = the_loop(&scenario, 0).await;
    let migration = after.get(MIGRATION_GROUP).unwrap_or_else(|| panic!("no {MIGRATION_GROUP} in {after:#?}"));
    assert_replication_values(migration, &BTreeMap::new());
    let mut others = after.clone();
    others.remove(MIGRATION_GROUP);
    assert_eq!(others, before);
    assert_eq!(rds(&scenario).await.cluster(CLUSTER).await.unwrap().parameter_group, MIGRATION_GROUP);
}

#[tokio::test]
async fn default_group_loop_with_the_fidelity_layer() {
    default_group(RdsBackend::Fidelity).await;
}

#[tokio::test]
async fn default_group_loop_on_plain_moto() {
    default_group(RdsBackend::PlainMoto).await;
}

/// More user values than one modify takes (20), harmless on the stand-in.
const USER_SET: &[(&str, &str)] = &[
    ("array_nulls", "1"),
    ("authentication_timeout", "2"),
    ("autovacuum_analyze_threshold", "1"),
    ("autovacuum_naptime", "2"),
    ("autovacuum_vacuum_cost_limit", "0"),
    ("autovacuum_vacuum_threshold", "1"),
    ("bgwriter_delay", "11"),
    ("check_function_bodies", "1"),
    ("deadlock_timeout", "2"),
    ("default_statistics_target", "2"),
    ("effective_cache_size", "2"),
    ("enable_bitmapscan", "1"),
    ("enable_hashagg", "1"),
    ("enable_hashjoin", "1"),
    ("enable_indexscan", "1"),
    ("enable_material", "1"),
    ("enable_mergejoin", "1"),
    ("enable_nestloop", "1"),
    ("enable_partition_pruning", "1"),
    ("enable_partitionwise_join", "1"),
    ("work_mem", "8192"),
    ("max_wal_senders", "12"),
];

/// On a group shared with another cluster: a new group carrying every user value of the shared one
/// plus the replication parameters, attached; the shared group and every other group untouched.
async fn shared_group(backend: RdsBackend) {
    let scenario = start(backend).await;
    scenario.rds.seed_group(GroupSeed::new("shared-pg", "aurora-postgresql15")).await.unwrap();
    let values: Vec<ParameterChange> = USER_SET
        .iter()
        .map(|(name, value)| ParameterChange {
            name: name.to_string(),
            value: value.to_string(),
            apply_type: ApplyType::Static,
        })
        .collect();
    rds(&scenario).await.modify_parameters("shared-pg", &values).await.unwrap();
    let other = ClusterSeed { parameter_group: Some("shared-pg".into()), ..ClusterSeed::new("reporting", "15.4") };
    scenario.rds.seed_cluster(other).await.unwrap();
    attach_by_hand(&scenario, "shared-pg").await;

    let (before, after) = the_loop(&scenario, USER_SET.len()).await;
    let shared: BTreeMap<String, String> = USER_SET.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    assert_eq!(before.get("shared-pg"), Some(&shared));
    let mut carried = shared.clone();
    // Raised to room for the slots: the only user value migprep may change, and only upwards.
    carried.remove("max_wal_senders");
    let migration = after.get(MIGRATION_GROUP).unwrap_or_else(|| panic!("no {MIGRATION_GROUP} in {after:#?}"));
    assert_replication_values(migration, &carried);
    assert_eq!(migration.get("max_wal_senders").map(String::as_str), Some("20"), "{migration:#?}");
    let mut others = after.clone();
    others.remove(MIGRATION_GROUP);
    assert_eq!(others, before);
    let client = rds(&scenario).await;
    assert_eq!(client.cluster("reporting").await.unwrap().parameter_group, "shared-pg");
    assert_eq!(client.cluster(CLUSTER).await.unwrap().parameter_group, MIGRATION_GROUP);
}

#[tokio::test]
async fn shared_group_loop_with_the_fidelity_layer() {
    shared_group(RdsBackend::Fidelity).await;
}

#[tokio::test]
async fn shared_group_loop_on_plain_moto() {
    shared_group(RdsBackend::PlainMoto).await;
}

/// On a group only this cluster uses: modified in place (its own value kept, the replication values
/// added), no group created, every other group untouched.
async fn dedicated_group(backend: RdsBackend) {
    let scenario = start(backend).await;
    scenario
        .rds
        .seed_group(GroupSeed::new("orders-pg", "aurora-postgresql15").value("work_mem", "8192"))
        .await
        .unwrap();
    attach_by_hand(&scenario, "orders-pg").await;

    let (before, after) = the_loop(&scenario, 1).await;
    assert!(!after.contains_key(MIGRATION_GROUP), "{after:#?}");
    let own = BTreeMap::from([("work_mem".to_string(), "8192".to_string())]);
    assert_replication_values(&after["orders-pg"], &own);
    let mut others = after.clone();
    others.remove("orders-pg");
    let mut before_others = before.clone();
    before_others.remove("orders-pg");
    assert_eq!(others, before_others);
    assert_eq!(rds(&scenario).await.cluster(CLUSTER).await.unwrap().parameter_group, "orders-pg");
}

#[tokio::test]
async fn dedicated_group_loop_with_the_fidelity_layer() {
    dedicated_group(RdsBackend::Fidelity).await;
}

#[tokio::test]
async fn dedicated_group_loop_on_plain_moto() {
    dedicated_group(RdsBackend::PlainMoto).await;
}
