//! The commands around a plan, end to end with the real binary: saving and showing a plan, refusing a
//! damaged plan file, and the lock that keeps two runs of one spec apart.

mod common;

use common::{Output, command, member_of, migprep, text};
use migprep::apply::StateDir;
use migprep::apply::lock::{Holder, Lock};
use migprep::plan::Operation;
use migprep::plan::file;
use migprep::plan::operation::{SourceOp, TargetOp};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::scenario::{CLUSTER, SERVER, Scenario, ScenarioConfig};
use migprep_testkit::terminal::Terminal;
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncReadExt;

/// `plan --out` saves what it printed; `show` prints the same plan from the file, in every format; a
/// file edited after it was written is refused with one error and a hint.
#[tokio::test]
async fn a_saved_plan_shows_as_planned_and_refuses_edits() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let saved = scenario.dir().join("orders.plan");
    let Output { code, stdout: planned, stderr } =
        migprep(&scenario, &["plan", text(&spec), "--out", text(&saved)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("saved the plan"), "{stderr}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&saved).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "plans name servers and users: private to the owner");

    let Output { code, stdout: shown, stderr } = migprep(&scenario, &["show", text(&saved)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(shown, planned);
    let Output { stdout: json, .. } = migprep(&scenario, &["show", text(&saved), "--format", "json"], &[]).await;
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["format_version"], 1);
    let Output { stdout: markdown, .. } =
        migprep(&scenario, &["show", text(&saved), "--format", "markdown"], &[]).await;
    assert!(markdown.starts_with('#'), "{markdown}");

    let edited = std::fs::read_to_string(&saved).unwrap().replacen("orders", "billing", 1);
    std::fs::write(&saved, edited).unwrap();
    let Output { code, stdout, stderr } = migprep(&scenario, &["show", text(&saved)], &[]).await;
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].contains("was changed after migprep wrote it"), "{stderr}");
    assert!(lines[1].starts_with("hint: "), "{stderr}");
}

/// A lock left by another run stops `apply` at once, naming the holder, its pid, host and start time and
/// how to break it; `--force-unlock` with the lock's id breaks it deliberately and the apply goes on.
#[tokio::test]
async fn a_held_lock_names_its_holder_and_can_be_broken() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let dir = StateDir::open(&scenario.dir().join(".migprep"), "orders").unwrap();
    let holder = Holder { user: "alice".into(), host: "jump-1".into(), pid: 4242 };
    let lock = Lock::acquire(&dir, &holder, "apply", SystemTime::now()).unwrap();
    let id = lock.info().id.clone();
    // The holder "dies" without releasing: the file stays behind.
    std::mem::forget(lock);

    let Output { code, stderr, .. } = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("alice") && stderr.contains("4242") && stderr.contains("jump-1"), "{stderr}");
    assert!(stderr.contains(&format!("--force-unlock {id}")), "{stderr}");

    let Output { code, stderr, .. } =
        migprep(&scenario, &["apply", text(&spec), "--auto-approve", "--force-unlock", "wrong"], &[]).await;
    assert_eq!(code, 1, "a wrong id breaks nothing: {stderr}");

    let Output { code, stderr, .. } =
        migprep(&scenario, &["apply", text(&spec), "--auto-approve", "--force-unlock", &id], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("broke the lock {id}")), "{stderr}");
    assert!(!dir.lock().exists(), "the apply released its own lock");
}

/// `restore` on a machine that never ran `apply` (a fresh CI runner, a wrong folder) has no record of
/// what to put back: it refuses with exit 1, naming the state file it looked for and what to do, instead
/// of reporting that everything is back as it was.
#[tokio::test]
async fn restore_without_a_record_refuses() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let Output { code, stdout, stderr } = migprep(&scenario, &["restore", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("no record of what migprep changed") && stderr.contains("state.json"), "{stderr}");
    assert!(stderr.contains("hint: restore needs the state folder"), "{stderr}");
    assert!(!stdout.contains("back as it was"), "{stdout}");
}

/// A saved plan is edited by someone who can write the file: the S8 grant's role becomes `rds_superuser`
/// and the file is saved again with a matching integrity digest (the digest is no secret). `apply FILE`
/// derives the plan afresh, finds that the file would run something migprep would not, and refuses,
/// naming the change; the source is untouched (the migration user is a member of neither role).
#[tokio::test]
async fn a_forged_saved_plan_is_refused_and_changes_nothing() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let saved = scenario.dir().join("orders.plan");
    let Output { code, stderr, .. } = migprep(&scenario, &["plan", text(&spec), "--out", text(&saved)], &[]).await;
    assert_eq!(code, 0, "{stderr}");

    let mut forged = file::load(&saved, None).unwrap();
    let grant = forged
        .plan
        .changes
        .iter_mut()
        .find_map(|c| match &mut c.operation {
            Some(Operation::Source(SourceOp::Grant { role, .. })) => Some(role),
            _ => None,
        })
        .expect("the plan grants rds_replication to the migration user");
    *grant = "rds_superuser".into();
    file::save(&saved, &forged.plan, &forged.spec_file, &forged.spec_digest, &forged.observations).unwrap();
    let Output { code, stdout, .. } = migprep(&scenario, &["show", text(&saved)], &[]).await;
    assert_eq!(code, 0, "the forged file is consistent: only a fresh derivation tells it apart\n{stdout}");
    assert!(
        stdout.contains(r#"runs: SQL on the source: GRANT "rds_superuser" TO"#),
        "shown as it would run:\n{stdout}"
    );

    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&saved)], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("does not run what migprep would run now"), "{stderr}");
    assert!(stderr.contains("grant/rds_replication") && stderr.contains("rds_superuser"), "{stderr}");
    let user = &scenario.source.migration_user().user;
    assert!(!member_of(&scenario.source, user, "rds_superuser").await);
    assert!(!member_of(&scenario.source, user, "rds_replication").await, "nothing of the plan ran");
}

/// A plan made in one place applies in another (another CI job, another checkout): the saved plan finds
/// its spec beside it, not at the absolute path where it was made, and the spec's digest still proves it
/// is the same spec.
#[tokio::test]
async fn a_saved_plan_moved_with_its_spec_still_applies() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let saved = scenario.dir().join("orders.plan");
    let Output { code, stderr, .. } = migprep(&scenario, &["plan", text(&spec), "--out", text(&saved)], &[]).await;
    assert_eq!(code, 0, "{stderr}");

    let checkout = scenario.dir().join("another-checkout");
    std::fs::create_dir(&checkout).unwrap();
    for name in ["migprep.toml", "orders.plan"] {
        std::fs::rename(scenario.dir().join(name), checkout.join(name)).unwrap();
    }
    // What the spec names relative to itself comes along, as it would in a checkout.
    std::fs::copy(scenario.dir().join("ca.pem"), checkout.join("ca.pem")).unwrap();
    std::fs::create_dir(checkout.join("secrets")).unwrap();
    for secret in std::fs::read_dir(scenario.dir().join("secrets")).unwrap() {
        let secret = secret.unwrap().path();
        std::fs::copy(&secret, checkout.join("secrets").join(secret.file_name().unwrap())).unwrap();
    }
    let moved = checkout.join("orders.plan");
    let Output { code, stdout, stderr } = migprep(&scenario, &["apply", "--auto-approve", text(&moved)], &[]).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let user = &scenario.source.migration_user().user;
    assert!(member_of(&scenario.source, user, "rds_replication").await, "the moved plan ran");
}

/// Starts `args` on a fresh terminal and waits until the confirmation prompt shows on stderr. Returns the
/// child, the terminal, stderr and what it showed so far.
async fn at_the_prompt(
    scenario: &Scenario,
    args: &[&str],
) -> (tokio::process::Child, Terminal, tokio::process::ChildStderr, Vec<u8>) {
    let terminal = Terminal::open().unwrap();
    let mut run = command(scenario, args);
    terminal.attach(&mut run).unwrap();
    let mut child = run.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut shown = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&shown).contains("Do you want to perform these actions?") {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout_at(deadline.into(), stderr.read(&mut chunk)).await;
        let read = read.unwrap_or_else(|_| panic!("no prompt within a minute: {}", String::from_utf8_lossy(&shown)));
        let read = read.unwrap();
        assert!(read > 0, "stderr closed before the prompt: {}", String::from_utf8_lossy(&shown));
        shown.extend_from_slice(&chunk[..read]);
    }
    (child, terminal, stderr, shown)
}

/// `apply` on a terminal shows the plan and asks for `yes`. Ctrl-C typed at the prompt (stdin still open,
/// no Enter) ends the run at once with exit 130: nothing is changed on the source, the journal holds no
/// step, and the lock is released. Asked again, `yes` applies.
#[tokio::test]
async fn ctrl_c_at_the_confirmation_prompt_cancels_at_once() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let user = &scenario.source.migration_user().user;
    let (mut child, mut terminal, mut stderr, mut shown) = at_the_prompt(&scenario, &["apply", text(&spec)]).await;
    let lock = scenario.dir().join(".migprep/orders/lock.json");
    assert!(lock.exists(), "the prompt comes after the lock is taken");

    terminal.press(b"\x03").unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let status = status.expect("Ctrl-C at the prompt ends the run without waiting for Enter").unwrap();
    stderr.read_to_end(&mut shown).await.unwrap();
    let shown = String::from_utf8_lossy(&shown);
    assert_eq!(status.code(), Some(130), "{shown}");
    assert!(shown.contains("nothing was changed"), "{shown}");
    assert!(!lock.exists(), "the lock is released");
    let journal = scenario.dir().join(".migprep/orders/journal.jsonl");
    assert!(std::fs::read_to_string(&journal).unwrap_or_default().trim().is_empty(), "no step started");
    assert!(!member_of(&scenario.source, user, "rds_replication").await);

    let (mut child, mut terminal, _stderr, _) = at_the_prompt(&scenario, &["apply", text(&spec)]).await;
    terminal.press(b"yes\n").unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(member_of(&scenario.source, user, "rds_replication").await, "the answer was read");
}

/// The ARM writes a plan shows (`runs: ARM PATCH …` with the request body) as `(path suffix, body)`.
fn shown_writes(human: &str) -> Vec<(String, Value)> {
    let server = migprep_testkit::scenario::SERVER;
    human
        .lines()
        .filter_map(|line| line.trim().strip_prefix("runs: ARM PATCH "))
        .map(|call| {
            let (target, body) = call.split_at(call.find('{').unwrap_or_else(|| panic!("no body: {call}")));
            let suffix = if let Some(name) = target.trim().strip_prefix("the flexible server's configurations/") {
                format!("/flexibleServers/{server}/configurations/{name}")
            } else if target.trim() == "the flexible server" {
                format!("/flexibleServers/{server}")
            } else {
                let name = target.trim().strip_prefix("flexible server ").unwrap().split(' ').next().unwrap();
                format!("/flexibleServers/{name}")
            };
            (suffix.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")))
        })
        .collect()
}

/// The PATCH and PUT requests the fake ARM received, as `(method, path, body)`.
fn sent_writes(scenario: &Scenario) -> Vec<(String, String, Value)> {
    scenario
        .arm
        .requests()
        .into_iter()
        .filter_map(|r| {
            let body = serde_json::from_str(r.body.as_deref()?).unwrap();
            Some((r.method, r.path.to_ascii_lowercase(), body))
        })
        .collect()
}

/// Every PATCH body ARM receives is exactly the body the plan showed for that resource, and every shown
/// body is sent: on apply (high availability off, temp tablespaces off, a replica deleted) and on the
/// restore that puts them back (zone-redundant HA in zone 2, the parameter on, the replica re-created by
/// a PUT with the recorded definition).
#[tokio::test]
async fn arm_requests_carry_exactly_the_bodies_the_plan_shows() {
    let config = ScenarioConfig {
        server: ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2").replica("pg-orders-r1"),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec =
        common::with_allow(&scenario, &[("remove_replicas", "delete".into()), ("recreate_replicas", true.into())]);
    let check = |human: &str, stage: &str| {
        let shown = shown_writes(human);
        let sent = sent_writes(&scenario);
        assert!(shown.len() >= 2, "{stage}: {human}");
        for (method, path, body) in sent.iter().filter(|(method, ..)| method == "PATCH") {
            let matched = shown.iter().any(|(suffix, shown)| path.ends_with(suffix) && shown == body);
            assert!(matched, "{stage}: {method} {path} {body} was not shown:\n{human}");
        }
        for (suffix, body) in &shown {
            let matched =
                sent.iter().any(|(method, path, sent)| method == "PATCH" && path.ends_with(suffix) && sent == body);
            assert!(matched, "{stage}: {suffix} {body} was shown but not sent: {sent:#?}");
        }
    };

    let plan = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let apply = migprep(&scenario, &["apply", text(&spec), "--auto-approve"], &[]).await;
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    check(&plan.stdout, "apply");

    scenario.arm.clear_requests();
    let saved = scenario.dir().join("restore.plan");
    let restore = migprep(&scenario, &["restore", text(&spec), "--out", text(&saved)], &[]).await;
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    let applied = migprep(&scenario, &["apply", text(&saved), "--auto-approve"], &[]).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    check(&restore.stdout, "restore");

    let shown = file::load(&saved, None).unwrap().plan;
    let replica = shown
        .changes
        .iter()
        .find_map(|c| match &c.operation {
            Some(Operation::Target(TargetOp::CreateReplica { replica })) => Some(replica.clone()),
            _ => None,
        })
        .expect("the restore re-creates the replica");
    // A PUT refused while the server was busy is sent again, the same.
    let puts: Vec<_> = sent_writes(&scenario).into_iter().filter(|(method, ..)| method == "PUT").collect();
    assert!(!puts.is_empty() && puts.iter().all(|put| *put == puts[0]), "{puts:#?}");
    let (_, path, body) = &puts[0];
    assert!(path.ends_with(&format!("/flexibleservers/{}", replica.name)), "{path}");
    assert_eq!(body["location"], replica.location.as_str());
    assert_eq!(body["sku"], serde_json::json!({ "name": replica.sku, "tier": replica.tier }));
    assert_eq!(body["properties"]["createMode"], "Replica");
    assert_eq!(body["properties"]["storage"]["storageSizeGB"], replica.storage_size_gb.unwrap());
}

/// The command line's own habits, without any stand-in: a usage error (an unknown value, an unknown flag,
/// a missing subcommand) exits 1, never 2, which `--detailed-exitcode` gives "changes present"; `--help`
/// and `--version` exit 0, the version naming its build; completion scripts print for the usual shells;
/// the long help names the environment variables.
#[test]
fn usage_errors_exit_1_and_completions_print() {
    let run = |args: &[&str]| std::process::Command::new(common::BINARY).args(args).output().unwrap();
    for args in [&["plan", "--format", "yaml"][..], &["plan", "--no-such-flag"], &[], &["completions", "tcsh"]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("Environment:") && help.contains("MIGPREP_STATE_DIR"), "{help}");
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    let version = String::from_utf8(version.stdout).unwrap();
    assert!(version.starts_with(&format!("migprep {} (", env!("CARGO_PKG_VERSION"))), "{version}");
    assert!(version.contains("built "), "{version}");

    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef migprep"), ("fish", "complete -c migprep")] {
        let output = run(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains(marker) && script.contains("force-unlock"), "{shell}:\n{script}");
    }
}

/// On a terminal, `apply` draws a spinner per running step and logs go beside them. The whole screen,
/// scrollback included, is read back as a terminal shows it: every log record migprep wrote is there,
/// whole, starting at the left edge (bars redrawn over a log would erase or split it), and the steps end
/// as `done`.
#[tokio::test]
async fn logs_never_tear_the_spinners_on_a_terminal() {
    let (rows, columns) = (60, 240);
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let terminal = Terminal::open_sized(rows, columns).unwrap();
    let mut run = command(&scenario, &["apply", "--auto-approve", text(&spec)]);
    // Every request of every client logs, many while spinners are drawn.
    run.env("RUST_LOG", "debug").stdin(Stdio::null()).stdout(Stdio::null());
    terminal.attach_stderr(&mut run).unwrap();
    let mut child = run.spawn().unwrap();
    drop(run);
    let written = terminal.screen(Duration::from_secs(300)).await.unwrap().concat();
    let status = child.wait().await.unwrap();

    let log_start =
        regex_lite::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z +(TRACE|DEBUG|INFO|WARN|ERROR) ").unwrap();
    let records = log_start.find_iter(&String::from_utf8_lossy(&written)).count();
    let history = terminal_history(&written, rows, columns);
    let shown: Vec<&String> = history.iter().filter(|row| log_start.is_match(row)).collect();
    let torn: Vec<&&String> = shown.iter().filter(|row| log_start.find(row).is_some_and(|at| at.start() > 0)).collect();
    let whole = history.join("\n");
    assert_eq!(status.code(), Some(0), "{whole}");
    assert!(records > 0, "the run logged");
    assert!(torn.is_empty(), "log records that start inside another row: {torn:#?}");
    assert_eq!(shown.len(), records, "every log record stays on the screen");
    assert!(whole.contains(&format!("done aws.cluster/{CLUSTER}/")), "the steps end as done: {whole}");
}

/// Every row a terminal of `rows` × `columns` shows after `written`, oldest first, scrollback included.
fn terminal_history(written: &[u8], rows: u16, columns: u16) -> Vec<String> {
    let size = |n: u16| std::num::NonZeroU16::new(n).unwrap();
    let mut parser = vt100::Parser::new(size(rows), size(columns), 1_000_000);
    parser.process(written);
    let screen = parser.screen_mut();
    screen.set_scrollback(usize::MAX);
    let depth = screen.scrollback();
    let mut history: Vec<String> = Vec::new();
    let mut offset = depth;
    loop {
        screen.set_scrollback(offset);
        let first = depth - offset;
        for (index, row) in screen.rows(0, columns).enumerate() {
            if first + index >= history.len() {
                history.push(row);
            }
        }
        if offset == 0 {
            return history;
        }
        offset = offset.saturating_sub(usize::from(rows));
    }
}
