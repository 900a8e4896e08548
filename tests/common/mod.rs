//! What the end-to-end tests share: running the real binary against a [`Scenario`]'s stand-ins, editing
//! and writing the spec, reading a JSON plan, and looking at the stand-ins' state (the flexible server on
//! the fake ARM, the PostgreSQL servers, the Aurora cluster through an independent RDS client) to judge
//! what a run did.
//!
//! Each test file includes this module with `mod common;` and so compiles its own copy of it; a file uses
//! only some of the helpers, hence `dead_code` is allowed below rather than warned about in every test
//! binary that leaves one unused.

#![allow(dead_code)]

use migprep::clients::rds::{Rds, Settings, StaticCredentials};
use migprep::secret::Secret;
use migprep::tls::Trust;
use migprep_testkit::postgres::PgServer;
use migprep_testkit::scenario::{CLUSTER, REGION, RESOURCE_GROUP, SERVER, SUBSCRIPTION, Scenario};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub use migprep_testkit::scenario::Output;

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_migprep");
/// The scenario cluster's writer instance.
pub const WRITER: &str = "orders-prod-instance-1";
/// The cluster parameter group migprep creates when the cluster's own cannot be changed.
pub const MIGRATION_GROUP: &str = "orders-prod-migration";
/// The flexible server parameter that puts temporary tablespaces on the local SSD (T1).
pub const TEMP: &str = "azure.enable_temp_tablespaces_on_local_ssd";

/// Runs migprep with `args` against the stand-ins through [`Scenario::run`]: no terminal, no colour, no
/// state folder or CA file from the caller's environment, and `env` on top of the scenario's environment.
pub async fn migprep(scenario: &Scenario, args: &[&str], env: &[(&str, &str)]) -> Output {
    scenario.run(BINARY, args, env).await
}

/// Starts `migprep` with `args` in the background, in the environment [`migprep`] gives a run, its output
/// discarded: for tests that kill it midway. The child is killed if it is dropped.
pub fn spawn(scenario: &Scenario, args: &[&str]) -> tokio::process::Child {
    command(scenario, args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting migprep")
}

/// `migprep` with `args` in the environment [`migprep`] gives a run, to be started by the caller (who
/// decides where its input and output go). The child is killed if it is dropped.
pub fn command(scenario: &Scenario, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BINARY);
    command
        .args(args)
        .envs(scenario.env())
        .env("NO_COLOR", "1")
        .env_remove("MIGPREP_STATE_DIR")
        .env_remove("MIGPREP_CA_FILE")
        .kill_on_drop(true);
    command
}

/// A path as a command-line argument.
pub fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Sets the key at the dotted `path` of a spec (e.g. `"source.connection.sslmode"`), replacing a value
/// that is there and creating the tables on the way that are not.
pub fn set(spec: &mut toml::Table, path: &str, value: impl Into<toml::Value>) {
    let mut keys: Vec<&str> = path.split('.').collect();
    let last = keys.pop().unwrap();
    let mut table = spec;
    for key in keys {
        table = table.entry(key).or_insert_with(|| toml::Value::Table(toml::Table::new())).as_table_mut().unwrap();
    }
    table.insert(last.to_string(), value.into());
}

/// Writes the scenario's spec with an `[allow]` table of `allow` and returns its path.
pub fn with_allow(scenario: &Scenario, allow: &[(&str, toml::Value)]) -> PathBuf {
    let mut spec = scenario.spec();
    for (key, value) in allow {
        set(&mut spec, &format!("allow.{key}"), value.clone());
    }
    scenario.write_spec(&spec).unwrap()
}

/// `plan --format json` of `spec`, which must end with exit 0 or 3 (blockers are part of a plan).
pub async fn json_plan(scenario: &Scenario, spec: &Path) -> Value {
    let run = migprep(scenario, &["plan", "--format", "json", text(spec)], &[]).await;
    assert!(
        run.code == 0 || run.code == 3,
        "plan failed ({}):\nstdout:\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    parse_plan(&run.stdout)
}

/// A JSON plan as printed.
pub fn parse_plan(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Every change of a JSON plan.
pub fn changes(plan: &Value) -> Vec<Value> {
    plan["changes"].as_array().unwrap().clone()
}

/// The changes of a JSON plan whose address starts with one of `prefixes`.
pub fn changes_under(plan: &Value, prefixes: &[&str]) -> Vec<Value> {
    let mut changes = changes(plan);
    changes.retain(|c| prefixes.iter().any(|prefix| c["address"].as_str().unwrap().starts_with(prefix)));
    changes
}

/// The change at `address`; panics, listing the changes, if there is none.
pub fn change<'a>(changes: &'a [Value], address: &str) -> &'a Value {
    changes.iter().find(|c| c["address"] == address).unwrap_or_else(|| panic!("no change {address} in {changes:#?}"))
}

/// The addresses of the changes an apply runs (neither pending nor blockers), in plan order.
pub fn runnable(changes: &[Value]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c["pending"].is_null() && c["action"] != "blocker")
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect()
}

/// The folder of the spec's state (`name = "orders"`): state file, journal, lock.
pub fn state_dir(scenario: &Scenario) -> PathBuf {
    scenario.dir().join(".migprep/orders")
}

/// The state file, which restore plans from.
pub fn state(scenario: &Scenario) -> Value {
    let text = std::fs::read_to_string(state_dir(scenario).join("state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A flexible server (or replica) in the scenario's resource group as ARM returns it.
pub fn server(scenario: &Scenario, name: &str) -> Value {
    scenario.arm.server_json(SUBSCRIPTION, RESOURCE_GROUP, name).unwrap_or_else(|| panic!("no server {name}"))
}

/// The value a parameter of the scenario's flexible server runs with.
pub fn running(scenario: &Scenario, parameter: &str) -> String {
    scenario.arm.running_value(SUBSCRIPTION, RESOURCE_GROUP, SERVER, parameter).unwrap()
}

/// Whether `user` is a member of `role` on a PostgreSQL stand-in, asked as its bootstrap superuser.
pub async fn member_of(server: &PgServer, user: &str, role: &str) -> bool {
    let db = server.superuser("postgres").await.unwrap();
    db.query_one("SELECT pg_has_role($1, $2, 'MEMBER')", &[&user, &role]).await.unwrap().get(0)
}

/// An independent RDS client (the library's provider with the stand-in's fixed test credentials) for
/// arranging and checking the RDS stand-in.
pub async fn rds(scenario: &Scenario) -> Rds {
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

/// Attaches `group` to the scenario's cluster and reboots the writer until it runs the group's values, as
/// a user would have before migprep ever ran.
pub async fn attach_and_reboot(client: &Rds, group: &str) {
    client.attach_parameter_group(CLUSTER, group).await.unwrap();
    client.reboot_instance(WRITER).await.unwrap();
    client.wait_until_in_sync(CLUSTER, &[WRITER], Duration::from_secs(60)).await.unwrap();
}
