//! The plan engine's file and execution parts, end to end on a temporary folder: saved plans (integrity,
//! spec digest, staleness), the journal, the state file, the lock, and the executor driven by an in-memory
//! provider that records what it was asked to do and fails where a test tells it to.

use migprep::apply::executor::{self, ExecuteError, Options, Provider};
use migprep::apply::journal::{History, Journal, Phase, Run};
use migprep::apply::lock::{self, Holder, Lock};
use migprep::apply::state;
use migprep::apply::{StateDir, timestamp};
use migprep::plan::file::{self, Drift, Observation};
use migprep::plan::operation::SourceOp;
use migprep::plan::source_ops::ParameterValue;
use migprep::plan::{Action, Address, Change, Kind, Operation, Original, Plan, RuleId};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_740_830_400)
}

fn options(concurrency: usize) -> Options {
    Options { concurrency, clock: at, interrupt: None }
}

fn holder(user: &str, pid: u32) -> Holder {
    Holder { user: user.into(), host: "jump-1".into(), pid }
}

fn update(address: &str, before: &str, after: &str, depends_on: &[&str]) -> Change {
    let mut change = Change::new(Address::new(address), Action::Update, RuleId::S5, "test");
    change.before = Some(before.into());
    change.after = Some(after.into());
    change.depends_on = depends_on.iter().map(|a| Address::new(*a)).collect();
    change
}

fn plan(changes: Vec<Change>) -> Plan {
    let mut plan = Plan::new(Kind::Apply, "orders");
    plan.changes = changes;
    plan
}

/// A provider that records the order in which changes start and finish, tracks how many run at once,
/// and fails the addresses it is told to.
#[derive(Default)]
struct Fake {
    events: Mutex<Vec<String>>,
    fail: BTreeSet<String>,
    /// How long a change takes, by address (20 ms otherwise).
    slow: BTreeMap<String, u64>,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
}

impl Fake {
    fn failing(addresses: &[&str]) -> Self {
        Self { fail: addresses.iter().map(|a| a.to_string()).collect(), ..Self::default() }
    }

    fn slow(mut self, address: &str, millis: u64) -> Self {
        self.slow.insert(address.to_string(), millis);
        self
    }

    fn started(&self) -> Vec<String> {
        self.events.lock().unwrap().iter().filter_map(|e| e.strip_prefix("start ").map(str::to_string)).collect()
    }

    fn position(&self, event: &str) -> usize {
        self.events.lock().unwrap().iter().position(|e| e == event).unwrap_or_else(|| panic!("no event {event}"))
    }
}

impl Provider for Fake {
    async fn apply(&self, change: &Change) -> anyhow::Result<Option<String>> {
        let address = change.address.to_string();
        self.events.lock().unwrap().push(format!("start {address}"));
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        let millis = self.slow.get(&address).copied().unwrap_or(20);
        tokio::time::sleep(Duration::from_millis(millis)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.events.lock().unwrap().push(format!("end {address}"));
        if self.fail.contains(&address) {
            anyhow::bail!("InvalidParameterValue: {address} refused");
        }
        Ok(change.after.as_ref().map(|after| format!("{after} (observed)")))
    }
}

fn state_dir(root: &Path) -> StateDir {
    StateDir::open(root, "orders").unwrap()
}

fn lock(dir: &StateDir) -> Lock {
    Lock::acquire(dir, &holder("alice", 4242), "apply", at()).unwrap()
}

// ---------------------------------------------------------------- saved plans

fn saved_plan() -> (Plan, Vec<Observation>) {
    let plan = plan(vec![update("aws.cluster/c/parameter/max_wal_senders", "10", "22", &[])]);
    let observations = vec![
        Observation::new(Address::new("source.pg/setting/max_wal_senders"), "10"),
        Observation::new(Address::new("aws.cluster/c/parameter/max_wal_senders"), "10"),
    ];
    (plan, observations)
}

/// A plan written with `--out` reads back as the same plan, with its fingerprint sorted, and only its
/// owner can read it.
#[test]
fn a_saved_plan_reads_back_unchanged() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("orders.plan");
    let (plan, observations) = saved_plan();
    file::save(&path, &plan, Path::new("/specs/migprep.toml"), "sha256:spec", &observations).unwrap();

    let saved = file::load(&path, Some("sha256:spec")).unwrap();
    assert_eq!(saved.plan, plan);
    assert_eq!(saved.spec_digest, "sha256:spec");
    let addresses: Vec<&str> = saved.observations.iter().map(|o| o.address.as_str()).collect();
    assert_eq!(addresses, ["aws.cluster/c/parameter/max_wal_senders", "source.pg/setting/max_wal_senders"]);
    // `show` does not know the spec.
    assert!(file::load(&path, None).is_ok());

    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(folder.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "the temporary file is gone");
}

/// Each way a plan file can be wrong gives its own message naming the file, and a hint.
#[test]
fn broken_plan_files_are_refused_with_a_reason() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("orders.plan");
    let (plan, observations) = saved_plan();
    file::save(&path, &plan, Path::new("/specs/migprep.toml"), "sha256:spec", &observations).unwrap();
    let good = std::fs::read_to_string(&path).unwrap();
    let shown = path.display().to_string();

    let cases: Vec<(&str, String, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_string(), "is truncated"),
        ("not json", "plan: yes\n".to_string(), "is not valid JSON"),
        (
            "json rendering",
            r#"{"format_version": 1, "kind": "apply", "name": "orders"}"#.to_string(),
            "is the JSON rendering of a plan, not a saved plan",
        ),
        ("foreign", r#"{"name": "orders", "version": 3}"#.to_string(), "is not a migprep plan file"),
        (
            "future version",
            good.replacen("\"format_version\": 1", "\"format_version\": 7", 1),
            "uses plan format 7; this migprep reads format 1",
        ),
        ("edited value", good.replace("\"22\"", "\"2200\""), "was changed after migprep wrote it"),
        ("edited shape", good.replace("\"update\"", "\"reboot-everything\""), "was changed after migprep wrote it"),
    ];
    for (name, content, expected) in cases {
        std::fs::write(&path, content).unwrap();
        let error = file::load(&path, Some("sha256:spec")).unwrap_err();
        assert!(error.message.contains(expected), "{name}: {}", error.message);
        assert!(error.message.contains(&shown), "{name}: {}", error.message);
        assert!(error.hint.is_some(), "{name}");
    }

    std::fs::write(&path, &good).unwrap();
    let error = file::load(&path, Some("sha256:other")).unwrap_err();
    assert!(error.message.contains("was made for a different spec"), "{}", error.message);
    assert!(error.hint.unwrap().contains("migprep plan SPEC --out"));
}

/// Staleness lists every difference: a changed value, one that vanished, and one that appeared.
#[test]
fn stale_lists_every_drift() {
    let observation = |address: &str, value: &str| Observation::new(Address::new(address), value);
    let saved = vec![observation("a", "1"), observation("b", "2"), observation("c", "3")];
    let fresh = vec![observation("c", "3"), observation("b", "5"), observation("d", "4")];
    let drifts = file::stale(&saved, &fresh);
    let drift = |address: &str, planned: Option<&str>, now: Option<&str>| Drift {
        address: Address::new(address),
        planned: planned.map(str::to_string),
        now: now.map(str::to_string),
    };
    assert_eq!(
        drifts,
        vec![drift("a", Some("1"), None), drift("b", Some("2"), Some("5")), drift("d", None, Some("4"))]
    );
    assert!(file::stale(&saved, &saved).is_empty());

    let error = file::stale_error(Path::new("orders.plan"), &drifts);
    assert!(error.message.contains("the saved plan orders.plan is stale: 3 values changed"));
    assert!(error.message.contains("b: planned with \"2\", now \"5\""));
}

/// Ctrl-C during a run: the step that is running finishes and is recorded, nothing after it starts, and
/// the outcome says it was interrupted. A second run of the same plan does the rest and repeats nothing.
#[tokio::test]
async fn an_interrupted_run_finishes_its_running_step_and_starts_no_other() {
    static INTERRUPT: AtomicBool = AtomicBool::new(false);
    /// Presses Ctrl-C while the first change runs.
    struct Interrupting(Fake);
    impl Provider for Interrupting {
        async fn apply(&self, change: &Change) -> anyhow::Result<Option<String>> {
            if change.address.as_str() == "a" {
                INTERRUPT.store(true, Ordering::SeqCst);
            }
            self.0.apply(change).await
        }
    }
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let plan = plan(vec![update("a", "0", "1", &[]), update("b", "0", "1", &["a"]), update("c", "0", "1", &["b"])]);
    let interrupting = Interrupting(Fake::default());
    let interrupted = Options { interrupt: Some(&INTERRUPT), ..options(1) };
    let outcome = executor::execute(&plan, &interrupting, &lock, interrupted).await.unwrap();
    assert!(outcome.interrupted);
    assert_eq!(interrupting.0.started(), ["a"]);
    assert_eq!(outcome.applied.iter().map(|a| a.address.as_str()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(outcome.not_started.iter().map(Address::as_str).collect::<Vec<_>>(), ["b", "c"]);
    assert!(History::read(&dir.journal()).unwrap().unfinished().is_empty(), "no step left half-done");

    let fake = Fake::default();
    let outcome = executor::execute(&plan, &fake, &lock, options(1)).await.unwrap();
    assert!(!outcome.interrupted && outcome.is_complete());
    assert_eq!(fake.started(), ["b", "c"]);
}

// ---------------------------------------------------------------- lock

/// Two runs racing for one lock, 50 times over: exactly one wins each race, and the other is always told
/// who holds it (or that it was just released) — never that the lock file cannot be read, which a lock
/// created empty and written afterwards showed to a run that read it in between.
#[test]
fn a_racing_run_never_sees_a_half_written_lock() {
    let root = tempfile::tempdir().unwrap();
    for race in 0..50 {
        let dir = StateDir::open(root.path(), &format!("race-{race}")).unwrap();
        let barrier = std::sync::Barrier::new(2);
        let outcomes: Vec<Result<Lock, migprep::error::UserError>> = std::thread::scope(|scope| {
            let runs: Vec<_> = ["alice", "bob"]
                .into_iter()
                .map(|user| {
                    let (dir, barrier) = (&dir, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        Lock::acquire(dir, &holder(user, 1), "apply", at())
                    })
                })
                .collect();
            runs.into_iter().map(|run| run.join().unwrap()).collect()
        });
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "race {race}: one run takes the lock");
        for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert!(
                refused.message.contains("is locked by") || refused.message.contains("was locked a moment ago"),
                "race {race}: {}",
                refused.message
            );
        }
    }
}

/// A second run on the same spec fails at once, saying who holds the lock and how to break it; only the
/// right id breaks it, and dropping a lock releases it.
#[test]
fn the_lock_names_its_holder_and_breaks_only_with_its_id() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let first = lock(&dir);
    let id = first.info().id.clone();

    let error = Lock::acquire(&dir, &holder("bob", 7), "restore", at()).unwrap_err();
    assert!(
        error.message.contains("is locked by alice (pid 4242 on jump-1, running apply since 2025-03-01T12:00:00Z)"),
        "{}",
        error.message
    );
    assert_eq!(
        error.hint.as_deref(),
        Some(
            format!(
                "wait for that run to finish; if it is no longer running, break the lock with `--force-unlock {id}`"
            )
            .as_str()
        )
    );

    let wrong = lock::force_unlock(&dir, "not-the-id").unwrap_err();
    assert!(wrong.message.contains("it was not broken"), "{}", wrong.message);
    assert!(dir.lock().exists());

    let broken = lock::force_unlock(&dir, &id).unwrap();
    assert_eq!(broken.holder, "alice");
    // Bob takes the lock; Alice's run ending must not remove Bob's lock.
    let second = Lock::acquire(&dir, &holder("bob", 7), "restore", at()).unwrap();
    drop(first);
    assert_eq!(lock::current(&dir).unwrap().unwrap().id, second.info().id);
    drop(second);
    assert!(lock::current(&dir).unwrap().is_none());
    assert!(lock::force_unlock(&dir, &id).unwrap_err().message.contains("no lock"));
}

// ---------------------------------------------------------------- executor

/// A parameter group must exist before its parameters are set, and the reboot comes after both
/// parameters; the two parameters are independent and run side by side, never more than allowed.
#[tokio::test]
async fn changes_run_in_dependency_order_with_bounded_concurrency() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let plan = plan(vec![
        update(
            "aws.cluster/c/writer",
            "pending-reboot",
            "in-sync",
            &["aws.cluster/c/parameter/a", "aws.cluster/c/parameter/b"],
        ),
        update("aws.cluster/c/parameter/a", "0", "1", &["aws.cluster/c/parameter_group"]),
        update("aws.cluster/c/parameter/b", "0", "1", &["aws.cluster/c/parameter_group"]),
        update("aws.cluster/c/parameter/d", "0", "1", &["aws.cluster/c/parameter_group"]),
        update("aws.cluster/c/parameter_group", "default", "c-migration", &[]),
        update("azure.server/s/configuration/x", "on", "off", &["not.in/the/plan"]),
    ]);
    let fake = Fake::default();
    let outcome = executor::execute(&plan, &fake, &lock, options(2)).await.unwrap();

    assert!(outcome.is_complete() && outcome.error().is_none());
    assert_eq!(outcome.applied.len(), 6);
    for (before, after) in [
        ("aws.cluster/c/parameter_group", "aws.cluster/c/parameter/a"),
        ("aws.cluster/c/parameter_group", "aws.cluster/c/parameter/b"),
        ("aws.cluster/c/parameter/a", "aws.cluster/c/writer"),
        ("aws.cluster/c/parameter/b", "aws.cluster/c/writer"),
    ] {
        assert!(
            fake.position(&format!("end {before}")) < fake.position(&format!("start {after}")),
            "{before} → {after}"
        );
    }
    assert_eq!(fake.most_at_once.load(Ordering::SeqCst), 2);
    // Reported in plan order, with the value the provider observed.
    assert_eq!(outcome.applied[0].address.as_str(), "aws.cluster/c/writer");
    assert_eq!(outcome.applied[0].after.as_deref(), Some("in-sync (observed)"));

    // Every step has an intent followed by a done, and the state remembers the originals.
    let history = History::read(&dir.journal()).unwrap();
    assert_eq!(history.records().len(), 12);
    assert!(history.unfinished().is_empty());
    let state = state::load(&dir.state()).unwrap();
    let group = &state.changed[&Address::new("aws.cluster/c/parameter_group")];
    assert_eq!(group.before.as_deref(), Some("default"));
    assert_eq!(group.after.as_deref(), Some("c-migration (observed)"));
    assert_eq!(history.replay(), state, "the journal's done records rebuild the state file");
}

/// A failing step stops the run: its dependents never start, nor does anything else not yet started; a
/// step already running beside it finishes and is recorded.
#[tokio::test]
async fn a_failure_stops_the_run_and_leaves_the_journal_consistent() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let plan = plan(vec![
        update("a", "0", "1", &[]),
        update("b", "0", "1", &[]),
        update("c", "0", "1", &["a"]),
        update("d", "0", "1", &["b"]),
    ]);
    let fake = Fake::failing(&["a"]);
    let outcome = executor::execute(&plan, &fake, &lock, options(4)).await.unwrap();

    assert!(!outcome.is_complete());
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].address.as_str(), "a");
    let applied: Vec<&str> = outcome.applied.iter().map(|a| a.address.as_str()).collect();
    assert_eq!(applied, ["b"]);
    let not_started: Vec<&str> = outcome.not_started.iter().map(Address::as_str).collect();
    assert_eq!(not_started, ["c", "d"]);
    assert_eq!(fake.started(), ["a", "b"]);
    let error = outcome.error().unwrap();
    assert!(error.message.contains("stopped at a: InvalidParameterValue: a refused"), "{}", error.message);

    let history = History::read(&dir.journal()).unwrap();
    let phases: Vec<(String, Phase)> =
        history.records().iter().map(|r| (r.address.to_string(), r.phase)).filter(|(a, _)| a == "a").collect();
    assert_eq!(phases, [("a".to_string(), Phase::Intent), ("a".to_string(), Phase::Failed)]);
    assert!(history.records().iter().any(|r| r.error.as_deref() == Some("InvalidParameterValue: a refused")));
    assert!(history.unfinished().is_empty(), "nothing is left half-recorded");
}

/// A slow step on one side (the target's high-availability removal) does not hold back an independent
/// chain on the other: the whole source chain runs while it does, and only its own dependent waits for it.
#[tokio::test]
async fn a_slow_step_holds_back_only_what_depends_on_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let plan = plan(vec![
        update("azure.server/s/high_availability", "ZoneRedundant", "Disabled", &[]),
        update("azure.server/s/configuration/t", "on", "off", &["azure.server/s/high_availability"]),
        update("aws.cluster/c/parameter_group", "default", "c-migration", &[]),
        update("aws.cluster/c/parameters", "0", "1", &["aws.cluster/c/parameter_group"]),
        update("aws.cluster/c/attachment", "default", "c-migration", &["aws.cluster/c/parameters"]),
        update("aws.cluster/c/writer", "pending-reboot", "in-sync", &["aws.cluster/c/attachment"]),
    ]);
    let fake = Fake::default().slow("azure.server/s/high_availability", 400);
    let outcome = executor::execute(&plan, &fake, &lock, options(4)).await.unwrap();
    assert!(outcome.is_complete());
    let ha_done = fake.position("end azure.server/s/high_availability");
    for source in ["aws.cluster/c/parameters", "aws.cluster/c/attachment", "aws.cluster/c/writer"] {
        assert!(fake.position(&format!("end {source}")) < ha_done, "{source} waited for the target");
    }
    assert!(ha_done < fake.position("start azure.server/s/configuration/t"));
    assert_eq!(History::read(&dir.journal()).unwrap().records().len(), 12);
}

/// A step waits for its own dependencies only: `c` starts once `b` is done while the slow `a` still runs,
/// and `d`, which depends on `a`, starts only after `a` ends — with room to run more at once.
#[tokio::test]
async fn a_step_waits_for_its_dependencies_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let plan = plan(vec![
        update("a", "0", "1", &[]),
        update("b", "0", "1", &[]),
        update("c", "0", "1", &["b"]),
        update("d", "0", "1", &["a"]),
    ]);
    let fake = Fake::default().slow("a", 300);
    executor::execute(&plan, &fake, &lock, options(4)).await.unwrap();
    assert!(fake.position("end b") < fake.position("start c"));
    assert!(fake.position("start c") < fake.position("end a"), "c did not wait for a");
    assert!(fake.position("end a") < fake.position("start d"));
}

/// A failure stops the run even while an independent chain is under way: that chain's running step
/// finishes and is recorded, its next step is not started.
#[tokio::test]
async fn a_failure_stops_an_independent_chain_at_its_running_step() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let plan = plan(vec![
        update("a", "0", "1", &[]),
        update("b", "0", "1", &[]),
        update("c", "0", "1", &["b"]),
        update("d", "0", "1", &["c"]),
        update("e", "0", "1", &["d"]),
    ]);
    // a fails at 150 ms, while d (started at about 40 ms) runs until about 440 ms.
    let fake = Fake::failing(&["a"]).slow("a", 150).slow("d", 400);
    let outcome = executor::execute(&plan, &fake, &lock, options(4)).await.unwrap();
    assert_eq!(outcome.failed.iter().map(|f| f.address.as_str()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(outcome.applied.iter().map(|a| a.address.as_str()).collect::<Vec<_>>(), ["b", "c", "d"]);
    assert_eq!(outcome.not_started, [Address::new("e")]);
    assert!(History::read(&dir.journal()).unwrap().unfinished().is_empty());

    // Fixed, the same plan runs only what is left.
    let fake = Fake::default();
    let outcome = executor::execute(&plan, &fake, &lock, options(4)).await.unwrap();
    assert!(outcome.is_complete());
    assert_eq!(fake.started(), ["a", "e"]);
}

/// The parameter changes of one `ModifyDBClusterParameterGroup` request share its operation: the
/// provider is asked once for all of them, after the group and before the attach, and each change still
/// has its own intent, done and state entry, with its own value.
#[tokio::test]
async fn changes_that_share_an_operation_are_performed_once() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let set = shared_parameters();
    let mut group = update("aws.parameter_group/c-migration", "none", "c-migration", &[]);
    group.operation = Some(Operation::Source(SourceOp::CreateParameterGroup {
        name: "c-migration".into(),
        family: "aurora-postgresql15".into(),
        description: "migration".into(),
        carry_over: Vec::new(),
    }));
    let parameter = |name: &str, after: &str| {
        let mut change =
            update(&format!("aws.cluster/c/parameter/{name}"), "0", after, &["aws.parameter_group/c-migration"]);
        change.operation = Some(set.clone());
        change
    };
    let plan = plan(vec![
        group,
        parameter("rds.logical_replication", "1"),
        parameter("max_wal_senders", "22"),
        parameter("wal_sender_timeout", "0"),
        update(
            "aws.cluster/c/parameter_group",
            "default",
            "c-migration",
            &[
                "aws.cluster/c/parameter/rds.logical_replication",
                "aws.cluster/c/parameter/max_wal_senders",
                "aws.cluster/c/parameter/wal_sender_timeout",
            ],
        ),
    ]);
    let fake = Fake::default();
    let outcome = executor::execute(&plan, &fake, &lock, options(4)).await.unwrap();
    assert!(outcome.is_complete());
    assert_eq!(
        fake.started(),
        [
            "aws.parameter_group/c-migration",
            "aws.cluster/c/parameter/rds.logical_replication",
            "aws.cluster/c/parameter_group"
        ]
    );
    assert_eq!(outcome.applied.len(), 5);
    let history = History::read(&dir.journal()).unwrap();
    assert_eq!(history.records().len(), 10);
    let state = state::load(&dir.state()).unwrap();
    assert_eq!(state.changed[&Address::new("aws.cluster/c/parameter/max_wal_senders")].after.as_deref(), Some("22"));
    assert_eq!(history.replay(), state);
}

/// A run killed while the shared request was under way, after one of its changes was recorded done:
/// the next run skips that one and makes one request for the rest. A failing shared request fails each
/// of its changes, and none is left without an outcome in the journal.
#[tokio::test]
async fn a_shared_operation_resumes_and_fails_as_one_step() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let set = shared_parameters();
    let parameter = |name: &str| {
        let mut change = update(name, "0", "1", &[]);
        change.operation = Some(set.clone());
        change
    };
    let plan = plan(vec![parameter("a"), parameter("b"), parameter("c")]);
    {
        let run = Run { id: "killed".into(), plan: plan.digest(), kind: Kind::Apply, clock: at };
        let mut journal = Journal::open(&dir.journal()).unwrap();
        for (step, change) in plan.changes.iter().enumerate() {
            journal.append(&run.record(step + 1, change, Phase::Intent)).unwrap();
        }
        journal.append(&run.record(1, &plan.changes[0], Phase::Done)).unwrap();
    }
    let lock = lock(&dir);
    let outcome = executor::execute(&plan, &Fake::failing(&["b"]), &lock, options(2)).await.unwrap();
    let failed: Vec<&str> = outcome.failed.iter().map(|f| f.address.as_str()).collect();
    assert_eq!(failed, ["b", "c"]);
    assert_eq!(outcome.skipped, [Address::new("a")]);
    assert!(History::read(&dir.journal()).unwrap().unfinished().is_empty());

    let fake = Fake::default();
    let outcome = executor::execute(&plan, &fake, &lock, options(2)).await.unwrap();
    assert!(outcome.is_complete());
    assert_eq!(fake.started(), ["b"]);
    assert_eq!(outcome.applied.iter().map(|a| a.address.as_str()).collect::<Vec<_>>(), ["b", "c"]);
}

fn shared_parameters() -> Operation {
    let value = |name: &str, value: &str, apply_type: &str| ParameterValue {
        name: name.into(),
        value: value.into(),
        apply_type: apply_type.into(),
    };
    Operation::Source(SourceOp::SetParameters {
        group: "c-migration".into(),
        parameters: vec![
            value("rds.logical_replication", "1", "static"),
            value("max_wal_senders", "22", "static"),
            value("wal_sender_timeout", "0", "dynamic"),
        ],
    })
}

/// After a failure is fixed, running the same plan again skips what finished and runs the rest.
#[tokio::test]
async fn a_second_attempt_at_the_same_plan_skips_finished_steps() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let plan = plan(vec![update("a", "0", "1", &[]), update("b", "0", "1", &["a"]), update("c", "0", "1", &[])]);
    {
        let lock = lock(&dir);
        let outcome = executor::execute(&plan, &Fake::failing(&["b"]), &lock, options(1)).await.unwrap();
        assert_eq!(outcome.failed[0].address.as_str(), "b");
    }
    let lock = lock(&dir);
    let fake = Fake::default();
    let outcome = executor::execute(&plan, &fake, &lock, options(1)).await.unwrap();
    assert!(outcome.is_complete());
    assert_eq!(fake.started(), ["b"]);
    let skipped: Vec<&str> = outcome.skipped.iter().map(Address::as_str).collect();
    assert_eq!(skipped, ["a", "c"]);
    assert!(outcome.retried.is_empty(), "b failed cleanly; it was not left unfinished");

    // That attempt finished every step: the same plan made again later means the systems drifted back,
    // so it runs in full.
    let fake = Fake::default();
    let outcome = executor::execute(&plan, &fake, &lock, options(1)).await.unwrap();
    assert_eq!(fake.started(), ["a", "c", "b"]);
    assert!(outcome.skipped.is_empty());
}

/// `kill -9` between an intent and its done: the next run re-runs that step (the provider re-observes
/// first) and reports it as retried; steps that were done are not repeated.
#[tokio::test]
async fn an_intent_without_done_is_run_again() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let plan = plan(vec![update("a", "0", "1", &[]), update("b", "0", "1", &[])]);
    {
        // What a killed run leaves: a done for a, an intent for b, and half a line.
        let run = Run { id: "killed".into(), plan: plan.digest(), kind: Kind::Apply, clock: at };
        let mut journal = Journal::open(&dir.journal()).unwrap();
        journal.append(&run.record(1, &plan.changes[0], Phase::Intent)).unwrap();
        journal.append(&run.record(1, &plan.changes[0], Phase::Done)).unwrap();
        journal.append(&run.record(2, &plan.changes[1], Phase::Intent)).unwrap();
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(dir.journal()).unwrap().write_all(b"{\"step\":2,\"addr").unwrap();
    }
    let history = History::read(&dir.journal()).unwrap();
    let unfinished: Vec<&str> = history.unfinished().iter().map(|r| r.address.as_str()).collect();
    assert_eq!(unfinished, ["b"]);

    let lock = lock(&dir);
    let fake = Fake::default();
    let outcome = executor::execute(&plan, &fake, &lock, options(2)).await.unwrap();
    assert_eq!(fake.started(), ["b"]);
    assert_eq!(outcome.retried, [Address::new("b")]);
    assert_eq!(outcome.skipped, [Address::new("a")]);
    // The torn line was cut away, so the journal reads cleanly.
    assert_eq!(History::read(&dir.journal()).unwrap().records().len(), 5);
}

/// Pending changes and blockers never run, nor does anything waiting for them.
#[tokio::test]
async fn pending_changes_and_blockers_are_never_run() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let mut reboot = update("aws.cluster/c/writer", "pending-reboot", "in-sync", &[]);
    reboot.action = Action::Restart;
    reboot.pending = Some("[allow] reboot_source_writer is false".into());
    let blocker = Change::new(Address::new("source.pg/version"), Action::Blocker, RuleId::S1, "too old");
    let plan = plan(vec![
        reboot,
        blocker,
        update("source.pg/after-reboot", "0", "1", &["aws.cluster/c/writer"]),
        update("source.pg/later", "0", "1", &["source.pg/after-reboot"]),
        update("target.pg/free", "0", "1", &[]),
    ]);
    let fake = Fake::default();
    let outcome = executor::execute(&plan, &fake, &lock, options(2)).await.unwrap();
    assert_eq!(fake.started(), ["target.pg/free"]);
    let held: Vec<(&str, &str)> = outcome.held.iter().map(|h| (h.address.as_str(), h.waits_for.as_str())).collect();
    assert_eq!(
        held,
        [("source.pg/after-reboot", "aws.cluster/c/writer"), ("source.pg/later", "source.pg/after-reboot")]
    );
}

/// Changes that wait for each other in a circle cannot run; the error names the circle.
#[tokio::test]
async fn a_dependency_cycle_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let plan = plan(vec![update("a", "0", "1", &["b"]), update("b", "0", "1", &["a"])]);
    let fake = Fake::default();
    let error = executor::execute(&plan, &fake, &lock, options(2)).await.unwrap_err();
    assert!(matches!(error, ExecuteError::Cycle(_)));
    assert_eq!(error.to_string(), "the plan's changes depend on each other in a cycle: a → b → a");
    assert!(fake.started().is_empty());
}

/// Apply records the originals of temporary changes; a restore that puts them back forgets them, in the
/// state file and in the journal alike.
#[tokio::test]
async fn restore_forgets_what_it_put_back() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let mut temporary = update("azure.server/s/configuration/t", "on", "off", &[]);
    temporary.temporary = true;
    let original = Original::Configuration { server: "s".into(), name: "t".into(), value: "on".into() };
    temporary.original = Some(original.clone());
    let lasting = update("azure.server/s/storage", "128", "256", &[]);
    let fake = Fake::default();
    executor::execute(&plan(vec![temporary, lasting]), &fake, &lock, options(2)).await.unwrap();

    let state = state::load(&dir.state()).unwrap();
    let originals: Vec<(&str, &Original)> = state.originals().map(|(a, o)| (a.as_str(), o)).collect();
    assert_eq!(originals, [("azure.server/s/configuration/t", &original)]);
    assert_eq!(state.changed.len(), 2);
    assert_eq!(History::read(&dir.journal()).unwrap().replay(), state);

    let mut back = update("azure.server/s/configuration/t", "off", "on", &[]);
    back.temporary = true;
    let mut restore = plan(vec![back]);
    restore.kind = Kind::Restore;
    executor::execute(&restore, &fake, &lock, options(2)).await.unwrap();
    let state = state::load(&dir.state()).unwrap();
    assert_eq!(state.temporary().count(), 0);
    assert_eq!(state.changed.len(), 1);
    assert_eq!(History::read(&dir.journal()).unwrap().replay(), state);
    assert_eq!(state.changed.keys().map(Address::as_str).collect::<Vec<_>>(), ["azure.server/s/storage"]);
}

/// The journal's records carry the time from the injected clock, and a damaged line in the middle is an
/// error naming the file and line rather than a guess.
#[test]
fn journal_records_are_timestamped_and_damage_is_reported() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let change = update("a", "0", "1", &[]);
    let run = Run { id: "r".into(), plan: "p".into(), kind: Kind::Apply, clock: at };
    let mut journal = Journal::open(&dir.journal()).unwrap();
    journal.append(&run.record(1, &change, Phase::Intent)).unwrap();
    let line = std::fs::read_to_string(dir.journal()).unwrap();
    assert!(line.starts_with(r#"{"step":1,"address":"a","phase":"intent","before":"0","after":"1","at":""#), "{line}");
    assert!(line.contains(&timestamp(at())));

    std::fs::write(dir.journal(), format!("not json\n{line}")).unwrap();
    let error = History::read(&dir.journal()).unwrap_err();
    assert!(error.to_string().contains("journal.jsonl is damaged at line 1"), "{error}");
}

/// A write cut off by a crash inside a multi-byte character (a role name in `after`) leaves a final line
/// that is not even UTF-8: it is ignored when read and cut away when the journal is opened again, and the
/// complete records before it still count.
#[test]
fn a_journal_torn_inside_a_character_still_reads() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let mut change = update("a", "0", "1", &[]);
    change.after = Some("rôle".into());
    let run = Run { id: "r".into(), plan: "p".into(), kind: Kind::Apply, clock: at };
    let mut journal = Journal::open(&dir.journal()).unwrap();
    journal.append(&run.record(1, &change, Phase::Intent)).unwrap();
    let mut bytes = std::fs::read(dir.journal()).unwrap();
    let record = bytes.clone();
    let cut = record.iter().position(|&b| b == 0xc3).expect("the ô's first byte") + 1;
    bytes.extend_from_slice(&record[..cut]);
    std::fs::write(dir.journal(), &bytes).unwrap();
    assert!(String::from_utf8(bytes).is_err(), "the file ends inside a character");

    assert_eq!(History::read(&dir.journal()).unwrap().records().len(), 1);
    let mut journal = Journal::open(&dir.journal()).unwrap();
    journal.append(&run.record(1, &change, Phase::Done)).unwrap();
    assert_eq!(History::read(&dir.journal()).unwrap().records().len(), 2);
}

/// The executor's future can be spawned onto a multi-threaded runtime.
#[test]
fn the_executor_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let plan = plan(Vec::new());
    let fake = Fake::default();
    let future = executor::execute(&plan, &fake, &lock, options(1));
    assert_send(&future);
}

/// An apply killed between a step's intent and its outcome leaves that step unsettled: a restore then
/// refuses before anything runs, naming the journal and the step, and writes nothing. An apply of the
/// same plan settles it (runs it again, recording its original), after which the restore runs.
#[tokio::test]
async fn a_restore_refuses_while_an_apply_step_is_unsettled() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let mut temporary = update("azure.server/s/high_availability", "ZoneRedundant", "Disabled", &[]);
    temporary.temporary = true;
    temporary.original =
        Some(Original::HighAvailability { server: "s".into(), mode: "ZoneRedundant".into(), standby_zone: None });
    let apply = plan(vec![temporary]);
    let run = Run { id: "killed".into(), plan: apply.digest(), kind: Kind::Apply, clock: at };
    Journal::open(&dir.journal()).unwrap().append(&run.record(1, &apply.changes[0], Phase::Intent)).unwrap();

    let mut back = update("azure.server/s/high_availability", "Disabled", "ZoneRedundant", &[]);
    back.temporary = true;
    let mut restore = plan(vec![back]);
    restore.kind = Kind::Restore;
    let lock = lock(&dir);
    let fake = Fake::default();
    let journal_before = std::fs::read(dir.journal()).unwrap();
    let error = executor::execute(&restore, &fake, &lock, options(1)).await.unwrap_err();
    assert!(matches!(error, ExecuteError::UnsettledApply { .. }), "{error}");
    let message = error.to_user_error();
    assert!(message.message.contains(&dir.journal().display().to_string()), "{}", message.message);
    assert!(message.message.contains("step 1 (azure.server/s/high_availability)"), "{}", message.message);
    assert_eq!(message.hint.as_deref(), Some("run `migprep apply` to settle it, then restore"));
    assert!(fake.started().is_empty());
    assert_eq!(std::fs::read(dir.journal()).unwrap(), journal_before);
    assert!(!dir.state().exists());

    executor::execute(&apply, &fake, &lock, options(1)).await.unwrap();
    assert_eq!(state::load(&dir.state()).unwrap().originals().count(), 1);
    executor::execute(&restore, &fake, &lock, options(1)).await.unwrap();
    assert_eq!(state::load(&dir.state()).unwrap().temporary().count(), 0);
}

/// A restore step that forgets an original already back runs nothing on a live system of its own making
/// but is journaled like any step; killed after it saved the state and before its `done`, the next
/// restore (whose fresh plan no longer has it) settles it, so the original is neither kept nor lost twice.
#[tokio::test]
async fn a_forgotten_original_is_journaled_and_settled_after_a_kill() {
    let root = tempfile::tempdir().unwrap();
    let dir = state_dir(root.path());
    let lock = lock(&dir);
    let mut temporary = update("azure.server/s/configuration/t", "on", "off", &[]);
    temporary.temporary = true;
    temporary.original = Some(Original::Configuration { server: "s".into(), name: "t".into(), value: "on".into() });
    let fake = Fake::default();
    executor::execute(&plan(vec![temporary.clone()]), &fake, &lock, options(1)).await.unwrap();

    let mut forget = Change::new(Address::new("azure.server/s/configuration/t"), Action::Delete, RuleId::T1, "back");
    forget.operation = Some(migprep::plan::Operation::Forget);
    let mut restore = plan(vec![forget]);
    restore.kind = Kind::Restore;
    // Killed between the state and the `done`: the intent is in the journal, the state already forgot.
    let run = Run { id: "killed".into(), plan: restore.digest(), kind: Kind::Restore, clock: at };
    Journal::open(&dir.journal()).unwrap().append(&run.record(1, &restore.changes[0], Phase::Intent)).unwrap();
    let mut forgotten = state::load(&dir.state()).unwrap();
    forgotten.changed.clear();
    state::save(&forgotten, &dir.state()).unwrap();

    let mut fresh = plan(Vec::new());
    fresh.kind = Kind::Restore;
    let settled = executor::reconcile(&fresh, &lock, at).unwrap();
    assert_eq!(settled, [Address::new("azure.server/s/configuration/t")]);
    let state = state::load(&dir.state()).unwrap();
    assert!(state.changed.is_empty(), "{state:?}");
    assert_eq!(History::read(&dir.journal()).unwrap().replay(), state);
    assert!(History::read(&dir.journal()).unwrap().unfinished().is_empty());

    // Not killed: the step runs through the provider like any other, and the state forgets the address.
    executor::execute(&plan(vec![temporary]), &fake, &lock, options(1)).await.unwrap();
    assert_eq!(state::load(&dir.state()).unwrap().originals().count(), 1);
    let outcome = executor::execute(&restore, &fake, &lock, options(1)).await.unwrap();
    assert_eq!(outcome.applied.len(), 1);
    let state = state::load(&dir.state()).unwrap();
    assert!(state.changed.is_empty(), "{state:?}");
    assert_eq!(History::read(&dir.journal()).unwrap().replay(), state);
}
