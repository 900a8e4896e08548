//! The benchmark of `migprep plan` and `apply` against the local stand-ins, with injected latency, and
//! of the same reads done the manual way (`aws rds …`, `psql`, `curl`) as the anchor. `scripts/bench`
//! builds and runs it; the README's "Benchmark" section explains the model and shows the latest table.
//!
//! Usage: `MIGPREP_BIN=target/release/migprep migprep-bench [OUT.md]` — writes the markdown report to
//! stdout and to OUT.md (default `target/bench/results.md`); progress goes to stderr. `MIGPREP_BENCH_ONLY`
//! (a comma-separated list of `plan`, `manual`, `growth`, `fleet`, `apply`) runs only those sections.
//!
//! Latency: every RDS request and every ARM request (token requests too) is answered `latency` late by
//! the stand-ins; PostgreSQL connections go through a [`DelayProxy`](migprep_testkit::delay::DelayProxy)
//! on each side, where one round trip costs `latency` (see `delay.rs`). The source is reached the way
//! migprep reaches it: the cluster's writer endpoint, as the RDS API reports it, leads to the proxy.
//!
//! Measurements: wall time around each child; its CPU time (user + system) from `wait4`, which reports
//! it for that one child (`getrusage(RUSAGE_CHILDREN)` would mix in the stand-ins' own children,
//! `pg_ctl` and moto); its peak RSS from GNU `time`, which runs it (see `measure.rs` for why). Request
//! counts are deltas of the stand-ins' logs and the proxies' connection counters. Timings are reported, never asserted: the machine is shared.
//!
//! `bench` holds the stand-ins and runs migprep, `manual` the same reads the manual way, `fleet` one plan
//! over 20 specs against one, `measure` what a child costs, `large_group` the seeding of the "large group" run, `bounds` the critical paths the
//! timings are held against, and `report` the markdown.

mod bench;
mod bounds;
mod fleet;
mod large_group;
mod manual;
mod measure;
mod report;
mod standins;

use anyhow::{Context, Result, bail};
use bench::Bench;
use bounds::{apply_chains, apply_critical_path};
use large_group::seed_large_group;
use measure::median;
use migprep_testkit::arm::Timing;
use migprep_testkit::rds::CLOUD_LIKE_REBOOT;
use migprep_testkit::scenario::{CLUSTER, REGION};
use report::{Cloud, Plans, render};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LATENCIES_MS: [u64; 3] = [0, 20, 100];
/// Runs per plan measurement; the median is reported.
const RUNS: usize = 3;
const FAMILY: &str = "aurora-postgresql15";
const ARM_API_VERSION: &str = "2025-08-01";
/// The custom group of the "large group" run; dedicated to the cluster, so S2 changes it in place.
const LARGE_GROUP: &str = "orders-prod-large";
/// The numbers of selected databases the growth section plans with.
const GROWTH: [usize; 4] = [1, 10, 50, 200];

/// The selection at which the manual way is measured again, against plan (goal: plan ≥ 10× faster).
const MANUAL_GROWTH: usize = 10;

/// The growth row of the manual way at [`MANUAL_GROWTH`] databases.
fn manual_growth_label() -> String {
    format!("manual way ({MANUAL_GROWTH} databases, median of {RUNS})")
}

/// Whether `section` is to run: all of them unless `MIGPREP_BENCH_ONLY` names some.
fn runs(section: &str) -> bool {
    std::env::var("MIGPREP_BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s.trim() == section))
}

#[tokio::main]
async fn main() -> Result<()> {
    let binary = PathBuf::from(std::env::var("MIGPREP_BIN").unwrap_or_else(|_| "target/release/migprep".into()));
    let binary = std::fs::canonicalize(&binary).with_context(|| format!("MIGPREP_BIN {}", binary.display()))?;
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/bench/results.md".into()));
    let logs = tempfile::Builder::new().prefix("migprep-bench-").tempdir()?;
    let started = Instant::now();

    // 1–3: plan at each latency in both set-ups, with the manual way interleaved so all see the same noise.
    progress("starting the stand-ins (demo's before state)");
    let mut bench = Bench::start(&binary, logs.path()).await?;
    let mut plans = BTreeMap::new();
    let mut given_host = BTreeMap::new();
    let mut manuals = BTreeMap::new();
    for latency in LATENCIES_MS.into_iter().filter(|_| runs("plan") || runs("manual")) {
        bench.set_latency(Duration::from_millis(latency));
        let (mut plan_runs, mut host_runs, mut manual_runs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..RUNS {
            progress(&format!("plan (both set-ups) and the manual way at {latency} ms ({}/{RUNS})", i + 1));
            if runs("plan") {
                plan_runs.push(bench.plan().await?);
                host_runs.push(bench.plan_given_host().await?);
            }
            if runs("manual") {
                manual_runs.push(bench.manual().await?);
            }
        }
        if runs("plan") {
            plans.insert(latency, median(plan_runs));
            given_host.insert(latency, median(host_runs));
        }
        if runs("manual") {
            manuals.insert(latency, median(manual_runs));
        }
    }

    // 4: a fleet of 20 specs against one, at 100 ms, on a source that allows 400 connections.
    let mut fleet_section = String::new();
    if runs("fleet") {
        fleet::allow_connections(&bench).await?;
        fleet_section = fleet::measure(&bench).await?;
        bench.set_latency(Duration::ZERO);
    }

    // 5: growth with the work, on the same stand-ins; then the large group.
    let mut growth = Vec::new();
    if runs("growth") {
        let extra = GROWTH[GROWTH.len() - 1] - bench.scenario.source.databases().len();
        progress(&format!("creating {extra} more databases on the source"));
        let db = bench.scenario.source.superuser("postgres").await?;
        for i in 1..=extra {
            db.batch_execute(&format!("CREATE DATABASE bench_{i:03}")).await?;
        }
        drop(db);
        // Aurora on a db.r6g.large allows well over a thousand connections; the stand-in's 50 would
        // turn the larger plans into "too many clients" errors rather than a measurement.
        let settings = BTreeMap::from([("max_connections".to_string(), "400".to_string())]);
        bench.scenario.source.restart_with(&settings).await?;
        let mut all: Vec<String> = bench.scenario.source.databases().to_vec();
        all.extend((1..=extra).map(|i| format!("bench_{i:03}")));
        for n in GROWTH {
            bench.set_databases(&all[..n])?;
            for latency in [0, 100] {
                bench.set_latency(Duration::from_millis(latency));
                progress(&format!("plan with {n} database(s) at {latency} ms"));
                growth.push((format!("{n} database(s)"), latency, bench.plan_median().await?, 0));
            }
            if n == MANUAL_GROWTH {
                // The anchor at ten databases: the manual way opens one `psql` per database.
                progress(&format!("the manual way with {n} databases at 100 ms"));
                let mut manual_runs = Vec::new();
                for _ in 0..RUNS {
                    manual_runs.push(bench.manual().await?);
                }
                growth.push((manual_growth_label(), 100, median(manual_runs), 0));
            }
        }
        bench.set_databases(&all[..2])?;

        bench.set_latency(Duration::ZERO);
        let seeded = seed_large_group(&bench.scenario)?;
        progress(&format!("attaching {LARGE_GROUP} ({seeded} user-set values)"));
        let attach = Command::new("aws")
            .args(["rds", "--endpoint-url", &bench.scenario.rds.endpoint(), "--region", REGION, "modify-db-cluster"])
            .args(["--db-cluster-identifier", CLUSTER, "--db-cluster-parameter-group-name", LARGE_GROUP])
            .arg("--apply-immediately")
            .envs(bench.scenario.env())
            .stdout(Stdio::null())
            .status()?;
        if !attach.success() {
            bail!("attaching {LARGE_GROUP} failed");
        }
        for latency in [0, 100] {
            bench.set_latency(Duration::from_millis(latency));
            progress(&format!("plan with a {seeded}-value group at {latency} ms"));
            growth.push((format!("group with {seeded} user values"), latency, bench.plan_median().await?, seeded));
        }
    }
    drop(bench);

    // apply: the median of `RUNS` runs per latency, each on fresh stand-ins; every run's stderr is kept
    // beside the report (`apply-<profile>-<latency>ms-<run>.log`), to see what a slow one waited for.
    let mut applies = BTreeMap::new();
    let mut apply_plan = serde_json::Value::Null;
    let mut cloud = BTreeMap::new();
    if runs("apply") {
        let logs_dir = out.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
        std::fs::create_dir_all(&logs_dir)?;
        for (profile, latencies) in [("quick", &LATENCIES_MS[..]), ("cloud-like", &[0, 100][..])] {
            for &latency in latencies {
                let mut runs = Vec::new();
                for i in 1..=RUNS {
                    progress(&format!("apply, {profile} operations, at {latency} ms ({i}/{RUNS}): fresh stand-ins"));
                    let bench = Bench::start(&binary, logs.path()).await?;
                    if apply_plan.is_null() {
                        apply_plan = bench.plan_json()?;
                    }
                    if profile == "cloud-like" {
                        // Real durations ÷ 60: against the critical path, at 0 and 100 ms.
                        bench.scenario.arm.set_timing(Some(Timing::cloud_like()));
                        bench.scenario.rds.set_reboot_duration(Some(CLOUD_LIKE_REBOOT));
                    }
                    bench.set_latency(Duration::from_millis(latency));
                    let spec = bench.spec_path.to_string_lossy().into_owned();
                    runs.push(bench.migprep(&["apply", &spec, "--auto-approve"], &[0]).await?);
                    let log = logs_dir.join(format!("apply-{profile}-{latency}ms-{i}.log"));
                    std::fs::copy(logs.path().join("migprep.stderr"), log)?;
                }
                let target = if profile == "quick" { &mut applies } else { &mut cloud };
                target.insert(latency, median(runs));
            }
        }
    }
    let critical = apply_critical_path(&apply_plan, &Timing::cloud_like());

    let mut report = render(
        &Plans { api: &plans, given_host: &given_host },
        &manuals,
        &applies,
        &apply_chains(&apply_plan),
        &Cloud { runs: &cloud, critical: &critical },
        &growth,
        started.elapsed(),
    );
    report.push_str(&fleet_section);
    print!("{report}");
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, &report).with_context(|| format!("writing {}", out.display()))?;
    progress(&format!("done in {:.0} s; written to {}", started.elapsed().as_secs_f64(), out.display()));
    Ok(())
}

fn progress(message: &str) {
    eprintln!("bench: {message}");
}
