//! The commands, wired: load the spec, observe (concurrently), run the rules, render, confirm, apply,
//! and decide the exit code. This is the only place that knows every layer; each layer knows only its
//! own job.

use crate::apply::executor::{self, Options};
use crate::apply::lock::{self, Holder, Lock};
use crate::apply::perform::Dispatch;
use crate::apply::progress::{Listener, Progress};
use crate::apply::{StateDir, journal::History};
use crate::cli::{Cli, Command, Format, Report};

mod fleet;
mod init;
mod session;
mod state;

use session::{Session, arm_settings, rds_settings};

use crate::clients::Databases;
use crate::error::UserError;
use crate::plan::file::{self, Observation};
use crate::plan::{Change, Kind, Plan};
use crate::poll::Sighting;
use crate::render::events;
use crate::rules;
use crate::settings::Settings;
use crate::spec::Spec;
use crate::tls::Trust;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// How a successful run ended; the binary turns it into an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to change, or the changes were made (exit 0).
    Clean,
    /// Changes present and the user asked to be told (`--detailed-exitcode`, exit 2).
    Changes,
    /// A prerequisite migprep cannot fix (exit 3).
    Blockers,
    /// `validate`: Azure's premigration validation failed (exit 3).
    ValidationFailed,
    /// Ctrl-C: the running steps finished and were recorded, the rest did not start (exit 130).
    Interrupted,
    /// Several specs: the most severe of their codes (each spec's errors already reported).
    Code(u8),
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Changes => 2,
            Outcome::Blockers | Outcome::ValidationFailed => 3,
            Outcome::Interrupted => 130,
            Outcome::Code(code) => code,
        }
    }
}

/// Set by the first Ctrl-C during an apply or restore: no further step starts.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Wakes whoever waits for the first Ctrl-C (the confirmation prompt).
static INTERRUPT: Notify = Notify::const_new();

/// Set while the confirmation prompt waits for an answer: a Ctrl-C then cancels the run, which says so.
static PROMPTING: AtomicBool = AtomicBool::new(false);

/// Watches for Ctrl-C from the start of an apply or a restore until it returns (dropping it stops the
/// watch). The first Ctrl-C lets the running steps finish and be recorded, and no further step starts;
/// the lock is released as the command returns. A second stops at once, as a kill would: the journal's
/// intents let the next run resume, and that run reports the lock as stale.
struct Interrupts(tokio::task::JoinHandle<()>);

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn watch_interrupts() -> Interrupts {
    Interrupts(tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        INTERRUPTED.store(true, Ordering::SeqCst);
        INTERRUPT.notify_waiters();
        if !PROMPTING.load(Ordering::SeqCst) {
            crate::apply::progress::say(
                None,
                "migprep: interrupted: letting the running steps finish; Ctrl-C again stops at once",
            );
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            crate::apply::progress::say(None, "migprep: stopped; run the command again to resume");
            std::process::exit(130);
        }
    }))
}

/// Returns once the first Ctrl-C of the run arrived (at once if it already has).
async fn interrupted() {
    let notified = INTERRUPT.notified();
    tokio::pin!(notified);
    // Registered before the flag is read, so a Ctrl-C in between is not missed.
    notified.as_mut().enable();
    if INTERRUPTED.load(Ordering::SeqCst) {
        return;
    }
    notified.await;
}

/// Logs go to stderr; `-v` raises the level, `RUST_LOG` overrides it.
pub fn init_logging(verbose: u8, settings: &Settings) {
    let default = match verbose {
        // The platform verifier logs every refused certificate as an error of its own; migprep reports
        // the failure once, with a hint.
        0 => "warn,rustls_platform_verifier=off",
        1 => "migprep=info",
        2 => "migprep=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::apply::progress::Stderr)
        .with_ansi(colour_allowed(&std::io::stderr(), settings))
        .try_init();
}

pub async fn run(cli: Cli, settings: &Settings) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Plan { specs, out, format, detailed_exitcode, roles_sql, parallel } => {
            let specs = fleet::expand(&specs)?;
            let [spec] = specs.as_slice() else {
                if out.is_some() || roles_sql.is_some() {
                    return Err(one_spec_only("--out and --roles-sql").into());
                }
                return fleet::plan(&specs, format, detailed_exitcode, usize::from(parallel), settings).await;
            };
            let spec = Spec::load(spec)?;
            let session = Session::open(&spec, settings).await?;
            let (observed, databases) = session.observe(&spec).await?;
            let (mut plan, observations) = rules::plan(&spec, &observed);
            plan.connections = session.connections(&databases).await;
            print(&plan, format, settings)?;
            if let Some(out) = out {
                save(&out, &spec, &plan, &observations)?;
            }
            if let Some(path) = roles_sql {
                write_roles_sql(&path, &plan)?;
            }
            Ok(outcome(&plan, detailed_exitcode))
        }
        Command::Init { cluster, region, profile, server, resource_group, subscription, ca_file, out } => {
            let request =
                init::Request { cluster, region, profile, server, resource_group, subscription, ca_file, out };
            init::init(request, settings).await
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "migprep", &mut std::io::stdout());
            Ok(Outcome::Clean)
        }
        Command::Show { planfile, format } => {
            let saved = file::load(&planfile, None)?;
            print(&saved.plan, format, settings)?;
            Ok(Outcome::Clean)
        }
        Command::Apply { inputs, auto_approve, force_unlock, deadline, format: report, parallel } => {
            let _interrupts = watch_interrupts();
            let inputs = fleet::expand(&inputs)?;
            let [input] = inputs.as_slice() else {
                if inputs.iter().any(|input| is_plan_file(input)) {
                    return Err(one_spec_only("a plan file").into());
                }
                if force_unlock.is_some() {
                    return Err(one_spec_only("--force-unlock").into());
                }
                let parallel = usize::from(parallel);
                return fleet::apply(&inputs, Kind::Apply, auto_approve, deadline, report, parallel, settings).await;
            };
            if is_plan_file(input) {
                let approval = Approval::Reviewed(input.clone());
                apply_saved(input, Steps { approval, deadline, report, label: None }, force_unlock.as_deref(), settings)
                    .await
            } else {
                let spec = Spec::load(input)?;
                let dir = state::open(&spec, settings).await?;
                break_lock(&dir, force_unlock.as_deref())?;
                let lock = Lock::acquire(&dir, &Holder::current(settings), "apply", SystemTime::now())?;
                let session = Session::open(&spec, settings).await?;
                let (observed, databases) = session.observe(&spec).await?;
                let (mut plan, _) = rules::plan(&spec, &observed);
                plan.connections = session.connections(&databases).await;
                let steps = Steps { approval: Approval::from(auto_approve), deadline, report, label: None };
                execute(&plan, &session, &databases, &lock, steps).await
            }
        }
        Command::Validate { spec, format, migration_properties, deadline } => {
            let spec = Spec::load(&spec)?;
            crate::validate::preflight(&spec)?;
            let session = Session::open(&spec, settings).await?;
            let (observed, databases) = session.observe(&spec).await?;
            let (plan, _) = rules::plan(&spec, &observed);
            if let Some(path) = migration_properties {
                crate::validate::write_properties(&path, &spec, &observed, &databases)?;
            }
            let options = crate::validate::Options { deadline, poll_interval: settings.poll_interval() };
            let verdict = crate::validate::run(&spec, &session.clients, &observed, &databases, &plan, &options).await?;
            print_verdict(&verdict, format, settings)?;
            Ok(match verdict.outcome {
                crate::plan::verdict::Outcome::Validated => Outcome::Clean,
                crate::plan::verdict::Outcome::ValidationFailed => Outcome::ValidationFailed,
                crate::plan::verdict::Outcome::Failed => {
                    return Err(UserError::new(format!(
                        "the validation {} ended {} without a verdict{}",
                        verdict.resource_id,
                        verdict.state,
                        verdict
                            .error
                            .as_deref()
                            .map(|e| format!(": {}", crate::text::inert(e, false)))
                            .unwrap_or_default()
                    ))
                    .hint("run validate again; if it fails the same way, look at the migration in the portal")
                    .into());
                }
            })
        }
        Command::ForceUnlock { spec, id } => {
            let spec = Spec::load(&spec)?;
            break_lock(&state::open(&spec, settings).await?, Some(&id))?;
            Ok(Outcome::Clean)
        }
        Command::Restore { specs, out, auto_approve, force_unlock, deadline, format: report, parallel } => {
            let _interrupts = watch_interrupts();
            let specs = fleet::expand(&specs)?;
            let [spec] = specs.as_slice() else {
                if out.is_some() || force_unlock.is_some() {
                    return Err(one_spec_only("--out and --force-unlock").into());
                }
                let parallel = usize::from(parallel);
                return fleet::apply(&specs, Kind::Restore, auto_approve, deadline, report, parallel, settings).await;
            };
            let spec = Spec::load(spec)?;
            let dir = state::open(&spec, settings).await?;
            if out.is_some() {
                // Refused now rather than when the saved plan is applied (an apply does it under the lock).
                executor::restorable(&dir).map_err(|e| e.to_user_error())?;
            }
            let recorded = dir.load_existing_state().map_err(|e| UserError::new(e.to_string()).hint(e.hint()))?;
            let session = Session::open(&spec, settings).await?;
            let (observed, databases) = session.observe(&spec).await?;
            let (mut plan, observations) = rules::restore(&spec, &observed, &recorded);
            plan.connections = session.connections(&databases).await;
            if let Some(out) = out {
                print(&plan, Format::Human, settings)?;
                save(&out, &spec, &plan, &observations)?;
                return Ok(outcome(&plan, false));
            }
            break_lock(&dir, force_unlock.as_deref())?;
            let lock = Lock::acquire(&dir, &Holder::current(settings), "restore", SystemTime::now())?;
            let steps = Steps { approval: Approval::from(auto_approve), deadline, report, label: None };
            execute(&plan, &session, &databases, &lock, steps).await
        }
    }
}

async fn apply_saved(
    path: &Path,
    run: Steps,
    force_unlock: Option<&str>,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let unverified = file::load(path, None)?;
    let spec = Spec::load(&unverified.spec_file).map_err(|e| {
        let hint = e.hint.clone().unwrap_or_default();
        UserError::new(format!("the plan {} was made from {}: {}", path.display(), unverified.spec_file.display(), e))
            .hint(hint)
    })?;
    let saved = file::load(path, Some(&spec.digest))?;
    let dir = state::open(&spec, settings).await?;
    break_lock(&dir, force_unlock)?;
    let lock = Lock::acquire(&dir, &Holder::current(settings), "apply", SystemTime::now())?;
    let session = Session::open(&spec, settings).await?;
    let (observed, databases) = session.observe(&spec).await?;
    let (fresh, fresh_observations) = match saved.plan.kind {
        Kind::Apply => rules::plan(&spec, &observed),
        Kind::Restore => {
            let recorded = dir.load_existing_state().map_err(|e| UserError::new(e.to_string()).hint(e.hint()))?;
            rules::restore(&spec, &observed, &recorded)
        }
    };
    let done = changed_by_earlier_attempts(&saved.plan, &dir);
    let drift: Vec<file::Drift> = file::stale(&saved.observations, &fresh_observations)
        .into_iter()
        .filter(|drift| !done.contains(&drift.address))
        .collect();
    if !drift.is_empty() {
        return Err(file::stale_error(path, &drift).into());
    }
    let differences = file::unreviewed(&saved.plan, &fresh, &done);
    if !differences.is_empty() {
        return Err(file::unreviewed_error(path, &differences).into());
    }
    execute(&saved.plan, &session, &databases, &lock, run).await
}

/// The addresses the latest, interrupted attempt at this very plan already touched: the steps it finished
/// (the executor skips them) and the ones it started without finishing (their effect may be in place).
/// They differ from what the plan saw because of us, and the fresh plan may no longer have them. Only the
/// attempt the executor would resume counts: an older or completed attempt exempts nothing.
fn changed_by_earlier_attempts(plan: &Plan, dir: &StateDir) -> std::collections::BTreeSet<crate::plan::Address> {
    let runnable = plan
        .changes
        .iter()
        .filter(|c| c.pending.is_none() && c.action != crate::plan::Action::Blocker)
        .map(|c| c.address.clone())
        .collect();
    History::read(&dir.journal())
        .map(|history| {
            let resume = history.resume(&plan.digest(), &runnable);
            resume.done.into_keys().chain(resume.unfinished.into_iter().map(|record| record.address)).collect()
        })
        .unwrap_or_default()
}

/// How to run a plan's steps: whether to ask first, and how long they may take in all.
#[derive(Clone, Debug)]
struct Steps {
    approval: Approval,
    deadline: Duration,
    report: Report,
    /// The spec, when several apply at once: it starts every progress line.
    label: Option<String>,
}

/// Who said yes to a plan's changes.
#[derive(Clone, Debug)]
enum Approval {
    /// Nobody yet: ask on the terminal.
    Ask,
    /// `--auto-approve`.
    Given,
    /// The plan comes from this saved file, reviewed when it was made (as terraform applies a saved plan),
    /// and re-derived from the live systems just now without a difference.
    Reviewed(std::path::PathBuf),
}

impl From<bool> for Approval {
    fn from(auto_approve: bool) -> Self {
        if auto_approve { Approval::Given } else { Approval::Ask }
    }
}

/// Shows the plan, confirms, runs the plan's changes under the lock, and reports: on stderr, and with
/// `--format json` as JSON lines on stdout from the plan to the summary.
async fn execute(
    plan: &Plan,
    session: &Session<'_>,
    databases: &Databases,
    lock: &Lock,
    steps: Steps,
) -> anyhow::Result<Outcome> {
    // Printed whether or not anyone is asked, so that a log records what was approved.
    match steps.report {
        Report::Human => print(plan, Format::Human, session.settings)?,
        Report::Json => JsonLines::default().emit(events::Event::Plan(plan), SystemTime::now()),
    }
    let tally = Tally::default();
    let outcome = run_steps(plan, session, databases, lock, steps.clone(), &tally).await;
    if steps.report == Report::Json {
        let status = match &outcome {
            // A plan's steps never end in a validation's verdict or a fleet's code; counted as blocked
            // should one ever.
            Ok(Outcome::Blockers | Outcome::ValidationFailed | Outcome::Code(_)) => events::Status::Blocked,
            Ok(Outcome::Interrupted) => events::Status::Interrupted,
            Ok(Outcome::Clean | Outcome::Changes) if !plan.has_changes() => events::Status::NothingToDo,
            Ok(Outcome::Clean | Outcome::Changes) => events::Status::Complete,
            Err(_) if tally.asked.get() && !tally.approved.get() => events::Status::Refused,
            Err(_) => events::Status::Failed,
        };
        let error = outcome.as_ref().err().map(|e| format!("{e:#}"));
        let summary = events::Event::Summary { plan, status, applied: tally.applied.get(), error: error.as_deref() };
        JsonLines::default().emit(summary, SystemTime::now());
    }
    outcome
}

/// How far a run got, for its summary.
#[derive(Default)]
struct Tally {
    asked: std::cell::Cell<bool>,
    approved: std::cell::Cell<bool>,
    applied: std::cell::Cell<usize>,
}

/// The JSON lines of `--format json` on stdout, for the plan, the summary and (as the executor's
/// listener) every step.
#[derive(Default)]
struct JsonLines {
    /// The spec the lines are about, when several run at once.
    spec: Option<String>,
}

impl JsonLines {
    fn emit(&self, event: events::Event<'_>, at: SystemTime) {
        // A closed stdout (a consumer that went away) must not stop the run: the journal is the record.
        let time = crate::apply::timestamp(at);
        let _ = events::write(event, &time, self.spec.as_deref(), &mut std::io::stdout().lock());
    }
}

impl Listener for JsonLines {
    fn started(&self, at: SystemTime, change: &Change) {
        self.emit(events::Event::Started { address: change.address.as_str(), action: change.action }, at);
    }

    fn running(&self, at: SystemTime, change: &Change, elapsed: Duration, waiting: Option<&Sighting>) {
        let address = change.address.as_str();
        let (waiting_for, seen) = (waiting.map(|w| w.what.as_str()), waiting.map(|w| w.seen.as_str()));
        self.emit(events::Event::Progress { address, elapsed, waiting_for, seen }, at);
    }

    fn finished(&self, at: SystemTime, change: &Change, elapsed: Duration, outcome: Result<Option<&str>, String>) {
        let address = change.address.as_str();
        match &outcome {
            Ok(after) => self.emit(events::Event::Done { address, elapsed, after: *after }, at),
            Err(error) => self.emit(events::Event::Failed { address, elapsed, error }, at),
        }
    }
}

/// Confirms and runs the plan's changes under the lock, reporting on stderr.
async fn run_steps(
    plan: &Plan,
    session: &Session<'_>,
    databases: &Databases,
    lock: &Lock,
    Steps { approval, deadline, report, label }: Steps,
    tally: &Tally,
) -> anyhow::Result<Outcome> {
    let say = |line: String| crate::apply::progress::say(label.as_deref(), &line);
    // Steps a killed run made but never recorded are recorded now, even when nothing else is left to do.
    let reconciled = executor::reconcile(plan, lock, SystemTime::now).map_err(|e| e.to_user_error())?;
    for address in &reconciled {
        say(format!(
            "  done {} (made by an interrupted run; recorded now)",
            crate::text::inert(address.as_str(), false)
        ));
    }
    if plan.has_blockers() {
        // Which blockers, and what to do about each, is in the plan printed above.
        say("migprep: the plan has blockers; fix them first (nothing was changed)".into());
        return Ok(Outcome::Blockers);
    }
    if !plan.has_changes() {
        say("migprep: nothing to do".into());
        return Ok(Outcome::Clean);
    }
    tally.asked.set(true);
    if confirm(&approval).await? == Answer::Interrupted {
        eprintln!("\nmigprep: interrupted at the prompt; nothing was changed");
        return Ok(Outcome::Interrupted);
    }
    tally.approved.set(true);
    let heartbeat = session.settings.heartbeat();
    let progress = match report {
        Report::Human => Progress::to_stderr(heartbeat, SystemTime::now).labelled(label.clone()),
        Report::Json => Progress::to_listener(Box::new(JsonLines { spec: label.clone() }), heartbeat, SystemTime::now),
    };
    let provider = Dispatch::new(&session.clients, databases, session.settings.poll_interval(), progress);
    let options = Options { concurrency: 4, clock: SystemTime::now, interrupt: Some(&INTERRUPTED) };
    if INTERRUPTED.load(Ordering::SeqCst) {
        say("migprep: interrupted before any step started; nothing was changed".into());
        return Ok(Outcome::Interrupted);
    }
    let result = tokio::time::timeout(deadline, executor::execute(plan, &provider, lock, options)).await;
    let Ok(result) = result else {
        return Err(UserError::new(format!(
            "gave up after {}s (--deadline); a step running then may still go on in the cloud",
            deadline.as_secs()
        ))
        .hint("run the command again: finished steps are recorded and not repeated, and a step that was cut off is looked at again before anything is sent")
        .into());
    };
    let result = result.map_err(|e| e.to_user_error())?;
    tally.applied.set(result.applied.len());
    for held in &result.held {
        let (address, waits_for) =
            (crate::text::inert(held.address.as_str(), false), crate::text::inert(held.waits_for.as_str(), false));
        say(format!("  held {address} (waits for {waits_for})"));
    }
    if let Some(error) = result.error() {
        return Err(error.into());
    }
    if result.interrupted {
        say(format!(
            "migprep: interrupted: {} finished and recorded, {} not started; the lock is released. Run the \
             command again to continue.",
            crate::text::count(result.applied.len() as u64, "step", "steps"),
            result.not_started.len()
        ));
        return Ok(Outcome::Interrupted);
    }
    let summary = plan.summary();
    say(format!(
        "migprep: {} complete: {} added, {} changed, {} destroyed; {} pending{}",
        match plan.kind {
            Kind::Apply => "apply",
            Kind::Restore => "restore",
        },
        summary.add,
        summary.change,
        summary.destroy,
        summary.pending,
        if summary.pending == 0 { "." } else { ", left as they are:" }
    ));
    // What stays pending is named, with why, so nobody has to guess what "1 pending" was.
    for change in plan.changes.iter().filter(|change| change.pending.is_some()) {
        let address = crate::text::inert(change.address.as_str(), false);
        let why = crate::text::inert(change.pending.as_deref().unwrap_or_default(), false);
        say(format!("  pending {address}: {why}"));
    }
    Ok(Outcome::Clean)
}

/// How the confirmation ended, when it did not refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Yes,
    /// Ctrl-C while the prompt waited.
    Interrupted,
}

/// Asks for `yes` on a terminal (the plan is on the screen already); without a terminal only
/// `--auto-approve` or a saved plan goes ahead. A Ctrl-C while it waits ends the wait at once, without
/// the Enter a blocking read would need.
async fn confirm(approval: &Approval) -> Result<Answer, UserError> {
    match approval {
        Approval::Given => return Ok(Answer::Yes),
        Approval::Reviewed(file) => {
            eprintln!(
                "migprep: applying the saved plan {} as reviewed; nothing it depends on has changed since it was made",
                file.display()
            );
            return Ok(Answer::Yes);
        }
        Approval::Ask => {}
    }
    if !std::io::stdin().is_terminal() {
        return Err(UserError::new("no terminal to confirm the changes on, and --auto-approve was not given")
            .hint("review the plan, then run again with --auto-approve (or apply a saved plan file)"));
    }
    PROMPTING.store(true, Ordering::SeqCst);
    eprint!("Do you want to perform these actions? Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    // A thread of its own rather than the runtime's blocking pool: a read nobody waits for any more must
    // not keep the process from exiting.
    let (sender, answer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = std::io::stdin().lock().read_line(&mut answer).map(|_| answer);
        let _ = sender.send(read);
    });
    let answer = tokio::select! {
        answer = answer => answer,
        () = interrupted() => return Ok(Answer::Interrupted),
    };
    PROMPTING.store(false, Ordering::SeqCst);
    let answer = answer
        .map_err(|_| UserError::new("cannot read the answer: the reader stopped"))?
        .map_err(|e| UserError::new(format!("cannot read the answer: {e}")))?;
    if answer.trim() == "yes" { Ok(Answer::Yes) } else { Err(UserError::new("cancelled: nothing was changed")) }
}

fn break_lock(dir: &StateDir, id: Option<&str>) -> Result<(), UserError> {
    if let Some(id) = id {
        let info = lock::force_unlock(dir, id)?;
        eprintln!(
            "migprep: broke the lock {} held by {} (pid {}) on {} since {}",
            info.id, info.holder, info.pid, info.host, info.started
        );
    }
    Ok(())
}

fn save(out: &Path, spec: &Spec, plan: &Plan, observations: &[Observation]) -> Result<(), UserError> {
    let spec_file = std::path::absolute(&spec.file)
        .map_err(|e| UserError::new(format!("cannot resolve the spec's path {}: {e}", spec.file.display())))?;
    file::save(out, plan, &spec_file, &spec.digest, observations)?;
    eprintln!("migprep: saved the plan to {}; apply exactly it with `migprep apply {}`", out.display(), out.display());
    Ok(())
}

/// `plan --roles-sql FILE`: the plan's T7 statements, for review.
fn write_roles_sql(path: &Path, plan: &Plan) -> Result<(), UserError> {
    std::fs::write(path, crate::render::roles_sql::render(plan)).map_err(|e| {
        UserError::new(format!("cannot write the roles SQL to {}: {e}", path.display()))
            .hint("check that the folder exists and is writable")
    })?;
    eprintln!("migprep: wrote the statements that create the target's roles to {}", path.display());
    Ok(())
}

/// The refusal of an option that names one spec's file or lock, given several specs.
fn one_spec_only(what: &str) -> UserError {
    UserError::new(format!("{what} works with one spec, and several were given"))
        .hint("run the command for that spec alone")
}

/// A saved plan is JSON; a spec is TOML, which cannot start with `{`.
fn is_plan_file(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'))
}

fn outcome(plan: &Plan, detailed_exitcode: bool) -> Outcome {
    if plan.has_blockers() {
        Outcome::Blockers
    } else if detailed_exitcode && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Clean
    }
}

/// The extra CA bundle: the spec's `ca_file`, else `MIGPREP_CA_FILE`.
fn trust_for(spec: &Spec, settings: &Settings) -> Result<Trust, UserError> {
    Trust::load(spec.ca_file.as_deref().or(settings.ca_file.as_deref()))
}

fn print(plan: &Plan, format: Format, settings: &Settings) -> Result<(), UserError> {
    let stdout = std::io::stdout();
    let colour = colour_allowed(&stdout, settings);
    let mut out = stdout.lock();
    let written = match format {
        Format::Human => crate::render::human::render(plan, &mut out, crate::render::human::Style { colour }),
        Format::Json => crate::render::json::render(plan, &mut out),
        Format::Markdown => crate::render::markdown::render(plan, &mut out),
    };
    written.and_then(|()| out.flush()).map_err(|e| UserError::new(format!("cannot write the plan to stdout: {e}")))
}

/// `validate`'s result on stdout.
fn print_verdict(
    verdict: &crate::plan::verdict::Verdict,
    format: Format,
    settings: &Settings,
) -> Result<(), UserError> {
    let stdout = std::io::stdout();
    let colour = colour_allowed(&stdout, settings);
    let mut out = stdout.lock();
    let written = match format {
        Format::Human => crate::render::verdict::human(verdict, &mut out, colour),
        Format::Json => crate::render::verdict::json(verdict, &mut out),
        Format::Markdown => crate::render::verdict::markdown(verdict, &mut out),
    };
    written.and_then(|()| out.flush()).map_err(|e| UserError::new(format!("cannot write the result to stdout: {e}")))
}

/// Colour only on a terminal, and never with `NO_COLOR` set (https://no-color.org).
fn colour_allowed(stream: &impl IsTerminal, settings: &Settings) -> bool {
    stream.is_terminal() && !settings.no_color
}
