//! The markdown report: the runs at each latency, plan and apply against their anchors and critical
//! paths, how plan grows with the work, and the machine it ran on.

use crate::bounds::plan_chains;
use crate::measure::Run;
use crate::{LATENCIES_MS, RUNS};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

/// The applies with the cloud-like profile, by latency, and the critical path of their changes.
pub(crate) struct Cloud<'a> {
    pub(crate) runs: &'a BTreeMap<u64, Run>,
    pub(crate) critical: &'a (Duration, String),
}

pub(crate) fn render(
    plans: &BTreeMap<u64, Run>,
    manuals: &BTreeMap<u64, Run>,
    applies: &BTreeMap<u64, Run>,
    apply_chains: &[(String, u32)],
    cloud: &Cloud<'_>,
    growth: &[(String, u64, Run, u32)],
    took: Duration,
) -> String {
    let mut out = String::new();
    let machine = machine();
    let _ =
        writeln!(out, "### migprep benchmark\n\n{machine}; the whole benchmark took {:.0} s.\n", took.as_secs_f64());
    let _ = writeln!(out, "#### plan and apply, and the manual way\n");
    out.push_str(HEADER);
    for latency in LATENCIES_MS {
        row(&mut out, &format!("plan (median of {RUNS})"), latency, &plans[&latency]);
        let manual = &manuals[&latency];
        row(&mut out, &format!("manual way ({} commands, median of {RUNS})", manual.children), latency, manual);
        row(&mut out, "apply (one run, fresh stand-ins)", latency, &applies[&latency]);
    }

    let _ = writeln!(out, "\n#### plan against its anchors\n");
    let chains = plan_chains(0);
    let bound = chains[0].1;
    out.push_str(
        "| latency (ms) | plan (s) | manual way (s) | plan / manual | lower bound (s) | plan / lower bound |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    for latency in LATENCIES_MS {
        let plan = plans[&latency].cost.wall;
        let manual = manuals[&latency].cost.wall;
        let lower = Duration::from_millis(latency * u64::from(bound));
        let ratio =
            if latency == 0 { "–".to_string() } else { format!("{:.2}×", plan.as_secs_f64() / lower.as_secs_f64()) };
        let _ = writeln!(
            out,
            "| {latency} | {} | {} | {:.2} | {} | {ratio} |",
            secs(plan),
            secs(manual),
            plan.as_secs_f64() / manual.as_secs_f64(),
            secs(lower),
        );
    }
    let _ = writeln!(out, "\nCritical path of plan ({bound} round trips):\n");
    for (chain, trips) in &chains {
        let _ = writeln!(out, "- {trips} round trips: {chain}");
    }
    let at_100 = plans[&100].cost.wall.as_secs_f64() / (0.1 * f64::from(bound));
    let _ = writeln!(
        out,
        "\nAt 100 ms plan takes {at_100:.2}× its lower bound (goal ≤ 1.5×: {}).",
        if at_100 <= 1.5 { "met" } else { "not met" }
    );

    let apply_bound = apply_chains[0].1;
    let _ = writeln!(out, "\n#### apply against its critical path\n");
    out.push_str("| latency (ms) | apply (s) | cost of the latency (s) | lower bound of it (s) | ratio |\n");
    out.push_str("|---:|---:|---:|---:|---:|\n");
    let at_zero = applies[&0].cost.wall;
    for latency in LATENCIES_MS {
        let wall = applies[&latency].cost.wall;
        let cost = wall.saturating_sub(at_zero);
        let lower = Duration::from_millis(latency * u64::from(apply_bound));
        let ratio =
            if latency == 0 { "–".to_string() } else { format!("{:.2}×", cost.as_secs_f64() / lower.as_secs_f64()) };
        let _ = writeln!(out, "| {latency} | {} | {} | {} | {ratio} |", secs(wall), secs(cost), secs(lower));
    }
    let _ = writeln!(
        out,
        "\nThe cost of the latency is apply's time minus its time at 0 ms (waiting for operations, the \
         reboot and the restart to finish, which no latency changes). Critical path of apply \
         ({apply_bound} round trips):\n"
    );
    for (chain, trips) in apply_chains {
        let _ = writeln!(out, "- {trips} round trips: {chain}");
    }

    let _ = writeln!(out, "\n#### apply with cloud-like durations against its critical path\n");
    let (critical, chain) = cloud.critical;
    out.push_str("| latency (ms) | apply (s) | plan (s) | critical path (s) | plan + critical path (s) | ratio |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    for (latency, run) in cloud.runs {
        let plan = plans.get(latency).map_or(Duration::ZERO, |p| p.cost.wall);
        let bound = plan + *critical;
        let _ = writeln!(
            out,
            "| {latency} | {} | {} | {} | {} | {:.2}× |",
            secs(run.cost.wall),
            secs(plan),
            secs(*critical),
            secs(bound),
            run.cost.wall.as_secs_f64() / bound.as_secs_f64(),
        );
    }
    if let (Some(zero), Some(hundred)) = (cloud.runs.get(&0), cloud.runs.get(&100)) {
        let cost = hundred.cost.wall.saturating_sub(zero.cost.wall);
        let chain_cost = Duration::from_millis(100 * u64::from(apply_bound));
        let _ = writeln!(
            out,
            "\nCost of 100 ms latency with these durations: {} s, {:.2}× the write chain's {} s.",
            secs(cost),
            cost.as_secs_f64() / chain_cost.as_secs_f64(),
            secs(chain_cost),
        );
    }
    let _ = writeln!(
        out,
        "\nDurations are the stand-ins' cloud-like profile (published or estimated real durations ÷ 60, \
         see `tests/testkit/src/arm/timing.rs`). The critical path is the longer of the longest chain of \
         dependencies, each change weighted by its operation's duration, and the server's operations one \
         at a time: {chain}.\n"
    );

    let _ = writeln!(out, "\n#### how plan grows with the work (median of {RUNS})\n");
    out.push_str(HEADER);
    for (label, latency, run, user_values) in growth {
        let bound = plan_chains(*user_values)[0].1;
        row(&mut out, &format!("{label} (lower bound {bound} round trips)"), *latency, run);
    }
    out
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0));
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{date}, {cores} cores (nproc), {memory} memory")
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn row(out: &mut String, label: &str, latency: u64, run: &Run) {
    let _ = writeln!(
        out,
        "| {label} | {latency} | {} | {} | {:.0} | {} | {} | {} | {} |",
        secs(run.cost.wall),
        secs(run.cost.cpu),
        run.cost.max_rss_kb as f64 / 1024.0,
        run.rds,
        run.arm,
        run.pg,
        run.cost.code,
    );
}

const HEADER: &str = "| run | latency (ms) | wall (s) | CPU (s) | peak RSS (MiB) | RDS req | ARM req | PG conn | exit |\n\
                      |---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
