//! The migration service's resource under a flexible server, per the official 2025-08-01 definitions:
//! `PUT` (a `Migration`, `location` required, every property checked against its schema; 201 when new),
//! `GET`, the list with `migrationListFilter` (`Active` by default, or `All`), `PATCH`
//! (`MigrationResourceForPatch`: `cancel: "True"` cancels), `DELETE` (cancels an active migration: 200
//! with it, 204 when there is none) and `checkMigrationNameAvailability`. One active migration per server:
//! a second is refused. A `Validate` migration runs the premigration checks for real against the
//! stand-in databases ([`crate::arm::premigration`]) and stays `InProgress` / `ValidationInProgress` for
//! at least the configured duration. Other options are accepted and stay waiting: the fake migrates no
//! data. Where no real example was found for an error, the code follows ARM's naming
//! (`ActiveMigrationExists`, `MigrationNameAlreadyExists`).

use super::json::{empty_response, json_object, json_response, optional_object};
use super::servers::find_server;
use super::{Answer, Refusal, ServerPath};
use crate::arm::Shared;
use crate::arm::model::{Migration, now_rfc3339};
use crate::arm::premigration::{self, Logins};
use axum::body::Bytes;
use hyper::StatusCode;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Instant;

const SOURCE_TYPES: [&str; 24] = [
    "OnPremises",
    "AWS",
    "GCP",
    "AzureVM",
    "PostgreSQLSingleServer",
    "AWS_RDS",
    "AWS_AURORA",
    "AWS_EC2",
    "GCP_CloudSQL",
    "GCP_AlloyDB",
    "GCP_Compute",
    "EDB",
    "EDB_Oracle_Server",
    "EDB_PostgreSQL",
    "PostgreSQLFlexibleServer",
    "PostgreSQLCosmosDB",
    "Huawei_RDS",
    "Huawei_Compute",
    "Heroku_PostgreSQL",
    "Crunchy_PostgreSQL",
    "ApsaraDB_RDS",
    "Digital_Ocean_Droplets",
    "Digital_Ocean_PostgreSQL",
    "Supabase_PostgreSQL",
];
const TRUE_FALSE: [&str; 2] = ["True", "False"];
/// Writable properties of `MigrationProperties`, with their allowed values where they are an enum.
const WRITABLE: [(&str, Option<&[&str]>); 18] = [
    ("migrationInstanceResourceId", None),
    ("migrationMode", Some(&["Offline", "Online"])),
    ("migrationOption", Some(&["Validate", "Migrate", "ValidateAndMigrate"])),
    ("sourceType", Some(&SOURCE_TYPES)),
    ("sslMode", Some(&["Prefer", "Require", "VerifyCA", "VerifyFull"])),
    ("sourceDbServerResourceId", None),
    ("sourceDbServerFullyQualifiedDomainName", None),
    ("targetDbServerFullyQualifiedDomainName", None),
    ("setupLogicalReplicationOnSourceDbIfNeeded", Some(&TRUE_FALSE)),
    ("overwriteDbsInTarget", Some(&TRUE_FALSE)),
    ("migrationWindowStartTimeInUtc", None),
    ("migrationWindowEndTimeInUtc", None),
    ("migrateRoles", Some(&TRUE_FALSE)),
    ("startDataMigration", Some(&TRUE_FALSE)),
    ("triggerCutover", Some(&TRUE_FALSE)),
    ("cancel", Some(&TRUE_FALSE)),
    // Arrays and objects, checked on their own below.
    ("dbsToMigrate", None),
    ("secretParameters", None),
];
const ARRAYS: [&str; 3] = ["dbsToMigrate", "dbsToTriggerCutoverOn", "dbsToCancelMigrationOn"];
const MAX_DATABASES: usize = 50;

pub(crate) fn valid_migration_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn not_found(name: &str) -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, "ResourceNotFound", format!("The migration '{name}' was not found."))
}

/// A JSON object's members.
type Object = Map<String, Value>;

/// The properties of a create request, checked against `MigrationProperties`; returns them without
/// `secretParameters`, and the secrets separately.
fn checked_properties(properties: &Object) -> Result<(Object, Object), Refusal> {
    let mut kept = Map::new();
    let mut secrets = Map::new();
    for (key, value) in properties {
        if ARRAYS.contains(&key.as_str()) {
            let items = value
                .as_array()
                .ok_or_else(|| Refusal::invalid_content(format!("'properties.{key}' must be an array")))?;
            if !items.iter().all(Value::is_string) {
                return Err(Refusal::invalid_content(format!("'properties.{key}' must be an array of strings")));
            }
            if key == "dbsToMigrate" && items.len() > MAX_DATABASES {
                return Err(Refusal::invalid_parameter(
                    "dbsToMigrate",
                    format!(
                        "At most {MAX_DATABASES} databases can be migrated in one migration; {} were given.",
                        items.len()
                    ),
                ));
            }
            kept.insert(key.clone(), value.clone());
            continue;
        }
        if key == "secretParameters" {
            secrets = value
                .as_object()
                .cloned()
                .ok_or_else(|| Refusal::invalid_content("'properties.secretParameters' must be an object"))?;
            continue;
        }
        let Some((_, allowed)) = WRITABLE.iter().find(|(name, _)| name == key) else {
            return Err(Refusal::invalid_content(format!(
                "'properties.{key}' is not a writable property of a migration"
            )));
        };
        let text =
            value.as_str().ok_or_else(|| Refusal::invalid_content(format!("'properties.{key}' must be a string")))?;
        if let Some(allowed) = allowed
            && !allowed.contains(&text)
        {
            return Err(Refusal::invalid_parameter(key, format!("'{text}' is not one of {}.", allowed.join(", "))));
        }
        kept.insert(key.clone(), value.clone());
    }
    let credentials = secrets.get("adminCredentials").and_then(Value::as_object);
    let password = |name: &str| credentials.and_then(|c| c.get(name)).and_then(Value::as_str).is_some();
    if !password("sourceServerPassword") || !password("targetServerPassword") {
        return Err(Refusal::invalid_content(
            "'properties.secretParameters.adminCredentials' with 'sourceServerPassword' and 'targetServerPassword' is required",
        ));
    }
    for name in ["sourceServerUsername", "targetServerUsername"] {
        if secrets.get(name).is_some_and(|v| !v.is_string()) {
            return Err(Refusal::invalid_content(format!("'properties.secretParameters.{name}' must be a string")));
        }
    }
    Ok((kept, secrets))
}

/// `host:port@user` (or an ARM id for Azure sources).
fn source_address(id: &str) -> Option<(String, u16, String)> {
    let (address, user) = id.rsplit_once('@')?;
    let (host, port) = address.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?, user.to_string()))
}

pub(super) fn create_migration(shared: &Arc<Shared>, at: ServerPath, name: &str, body: &Bytes) -> Answer {
    if !valid_migration_name(name) {
        return Err(Refusal::invalid_parameter("migrationName", format!("'{name}' must match ^[a-z][a-z0-9]*$.")));
    }
    let request = json_object(body)?;
    let location = match request.get("location") {
        Some(Value::String(location)) if !location.is_empty() => location.clone(),
        _ => return Err(Refusal::invalid_content("the required property 'location' is missing")),
    };
    let properties = optional_object(&request, "properties")?
        .ok_or_else(|| Refusal::invalid_content("the required property 'properties' is missing"))?;
    let (properties, secrets) = checked_properties(properties)?;
    let option = properties.get("migrationOption").and_then(Value::as_str).unwrap_or("ValidateAndMigrate").to_string();
    let source_type = properties.get("sourceType").and_then(Value::as_str).unwrap_or("PostgreSQLSingleServer");
    let source_id = properties.get("sourceDbServerResourceId").and_then(Value::as_str).unwrap_or_default();
    let source = if source_type == "PostgreSQLSingleServer" {
        None
    } else {
        Some(source_address(source_id).ok_or_else(|| {
            Refusal::invalid_parameter(
                "sourceDbServerResourceId",
                format!("'{source_id}' must be ipaddress:port@username or hostname:port@username for source type {source_type}."),
            )
        })?)
    };

    let mut state = shared.state();
    let server = find_server(&state, at)?;
    let (server_key, server_id) = (at.key(), server.id());
    if !server.location.eq_ignore_ascii_case(&location.replace(' ', "")) {
        return Err(Refusal::invalid_parameter(
            "location",
            format!("The migration's location '{location}' must be the target server's, '{}'.", server.location),
        ));
    }
    let allowlisted = server.setting("azure.extensions").map(|s| s.value.clone()).unwrap_or_default();
    let preloaded = server.setting("shared_preload_libraries").map(|s| s.running.clone()).unwrap_or_default();
    let target_user =
        secrets.get("targetServerUsername").and_then(Value::as_str).unwrap_or(&server.administrator_login).to_string();
    if state.migrations.contains_key(&(server_key.clone(), name.to_string())) {
        return Err(Refusal::bad_request(
            "MigrationNameAlreadyExists",
            format!("A migration named '{name}' already exists on the server '{}'.", at.server),
        ));
    }
    let minimum = state.validation_duration;
    if let Some(active) = state.migrations.values_mut().filter(|m| m.server == server_key).find_map(|m| {
        m.settle(minimum);
        m.is_active().then(|| m.name.clone())
    }) {
        return Err(Refusal::bad_request(
            "ActiveMigrationExists",
            format!(
                "The migration '{active}' is active on the target server '{}'. Only one migration can be active on a target server at a time; wait for it to end or cancel it.",
                at.server
            ),
        ));
    }
    let validate_only = option == "Validate";
    let target = state.database_addresses.get(&server_key).cloned();
    let migration = Migration {
        server: server_key.clone(),
        server_id,
        name: name.to_string(),
        migration_id: uuid::Uuid::new_v4().to_string(),
        location,
        properties,
        created_at: now_rfc3339(),
        started: Instant::now(),
        state: if validate_only { "InProgress" } else { "WaitingForUserAction" }.into(),
        sub_state: if validate_only { "ValidationInProgress" } else { "PerformingPreRequisiteSteps" }.into(),
        error: None,
        verdict: None,
    };
    let body = migration.render();
    state.migrations.insert((server_key.clone(), name.to_string()), migration);
    drop(state);

    if validate_only {
        let credentials = &secrets["adminCredentials"];
        let (source_host, source_port, id_user) = source.unwrap_or_default();
        let source_user =
            secrets.get("sourceServerUsername").and_then(Value::as_str).map(str::to_string).unwrap_or(id_user);
        let logins = Logins {
            source_host,
            source_port,
            source_user,
            source_password: credentials["sourceServerPassword"].as_str().unwrap_or_default().to_string(),
            target,
            target_user,
            target_password: credentials["targetServerPassword"].as_str().unwrap_or_default().to_string(),
            ca_pem: shared.ca_pem.clone(),
        };
        let databases: Vec<String> = body["properties"]["dbsToMigrate"]
            .as_array()
            .map(|dbs| dbs.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let split = |list: &str| list.split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect();
        let (allowlisted, preloaded): (Vec<String>, Vec<String>) = (split(&allowlisted), split(&preloaded));
        let shared = shared.clone();
        let key = (server_key, name.to_string());
        tokio::spawn(async move {
            let started = now_rfc3339();
            let facts = premigration::gather(&logins, allowlisted, preloaded).await;
            let judgement = premigration::judge(
                &databases,
                (&logins.source_user, &logins.target_user),
                &facts,
                &started,
                &now_rfc3339(),
            );
            if let Some(migration) = shared.state().migrations.get_mut(&key)
                && migration.state == "InProgress"
            {
                migration.verdict = Some((judgement.failed, judgement.details));
            }
        });
    }
    Ok(json_response(StatusCode::CREATED, &body))
}

pub(super) fn get_migration(shared: &Shared, at: ServerPath, name: &str) -> Answer {
    let mut state = shared.state();
    find_server(&state, at)?;
    let minimum = state.validation_duration;
    let migration = state.migrations.get_mut(&(at.key(), name.to_string())).ok_or_else(|| not_found(name))?;
    migration.settle(minimum);
    Ok(json_response(StatusCode::OK, &migration.render()))
}

pub(super) fn list_migrations(shared: &Shared, at: ServerPath, filter: Option<&str>) -> Answer {
    let active_only = match filter {
        None => true,
        Some(f) if f.eq_ignore_ascii_case("Active") => true,
        Some(f) if f.eq_ignore_ascii_case("All") => false,
        Some(other) => {
            return Err(Refusal::invalid_parameter(
                "migrationListFilter",
                format!("'{other}' is neither Active nor All."),
            ));
        }
    };
    let mut state = shared.state();
    find_server(&state, at)?;
    let minimum = state.validation_duration;
    let key = at.key();
    let value: Vec<Value> = state
        .migrations
        .values_mut()
        .filter(|m| m.server == key)
        .filter_map(|m| {
            m.settle(minimum);
            (!active_only || m.is_active()).then(|| m.render())
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "value": value })))
}

fn cancel(migration: &mut Migration) {
    if migration.is_active() {
        migration.state = "Canceled".into();
        migration.sub_state = "Completed".into();
        migration.verdict = None;
        migration.properties.insert("cancel".into(), json!("True"));
    }
}

pub(super) fn update_migration(shared: &Shared, at: ServerPath, name: &str, body: &Bytes) -> Answer {
    let request = json_object(body)?;
    // `MigrationPropertiesForPatch`: `migrationOption`, `sourceType` and `sslMode` cannot change.
    const PATCHABLE: [&str; 15] = [
        "sourceDbServerResourceId",
        "sourceDbServerFullyQualifiedDomainName",
        "targetDbServerFullyQualifiedDomainName",
        "secretParameters",
        "dbsToMigrate",
        "setupLogicalReplicationOnSourceDbIfNeeded",
        "overwriteDbsInTarget",
        "migrationWindowStartTimeInUtc",
        "migrateRoles",
        "startDataMigration",
        "triggerCutover",
        "dbsToTriggerCutoverOn",
        "cancel",
        "dbsToCancelMigrationOn",
        "migrationMode",
    ];
    let properties = optional_object(&request, "properties")?.cloned().unwrap_or_default();
    if let Some(key) = properties.keys().find(|key| !PATCHABLE.contains(&key.as_str())) {
        return Err(Refusal::invalid_content(format!("'properties.{key}' cannot be changed on an existing migration")));
    }
    let mut state = shared.state();
    find_server(&state, at)?;
    let minimum = state.validation_duration;
    let migration = state.migrations.get_mut(&(at.key(), name.to_string())).ok_or_else(|| not_found(name))?;
    migration.settle(minimum);
    for (key, value) in &properties {
        if key == "cancel" {
            match value.as_str() {
                Some("True") => cancel(migration),
                Some("False") => {}
                _ => return Err(Refusal::invalid_parameter("cancel", "It must be 'True' or 'False'.")),
            }
        } else if key != "secretParameters" {
            migration.properties.insert(key.clone(), value.clone());
        }
    }
    Ok(json_response(StatusCode::OK, &migration.render()))
}

pub(super) fn delete_migration(shared: &Shared, at: ServerPath, name: &str) -> Answer {
    let mut state = shared.state();
    find_server(&state, at)?;
    let minimum = state.validation_duration;
    let Some(migration) = state.migrations.get_mut(&(at.key(), name.to_string())) else {
        return Ok(empty_response(StatusCode::NO_CONTENT));
    };
    migration.settle(minimum);
    cancel(migration);
    Ok(json_response(StatusCode::OK, &migration.render()))
}

pub(super) fn check_name(shared: &Shared, at: ServerPath, body: &Bytes) -> Answer {
    let request = json_object(body)?;
    let (Some(Value::String(name)), Some(Value::String(kind))) = (request.get("name"), request.get("type")) else {
        return Err(Refusal::invalid_content("the required properties 'name' and 'type' are missing"));
    };
    let state = shared.state();
    find_server(&state, at)?;
    let mut answer = json!({ "name": name, "type": kind });
    if !valid_migration_name(name) {
        answer["nameAvailable"] = json!(false);
        answer["reason"] = json!("Invalid");
        answer["message"] = json!(format!("The migration name '{name}' must match ^[a-z][a-z0-9]*$."));
    } else if state.migrations.contains_key(&(at.key(), name.clone())) {
        answer["nameAvailable"] = json!(false);
        answer["reason"] = json!("AlreadyExists");
        answer["message"] = json!(format!("A migration named '{name}' already exists on this server."));
    } else {
        answer["nameAvailable"] = json!(true);
    }
    Ok(json_response(StatusCode::OK, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_source_addresses_are_read_as_the_service_reads_them() {
        assert!(valid_migration_name("migprepvalidate0a1b"));
        assert!(!valid_migration_name("has-hyphen") && !valid_migration_name("1abc") && !valid_migration_name("Upper"));
        assert_eq!(source_address("127.0.0.1:5432@migrator"), Some(("127.0.0.1".into(), 5432, "migrator".into())));
        assert_eq!(source_address("[::1]:6000@migrator"), Some(("::1".into(), 6000, "migrator".into())));
        assert_eq!(source_address("no-port@user"), None);
    }

    #[test]
    fn properties_are_checked_against_the_schema_and_secrets_kept_apart() {
        let good = json!({
            "migrationMode": "Online", "migrationOption": "Validate", "sourceType": "AWS_AURORA",
            "sourceDbServerResourceId": "h:5432@u", "sslMode": "VerifyFull", "dbsToMigrate": ["a"],
            "secretParameters": { "adminCredentials": { "sourceServerPassword": "p1", "targetServerPassword": "p2" } }
        });
        let (kept, secrets) = checked_properties(good.as_object().unwrap()).unwrap();
        assert!(!kept.contains_key("secretParameters") && secrets.contains_key("adminCredentials"));
        for (key, bad) in [
            ("sslMode", json!("verify-full")),
            ("migrationOption", json!("Check")),
            ("dbsToMigrate", json!((0..51).map(|i| format!("db{i}")).collect::<Vec<_>>())),
            ("nonsense", json!("x")),
            ("setupLogicalReplicationOnSourceDbIfNeeded", json!(true)),
        ] {
            let mut properties = good.as_object().unwrap().clone();
            properties.insert(key.into(), bad);
            assert!(checked_properties(&properties).is_err(), "{key}");
        }
        let mut no_secret = good.as_object().unwrap().clone();
        no_secret.insert("secretParameters".into(), json!({ "adminCredentials": { "sourceServerPassword": "p" } }));
        assert!(checked_properties(&no_secret).is_err());
    }
}
