//! Shared state backends end to end: the state, the journal and the lock kept in an S3 bucket (moto's S3,
//! lock by a PUT with `If-None-Match: *`) or in an Azure Blob container (Azurite, lock by a blob lease,
//! requests signed with Azurite's well-known account key through `AZURE_STORAGE_KEY`).
//!
//! Each backend is judged the way a team uses it: an apply from one folder leaves nothing beside the
//! spec; a restore from another folder, with only a copy of the spec, finds the record and puts the
//! server's originals back (high availability, the temp-tablespace parameter); a restore with no record
//! refuses, naming where it looked; and of two applies started at the same moment from two folders,
//! exactly one runs.

mod common;

use common::{TEMP, migprep, running, server, text};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::azurite::{self, Azurite};
use migprep_testkit::scenario::{SERVER, Scenario, ScenarioConfig};
use std::path::{Path, PathBuf};

const BUCKET: &str = "migprep-state";
const CONTAINER: &str = "migprep-state";

/// moto routes a request to a service by its credential scope and checks no signature: this one says S3.
const S3_SCOPE: &str =
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// Where the state lives, and what a run needs to reach it.
enum Backend {
    S3 { endpoint: String },
    Blob(Azurite),
}

impl Backend {
    async fn s3(scenario: &Scenario) -> Backend {
        let endpoint = scenario.rds.moto_endpoint();
        // moto checks no signature on bucket creation; the bucket is the team's, made once by hand.
        let created = reqwest::Client::new()
            .put(format!("{endpoint}/{BUCKET}"))
            .header("authorization", S3_SCOPE)
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "creating the bucket: {}", created.status());
        Backend::S3 { endpoint }
    }

    async fn blob() -> Option<Backend> {
        let azurite = Azurite::start_or_skip().await?;
        azurite.create_container(CONTAINER).await.unwrap();
        Some(Backend::Blob(azurite))
    }

    fn table(&self) -> toml::Table {
        let text = match self {
            Backend::S3 { .. } => format!("backend = \"s3\"\nbucket = \"{BUCKET}\"\nprefix = \"team-a\"\n"),
            Backend::Blob(azurite) => format!(
                "backend = \"azblob\"\naccount = \"{}\"\ncontainer = \"{CONTAINER}\"\nprefix = \"team-a\"\nendpoint = \"{}\"\n",
                azurite::ACCOUNT,
                azurite.endpoint()
            ),
        };
        text.parse().unwrap()
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::S3 { endpoint } => vec![("AWS_ENDPOINT_URL_S3", endpoint.clone())],
            Backend::Blob(_) => vec![("AZURE_STORAGE_KEY", azurite::KEY.to_string())],
        }
    }

    /// Where the state file is, as migprep names it.
    fn state_location(&self) -> String {
        match self {
            Backend::S3 { .. } => format!("s3://{BUCKET}/team-a/orders/state.json"),
            Backend::Blob(azurite) => format!("{}/{CONTAINER}/team-a/orders/state.json", azurite.endpoint()),
        }
    }

    /// An object of the spec's state, read straight from the stand-in.
    async fn object(&self, name: &str) -> Option<Vec<u8>> {
        match self {
            Backend::S3 { endpoint } => {
                let url = format!("{endpoint}/{BUCKET}/team-a/orders/{name}");
                let response = reqwest::Client::new().get(url).header("authorization", S3_SCOPE).send().await.unwrap();
                if !response.status().is_success() {
                    return None;
                }
                Some(response.bytes().await.unwrap().to_vec())
            }
            Backend::Blob(azurite) => azurite.blob(CONTAINER, &format!("team-a/orders/{name}")).await.unwrap(),
        }
    }
}

/// The two-sided scene: a zone-redundant server with temp tablespaces on the local SSD.
async fn scene() -> Scenario {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2"),
        ..ScenarioConfig::default()
    };
    Scenario::start_with(config).await.unwrap()
}

/// The scenario's spec with `[state]`, written into a folder of its own (its files named by absolute
/// paths, so that the folder holds the spec and nothing else).
fn spec_in(folder: &Path, scenario: &Scenario, backend: &Backend) -> PathBuf {
    let mut spec = scenario.spec();
    let absolute = |relative: &str| scenario.dir().join(relative).to_str().unwrap().to_string();
    spec.insert("ca_file".into(), absolute("ca.pem").into());
    for (side, file) in [("source", "source-password"), ("target", "target-password")] {
        let mut password = toml::Table::new();
        password.insert("file".into(), absolute(&format!("secrets/{file}")).into());
        spec[side]["connection"].as_table_mut().unwrap().insert("password".into(), password.into());
    }
    let mut migration = toml::Table::new();
    migration.insert("file".into(), absolute("secrets/migration-password").into());
    spec["source"].as_table_mut().unwrap().insert("migration_password".into(), migration.into());
    spec.insert("state".into(), backend.table().into());
    let path = folder.join("migprep.toml");
    std::fs::write(&path, toml::to_string(&spec).unwrap()).unwrap();
    path
}

async fn run(scenario: &Scenario, backend: &Backend, args: &[&str]) -> migprep_testkit::scenario::Output {
    let env = backend.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    migprep(scenario, args, &env).await
}

async fn apply_here_restore_there(backend: Backend, scenario: Scenario) {
    let (here, there) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (spec_here, spec_there) =
        (spec_in(here.path(), &scenario, &backend), spec_in(there.path(), &scenario, &backend));

    let nothing = run(&scenario, &backend, &["restore", text(&spec_there), "--auto-approve"]).await;
    assert_eq!(nothing.code, 1, "{}", nothing.stderr);
    assert!(nothing.stderr.contains(&backend.state_location()), "names where it looked: {}", nothing.stderr);

    let apply = run(&scenario, &backend, &["apply", text(&spec_here), "--auto-approve"]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");
    assert_eq!(running(&scenario, TEMP), "off");
    assert!(!here.path().join(".migprep").exists(), "nothing is kept beside the spec");
    let state: serde_json::Value = serde_json::from_slice(&backend.object("state.json").await.unwrap()).unwrap();
    assert!(state["changed"].as_object().is_some_and(|changed| !changed.is_empty()), "{state:#}");
    let journal = String::from_utf8(backend.object("journal.jsonl").await.unwrap()).unwrap();
    assert!(journal.lines().all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()), "{journal}");
    assert!(backend.object("lock.json").await.is_none(), "the lock is released");

    let restore = run(&scenario, &backend, &["restore", text(&spec_there), "--auto-approve"]).await;
    assert_eq!(restore.code, 0, "stdout:\n{}\nstderr:\n{}", restore.stdout, restore.stderr);
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "ZoneRedundant");
    assert_eq!(running(&scenario, TEMP), "on");
    assert!(!there.path().join(".migprep").exists(), "nothing is kept beside the spec");
}

async fn exactly_one_of_two_applies_runs(backend: Backend, scenario: Scenario) {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (spec_a, spec_b) = (spec_in(a.path(), &scenario, &backend), spec_in(b.path(), &scenario, &backend));
    let (args_a, args_b) = (["apply", text(&spec_a), "--auto-approve"], ["apply", text(&spec_b), "--auto-approve"]);
    let (first, second) = tokio::join!(run(&scenario, &backend, &args_a), run(&scenario, &backend, &args_b));
    let (winner, loser) = match (first.code, second.code) {
        (0, 1) => (first, second),
        (1, 0) => (second, first),
        _ => {
            panic!("exactly one should run:\nA {}: {}\nB {}: {}", first.code, first.stderr, second.code, second.stderr)
        }
    };
    assert!(winner.stderr.contains("apply complete"), "{}", winner.stderr);
    assert!(loser.stderr.contains("is locked by") && loser.stderr.contains("pid "), "{}", loser.stderr);
    assert!(loser.stderr.contains("team-a/orders"), "names the shared state: {}", loser.stderr);
    assert_eq!(scenario.arm.count_requests("PATCH", &format!("/flexibleServers/{SERVER}")), 1);
    let journal = String::from_utf8(backend.object("journal.jsonl").await.unwrap()).unwrap();
    let runs: std::collections::BTreeSet<String> = journal
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["run"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(runs.len(), 1, "one run wrote the journal");

    // The lock is gone with its holder: the next apply runs (and finds nothing to do).
    let again = run(&scenario, &backend, &["apply", text(&spec_b), "--auto-approve"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
}

#[tokio::test]
async fn s3_state_outlives_the_folder_it_was_applied_from() {
    let scenario = scene().await;
    let backend = Backend::s3(&scenario).await;
    apply_here_restore_there(backend, scenario).await;
}

#[tokio::test]
async fn s3_of_two_concurrent_applies_from_two_folders_exactly_one_runs() {
    let scenario = scene().await;
    let backend = Backend::s3(&scenario).await;
    exactly_one_of_two_applies_runs(backend, scenario).await;
}

#[tokio::test]
async fn azure_blob_state_outlives_the_folder_it_was_applied_from() {
    let Some(backend) = Backend::blob().await else { return };
    apply_here_restore_there(backend, scene().await).await;
}

#[tokio::test]
async fn azure_blob_of_two_concurrent_applies_from_two_folders_exactly_one_runs() {
    let Some(backend) = Backend::blob().await else { return };
    exactly_one_of_two_applies_runs(backend, scene().await).await;
}

/// An apply killed while it holds the lock leaves it behind; the next apply reports it as stale (its
/// process is gone on this host) with the command that breaks it, which does, and the apply then runs.
async fn a_lock_left_by_a_killed_apply_is_reported_stale_and_broken(backend: Backend, scenario: Scenario) {
    let folder = tempfile::tempdir().unwrap();
    let spec = spec_in(folder.path(), &scenario, &backend);
    // Slow ARM operations keep the first apply inside its steps long enough to be killed there.
    scenario.arm.set_operation_duration(Some(std::time::Duration::from_secs(30)));
    let mut child = common::command(&scenario, &["apply", text(&spec), "--auto-approve"])
        .envs(backend.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while backend.object("lock.json").await.is_none_or(|lock| lock.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "the apply never took the lock");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().await.unwrap();
    scenario.arm.set_operation_duration(None);

    let refused = run(&scenario, &backend, &["apply", text(&spec), "--auto-approve"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("is gone"), "reported as stale: {}", refused.stderr);
    let command = "migprep force-unlock <spec> ";
    let at = refused.stderr.find(command).unwrap_or_else(|| panic!("{}", refused.stderr)) + command.len();
    let id = &refused.stderr[at..at + 32];
    let unlock = run(&scenario, &backend, &["force-unlock", text(&spec), id]).await;
    assert_eq!(unlock.code, 0, "{}", unlock.stderr);
    let apply = run(&scenario, &backend, &["apply", text(&spec), "--auto-approve"]).await;
    assert_eq!(apply.code, 0, "the journal lets it resume:\n{}", apply.stderr);
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");
}

#[tokio::test]
async fn s3_a_lock_left_by_a_killed_apply_is_reported_stale_and_broken() {
    let scenario = scene().await;
    let backend = Backend::s3(&scenario).await;
    a_lock_left_by_a_killed_apply_is_reported_stale_and_broken(backend, scenario).await;
}

#[tokio::test]
async fn azure_blob_a_lock_left_by_a_killed_apply_is_reported_stale_and_broken() {
    let Some(backend) = Backend::blob().await else { return };
    a_lock_left_by_a_killed_apply_is_reported_stale_and_broken(backend, scene().await).await;
}
