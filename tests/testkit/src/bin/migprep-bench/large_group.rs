//! The "large group" run's parameter group: a value for every modifiable parameter the stand-in's
//! catalog has, seeded 20 at a time as RDS allows.

use crate::{FAMILY, LARGE_GROUP};
use anyhow::{Result, bail};
use migprep_testkit::rds::GroupSeed;
use migprep_testkit::scenario::{REGION, Scenario};
use std::process::Command;

/// A value for each modifiable parameter of the family the catalog has, so the group is as large as
/// the stand-in allows. Parameters that the migration rules manage are left alone (the plan stays
/// the same shape); the seed refuses any value it finds wrong, which is then dropped.
fn large_group_values() -> Result<Vec<(String, String, bool)>> {
    #[derive(serde::Deserialize)]
    struct Catalog {
        parameters: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        modifiable: bool,
        allowed_values: Option<String>,
        value: Option<String>,
        apply_type: String,
        since: Option<u32>,
        until: Option<u32>,
    }
    const MANAGED: [&str; 8] = [
        "rds.logical_replication",
        "max_replication_slots",
        "max_wal_senders",
        "wal_sender_timeout",
        "max_worker_processes",
        "shared_preload_libraries",
        "max_logical_replication_workers",
        "max_connections",
    ];
    let catalog: Catalog = serde_json::from_str(include_str!("../../rds/catalog.json"))?;
    let mut values = Vec::new();
    for entry in catalog.parameters {
        let in_15 = entry.since.is_none_or(|s| s <= 15) && entry.until.is_none_or(|u| u >= 15);
        if !entry.modifiable || !in_15 || MANAGED.contains(&entry.name.as_str()) {
            continue;
        }
        let from_allowed = entry.allowed_values.as_deref().and_then(|allowed| {
            let first = allowed.split(',').next()?.trim();
            // "lo-hi" ranges: the lower bound (a leading minus belongs to the number).
            match first.get(1..).and_then(|rest| rest.find('-')) {
                Some(dash) => Some(first[..=dash].to_string()),
                None => Some(first.to_string()),
            }
        });
        let value = entry.value.filter(|v| !v.contains('{') && !v.is_empty()).or(from_allowed);
        if let Some(value) = value {
            values.push((entry.name, value, entry.apply_type == "static"));
        }
    }
    Ok(values)
}

/// Seeds the large group: the first 20 values at creation (RDS takes at most 20 per request), the
/// rest with `aws rds modify-db-cluster-parameter-group` 20 at a time, dropping any value the stand-in
/// refuses. Returns how many user-set values the group has.
pub(crate) fn seed_large_group(scenario: &Scenario) -> Result<u32> {
    let values = large_group_values()?;
    let refused = |message: &str, batch: &mut Vec<(String, String, bool)>| {
        let before = batch.len();
        batch.retain(|(name, _, _)| !message.contains(name.as_str()));
        batch.len() < before
    };
    let mut batches: Vec<Vec<(String, String, bool)>> = values.chunks(20).map(<[_]>::to_vec).collect();
    let mut count = 0;
    for (i, batch) in batches.iter_mut().enumerate() {
        loop {
            let result = if i == 0 {
                let mut seed = GroupSeed::new(LARGE_GROUP, FAMILY);
                for (name, value, _) in batch.iter() {
                    seed = seed.value(name, value);
                }
                scenario.rds.seed_parameter_group(seed).map_err(|e| e.to_string())
            } else {
                let parameters: Vec<serde_json::Value> = batch
                    .iter()
                    .map(|(name, value, is_static)| {
                        let method = if *is_static { "pending-reboot" } else { "immediate" };
                        serde_json::json!({"ParameterName": name, "ParameterValue": value, "ApplyMethod": method})
                    })
                    .collect();
                let output = Command::new("aws")
                    .args(["rds", "--endpoint-url", &scenario.rds.endpoint(), "--region", REGION])
                    .args(["modify-db-cluster-parameter-group", "--db-cluster-parameter-group-name", LARGE_GROUP])
                    .arg("--parameters")
                    .arg(serde_json::Value::Array(parameters).to_string())
                    .envs(scenario.env())
                    .output()?;
                if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).into_owned()) }
            };
            match result {
                Ok(()) => break,
                Err(message) if refused(&message, batch) => {}
                Err(message) => bail!("seeding {LARGE_GROUP}: {message}"),
            }
            if batch.is_empty() {
                break;
            }
        }
        count += batch.len() as u32;
    }
    Ok(count)
}
