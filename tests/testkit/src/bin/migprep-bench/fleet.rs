//! The fleet measurement: one `plan` over 20 specs (20 clusters and 20 servers on the same stand-ins,
//! each cluster's writer endpoint leading to the source's delay proxy) against one spec, both at the
//! same latency. Specs are observed concurrently, so 20 should cost little more than one; the ratio is
//! reported, never asserted.

use crate::RUNS;
use crate::bench::Bench;
use crate::measure::{Run, median};
use anyhow::{Context, Result};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::rds::ClusterSeed;
use migprep_testkit::scenario::{RESOURCE_GROUP, SUBSCRIPTION};
use std::path::PathBuf;

/// How many specs the fleet run plans.
pub(crate) const SPECS: usize = 20;

/// Seeds the fleet's other 19 pairs and writes the 20 specs into a folder of their own; returns it.
pub(crate) async fn seed_fleet(bench: &Bench) -> Result<PathBuf> {
    let folder = bench.scenario.dir().join("fleet");
    std::fs::create_dir_all(&folder)?;
    for index in 0..SPECS {
        let (name, cluster, server) = if index == 0 {
            (
                "orders".to_string(),
                migprep_testkit::scenario::CLUSTER.to_string(),
                migprep_testkit::scenario::SERVER.to_string(),
            )
        } else {
            (format!("fleet-{index:02}"), format!("fleet-{index:02}-prod"), format!("pg-fleet-{index:02}"))
        };
        if index > 0 {
            let seed = ClusterSeed {
                endpoint_port: Some(bench.source_proxy.port()),
                master_username: bench.scenario.source.admin().user.clone(),
                ..ClusterSeed::new(&cluster, &bench.scenario.engine_version)
            };
            bench.scenario.rds.seed_cluster(seed).await.with_context(|| format!("seeding {cluster}"))?;
            bench.scenario.arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, ServerSeed::new(&server))?;
        }
        let mut spec = bench.spec.clone();
        spec.insert("name".into(), name.clone().into());
        let ca = bench.scenario.dir().join("ca.pem");
        spec.insert("ca_file".into(), ca.to_string_lossy().into_owned().into());
        let source = spec.get_mut("source").and_then(toml::Value::as_table_mut).context("[source]")?;
        source.insert("cluster".into(), cluster.into());
        let target = spec.get_mut("target").and_then(toml::Value::as_table_mut).context("[target]")?;
        target.insert("server".into(), server.into());
        // Password files are named relative to the scenario's folder: make them absolute.
        for side in ["source", "target"] {
            let connection = spec
                .get_mut(side)
                .and_then(|t| t.get_mut("connection"))
                .and_then(toml::Value::as_table_mut)
                .context("connection")?;
            if let Some(file) = connection.get("password").and_then(|p| p.get("file")).and_then(toml::Value::as_str) {
                let absolute = bench.scenario.dir().join(file).to_string_lossy().into_owned();
                let mut password = toml::Table::new();
                password.insert("file".into(), absolute.into());
                connection.insert("password".into(), password.into());
            }
        }
        if let Some(source) = spec.get_mut("source").and_then(toml::Value::as_table_mut)
            && let Some(file) =
                source.get("migration_password").and_then(|p| p.get("file")).and_then(toml::Value::as_str)
        {
            let absolute = bench.scenario.dir().join(file).to_string_lossy().into_owned();
            let mut password = toml::Table::new();
            password.insert("file".into(), absolute.into());
            source.insert("migration_password".into(), password.into());
        }
        std::fs::write(folder.join(format!("{name}.toml")), toml::to_string(&spec)?)?;
    }
    Ok(folder)
}

/// The median of `RUNS` plans of the whole folder, every spec at once.
pub(crate) async fn plan_fleet(bench: &Bench, folder: &std::path::Path) -> Result<Run> {
    let folder = folder.to_string_lossy().into_owned();
    let parallel = SPECS.to_string();
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(bench.migprep(&["plan", &folder, "--parallel", &parallel], &[0, 1, 2, 3]).await?);
    }
    Ok(median(runs))
}

/// The markdown section: one spec against the fleet, and the ratio.
pub(crate) fn section(latency_ms: u64, one: &Run, fleet: &Run) -> String {
    let ratio = fleet.cost.wall.as_secs_f64() / one.cost.wall.as_secs_f64().max(f64::EPSILON);
    format!(
        "\n## Fleet\n\n`plan` over {SPECS} specs (20 clusters, 20 servers, `--parallel {SPECS}`) against one spec, \
         both at {latency_ms} ms per request, median of {RUNS}:\n\n| specs | wall | CPU | RDS requests | ARM requests \
         | ratio to one spec |\n|---|---|---|---|---|---|\n| 1 | {:.2} s | {:.2} s | {} | {} | 1.00 |\n| {SPECS} | {:.2} s | \
         {:.2} s | {} | {} | {ratio:.2} |\n",
        one.cost.wall.as_secs_f64(),
        one.cost.cpu.as_secs_f64(),
        one.rds,
        one.arm,
        fleet.cost.wall.as_secs_f64(),
        fleet.cost.cpu.as_secs_f64(),
        fleet.rds,
        fleet.arm,
    )
}
