//! `migprep validate` end to end: the real binary asks the fake ARM's migration service for a
//! validate-only migration, whose checks run for real against the PostgreSQL stand-ins with the passwords
//! the request carried.
//!
//! The scene is the default one: Aurora on its default parameter group (`wal_level` replica, fewer WAL
//! senders than slots, the migration user outside `rds_replication`) with two databases using hstore,
//! pgcrypto and pg_stat_statements, and a fresh flexible server that allowlists no extension. Before apply
//! the service fails the pair with 603107, 603106, 603104 and 603108, each of which the plan
//! predicted; after apply, with the writer reboot and the server restart allowed, it validates. A wrong
//! migration password is 603100 (N1), another active migration on the server is refused before anything
//! is created, and a validation that never ends is cancelled at the deadline. No password reaches any
//! output or file.

mod common;

use common::{migprep, set, text, with_allow};
use migprep_testkit::scenario::{RESOURCE_GROUP, SERVER, SUBSCRIPTION, Scenario};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn items_with_code(verdict: &Value, code: u32) -> Vec<Value> {
    verdict["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["messages"].as_array().unwrap().iter().any(|m| m["code"] == code))
        .cloned()
        .collect()
}

fn rules(item: &Value) -> Vec<String> {
    item["rules"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

/// Every file under `dir` but the password files the scenario wrote on purpose.
fn written_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "secrets") {
                    folders.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// No password of the scene in the outputs, the files beside the spec, or the fake's request log.
fn assert_no_secret(scenario: &Scenario, outputs: &[&str], extra: &[&str]) {
    let mut secrets = vec![
        scenario.source.migration_user().password.clone(),
        scenario.source.admin().password.clone(),
        scenario.target.admin().password.clone(),
    ];
    secrets.extend(extra.iter().map(|s| s.to_string()));
    let mut places: Vec<(String, String)> =
        outputs.iter().enumerate().map(|(i, o)| (format!("output {i}"), o.to_string())).collect();
    for file in written_files(scenario.dir()) {
        places.push((file.display().to_string(), String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned()));
    }
    let log =
        scenario.arm.requests().iter().map(|r| format!("{} {} {:?}", r.method, r.path, r.body)).collect::<Vec<_>>();
    places.push(("the fake ARM's request log".into(), log.join("\n")));
    for secret in &secrets {
        for (place, content) in &places {
            assert!(!content.contains(secret.as_str()), "a password is in {place}");
        }
    }
}

/// The official definitions, for checking the properties file.
fn official_definitions() -> Option<Value> {
    let shared = std::env::var_os("MIGPREP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let file = shared.join("specs/azure-postgresql-flexible/2025-08-01/openapi.json");
    let text = std::fs::read(&file).ok()?;
    let spec: Value = serde_json::from_slice(&text).unwrap();
    Some(spec["definitions"].clone())
}

/// Checks `value` against a definition of the official spec (Swagger 2.0 schema subset the migration
/// definitions use: `$ref`, objects with `properties` and `required`, strings with `enum`, arrays with
/// `items` and `maxItems`), refusing keys the schema does not define and read-only ones. Returns the
/// problems, each with its JSON path.
fn schema_problems(definitions: &Value, schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.strip_prefix("#/definitions/").expect("a local reference");
        return schema_problems(definitions, &definitions[name], value, path, problems);
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            problems.push(format!("{path}: {value} is not one of {allowed:?}"));
        }
        return;
    }
    match schema["type"].as_str() {
        Some("object") | None if schema.get("properties").is_some() => {
            let Some(object) = value.as_object() else {
                return problems.push(format!("{path}: not an object"));
            };
            for required in schema["required"].as_array().into_iter().flatten() {
                if !object.contains_key(required.as_str().unwrap()) {
                    problems.push(format!("{path}: {required} is required"));
                }
            }
            for (key, inner) in object {
                let property = &schema["properties"][key];
                if property.is_null() {
                    problems.push(format!("{path}.{key}: not in the schema"));
                } else if property["readOnly"] == true {
                    problems.push(format!("{path}.{key}: read-only"));
                } else {
                    schema_problems(definitions, property, inner, &format!("{path}.{key}"), problems);
                }
            }
        }
        Some("string") if !value.is_string() => problems.push(format!("{path}: not a string")),
        Some("array") => {
            let Some(items) = value.as_array() else {
                return problems.push(format!("{path}: not an array"));
            };
            if let Some(max) = schema["maxItems"].as_u64()
                && items.len() as u64 > max
            {
                problems.push(format!("{path}: more than {max} items"));
            }
            for (index, item) in items.iter().enumerate() {
                schema_problems(definitions, &schema["items"], item, &format!("{path}[{index}]"), problems);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn before_apply_azure_fails_with_what_the_plan_predicted_and_after_apply_it_validates() {
    let scenario = Scenario::start().await.unwrap();
    let spec = with_allow(&scenario, &[("restart_target", true.into()), ("reboot_source_writer", true.into())]);
    let properties = scenario.dir().join("migration.json");

    let before = migprep(
        &scenario,
        &["validate", "--format", "json", "--migration-properties", text(&properties), text(&spec)],
        &[],
    )
    .await;
    assert_eq!(before.code, 3, "stdout:\n{}\nstderr:\n{}", before.stdout, before.stderr);
    let verdict: Value = serde_json::from_str(&before.stdout).unwrap();
    assert_eq!((verdict["format_version"].as_u64(), verdict["outcome"].as_str()), (Some(1), Some("validation_failed")));
    for (code, rule) in [(603107, "S3"), (603106, "S5"), (603104, "S8"), (603108, "T4")] {
        let items = items_with_code(&verdict, code);
        assert!(!items.is_empty(), "no item names {code}: {verdict:#}");
        for item in items {
            assert_eq!(item["state"], "Failed", "{item:#}");
            assert!(rules(&item).contains(&rule.to_string()), "{code} maps to {rule}: {item:#}");
            assert_eq!(item["prediction"], "agrees", "the plan predicted {code}: {item:#}");
        }
    }
    assert_eq!(verdict["summary"]["disagreements"], 0, "{verdict:#}");
    assert!(before.stderr.contains("ValidationInProgress"), "progress names the sub-state:\n{}", before.stderr);

    // Judged by the fake's own record: one validate-only migration, created as the issue describes.
    let migrations = scenario.arm.migrations_json(SUBSCRIPTION, RESOURCE_GROUP, SERVER);
    assert_eq!(migrations.len(), 1, "{migrations:#?}");
    let created = &migrations[0]["properties"];
    assert_eq!(created["migrationOption"], "Validate");
    assert_eq!(created["migrationMode"], "Online");
    assert_eq!(created["sourceType"], "AWS_AURORA");
    assert_eq!(created["sslMode"], "VerifyFull");
    assert_eq!(created["dbsToMigrate"], serde_json::json!(["billing", "orders"]));
    let source = created["sourceDbServerResourceId"].as_str().unwrap();
    let migrator = &scenario.source.migration_user().user;
    assert!(source.ends_with(&format!(":{}@{migrator}", scenario.source.port())), "{source}");
    assert_eq!(migrations[0]["name"], verdict["migration"]);

    // The properties file for the az CLI: the official schema, placeholders instead of passwords.
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&properties).unwrap()).unwrap();
    assert_eq!(file["properties"]["migrationOption"], "ValidateAndMigrate");
    assert!(
        file["properties"]["secretParameters"]["adminCredentials"]["sourceServerPassword"]
            .as_str()
            .unwrap()
            .starts_with('<')
    );
    match official_definitions() {
        Some(definitions) => {
            let mut problems = Vec::new();
            let schema = serde_json::json!({ "$ref": "#/definitions/MigrationProperties" });
            schema_problems(&definitions, &schema, &file["properties"], "properties", &mut problems);
            assert!(problems.is_empty(), "{problems:#?}");
        }
        None => eprintln!("!!!!! the official spec is not there: the properties file was not checked against it"),
    }

    let apply = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);
    let after = migprep(&scenario, &["validate", text(&spec)], &[]).await;
    assert_eq!(after.code, 0, "stdout:\n{}\nstderr:\n{}", after.stdout, after.stderr);
    assert!(
        after.stdout.contains("Azure validated the migration; the plan predicted every covered item."),
        "{}",
        after.stdout
    );
    assert!(after.stdout.contains("ServerParametersValidation: Succeeded"), "{}", after.stdout);

    assert_no_secret(
        &scenario,
        &[&before.stdout, &before.stderr, &apply.stdout, &apply.stderr, &after.stdout, &after.stderr],
        &[],
    );
}

#[tokio::test]
async fn a_wrong_migration_password_is_603100_and_covered_by_n1() {
    let scenario = Scenario::start().await.unwrap();
    let wrong = "not-the-migrators-password-7f3a";
    std::fs::write(scenario.dir().join("secrets/wrong-password"), format!("{wrong}\n")).unwrap();
    let mut spec = scenario.spec();
    let mut password = toml::Table::new();
    password.insert("file".into(), "secrets/wrong-password".into());
    set(&mut spec, "source.migration_password", password);
    let spec = scenario.write_spec(&spec).unwrap();

    let run = migprep(&scenario, &["validate", "--format", "markdown", text(&spec)], &[]).await;
    assert_eq!(run.code, 3, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let json = migprep(&scenario, &["validate", "--format", "json", text(&spec)], &[]).await;
    let verdict: Value = serde_json::from_str(&json.stdout).unwrap();
    let items = items_with_code(&verdict, 603100);
    assert_eq!(items.len(), 1, "{verdict:#}");
    assert_eq!(rules(&items[0]), ["N1"]);
    assert_eq!(items[0]["type"], "AuthenticationAndConnectivityValidation");
    // migprep itself logs in as the source's admin, not as the migration user: its plan could not see it.
    assert_eq!(items[0]["prediction"], "disagrees", "{:#}", items[0]);
    assert!(run.stdout.contains("`603100`") && run.stdout.contains("**NOT PREDICTED**"), "{}", run.stdout);
    assert_no_secret(&scenario, &[&run.stdout, &run.stderr, &json.stdout, &json.stderr], &[wrong]);
}

#[tokio::test]
async fn another_active_migration_is_refused_and_a_validation_that_never_ends_stops_at_the_deadline() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();

    scenario.arm.set_validation_duration(Duration::from_secs(600));
    let stuck = migprep(&scenario, &["validate", "--deadline", "3s", text(&spec)], &[]).await;
    assert_eq!(stuck.code, 1, "stdout:\n{}\nstderr:\n{}", stuck.stdout, stuck.stderr);
    let migrations = scenario.arm.migrations_json(SUBSCRIPTION, RESOURCE_GROUP, SERVER);
    let name = migrations[0]["name"].as_str().unwrap();
    assert!(
        stuck.stderr.contains("--deadline") && stuck.stderr.contains(&format!("migration {name} on")),
        "{}",
        stuck.stderr
    );
    assert_eq!(migrations[0]["properties"]["currentStatus"]["state"], "Canceled", "cancelled at the deadline");

    scenario.arm.seed_active_migration(SUBSCRIPTION, RESOURCE_GROUP, SERVER, "cutoverpending").unwrap();
    let refused = migprep(&scenario, &["validate", text(&spec)], &[]).await;
    assert_eq!(refused.code, 1, "stdout:\n{}\nstderr:\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("another migration is active") && refused.stderr.contains("cutoverpending"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("hint:"), "{}", refused.stderr);
    assert_eq!(scenario.arm.migrations_json(SUBSCRIPTION, RESOURCE_GROUP, SERVER).len(), 2, "nothing was created");
    assert_no_secret(&scenario, &[&stuck.stdout, &stuck.stderr, &refused.stdout, &refused.stderr], &[]);
}

/// Refusals that need no cloud: checked before anything is observed, one error line and a hint each.
#[test]
fn too_many_databases_and_a_missing_migration_password_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let databases: Vec<String> = (0..51).map(|i| format!("\"db{i}\"")).collect();
    let spec = |databases: &str, password: &str| {
        format!(
            r#"name = "orders"
[source]
cluster = "orders-prod"
region = "us-east-1"
databases = [{databases}]
migration_user = "migrator"
{password}
[source.connection]
user = "postgres"
password = {{ env = "SOURCE_PGPASSWORD" }}
[target]
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-orders"
server = "pg-orders"
[target.connection]
user = "azureadmin"
password = {{ env = "TARGET_PGPASSWORD" }}
"#
        )
    };
    let run = |text: String| {
        let path = dir.path().join("migprep.toml");
        std::fs::write(&path, text).unwrap();
        std::process::Command::new(common::BINARY).args(["validate", path.to_str().unwrap()]).output().unwrap()
    };
    let many = run(spec(&databases.join(", "), "migration_password = { env = \"MIGRATOR_PGPASSWORD\" }"));
    let stderr = String::from_utf8_lossy(&many.stderr);
    assert_eq!(many.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("51 databases") && stderr.contains("at most 50") && stderr.contains("hint:"), "{stderr}");
    let unset = run(spec("\"orders\"", ""));
    let stderr = String::from_utf8_lossy(&unset.stderr);
    assert_eq!(unset.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("source.migration_password is not set") && stderr.contains("hint:"), "{stderr}");
}
