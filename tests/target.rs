//! Target prerequisites end to end: the real binary against the fake ARM and the target PostgreSQL
//! stand-in. T1 (temp tablespaces), T2 (high availability), T3 (read replicas) and T11 (one restart),
//! each applied and restored; assertions look at the `azure.server/…` part of the plan and at the fake's
//! state and request log, not at the source side (its own tests cover it).

mod common;

use common::{
    Output, TEMP, changes_under, json_plan, migprep, runnable, running, server, spawn, state_dir, text, with_allow,
};
use migprep_testkit::arm::{FakeArm, FakeArmConfig, ServerSeed};
use migprep_testkit::scenario::{RESOURCE_GROUP, SERVER, SUBSCRIPTION, Scenario, ScenarioConfig};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// The plan's changes on the flexible server, from `plan --format json`.
async fn azure_changes(scenario: &Scenario, spec: &Path) -> Vec<Value> {
    changes_under(&json_plan(scenario, spec).await, &["azure.server/"])
}

/// A zone-redundant server (standby in zone 2) with temp tablespaces on the local SSD: the plan shows
/// both as temporary changes; apply turns them off, after which the target has nothing left to do;
/// restore brings back ZoneRedundant in zone 2 and `on`; a second restore changes nothing.
#[tokio::test]
async fn high_availability_and_temp_tablespaces_round_trip() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2"),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();

    let changes = azure_changes(&scenario, &spec).await;
    let temp = changes.iter().find(|c| c["address"] == format!("azure.server/{SERVER}/configuration/{TEMP}"));
    let temp = temp.unwrap_or_else(|| panic!("{changes:#?}"));
    assert_eq!((temp["before"].as_str(), temp["after"].as_str()), (Some("on"), Some("off")));
    assert_eq!(temp["temporary"], true);
    let ha = changes.iter().find(|c| c["address"] == format!("azure.server/{SERVER}/high_availability")).unwrap();
    assert_eq!(ha["before"], "ZoneRedundant (standby zone 2)");
    assert_eq!(ha["after"], "Disabled");

    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");
    assert_eq!(server(&scenario, SERVER)["properties"]["state"], "Ready");
    assert_eq!(running(&scenario, TEMP), "off");
    let again = azure_changes(&scenario, &spec).await;
    assert!(runnable(&again).is_empty(), "{again:#?}");

    let Output { code, stderr, .. } = migprep(&scenario, &["restore", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("done azure.server/{SERVER}/high_availability")), "{stderr}");
    let ha = &server(&scenario, SERVER)["properties"]["highAvailability"];
    assert_eq!((ha["mode"].as_str(), ha["standbyAvailabilityZone"].as_str()), (Some("ZoneRedundant"), Some("2")));
    assert_eq!(running(&scenario, TEMP), "on");

    let writes = scenario.arm.count_requests("PATCH", SERVER) + scenario.arm.count_requests("PATCH", TEMP);
    let Output { code, stderr, .. } = migprep(&scenario, &["restore", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("done azure.server"), "{stderr}");
    assert_eq!(scenario.arm.count_requests("PATCH", SERVER) + scenario.arm.count_requests("PATCH", TEMP), writes);
}

/// Temp tablespaces already off, HA disabled and the source's extensions already allowlisted: nothing
/// to change and nothing recorded, so restore has no record to work from: it refuses (exit 1) and leaves
/// the parameter alone.
#[tokio::test]
async fn already_off_is_left_alone() {
    let server = ServerSeed::new(SERVER)
        .configuration(TEMP, "off")
        .configuration("azure.extensions", "hstore,pg_stat_statements,pgcrypto");
    let config = ScenarioConfig { server, ..ScenarioConfig::default() };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    assert!(runnable(&azure_changes(&scenario, &spec).await).is_empty());
    let Output { code, stderr, .. } = migprep(&scenario, &["restore", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no record of what migprep changed"), "{stderr}");
    assert_eq!(running(&scenario, TEMP), "off");
    assert_eq!(scenario.arm.count_requests("PATCH", TEMP), 0);
}

/// Two read replicas and `remove_replicas = "no"`: a blocker (exit 3) naming each replica and both ways
/// out. With `promote`, apply promotes both to standalone servers and the restore plan offers to
/// re-create them (opt-in, so pending until `[allow] recreate_replicas`).
#[tokio::test]
async fn replicas_block_until_promoted() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).replica("pg-orders-r1").replica("pg-orders-r2"),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let Output { code, stdout, stderr } = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    for replica in ["pg-orders-r1", "pg-orders-r2"] {
        let line = stdout.lines().find(|l| l.contains(&format!("replica/{replica}"))).expect(&stdout);
        assert!(line.contains('!'), "{line}");
    }
    assert!(stdout.contains("remove_replicas = \"promote\"") && stdout.contains("\"delete\""), "{stdout}");

    let spec = with_allow(&scenario, &[("remove_replicas", "promote".into())]);
    let Output { code, stdout, stderr } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for replica in ["pg-orders-r1", "pg-orders-r2"] {
        let promoted = server(&scenario, replica);
        assert_ne!(promoted["properties"]["replicationRole"], "AsyncReplica", "{promoted:#}");
    }
    assert!(runnable(&azure_changes(&scenario, &spec).await).is_empty());

    let out = scenario.dir().join("restore.json");
    let Output { code, stdout, stderr } = migprep(&scenario, &["restore", "--out", text(&out), text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    for replica in ["pg-orders-r1", "pg-orders-r2"] {
        let line = stdout.lines().find(|l| l.contains(&format!("replica/{replica}"))).expect(&stdout);
        assert!(line.contains('+'), "{line}");
    }
    assert!(stdout.contains("recreate_replicas"), "{stdout}");
}

/// Two static parameters already wait for a restart: without `[allow] restart_target` the plan lists
/// the restart as pending and names both; with it, apply restarts the server exactly once and nothing
/// waits any more.
#[tokio::test]
async fn static_parameters_share_one_restart() {
    let scenario = Scenario::start().await.unwrap();
    for (name, value) in [("max_replication_slots", "21"), ("max_wal_senders", "22")] {
        scenario.arm.stage_configuration(SUBSCRIPTION, RESOURCE_GROUP, SERVER, name, value).unwrap();
    }
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let changes = azure_changes(&scenario, &spec).await;
    let restart = changes.iter().find(|c| c["address"] == format!("azure.server/{SERVER}/restart")).unwrap();
    let pending = restart["pending"].as_str().unwrap();
    assert!(pending.contains("max_replication_slots") && pending.contains("max_wal_senders"), "{pending}");
    assert!(restart["remedy"].as_str().unwrap().contains("restart_target"));

    let spec = with_allow(&scenario, &[("restart_target", true.into())]);
    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(scenario.arm.count_requests("POST", "/restart"), 1);
    assert_eq!(running(&scenario, "max_replication_slots"), "21");
    assert_eq!(running(&scenario, "max_wal_senders"), "22");
    let again = azure_changes(&scenario, &spec).await;
    assert!(again.iter().all(|c| !c["address"].as_str().unwrap().ends_with("/restart")), "{again:#?}");
}

/// ARM throttles (429, `Retry-After: 1`), then the HA operation ends `Failed`: a clear error with ARM's
/// code and message; the next apply resumes and converges.
#[tokio::test]
async fn throttling_is_waited_out_and_a_failed_operation_resumes() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2"),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    scenario.arm.fail_next_operation("InternalServerError", "The standby could not be removed.");
    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("InternalServerError") && stderr.contains("The standby could not be removed."), "{stderr}");

    scenario.arm.inject_throttling(1, 1);
    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");
    assert_eq!(running(&scenario, TEMP), "off");
    assert!(runnable(&azure_changes(&scenario, &spec).await).is_empty());
}

/// ARM throttles the first request (429, `Retry-After: 1`) and answers the first two writes 409
/// `ServerBusy`: apply waits both out and converges. The request log shows the two 409s on the first
/// write, then the same write accepted.
#[tokio::test]
async fn a_busy_server_and_throttling_are_waited_out() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2"),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    scenario.arm.clear_requests();
    scenario.arm.inject_throttling(1, 1);
    scenario.arm.inject_busy(2);
    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");

    let log = scenario.arm.requests();
    assert_eq!(log.iter().filter(|r| r.status == 429).count(), 1, "{log:#?}");
    let writes: Vec<_> = log.iter().filter(|r| r.method != "GET" && !r.path.contains("/oauth2/")).collect();
    let statuses: Vec<u16> = writes.iter().map(|r| r.status).collect();
    assert_eq!(statuses[..3], [409, 409, 202], "{writes:#?}");
    assert!(writes[..3].iter().all(|w| w.path == writes[0].path && w.method == writes[0].method), "{writes:#?}");
    assert!(statuses[3..].iter().all(|s| *s == 202), "{writes:#?}");
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");
    assert_eq!(running(&scenario, TEMP), "off");
    assert!(runnable(&azure_changes(&scenario, &spec).await).is_empty());
}

/// A fake ARM whose every operation takes `seconds` and whose polls answer "running" until then, as a
/// real HA change or promotion does, also after the client that started it is gone.
fn slow_arm(seconds: u64) -> FakeArmConfig {
    FakeArmConfig {
        polls_until_done: 1000,
        operation_duration: Some(Duration::from_secs(seconds)),
        retry_after_secs: 1,
        ..FakeArmConfig::default()
    }
}

/// Starts `apply` in the background and returns it once it has sent a PATCH to a path ending in `path`.
async fn apply_until_patched(scenario: &Scenario, spec: &Path, path: &str) -> tokio::process::Child {
    let mut child = spawn(scenario, &["apply", "--auto-approve", text(spec)]);
    let started = Instant::now();
    while scenario.arm.count_requests("PATCH", path) == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "apply never sent a PATCH to {path}");
        assert!(child.try_wait().unwrap().is_none(), "apply ended before its PATCH to {path}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

/// The id of the lock a refused run quotes in its `--force-unlock` hint.
fn quoted_lock_id(stderr: &str) -> &str {
    let id = stderr.split("--force-unlock ").nth(1).and_then(|rest| rest.split(['`', ' ', '\n']).next());
    id.unwrap_or_else(|| panic!("no lock id in: {stderr}"))
}

/// `apply` is killed (SIGKILL) while ARM runs the HA PATCH's long-running operation. The operation goes
/// on without its client and succeeds; the next apply waits for it instead of sending a second PATCH,
/// exits 0 with HA disabled, and restore still knows the original (zone-redundant, standby in zone 2).
#[tokio::test]
async fn a_killed_apply_leaves_the_ha_change_to_finish_and_the_next_apply_waits_for_it() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2").configuration(TEMP, "off"),
        // Polls never finish the operation; only time does, as for a real HA change whose client died.
        arm: slow_arm(8),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let server_path = format!("/flexibleServers/{SERVER}");

    let mut child = apply_until_patched(&scenario, &spec, &server_path).await;
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed: {status}");
    let during = &server(&scenario, SERVER)["properties"];
    assert_eq!(during["highAvailability"]["state"], "RemovingStandby", "the operation outlives its client");

    // The killed run still holds the state lock, and its process is gone: the refusal says the lock is
    // stale and quotes the command that breaks it.
    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("locked by a run that is gone") && stderr.contains("migprep force-unlock"), "{stderr}");
    let lock_id = quoted_lock_id(&stderr);
    assert_eq!(scenario.arm.count_requests("PATCH", &server_path), 1, "a refused run writes nothing");
    let Output { code, stderr, .. } = migprep(&scenario, &["force-unlock", text(&spec), lock_id], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!state_dir(&scenario).join("lock.json").exists());
    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("done azure.server/{SERVER}/high_availability")), "{stderr}");
    let after = &server(&scenario, SERVER)["properties"];
    assert_eq!(
        (after["highAvailability"]["mode"].as_str(), after["state"].as_str()),
        (Some("Disabled"), Some("Ready"))
    );
    assert_eq!(scenario.arm.count_requests("PATCH", &server_path), 1, "{:#?}", scenario.arm.requests());
    assert!(runnable(&azure_changes(&scenario, &spec).await).is_empty());

    scenario.arm.set_operation_duration(Some(Duration::from_millis(100)));
    let Output { code, stderr, .. } = migprep(&scenario, &["restore", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let ha = &server(&scenario, SERVER)["properties"]["highAvailability"];
    assert_eq!((ha["mode"].as_str(), ha["standbyAvailabilityZone"].as_str()), (Some("ZoneRedundant"), Some("2")));
}

/// Ctrl-C (SIGINT) while ARM runs the HA change: the running step is waited for and recorded, the steps
/// after it do not start, the run exits 130 and leaves no lock behind; the next apply goes on without a
/// lock to break and without sending the HA change again.
#[tokio::test]
async fn ctrl_c_lets_the_running_step_finish_releases_the_lock_and_the_next_apply_resumes() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2").configuration(TEMP, "off"),
        arm: slow_arm(3),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    // The source's chain (create the group, set it, attach it) runs beside the target's changes, which
    // depend on none of it: a first step slower than the target's operations before the HA PATCH keeps the
    // rest of that chain unstarted when Ctrl-C comes.
    scenario.rds.set_latency(Some("CreateDBClusterParameterGroup"), Duration::from_secs(10));
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let server_path = format!("/flexibleServers/{SERVER}");

    let mut child = apply_until_patched(&scenario, &spec, &server_path).await;
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(!state_dir(&scenario).join("lock.json").exists(), "the lock is released");
    let ha = &server(&scenario, SERVER)["properties"]["highAvailability"];
    assert_eq!(ha["mode"], "Disabled", "the running step was waited for: {ha}");

    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(scenario.arm.count_requests("PATCH", &server_path), 1, "{:#?}", scenario.arm.requests());
    assert_eq!(running(&scenario, TEMP), "off");
    assert!(runnable(&azure_changes(&scenario, &spec).await).is_empty());
}

/// An apply that outlives its `--deadline` (ARM takes longer over the HA change than allowed) gives up
/// with exit 1, naming the deadline, and releases the lock; the next apply (without a deadline) finds the
/// change under way or done, waits for it instead of sending it again, and converges.
#[tokio::test]
async fn an_apply_past_its_deadline_gives_up_and_the_next_one_resumes() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2").configuration(TEMP, "off"),
        arm: slow_arm(6),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let server_path = format!("/flexibleServers/{SERVER}");

    let Output { code, stderr, .. } =
        migprep(&scenario, &["apply", "--auto-approve", "--deadline", "2s", text(&spec)], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("gave up after 2s (--deadline)") && stderr.contains("hint: run the command again"),
        "{stderr}"
    );
    assert!(!state_dir(&scenario).join("lock.json").exists(), "the lock is released");

    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(scenario.arm.count_requests("PATCH", &server_path), 1, "{:#?}", scenario.arm.requests());
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");
}

/// Restore reads what apply recorded as data, never the text shown to people: after an apply that turned
/// off temp tablespaces and zone-redundant HA (standby in zone 2), every `before`/`after` of the state
/// file is reworded; restore still turns the parameter back on and re-enables HA in zone 2.
#[tokio::test]
async fn restore_reads_the_recorded_originals_not_their_wording() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2").configuration(TEMP, "on"),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(server(&scenario, SERVER)["properties"]["highAvailability"]["mode"], "Disabled");
    assert_eq!(running(&scenario, TEMP), "off");

    let path = state_dir(&scenario).join("state.json");
    let mut recorded: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let entries = recorded["changed"].as_object_mut().unwrap();
    assert!(entries.len() >= 2, "{entries:#?}");
    for entry in entries.values_mut() {
        entry["before"] = "worded some other way".into();
        entry["after"] = "reworded".into();
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&recorded).unwrap()).unwrap();

    let Output { code, stderr, .. } = migprep(&scenario, &["restore", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let ha = &server(&scenario, SERVER)["properties"]["highAvailability"];
    assert_eq!((ha["mode"].as_str(), ha["standbyAvailabilityZone"].as_str()), (Some("ZoneRedundant"), Some("2")));
    assert_eq!(running(&scenario, TEMP), "on");
}

/// `apply` is killed (SIGKILL) while ARM promotes a read replica. The promotion goes on and ends; the
/// next apply (after breaking the dead run's lock) waits for the replica to be ready, finds it promoted,
/// and does not send the promotion again, so it converges instead of being refused by a server that is
/// no longer a replica.
#[tokio::test]
async fn a_killed_promotion_is_waited_for_and_not_sent_twice() {
    let replica = "pg-orders-r1";
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).replica(replica).configuration(TEMP, "off"),
        arm: slow_arm(6),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = with_allow(&scenario, &[("remove_replicas", "promote".into())]);
    let replica_path = format!("/flexibleServers/{replica}");

    let mut child = apply_until_patched(&scenario, &spec, &replica_path).await;
    child.start_kill().unwrap();
    assert!(!child.wait().await.unwrap().success());

    let Output { stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    let lock_id = quoted_lock_id(&stderr);
    let Output { code, stderr, .. } =
        migprep(&scenario, &["apply", "--auto-approve", "--force-unlock", lock_id, text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(scenario.arm.count_requests("PATCH", &replica_path), 1, "{:#?}", scenario.arm.requests());
    assert_ne!(server(&scenario, replica)["properties"]["replicationRole"], "AsyncReplica");
    assert!(runnable(&azure_changes(&scenario, &spec).await).is_empty());
}

/// Two read replicas and `remove_replicas = "delete"`: the plan shows each as a destructive `-` with its
/// recorded definition; apply deletes both (one DELETE each). The restore plan offers to re-create them,
/// pending until `[allow] recreate_replicas = true`; with it, restore creates both again as read replicas
/// of the server, with the recorded SKU and storage, and a second restore has nothing to do.
#[tokio::test]
async fn replicas_deleted_and_re_created() {
    let replicas = ["pg-orders-r1", "pg-orders-r2"];
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER)
            .sku("Standard_D8ds_v5", "GeneralPurpose")
            .storage_size_gb(256)
            .replica(replicas[0])
            .replica(replicas[1]),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = with_allow(&scenario, &[("remove_replicas", "delete".into())]);

    let changes = azure_changes(&scenario, &spec).await;
    for replica in replicas {
        let change = changes
            .iter()
            .find(|c| c["address"] == format!("azure.server/{SERVER}/replica/{replica}"))
            .unwrap_or_else(|| panic!("{changes:#?}"));
        assert_eq!((change["action"].as_str(), change["after"].as_str()), (Some("delete"), Some("deleted")));
        assert_eq!(change["disruptive"], true);
        // The definition restore needs is recorded as data; `before` shows it to people.
        let before = change["before"].as_str().unwrap();
        assert!(before.starts_with(&format!("{replica} (Standard_D8ds_v5, ")) && before.contains("256 GB"), "{before}");
    }
    let Output { code, stdout, stderr } = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    for replica in replicas {
        let line = stdout.lines().find(|l| l.contains(&format!("replica/{replica}"))).expect(&stdout);
        assert!(line.trim_start().starts_with('-'), "{line}");
    }

    let Output { code, stdout, stderr } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for replica in replicas {
        assert!(scenario.arm.server_json(SUBSCRIPTION, RESOURCE_GROUP, replica).is_none(), "{replica} still exists");
        assert_eq!(scenario.arm.count_requests("DELETE", &format!("/flexibleServers/{replica}")), 1);
    }
    assert!(runnable(&azure_changes(&scenario, &spec).await).is_empty());

    let out = scenario.dir().join("restore.json");
    let Output { code, stdout, stderr } = migprep(&scenario, &["restore", "--out", text(&out), text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    for replica in replicas {
        let line = stdout.lines().find(|l| l.contains(&format!("replica/{replica}"))).expect(&stdout);
        assert!(line.contains('+'), "{line}");
    }
    assert!(stdout.contains("recreate_replicas"), "{stdout}");
    let Output { code, stderr, .. } = migprep(&scenario, &["restore", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    for replica in replicas {
        assert!(scenario.arm.server_json(SUBSCRIPTION, RESOURCE_GROUP, replica).is_none(), "opt-in: not re-created");
    }
    assert_eq!(scenario.arm.count_requests("PUT", ""), 0);

    let spec = with_allow(&scenario, &[("remove_replicas", "delete".into()), ("recreate_replicas", true.into())]);
    let Output { code, stdout, stderr } = migprep(&scenario, &["restore", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let primary_id = FakeArm::server_resource_id(SUBSCRIPTION, RESOURCE_GROUP, SERVER);
    for replica in replicas {
        let created = server(&scenario, replica);
        let properties = &created["properties"];
        assert_eq!(properties["replicationRole"], "AsyncReplica", "{created:#}");
        assert_eq!(properties["sourceServerResourceId"], primary_id.as_str());
        assert_eq!(properties["state"], "Ready");
        assert_eq!(created["sku"]["name"], "Standard_D8ds_v5");
        assert_eq!(properties["storage"]["storageSizeGB"], 256);
        assert_eq!(scenario.arm.count_requests("PUT", &format!("/flexibleServers/{replica}")), 1);
    }
    let Output { code, stderr, .. } = migprep(&scenario, &["restore", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    for replica in replicas {
        assert_eq!(scenario.arm.count_requests("PUT", &format!("/flexibleServers/{replica}")), 1);
    }
}

/// The server's next operation starts when the last one ends: a parameter's read-back does not hold the
/// server. With every read of a single parameter answered seconds late, the server's second parameter
/// is sent, and answered, while the first one's read-back is still on its way.
#[tokio::test]
async fn a_parameters_read_back_does_not_hold_up_the_servers_next_operation() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let parameters = azure_changes(&scenario, &spec).await;
    let parameters: Vec<_> =
        parameters.iter().filter(|c| c["address"].as_str().is_some_and(|a| a.contains("/configuration/"))).collect();
    assert!(parameters.len() >= 2, "two parameters to set: {parameters:#?}");
    scenario.arm.set_read_latency("/configurations/", Duration::from_secs(3));
    scenario.arm.clear_requests();
    let run = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // The log holds requests in the order they were answered.
    let requests = scenario.arm.requests();
    let single = |r: &&migprep_testkit::arm::RecordedRequest| r.path.contains("/configurations/");
    let first_read_back = requests.iter().position(|r| r.method == "GET" && single(&r)).expect("a read-back");
    let sent_before = requests[..first_read_back].iter().filter(|r| r.method == "PATCH" && single(r)).count();
    let order: Vec<String> = requests.iter().filter(single).map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(sent_before >= 2, "both parameters were sent before the first read-back came back: {order:#?}");
}
