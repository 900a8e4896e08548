//! The markdown report: the runs at each latency, plan and apply against their anchors and critical
//! paths, how plan grows with the work, and the machine it ran on.

use crate::bounds::plan_chains;
use crate::measure::Run;
use crate::{LATENCIES_MS, MANUAL_GROWTH, RUNS, manual_growth_label};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

/// The goal for plan at 100 ms, against its lower bound, in both set-ups.
const PLAN_GOAL: f64 = 1.2;
/// The goal for growth: the largest selection against one database, at 100 ms.
const GROWTH_GOAL: f64 = 1.2;
/// How much faster than the manual way plan must be at [`MANUAL_GROWTH`] databases, at 100 ms.
const MANUAL_GOAL: f64 = 10.0;
/// What a plan may use at most.
const CPU_GOAL: Duration = Duration::from_millis(100);
const RSS_GOAL_MIB: f64 = 50.0;

/// The plan runs by latency, in both set-ups: the writer's address from the RDS API (the spec's usual
/// form), and given in the spec.
pub(crate) struct Plans<'a> {
    pub(crate) api: &'a BTreeMap<u64, Run>,
    pub(crate) given_host: &'a BTreeMap<u64, Run>,
}

/// The applies with the cloud-like profile, by latency, and the critical path of their changes.
pub(crate) struct Cloud<'a> {
    pub(crate) runs: &'a BTreeMap<u64, Run>,
    pub(crate) critical: &'a (Duration, String),
}

pub(crate) fn render(
    plans: &Plans<'_>,
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
    if !plans.api.is_empty() || !manuals.is_empty() || !applies.is_empty() {
        let _ = writeln!(out, "#### plan and apply, and the manual way\n");
        out.push_str(HEADER);
        for latency in LATENCIES_MS {
            if let Some(plan) = plans.api.get(&latency) {
                row(&mut out, &format!("plan, writer from the API (median of {RUNS})"), latency, plan);
            }
            if let Some(plan) = plans.given_host.get(&latency) {
                row(&mut out, &format!("plan, writer in the spec (median of {RUNS})"), latency, plan);
            }
            if let Some(manual) = manuals.get(&latency) {
                let label = format!("manual way ({} commands, median of {RUNS})", manual.children);
                row(&mut out, &label, latency, manual);
            }
            if let Some(apply) = applies.get(&latency) {
                row(&mut out, &format!("apply (median of {RUNS}, each on fresh stand-ins)"), latency, apply);
            }
        }
    }
    if !plans.api.is_empty() {
        plan_against_bounds(&mut out, plans, manuals);
    }
    if !applies.is_empty() {
        apply_against_bounds(&mut out, applies, apply_chains, plans.api, cloud);
    }
    if !growth.is_empty() {
        growth_section(&mut out, growth);
    }
    out
}

fn plan_against_bounds(out: &mut String, plans: &Plans<'_>, manuals: &BTreeMap<u64, Run>) {
    let _ = writeln!(out, "\n#### plan against its anchors\n");
    let bound = plan_chains(0, true)[0].1;
    if !manuals.is_empty() {
        out.push_str("| latency (ms) | plan (s) | manual way (s) | plan / manual |\n|---:|---:|---:|---:|\n");
        for latency in LATENCIES_MS {
            let (Some(plan), Some(manual)) = (plans.api.get(&latency), manuals.get(&latency)) else { continue };
            let (plan, manual) = (plan.cost.wall, manual.cost.wall);
            let ratio = plan.as_secs_f64() / manual.as_secs_f64();
            let _ = writeln!(out, "| {latency} | {} | {} | {ratio:.2} |", secs(plan), secs(manual));
        }
        out.push('\n');
    }
    out.push_str(
        "| set-up | lower bound (round trips) | plan at 0 ms (s) | plan at 20 ms (s) | plan at 100 ms (s) \
         | waves observed | plan / lower bound at 100 ms |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut verdicts = Vec::new();
    for (label, runs, from_api) in
        [("writer from the RDS API", plans.api, true), ("writer's host and port in the spec", plans.given_host, false)]
    {
        let trips = plan_chains(0, from_api)[0].1;
        let wall = |latency: u64| runs.get(&latency).map(|r| r.cost.wall);
        let (Some(zero), Some(hundred)) = (wall(0), wall(100)) else { continue };
        // Every round trip on the critical path costs the latency once: what 100 ms added, in 100 ms.
        let waves = hundred.saturating_sub(zero).as_secs_f64() / 0.1;
        let ratio = hundred.as_secs_f64() / (0.1 * f64::from(trips));
        let twenty = wall(20).map_or("–".into(), secs);
        let _ = writeln!(
            out,
            "| {label} | {trips} | {} | {twenty} | {} | {waves:.1} | {ratio:.2}× |",
            secs(zero),
            secs(hundred)
        );
        verdicts.push(format!("{ratio:.2}× with the {label}"));
    }
    let _ = writeln!(
        out,
        "\n*Waves observed* is (plan at 100 ms − plan at 0 ms) ÷ 100 ms: the round trips that followed one another, \
         to hold against the lower bound; what the plan takes at 0 ms is its fixed cost (process start, \
         CPU, the stand-ins' own response times).\n\nCritical path of plan with the writer from the API ({bound} \
         round trips):\n"
    );
    for (chain, trips) in &plan_chains(0, true) {
        let _ = writeln!(out, "- {trips} round trips: {chain}");
    }
    let met = |runs: &BTreeMap<u64, Run>, from_api: bool| {
        runs.get(&100)
            .is_some_and(|r| r.cost.wall.as_secs_f64() <= PLAN_GOAL * 0.1 * f64::from(plan_chains(0, from_api)[0].1))
    };
    let all_met = met(plans.api, true) && met(plans.given_host, false);
    let _ = writeln!(
        out,
        "\nAt 100 ms plan takes {} of its lower bound (goal ≤ {PLAN_GOAL}× in both: {}).",
        verdicts.join(" and "),
        if all_met { "met" } else { "not met" }
    );
    let worst_cpu = plans.api.values().chain(plans.given_host.values()).map(|r| r.cost.cpu).max().unwrap_or_default();
    let worst_rss =
        plans.api.values().chain(plans.given_host.values()).map(|r| r.cost.max_rss_kb).max().unwrap_or_default() as f64
            / 1024.0;
    let _ = writeln!(
        out,
        "Its CPU is at most {} s (goal < {} s: {}) and its peak RSS at most {worst_rss:.0} MiB (goal < \
         {RSS_GOAL_MIB:.0} MiB: {}).",
        secs(worst_cpu),
        secs(CPU_GOAL),
        if worst_cpu < CPU_GOAL { "met" } else { "not met" },
        if worst_rss < RSS_GOAL_MIB { "met" } else { "not met" },
    );
}

fn apply_against_bounds(
    out: &mut String,
    applies: &BTreeMap<u64, Run>,
    apply_chains: &[(String, u32)],
    plans: &BTreeMap<u64, Run>,
    cloud: &Cloud<'_>,
) {
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
}

fn growth_section(out: &mut String, growth: &[(String, u64, Run, u32)]) {
    let _ = writeln!(out, "\n#### how plan grows with the work (median of {RUNS})\n");
    out.push_str(GROWTH_HEADER);
    for (label, latency, run, user_values) in growth {
        let bound = plan_chains(*user_values, true)[0].1;
        let label = if label.starts_with("manual") {
            label.clone()
        } else {
            format!("{label} (lower bound {bound} round trips)")
        };
        cells(out, &label, *latency, run);
        let _ = writeln!(out, " {} | {} |", secs(run.source_server_cpu), secs(run.harness_cpu));
    }
    let at = |label: &str, latency: u64| {
        growth.iter().find(|(l, at, _, _)| l == label && *at == latency).map(|(_, _, run, _)| run.cost.wall)
    };
    let largest =
        growth.iter().filter(|(l, _, _, _)| l.ends_with("database(s)")).map(|(l, _, _, _)| l.clone()).next_back();
    if let (Some(one), Some(largest)) = (at("1 database(s)", 100), largest.as_deref())
        && let Some(many) = at(largest, 100)
    {
        let ratio = many.as_secs_f64() / one.as_secs_f64();
        let _ = writeln!(
            out,
            "\nAt 100 ms, {largest} take {ratio:.2}× the time of one (goal ≤ {GROWTH_GOAL}×: {}). The source server's \
             CPU is its backends' (TLS, SCRAM, the statements) and the postmaster's forks, on the same cores as \
             migprep; the harness's is the delay proxies' and the in-process stand-ins'.",
            if ratio <= GROWTH_GOAL { "met" } else { "not met" }
        );
    }
    let plan_label = format!("{MANUAL_GROWTH} database(s)");
    if let (Some(plan), Some(manual)) = (at(&plan_label, 100), at(&manual_growth_label(), 100)) {
        let faster = manual.as_secs_f64() / plan.as_secs_f64();
        let _ = writeln!(
            out,
            "\nAt 100 ms with {MANUAL_GROWTH} databases, plan is {faster:.1}× faster than the manual way (goal ≥ \
             {MANUAL_GOAL}×: {}).",
            if faster >= MANUAL_GOAL { "met" } else { "not met" }
        );
    }
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
    cells(out, label, latency, run);
    out.push('\n');
}

/// One row's cells, without the line's end (the growth table adds two).
fn cells(out: &mut String, label: &str, latency: u64, run: &Run) {
    let _ = write!(
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

const GROWTH_HEADER: &str = "| run | latency (ms) | wall (s) | CPU (s) | peak RSS (MiB) | RDS req | ARM req | PG conn | exit \
                             | source server CPU (s) | harness CPU (s) |\n\
                             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
const HEADER: &str = "| run | latency (ms) | wall (s) | CPU (s) | peak RSS (MiB) | RDS req | ARM req | PG conn | exit |\n\
                      |---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
