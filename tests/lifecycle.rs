//! The plan engine's life cycle end to end, with the real binary against all four stand-ins at once: an
//! apply killed with SIGKILL at each of its steps and resumed, a saved plan that went stale, two applies
//! racing for the lock, deterministic output, and the exit codes of SPEC §2.
//!
//! The scene used throughout is a plan with work on both sides: an Aurora cluster on its default
//! parameter group (create the migration group, set its values, attach it, grant `rds_replication`; the
//! writer reboot stays pending because it is not allowed, which keeps the runs fast) and a zone-redundant
//! flexible server with temp tablespaces on the local SSD (disable high availability, turn the parameter
//! off, both temporary).

mod common;

use common::{
    MIGRATION_GROUP, TEMP, changes, member_of, migprep, parse_plan, runnable, running, server, spawn, state, state_dir,
    text,
};
use futures::stream::{self, StreamExt};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::scenario::{RESOURCE_GROUP, SERVER, SUBSCRIPTION, Scenario, ScenarioConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Starts the two-sided scene and writes its spec (no `[allow]`: the writer reboot stays pending).
async fn two_sided() -> (Scenario, PathBuf) {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2"),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    (scenario, spec)
}

/// The addresses of the changes an apply of a printed JSON plan runs, in plan order.
fn runnable_steps(plan_json: &str) -> Vec<String> {
    runnable(&changes(&parse_plan(plan_json)))
}

fn journal(scenario: &Scenario) -> PathBuf {
    state_dir(scenario).join("journal.jsonl")
}

/// The journal's complete records (a final line cut off mid-write is not one yet).
fn records(path: &Path) -> Vec<Value> {
    let Ok(content) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let complete = content.rfind('\n').map_or("", |newline| &content[..=newline]);
    complete.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The journal and the state file, for a failing assertion's message.
fn diagnostics(scenario: &Scenario) -> String {
    let state = std::fs::read_to_string(state_dir(scenario).join("state.json")).unwrap_or_default();
    let journal: Vec<String> = records(&journal(scenario))
        .iter()
        .map(|r| format!("{} {} {} run {}", r["step"], r["phase"], r["address"], &r["run"].as_str().unwrap()[..6]))
        .collect();
    format!("journal:\n{}\nstate:\n{state}", journal.join("\n"))
}

fn intents(path: &Path) -> usize {
    records(path).iter().filter(|r| r["phase"] == "intent").count()
}

/// Successful RDS requests of one action.
fn rds_successes(scenario: &Scenario, action: &str) -> usize {
    scenario.rds.requests_for(action).iter().filter(|r| r.status.is_none_or(|s| s < 300)).count()
}

/// Writes on either cloud: RDS actions that modify, ARM PATCH/PUT/POST/DELETE on the server.
fn writes(scenario: &Scenario) -> Vec<String> {
    let rds = scenario
        .rds
        .requests()
        .into_iter()
        .filter(|r| !r.action.starts_with("Describe"))
        .map(|r| format!("rds {}", r.action));
    let arm = scenario
        .arm
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.path.contains("/flexibleServers/"))
        .map(|r| format!("arm {} {} {}", r.method, r.path, r.status));
    rds.chain(arm).collect()
}

/// Whether the migration user was granted `rds_replication` on the source.
async fn is_member(scenario: &Scenario) -> bool {
    member_of(&scenario.source, &scenario.source.migration_user().user, "rds_replication").await
}

/// Starts `migprep apply --auto-approve` without a terminal, waits until the journal holds `k` intents,
/// and kills it with SIGKILL. Returns whether it was still running when killed.
async fn kill_at_intent(scenario: &Scenario, spec: &Path, k: usize) -> bool {
    let mut child = spawn(scenario, &["apply", text(spec), "--auto-approve"]);
    let path = journal(scenario);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if intents(&path) >= k {
            child.start_kill().unwrap();
            let status = child.wait().await.unwrap();
            return status.code().is_none();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("apply ended ({status}) before its intent {k}: {:#?}", records(&path));
        }
        assert!(Instant::now() < deadline, "no intent {k} within a minute");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One kill-and-resume round: kill the first apply at intent `k`, then apply, plan and restore.
async fn killed_at(k: usize, expected_steps: &[String]) {
    let (scenario, spec) = two_sided().await;
    assert!(kill_at_intent(&scenario, &spec, k).await, "k={k}: the apply was killed, not finished");

    // The killed run left its lock: the next apply names it, and the user breaks it deliberately.
    let locked = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(locked.code, 1, "k={k}: {}", locked.stderr);
    let id = locked.stderr.split("--force-unlock ").nth(1).and_then(|rest| rest.split('`').next());
    let id = id.unwrap_or_else(|| panic!("k={k}: no lock id in {}", locked.stderr));
    let resumed = migprep(&scenario, &["apply", text(&spec), "--auto-approve", "--force-unlock", id], &[]).await;
    assert_eq!(resumed.code, 0, "k={k}\nstdout:\n{}\nstderr:\n{}", resumed.stdout, resumed.stderr);
    let plan = migprep(&scenario, &["plan", text(&spec), "--detailed-exitcode"], &[]).await;
    assert_eq!(plan.code, 0, "k={k}: nothing left\n{}\n{}", plan.stdout, plan.stderr);

    // Every step ran exactly once across both applies.
    assert_eq!(rds_successes(&scenario, "CreateDBClusterParameterGroup"), 1, "k={k}");
    let attaches: Vec<_> = scenario
        .rds
        .requests_for("ModifyDBCluster")
        .into_iter()
        .filter(|r| r.param("DBClusterParameterGroupName") == Some(MIGRATION_GROUP))
        .collect();
    assert_eq!(attaches.len(), 1, "k={k}: {attaches:#?}");
    // Accepted writes only: while the killed run's operation still holds the server, ARM answers 409
    // and the write is retried — refused attempts change nothing.
    let arm_log = || format!("{:#?}\n{}", writes(&scenario), diagnostics(&scenario));
    assert_eq!(accepted_patches(&scenario, &format!("/flexibleServers/{SERVER}")), 1, "k={k}: {}", arm_log());
    assert_eq!(accepted_patches(&scenario, TEMP), 1, "k={k}: {}", arm_log());
    assert!(is_member(&scenario).await, "k={k}");
    // The journal saw every step of the plan finish, in one run or the other.
    let done: Vec<String> = records(&journal(&scenario))
        .iter()
        .filter(|r| r["phase"] == "done")
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect();
    // …and the state, which restore plans from, knows every address the plan changed.
    let state = state(&scenario);
    for address in expected_steps {
        assert!(done.contains(address), "k={k}: {address} has no done record: {done:#?}");
        assert!(state["changed"].get(address).is_some(), "k={k}: {address} is not in the state: {state:#}");
    }

    let restored = migprep(&scenario, &["restore", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(restored.code, 0, "k={k}\n{}", restored.stderr);
    let ha = &server(&scenario, SERVER)["properties"]["highAvailability"];
    assert_eq!(
        (ha["mode"].as_str(), ha["standbyAvailabilityZone"].as_str()),
        (Some("ZoneRedundant"), Some("2")),
        "k={k}: {ha:#}\n{}",
        diagnostics(&scenario)
    );
    assert_eq!(running(&scenario, TEMP), "on", "k={k}\n{}", diagnostics(&scenario));
    assert!(is_member(&scenario).await, "k={k}: the grant is permanent (SPEC §3 S8), restore keeps it");
    let again = migprep(&scenario, &["restore", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(again.code, 0, "k={k}\n{}", again.stderr);
    assert!(again.stderr.contains("nothing to do"), "k={k}: {}", again.stderr);
}

/// The two-sided plan is applied with SIGKILL arriving right after the journal's k-th intent, for every k
/// from 1 to the number of runnable steps (each in a fresh scene, three at a time). The next apply is
/// refused by the dead run's lock; breaking it with `--force-unlock` and the id it names, the apply
/// finishes with exit 0, after which the plan is empty; no step reached a cloud twice (one group
/// created, one attach, one HA PATCH, one parameter PATCH); and restore brings back every original:
/// ZoneRedundant with the standby in zone 2 and temp tablespaces on (the grant and the source's
/// parameters are permanent and stay).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_apply_killed_at_any_step_is_resumed_without_repeats_and_restores() {
    let (scenario, spec) = two_sided().await;
    let plan = migprep(&scenario, &["plan", text(&spec), "--format", "json"], &[]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let steps = runnable_steps(&plan.stdout);
    assert!(steps.len() >= 6, "a multi-step plan on both sides: {steps:#?}");
    assert!(steps.iter().any(|a| a.starts_with("aws.")) && steps.iter().any(|a| a.starts_with("azure.")));
    drop(scenario);

    let steps = &steps;
    stream::iter(1..=steps.len()).map(|k| killed_at(k, steps)).buffer_unordered(3).collect::<Vec<()>>().await;
}

/// `plan --out` saves the two-sided plan; then someone turns temp tablespaces off on the server behind
/// migprep's back. Applying the saved plan refuses with exit 1, naming the parameter with the value the
/// plan saw and the value now, and writes nothing to either cloud.
#[tokio::test]
async fn a_stale_saved_plan_is_refused_and_changes_nothing() {
    let (scenario, spec) = two_sided().await;
    let saved = scenario.dir().join("orders.plan");
    let plan = migprep(&scenario, &["plan", text(&spec), "--out", text(&saved)], &[]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);

    scenario.arm.stage_configuration(SUBSCRIPTION, RESOURCE_GROUP, SERVER, TEMP, "off").unwrap();
    scenario.rds.clear_requests();
    scenario.arm.clear_requests();
    let apply = migprep(&scenario, &["apply", text(&saved), "--auto-approve"], &[]).await;
    assert_eq!(apply.code, 1, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);
    assert!(apply.stderr.contains("is stale"), "{}", apply.stderr);
    let line = apply.stderr.lines().find(|l| l.contains(TEMP)).unwrap_or_else(|| panic!("{}", apply.stderr));
    assert!(line.contains(r#"planned with "on", now "off""#), "planned and current value: {line}");
    assert!(writes(&scenario).is_empty(), "{:#?}", writes(&scenario));
    assert!(!is_member(&scenario).await, "the grant was not made");
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "ZoneRedundant");
    assert!(!journal(&scenario).exists() || intents(&journal(&scenario)) == 0);
}

/// Two applies of the same spec start at the same moment. Exactly one takes the lock and applies; the
/// other exits 1 at once naming the holder (pid, `--force-unlock`) and changes nothing. Every step ran
/// once, and the plan is empty afterwards.
#[tokio::test]
async fn of_two_concurrent_applies_exactly_one_runs() {
    let (scenario, spec) = two_sided().await;
    let args = ["apply", text(&spec), "--auto-approve"];
    let (a, b) = tokio::join!(migprep(&scenario, &args, &[]), migprep(&scenario, &args, &[]));
    let (winner, loser) = match (a.code, b.code) {
        (0, 1) => (a, b),
        (1, 0) => (b, a),
        _ => panic!("exactly one should run:\nA {}: {}\nB {}: {}", a.code, a.stderr, b.code, b.stderr),
    };
    assert!(winner.stderr.contains("apply complete"), "{}", winner.stderr);
    assert!(loser.stderr.contains("is locked by") && loser.stderr.contains("pid "), "{}", loser.stderr);
    assert!(loser.stderr.contains("--force-unlock"), "{}", loser.stderr);

    let runs: std::collections::BTreeSet<String> =
        records(&journal(&scenario)).iter().map(|r| r["run"].as_str().unwrap().to_string()).collect();
    assert_eq!(runs.len(), 1, "one run wrote the journal");
    assert_eq!(rds_successes(&scenario, "CreateDBClusterParameterGroup"), 1);
    assert_eq!(scenario.arm.count_requests("PATCH", &format!("/flexibleServers/{SERVER}")), 1);
    assert_eq!(scenario.arm.count_requests("PATCH", TEMP), 1);
    assert!(!state_dir(&scenario).join("lock.json").exists(), "the lock was released");
    let plan = migprep(&scenario, &["plan", text(&spec), "--detailed-exitcode"], &[]).await;
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}

/// The same state planned twice gives byte-identical JSON (and human) output; after applying both sides,
/// `plan --detailed-exitcode` reports nothing to do (exit 0) and the JSON plan has no runnable change.
#[tokio::test]
async fn plans_are_deterministic_and_empty_after_apply() {
    let (scenario, spec) = two_sided().await;
    let first = migprep(&scenario, &["plan", text(&spec), "--format", "json"], &[]).await;
    let second = migprep(&scenario, &["plan", text(&spec), "--format", "json"], &[]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout, second.stdout);
    let human =
        [migprep(&scenario, &["plan", text(&spec)], &[]).await, migprep(&scenario, &["plan", text(&spec)], &[]).await];
    assert_eq!(human[0].stdout, human[1].stdout);

    let apply = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let plan = migprep(&scenario, &["plan", text(&spec), "--detailed-exitcode"], &[]).await;
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let json = migprep(&scenario, &["plan", text(&spec), "--format", "json"], &[]).await;
    assert!(runnable_steps(&json.stdout).is_empty(), "{}", json.stdout);
    let again = migprep(&scenario, &["plan", text(&spec), "--format", "json"], &[]).await;
    assert_eq!(json.stdout, again.stdout);
}

/// Exit codes as SPEC §2: a plan with changes exits 0, or 2 with `--detailed-exitcode`; `apply` without
/// a terminal and without `--auto-approve` refuses with exit 1 and a hint, changing nothing; a missing
/// spec is an error (1); after the apply, `--detailed-exitcode` gives 0; and a read replica with
/// `remove_replicas` left at "no" is a blocker: `plan` and `apply` exit 3 and nothing is changed.
#[tokio::test]
async fn exit_codes_follow_the_spec() {
    let (scenario, spec) = two_sided().await;
    assert_eq!(migprep(&scenario, &["plan", text(&spec)], &[]).await.code, 0);
    let detailed = migprep(&scenario, &["plan", text(&spec), "--detailed-exitcode"], &[]).await;
    assert_eq!(detailed.code, 2, "{}", detailed.stderr);

    scenario.rds.clear_requests();
    scenario.arm.clear_requests();
    let refused = migprep(&scenario, &["apply", text(&spec)], &[]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("--auto-approve"), "{}", refused.stderr);
    assert!(refused.stderr.lines().any(|l| l.starts_with("hint: ")), "{}", refused.stderr);
    assert!(writes(&scenario).is_empty(), "{:#?}", writes(&scenario));
    assert!(!is_member(&scenario).await);

    let missing = scenario.dir().join("missing.toml");
    let error = migprep(&scenario, &["plan", text(&missing)], &[]).await;
    assert_eq!(error.code, 1, "{}", error.stderr);
    assert!(error.stdout.is_empty());

    assert_eq!(migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await.code, 0);
    let clean = migprep(&scenario, &["plan", text(&spec), "--detailed-exitcode"], &[]).await;
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);

    let config =
        ScenarioConfig { server: ServerSeed::new(SERVER).replica("pg-orders-r1"), ..ScenarioConfig::default() };
    let blocked = Scenario::start_with(config).await.unwrap();
    let spec = blocked.write_spec(&blocked.spec()).unwrap();
    for args in [&["plan", text(&spec)][..], &["plan", text(&spec), "--detailed-exitcode"]] {
        let run = migprep(&blocked, args, &[]).await;
        assert_eq!(run.code, 3, "{args:?}\n{}\n{}", run.stdout, run.stderr);
    }
    let apply = migprep(&blocked, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(apply.code, 3, "{}", apply.stderr);
    assert!(writes(&blocked).is_empty(), "{:#?}", writes(&blocked));
}

/// After the apply, someone puts both of the server's temporary changes back by hand (temp tablespaces on,
/// high availability zone-redundant with the standby in zone 2). Restore finds them back: it writes
/// nothing to the server and drops both originals from the state, each as a journaled restore step.
/// Before the next migration the standby moves to zone 3; that migration's apply records zone 3 as the
/// original, and its restore puts zone 3 back, not the first migration's zone 2.
#[tokio::test]
async fn a_restore_that_finds_an_address_already_back_forgets_its_original() {
    let (scenario, spec) = two_sided().await;
    let (ha, temp) =
        (format!("azure.server/{SERVER}/high_availability"), format!("azure.server/{SERVER}/configuration/{TEMP}"));
    let apply = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(state(&scenario)["changed"][&ha]["original"]["standby_zone"], "2", "{}", diagnostics(&scenario));

    scenario.arm.stage_high_availability(SUBSCRIPTION, RESOURCE_GROUP, SERVER, "ZoneRedundant", "2").unwrap();
    scenario.arm.stage_configuration(SUBSCRIPTION, RESOURCE_GROUP, SERVER, TEMP, "on").unwrap();
    scenario.rds.clear_requests();
    scenario.arm.clear_requests();
    let restored = migprep(&scenario, &["restore", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(restored.code, 0, "stdout:\n{}\nstderr:\n{}", restored.stdout, restored.stderr);
    assert!(writes(&scenario).is_empty(), "nothing to put back on the server: {:#?}", writes(&scenario));
    let after = state(&scenario);
    for address in [&ha, &temp] {
        assert!(after["changed"].get(address).is_none(), "{address} is back, its original forgotten: {after:#}");
        let journaled = records(&journal(&scenario))
            .iter()
            .any(|r| r["address"] == address.as_str() && r["kind"] == "restore" && r["phase"] == "done");
        assert!(journaled, "{address}: {}", diagnostics(&scenario));
    }

    scenario.arm.stage_high_availability(SUBSCRIPTION, RESOURCE_GROUP, SERVER, "ZoneRedundant", "3").unwrap();
    let second = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    let original = &state(&scenario)["changed"][&ha]["original"];
    assert_eq!(original["standby_zone"], "3", "the second migration's original: {}", diagnostics(&scenario));
    let restored = migprep(&scenario, &["restore", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    let live = &server(&scenario, SERVER)["properties"]["highAvailability"];
    assert_eq!(
        (live["mode"].as_str(), live["standbyAvailabilityZone"].as_str()),
        (Some("ZoneRedundant"), Some("3")),
        "{live:#}\n{}",
        diagnostics(&scenario)
    );
    assert_eq!(running(&scenario, TEMP), "on");
}

/// After the apply, the spec is edited to name another flexible server. Restore cannot look at the server
/// the originals were recorded for: each of them is a blocker naming that server, with a hint to point
/// the spec back at it; restore exits 3, sends nothing to either server and keeps every original in the
/// state. Pointed back, restore puts them back.
#[tokio::test]
async fn originals_of_a_server_the_spec_no_longer_names_block_restore() {
    let (scenario, spec) = two_sided().await;
    let apply = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    scenario.arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, ServerSeed::new("pg-other")).unwrap();
    let mut edited = scenario.spec();
    common::set(&mut edited, "target.server", "pg-other");
    let other = scenario.write_spec(&edited).unwrap();
    let recorded = std::fs::read(state_dir(&scenario).join("state.json")).unwrap();

    scenario.rds.clear_requests();
    scenario.arm.clear_requests();
    let blocked = migprep(&scenario, &["restore", text(&other), "--auto-approve"], &[]).await;
    assert_eq!(blocked.code, 3, "stdout:\n{}\nstderr:\n{}", blocked.stdout, blocked.stderr);
    for address in
        [format!("azure.server/{SERVER}/high_availability"), format!("azure.server/{SERVER}/configuration/{TEMP}")]
    {
        let block =
            blocked.stdout.split(&format!("! {address}")).nth(1).unwrap_or_else(|| panic!("{}", blocked.stdout));
        let block = block.split("\n\n").next().unwrap();
        assert!(block.contains(SERVER) && block.contains("pg-other"), "{block}");
        assert!(block.contains("hint: point [target] server in the spec back at pg-orders"), "{block}");
    }
    assert!(writes(&scenario).is_empty(), "{:#?}", writes(&scenario));
    assert_eq!(std::fs::read(state_dir(&scenario).join("state.json")).unwrap(), recorded, "the originals are kept");
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");

    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let restored = migprep(&scenario, &["restore", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "ZoneRedundant");
    assert_eq!(running(&scenario, TEMP), "on");
}

/// An apply is killed (SIGKILL) while it disables high availability: the journal holds that step's intent
/// and no outcome. Restore refuses with exit 1, naming the journal and the unfinished step, and says to run
/// apply first; it writes nothing to either cloud, the state file and the journal stay as they were, and
/// its lock is released; `restore --out` refuses too, saving nothing. An apply then settles the step, and
/// the restore after it puts back every original.
#[tokio::test]
async fn a_restore_after_a_killed_apply_waits_until_an_apply_settles_it() {
    let (scenario, spec) = two_sided().await;
    // The HA change stays in progress long after its intent, and finishes by itself soon after the kill.
    scenario.arm.set_polls_until_done(100);
    scenario.arm.set_operation_duration(Some(Duration::from_secs(4)));
    let ha = format!("azure.server/{SERVER}/high_availability");
    let mut child = spawn(&scenario, &["apply", text(&spec), "--auto-approve"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !records(&journal(&scenario)).iter().any(|r| r["address"] == ha.as_str() && r["phase"] == "intent") {
        assert!(child.try_wait().unwrap().is_none(), "the apply ended early: {}", diagnostics(&scenario));
        assert!(Instant::now() < deadline, "no intent for {ha} within a minute");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let last = records(&journal(&scenario)).into_iter().rev().find(|r| r["address"] == ha.as_str()).unwrap();
    assert_eq!(last["phase"], "intent", "killed mid-step: {}", diagnostics(&scenario));

    let dir = state_dir(&scenario);
    let lock: Value = serde_json::from_slice(&std::fs::read(dir.join("lock.json")).unwrap()).unwrap();
    let (state_before, journal_before) = (std::fs::read(dir.join("state.json")).ok(), records(&journal(&scenario)));
    scenario.rds.clear_requests();
    scenario.arm.clear_requests();
    let id = lock["id"].as_str().unwrap();
    let refused = migprep(&scenario, &["restore", text(&spec), "--auto-approve", "--force-unlock", id], &[]).await;
    assert_eq!(refused.code, 1, "stdout:\n{}\nstderr:\n{}", refused.stdout, refused.stderr);
    let error =
        refused.stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{}", refused.stderr));
    assert!(error.contains("journal.jsonl") && error.contains(&ha), "{error}");
    assert!(refused.stderr.contains("hint: run `migprep apply` to settle it, then restore"), "{}", refused.stderr);
    assert!(writes(&scenario).is_empty(), "{:#?}", writes(&scenario));
    assert_eq!(std::fs::read(dir.join("state.json")).ok(), state_before);
    assert_eq!(records(&journal(&scenario)), journal_before);
    assert!(!dir.join("lock.json").exists(), "the refusing restore released its lock");
    // Nor is a restore plan saved for later: it could not run either.
    let saved = scenario.dir().join("restore.plan");
    let out = migprep(&scenario, &["restore", text(&spec), "--out", text(&saved)], &[]).await;
    assert_eq!(out.code, 1, "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("hint: run `migprep apply` to settle it, then restore"), "{}", out.stderr);
    assert!(!saved.exists(), "no plan saved");

    let apply = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(apply.code, 0, "{}\n{}", apply.stderr, diagnostics(&scenario));
    let restored = migprep(&scenario, &["restore", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(restored.code, 0, "{}\n{}", restored.stderr, diagnostics(&scenario));
    let live = &server(&scenario, SERVER)["properties"]["highAvailability"];
    assert_eq!(
        (live["mode"].as_str(), live["standbyAvailabilityZone"].as_str()),
        (Some("ZoneRedundant"), Some("2")),
        "{live:#}\n{}",
        diagnostics(&scenario)
    );
    assert_eq!(running(&scenario, TEMP), "on");
}

/// PATCH requests ending in `suffix` that ARM accepted (a 409 or 429 refused them and changed nothing).
fn accepted_patches(scenario: &Scenario, suffix: &str) -> usize {
    let suffix = suffix.to_ascii_lowercase();
    scenario
        .arm
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.to_ascii_lowercase().ends_with(&suffix) && r.status < 300)
        .count()
}

/// Runs migprep like [`migprep`] (no terminal), with stdout and stderr into one file as a CI runner
/// keeps them, so the order of plan lines and step lines can be judged. Returns the exit code and the log.
async fn ci_log(scenario: &Scenario, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let path = scenario.dir().join(format!("ci-{}.log", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let status = tokio::process::Command::new(common::BINARY)
        .args(args)
        .envs(scenario.env())
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env_remove("MIGPREP_STATE_DIR")
        .env_remove("MIGPREP_CA_FILE")
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .await
        .unwrap();
    (status.code().unwrap_or(-1), std::fs::read_to_string(&path).unwrap())
}

/// Whether `line` opens with an RFC 3339 UTC timestamp to the second (`2025-03-01T12:03:05Z `).
fn timestamped(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 21
        && bytes[..20].iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
        && bytes[20] == b' '
}

/// `apply --auto-approve` in a CI job (no terminal), with the HA removal slowed down on the fake ARM and a
/// one-second heartbeat: the log first shows the plan it approved (its `runs:` lines) and then the steps,
/// each started and ended with a UTC timestamp, the end with its duration, and the slow step says every
/// heartbeat that it is still running and what it waits for.
#[tokio::test]
async fn a_ci_log_shows_the_approved_plan_then_timestamped_steps_with_heartbeats() {
    let (scenario, spec) = two_sided().await;
    scenario.arm.set_polls_until_done(5);
    let (code, log) =
        ci_log(&scenario, &["apply", text(&spec), "--auto-approve"], &[("MIGPREP_HEARTBEAT_SECS", "1")]).await;
    assert_eq!(code, 0, "{log}");
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");
    let lines: Vec<&str> = log.lines().collect();
    let last_runs = lines.iter().rposition(|l| l.trim_start().starts_with("runs:")).unwrap_or_else(|| panic!("{log}"));
    let first_step = lines.iter().position(|l| timestamped(l)).unwrap_or_else(|| panic!("{log}"));
    assert!(last_runs < first_step, "the plan comes before the steps:\n{log}");

    let ha = format!("azure.server/{SERVER}/high_availability");
    let of_ha: Vec<&str> = lines.iter().copied().filter(|l| l.contains(&ha) && timestamped(l)).collect();
    assert!(of_ha.first().is_some_and(|l| l.ends_with(&format!("~ {ha} …"))), "{log}");
    let done = of_ha.last().unwrap();
    assert!(done.contains(&format!(" done {ha} in ")) && done.ends_with('s'), "a duration: {log}");
    let beats: Vec<&&str> = of_ha.iter().filter(|l| l.contains(": still running after ")).collect();
    assert!(!beats.is_empty(), "heartbeats: {log}");
    assert!(beats.iter().any(|l| l.contains("(waiting for ") && l.contains("InProgress")), "{log}");
    for line in lines.iter().filter(|l| l.contains(" done ") && l.contains('/')) {
        assert!(timestamped(line), "every step line is timestamped: {line}\n{log}");
    }
}

/// A plan saved with `plan --out` was reviewed when it was made: `apply FILE` without a terminal and
/// without `--auto-approve` applies it (as terraform does), saying so on stderr. With `--format json`,
/// stdout holds only JSON lines, each one object with a `type` and a `time`: the plan first, each step's
/// start and end (and its heartbeats while slow), the summary last; restore streams the same way.
#[tokio::test]
async fn a_saved_plan_applies_without_approval_and_streams_json_lines() {
    let (scenario, spec) = two_sided().await;
    let saved = scenario.dir().join("orders.plan");
    let plan = migprep(&scenario, &["plan", text(&spec), "--out", text(&saved)], &[]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    scenario.arm.set_polls_until_done(4);
    let heartbeat = [("MIGPREP_HEARTBEAT_SECS", "1")];
    let apply = migprep(&scenario, &["apply", text(&saved), "--format", "json"], &heartbeat).await;
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(
        apply.stderr.contains(&format!("applying the saved plan {} as reviewed", text(&saved))),
        "{}",
        apply.stderr
    );
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");
    assert!(is_member(&scenario).await);

    let lines = json_lines(&apply.stdout);
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!((types.first(), types.last()), (Some(&"plan"), Some(&"summary")), "{}", apply.stdout);
    assert_eq!(lines[0]["plan"]["format_version"], 1);
    let planned = runnable(&changes(&lines[0]["plan"]));
    let of = |kind: &str| -> Vec<String> {
        lines.iter().filter(|l| l["type"] == kind).map(|l| l["address"].as_str().unwrap().to_string()).collect()
    };
    let (mut started, mut done) = (of("started"), of("done"));
    started.sort();
    done.sort();
    let mut planned_sorted = planned.clone();
    planned_sorted.sort();
    assert_eq!((&started, &done), (&planned_sorted, &planned_sorted), "{}", apply.stdout);
    let ha = format!("azure.server/{SERVER}/high_availability");
    assert!(lines.iter().any(|l| l["type"] == "progress" && l["address"] == ha), "{}", apply.stdout);
    let summary = lines.last().unwrap();
    assert_eq!((summary["kind"].as_str(), summary["status"].as_str()), (Some("apply"), Some("complete")));
    assert_eq!(summary["applied"].as_u64(), Some(planned.len() as u64));

    let restore = migprep(&scenario, &["restore", text(&spec), "--auto-approve", "--format", "json"], &[]).await;
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    let lines = json_lines(&restore.stdout);
    let summary = lines.last().unwrap();
    assert_eq!((summary["kind"].as_str(), summary["status"].as_str()), (Some("restore"), Some("complete")));
    assert!(lines.iter().any(|l| l["type"] == "done" && l["address"] == ha), "{}", restore.stdout);
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "ZoneRedundant");
}

/// Every line of a JSON stream, each parsed on its own, with the keys every line has.
fn json_lines(stdout: &str) -> Vec<Value> {
    assert!(!stdout.is_empty());
    stdout
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}\n{stdout}"));
            assert!(value["type"].is_string() && value["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{line}");
            value
        })
        .collect()
}
