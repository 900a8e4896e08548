//! Several specs in one run (a fleet): `plan`, `apply` and `restore` over spec files and folders of
//! them. Specs are observed concurrently (at most `--parallel` at once), each spec's plan is printed whole
//! as soon as it and the ones before it are ready, an apply asks once for all of them, and the run ends
//! with one summary table and the most severe exit code. Each spec keeps its own state, journal and lock;
//! one that fails never stops another.

use super::session::Shared;
use super::{Approval, Outcome, Session, Steps, Tally, confirm, print, run_steps};
use crate::apply::lock::{Holder, Lock};
use crate::cli::{Format, Report};
use crate::clients::Databases;
use crate::error::UserError;
use crate::plan::fleet::{self, Entry};
use crate::plan::{Kind, Plan};
use crate::render::events;
use crate::rules;
use crate::settings::Settings;
use crate::spec::Spec;
use futures::stream::{self, StreamExt};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The spec files named on the command line: files as they are, folders as every `*.toml` in them
/// (sorted by name).
pub(super) fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, UserError> {
    let mut specs = Vec::new();
    for path in paths {
        if !path.is_dir() {
            specs.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path)
            .map_err(|e| UserError::new(format!("cannot read the folder {}: {e}", path.display())))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|file| file.is_file() && file.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        if found.is_empty() {
            return Err(UserError::new(format!("the folder {} holds no spec (*.toml)", path.display()))
                .hint("pass spec files, or folders that hold them"));
        }
        found.sort();
        specs.extend(found);
    }
    Ok(specs)
}

/// What an apply or a restore needs to run one spec's plan.
struct Work<'s> {
    session: Session<'s>,
    databases: Databases,
    lock: Lock,
    plan: Plan,
}

/// One spec after planning.
struct Planned<'s> {
    entry: Entry,
    work: Option<Work<'s>>,
}

/// An error as one line for the summary.
fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").lines().next().unwrap_or_default().to_string()
}

/// Loads, observes and plans one spec; with `locked`, under its lock (taken first, as a single apply does).
async fn prepare<'s>(path: &Path, kind: Kind, locked: bool, settings: &'s Settings, shared: &Shared) -> Planned<'s> {
    let mut entry = Entry {
        spec: path.display().to_string(),
        cluster: None,
        server: None,
        plan: None,
        result: fleet::Result::NoChanges,
    };
    let attempt = async {
        let spec = Spec::load(path)?;
        entry.cluster = Some(spec.source.cluster.clone());
        entry.server = Some(spec.target.server.clone());
        let lock = if locked {
            let dir = super::state::open(&spec, settings).await?;
            let operation = if kind == Kind::Apply { "apply" } else { "restore" };
            Some(Lock::acquire(&dir, &Holder::current(settings), operation, SystemTime::now())?)
        } else {
            None
        };
        let recorded = match (&lock, kind) {
            (Some(lock), Kind::Restore) => {
                crate::apply::executor::restorable(lock.dir()).map_err(|e| e.to_user_error())?;
                Some(lock.dir().load_existing_state().map_err(|e| UserError::new(e.to_string()).hint(e.hint()))?)
            }
            _ => None,
        };
        let session = Session::open_sharing(&spec, settings, shared).await?;
        let (observed, databases) = session.observe(&spec).await?;
        let (mut plan, _) = match &recorded {
            Some(recorded) => rules::restore(&spec, &observed, recorded),
            None => rules::plan(&spec, &observed),
        };
        plan.connections = session.connections(&databases).await;
        anyhow::Ok((session, databases, lock, plan))
    };
    match attempt.await {
        Ok((session, databases, lock, plan)) => {
            entry.result = if plan.has_blockers() {
                fleet::Result::Blockers
            } else if plan.has_changes() {
                fleet::Result::Changes
            } else {
                fleet::Result::NoChanges
            };
            entry.plan = Some(plan.clone());
            let work = lock.map(|lock| Work { session, databases, lock, plan });
            Planned { entry, work }
        }
        Err(error) => {
            eprintln!("migprep: {}: {}", entry.spec, crate::error::report(&error));
            entry.result = fleet::Result::Failed(one_line(&error));
            Planned { entry, work: None }
        }
    }
}

/// Prints one spec's plan under a heading naming it.
fn show(entry: &Entry, format: Format, settings: &Settings) -> Result<(), UserError> {
    let Some(plan) = &entry.plan else { return Ok(()) };
    let pair = format!("{} → {}", entry.cluster.as_deref().unwrap_or("?"), entry.server.as_deref().unwrap_or("?"));
    let heading = match format {
        Format::Markdown => format!("\n# {}: {pair}\n", entry.spec),
        _ => format!("\n=== {}: {pair} ===\n", entry.spec),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(crate::text::inert(&heading, true).as_bytes());
    drop(stdout);
    print(plan, format, settings)
}

/// Prints the summary in `format`.
fn summarize(entries: &[Entry], format: Format) -> Result<(), UserError> {
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Human => crate::render::fleet::human(entries, &mut out),
        Format::Markdown => crate::render::fleet::markdown(entries, &mut out),
        Format::Json => crate::render::fleet::json(entries, &mut out),
    };
    written.and_then(|()| out.flush()).map_err(|e| UserError::new(format!("cannot write the summary to stdout: {e}")))
}

/// `plan` over several specs.
pub(super) async fn plan(
    specs: &[PathBuf],
    format: Format,
    detailed_exitcode: bool,
    parallel: usize,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let mut entries = Vec::new();
    let shared = Shared::default();
    let mut planned =
        stream::iter(specs).map(|path| prepare(path, Kind::Apply, false, settings, &shared)).buffered(parallel);
    while let Some(Planned { entry, .. }) = planned.next().await {
        if format != Format::Json {
            show(&entry, format, settings)?;
        }
        entries.push(entry);
    }
    summarize(&entries, format)?;
    Ok(Outcome::Code(fleet::exit_code(&entries, detailed_exitcode)))
}

/// `apply` or `restore` over several specs: plans each under its lock, shows every plan, asks once, runs
/// them concurrently, and ends with the summary.
pub(super) async fn apply(
    specs: &[PathBuf],
    kind: Kind,
    auto_approve: bool,
    deadline: Duration,
    report: Report,
    parallel: usize,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let mut prepared = Vec::new();
    let shared = Shared::default();
    let mut planned = stream::iter(specs).map(|path| prepare(path, kind, true, settings, &shared)).buffered(parallel);
    while let Some(one) = planned.next().await {
        match (report, &one.entry.plan) {
            (Report::Human, _) => show(&one.entry, Format::Human, settings)?,
            (Report::Json, Some(plan)) => {
                let lines = super::JsonLines { spec: Some(one.entry.spec.clone()) };
                lines.emit(events::Event::Plan(plan), SystemTime::now())
            }
            (Report::Json, None) => {}
        }
        prepared.push(one);
    }
    drop(planned);

    let runnable = prepared.iter().filter(|one| one.entry.result == fleet::Result::Changes).count();
    if runnable > 0 {
        eprintln!("migprep: {runnable} of {} specs have changes to make", prepared.len());
        let approval = if auto_approve { Approval::Given } else { Approval::Ask };
        match confirm(&approval).await {
            Ok(super::Answer::Yes) => {}
            Ok(super::Answer::Interrupted) => {
                eprintln!("\nmigprep: interrupted at the prompt; nothing was changed");
                mark(&mut prepared, fleet::Result::Interrupted);
                return finish(prepared, report);
            }
            Err(refused) => {
                eprintln!("migprep: {}", refused.message);
                if let Some(hint) = &refused.hint {
                    eprintln!("hint: {hint}");
                }
                mark(&mut prepared, fleet::Result::Refused);
                return finish(prepared, report);
            }
        }
    }

    let steps = Steps { approval: Approval::Given, deadline, report, label: None };
    let outcomes: Vec<(usize, fleet::Result)> = stream::iter(prepared.iter().enumerate())
        .filter_map(|(index, one)| async move {
            let work = one.work.as_ref().filter(|_| one.entry.result == fleet::Result::Changes)?;
            Some((index, one.entry.spec.clone(), work))
        })
        .map(|(index, spec, work)| {
            let steps = Steps { label: Some(spec.clone()), ..steps.clone() };
            async move {
                let tally = Tally::default();
                let result = run_steps(&work.plan, &work.session, &work.databases, &work.lock, steps, &tally).await;
                let result = match result {
                    Ok(Outcome::Interrupted) => fleet::Result::Interrupted,
                    Ok(Outcome::Blockers) => fleet::Result::Blockers,
                    Ok(_) => fleet::Result::Applied,
                    Err(error) => {
                        eprintln!("migprep: {spec}: {}", crate::error::report(&error));
                        fleet::Result::Failed(one_line(&error))
                    }
                };
                (index, result)
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    for (index, result) in outcomes {
        prepared[index].entry.result = result;
    }
    finish(prepared, report)
}

/// Marks every spec that had changes to make with `result` (nothing ran).
fn mark(prepared: &mut [Planned<'_>], result: fleet::Result) {
    for one in prepared.iter_mut().filter(|one| one.entry.result == fleet::Result::Changes) {
        one.entry.result = result.clone();
    }
}

/// Releases every lock, prints the summary, and says how the run ended.
fn finish(prepared: Vec<Planned<'_>>, report: Report) -> anyhow::Result<Outcome> {
    let entries: Vec<Entry> = prepared.into_iter().map(|one| one.entry).collect();
    match report {
        Report::Human => summarize(&entries, Format::Human)?,
        Report::Json => {
            // The last of the JSON lines: the fleet document on one line.
            let mut bytes = Vec::new();
            crate::render::fleet::json(&entries, &mut bytes)
                .map_err(|e| UserError::new(format!("cannot render the summary: {e}")))?;
            let document: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| UserError::new(format!("cannot render the summary: {e}")))?;
            let _ = writeln!(std::io::stdout().lock(), "{document}");
        }
    }
    Ok(Outcome::Code(fleet::exit_code(&entries, false)))
}
