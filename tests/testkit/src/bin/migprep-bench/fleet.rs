//! The fleet measurement: one `plan` over 20 specs (20 clusters and 20 servers on the same stand-ins,
//! each cluster's writer endpoint leading to the source's delay proxy) against one spec, both at the
//! same latency. Specs are observed concurrently, so 20 should cost little more than one; the ratio is
//! reported, never asserted.

use crate::bench::Bench;
use crate::measure::{Run, median};
use crate::standins::StandInCpu;
use crate::{RUNS, progress};
use anyhow::{Context, Result};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::rds::ClusterSeed;
use migprep_testkit::scenario::{RESOURCE_GROUP, SUBSCRIPTION};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How many specs the fleet run plans.
pub(crate) const SPECS: usize = 20;

/// The latency the fleet is measured at.
const LATENCY: Duration = Duration::from_millis(100);

/// Raises the source's `max_connections` from the stand-in's 50 to 400 (as the "growth" runs do), for
/// 20 specs at once each open their connections to the same source.
pub(crate) async fn allow_connections(bench: &Bench) -> Result<()> {
    let settings = BTreeMap::from([("max_connections".to_string(), "400".to_string())]);
    bench.scenario.source.restart_with(&settings).await
}

/// Seeds the fleet, plans one spec and then all of them at 100 ms, and returns the markdown section.
pub(crate) async fn measure(bench: &Bench) -> Result<String> {
    progress(&format!("seeding a fleet of {SPECS} specs"));
    let folder = seed_fleet(bench).await?;
    bench.set_latency(LATENCY);
    let ms = LATENCY.as_millis();
    let counters = || {
        let dirs = [bench.scenario.source.data_dir(), bench.scenario.target.data_dir()];
        StandInCpu::now(bench.scenario.rds.moto_pid(), &[dirs[0].as_path(), dirs[1].as_path()])
    };
    progress(&format!("plan of one spec at {ms} ms"));
    let before = counters();
    let one = bench.plan_median().await?;
    let one_standins = counters().since(before).per_run(RUNS);
    progress(&format!("plan of {SPECS} specs at {ms} ms"));
    let before = counters();
    let many = plan_fleet(bench, &folder).await?;
    let many_standins = counters().since(before).per_run(RUNS);
    Ok(section(ms, (&one, one_standins), (&many, many_standins), &bench.binary))
}

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

/// The markdown section: one spec against the fleet, the ratio, whether it meets the goal (≤ 1.5×), and
/// where the CPU went in each.
fn section(latency_ms: u128, one: (&Run, StandInCpu), fleet: (&Run, StandInCpu), binary: &std::path::Path) -> String {
    let ((one, one_cpu), (fleet, fleet_cpu)) = (one, fleet);
    let ratio = fleet.cost.wall.as_secs_f64() / one.cost.wall.as_secs_f64().max(f64::EPSILON);
    // target/release/migprep or target/debug/migprep: the profile is the folder's name.
    let build = binary.parent().and_then(|dir| dir.file_name()).map_or("?".into(), |name| name.to_string_lossy());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let row = |specs: usize, run: &Run, cpu: StandInCpu, ratio: f64| {
        let total = run.cost.cpu + cpu.harness + cpu.moto + cpu.postgres;
        let busy = total.as_secs_f64() / (cores as f64 * run.cost.wall.as_secs_f64()).max(f64::EPSILON);
        format!(
            "| {specs} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0}% | {} | {} | {} | {ratio:.2}× |\n",
            run.cost.wall.as_secs_f64(),
            run.cost.cpu.as_secs_f64(),
            cpu.harness.as_secs_f64(),
            cpu.moto.as_secs_f64(),
            cpu.postgres.as_secs_f64(),
            busy * 100.0,
            run.rds,
            run.arm,
            run.pg,
        )
    };
    let verdict = if ratio <= 1.5 { "met" } else { "not met" };
    format!(
        "\n**a fleet: {SPECS} specs against one**\n\n`plan` over {SPECS} specs (20 clusters, 20 servers, the same \
         source and target databases, `--parallel {SPECS}`) against one spec, both at {latency_ms} ms per request, \
         median of {RUNS}, migprep's {build} build. CPU is per run: migprep's, the harness's (fake ARM, RDS \
         fidelity layer and delay proxies, in the bench's process), moto's and PostgreSQL's (both servers, \
         backends included); *machine busy* is all of it against {cores} cores × the wall time:\n\n| specs | wall (s) \
         | migprep CPU (s) | harness CPU (s) | moto CPU (s) | PostgreSQL CPU (s) | machine busy | RDS req | ARM req \
         | PG conn | ratio to one spec |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n{}{}\n{SPECS} specs \
         take {ratio:.2}× the time of one (goal ≤ 1.5×: {verdict}).\n",
        row(1, one, one_cpu, 1.0),
        row(SPECS, fleet, fleet_cpu, ratio),
    )
}
