//! The commands around a plan, end to end with the real binary: saving and showing a plan, refusing a
//! damaged plan file, and the lock that keeps two runs of one spec apart.

mod common;

use common::{Output, member_of, migprep, text};
use migprep::apply::StateDir;
use migprep::apply::lock::{Holder, Lock};
use migprep::plan::Operation;
use migprep::plan::file;
use migprep::plan::operation::SourceOp;
use migprep_testkit::scenario::Scenario;
use std::time::SystemTime;

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
