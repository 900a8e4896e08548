//! The stream `apply --format json` and `restore --format json` print on stdout for CI systems: one JSON
//! object per line, written as it happens. Pure: the caller passes each event with its time and the
//! `io::Write` to put the line on; nothing here reads a clock or decides what happened.
//!
//! # Lines
//!
//! Every line has a `type` and a `time` (RFC 3339, UTC, to the second) first; the other keys follow in
//! the order below and are always present (absent values are `null`). Durations are whole milliseconds.
//!
//! ```text
//! {"type":"plan","time":"…","plan":{…}}          // the plan about to run: the JSON plan document
//!                                                  // (format_version 1, as `plan --format json`)
//! {"type":"started","time":"…","address":"azure.server/pg-orders/high_availability","action":"update"}
//! {"type":"progress","time":"…","address":"…","elapsed_ms":30000,
//!  "waiting_for":"update of pg-orders" | null,     // what the step waits for, if it is waiting
//!  "seen":"InProgress" | null}                     // what the service last reported
//! {"type":"done","time":"…","address":"…","elapsed_ms":270000,"after":"Disabled" | null}
//! {"type":"failed","time":"…","address":"…","elapsed_ms":1200,"error":"…"}
//! {"type":"summary","time":"…","kind":"apply" | "restore",
//!  "status":"complete" | "nothing_to_do" | "blocked" | "failed" | "interrupted" | "refused",
//!  "applied":3,                                    // steps finished by this run
//!  "add":1,"change":2,"destroy":0,"pending":1,"blockers":0,   // the plan's summary counts
//!  "error":"…" | null}                              // why the run stopped, when it did
//! ```
//!
//! `action` is one of the plan's actions (`create`, `update`, `delete`, `blocker`, `restart`). A run
//! prints one `plan` line first and one `summary` line last, whatever happened between them (a run that
//! stops before any plan, e.g. on a bad spec, prints only its error on stderr); `started` is followed
//! by the same address's `done` or `failed`, with `progress` lines between them while it runs.
//!
//! Every line ends with `"spec"`: the spec file it is about when several specs run at once (their lines
//! interleave as their steps do), `null` for a run of one spec.
//! Text from the systems (addresses, values, errors) is carried as is: JSON escapes it.

use crate::plan::{Action, Kind, Plan};
use serde::Serialize;
use std::io::{self, Write};
use std::time::Duration;

/// How a run ended, for the summary line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every runnable step finished.
    Complete,
    /// The plan had no change to make.
    NothingToDo,
    /// The plan has blockers; nothing ran.
    Blocked,
    /// A step failed, or the run gave up (deadline); see `error`.
    Failed,
    /// Ctrl-C: the running steps finished, the others did not start.
    Interrupted,
    /// Not approved (no terminal and no `--auto-approve`, or an answer other than `yes`): nothing ran.
    Refused,
}

/// One line of the stream.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    Plan(&'a Plan),
    Started { address: &'a str, action: Action },
    Progress { address: &'a str, elapsed: Duration, waiting_for: Option<&'a str>, seen: Option<&'a str> },
    Done { address: &'a str, elapsed: Duration, after: Option<&'a str> },
    Failed { address: &'a str, elapsed: Duration, error: &'a str },
    Summary { plan: &'a Plan, status: Status, applied: usize, error: Option<&'a str> },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Plan {
        time: &'a str,
        plan: super::json::Document,
    },
    Started {
        time: &'a str,
        address: &'a str,
        action: &'static str,
    },
    Progress {
        time: &'a str,
        address: &'a str,
        elapsed_ms: u128,
        waiting_for: Option<&'a str>,
        seen: Option<&'a str>,
    },
    Done {
        time: &'a str,
        address: &'a str,
        elapsed_ms: u128,
        after: Option<&'a str>,
    },
    Failed {
        time: &'a str,
        address: &'a str,
        elapsed_ms: u128,
        error: &'a str,
    },
    Summary {
        time: &'a str,
        kind: &'static str,
        status: Status,
        applied: usize,
        add: usize,
        change: usize,
        destroy: usize,
        pending: usize,
        blockers: usize,
        error: Option<&'a str>,
    },
}

/// A line and the spec it belongs to, as one object.
#[derive(Serialize)]
struct Stamped<'a> {
    #[serde(flatten)]
    line: Line<'a>,
    spec: Option<&'a str>,
}

/// Writes `event`, which happened at `time` (RFC 3339), as one line, and flushes it: a CI log shows each
/// line as it happens. `spec` names the spec file when several run at once.
pub fn write(event: Event<'_>, time: &str, spec: Option<&str>, out: &mut dyn Write) -> io::Result<()> {
    let line = match event {
        Event::Plan(plan) => Line::Plan { time, plan: super::json::Document::from(plan) },
        Event::Started { address, action } => Line::Started { time, address, action: action_name(action) },
        Event::Progress { address, elapsed, waiting_for, seen } => {
            Line::Progress { time, address, elapsed_ms: elapsed.as_millis(), waiting_for, seen }
        }
        Event::Done { address, elapsed, after } => Line::Done { time, address, elapsed_ms: elapsed.as_millis(), after },
        Event::Failed { address, elapsed, error } => {
            Line::Failed { time, address, elapsed_ms: elapsed.as_millis(), error }
        }
        Event::Summary { plan, status, applied, error } => {
            let summary = plan.summary();
            Line::Summary {
                time,
                kind: match plan.kind {
                    Kind::Apply => "apply",
                    Kind::Restore => "restore",
                },
                status,
                applied,
                add: summary.add,
                change: summary.change,
                destroy: summary.destroy,
                pending: summary.pending,
                blockers: summary.blockers,
                error,
            }
        }
    };
    serde_json::to_writer(&mut *out, &Stamped { line, spec })?;
    writeln!(out)?;
    out.flush()
}

/// As the JSON plan names actions.
fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::Blocker => "blocker",
        Action::Restart => "restart",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Address, Change, RuleId};
    use serde_json::{Value, json};

    fn line(event: Event<'_>) -> Value {
        let mut out = Vec::new();
        write(event, "2025-03-01T12:00:00Z", None, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
        assert!(text.starts_with(r#"{"type":"#), "type first: {text}");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn every_line_is_one_json_object_with_its_type_and_time() {
        let mut plan = Plan::new(Kind::Apply, "orders");
        plan.changes.push(Change::new(Address::new("aws.cluster/a/parameter/x"), Action::Update, RuleId::S3, "r"));
        let address = "aws.cluster/a/parameter/x";
        let elapsed = Duration::from_millis(1500);
        assert_eq!(line(Event::Plan(&plan))["plan"]["format_version"], 1);
        assert_eq!(
            line(Event::Started { address, action: Action::Update }),
            json!({"type": "started", "time": "2025-03-01T12:00:00Z", "address": address, "action": "update", "spec": null})
        );
        let progress = line(Event::Progress { address, elapsed, waiting_for: Some("the thing"), seen: Some("busy") });
        assert_eq!((progress["elapsed_ms"].as_u64(), progress["seen"].as_str()), (Some(1500), Some("busy")));
        assert_eq!(line(Event::Done { address, elapsed, after: None })["after"], Value::Null);
        assert_eq!(line(Event::Failed { address, elapsed, error: "no\nway" })["error"], "no\nway");
        let summary = line(Event::Summary { plan: &plan, status: Status::Complete, applied: 1, error: None });
        assert_eq!(
            summary,
            json!({"type": "summary", "time": "2025-03-01T12:00:00Z", "kind": "apply", "status": "complete",
                   "applied": 1, "add": 0, "change": 1, "destroy": 0, "pending": 0, "blockers": 0, "error": null,
                   "spec": null})
        );
    }

    #[test]
    fn a_fleets_lines_name_their_spec_last() {
        let mut out = Vec::new();
        let event = Event::Done { address: "aws.cluster/a/reboot", elapsed: Duration::from_secs(2), after: None };
        write(event, "2025-03-01T12:00:00Z", Some("specs/a.toml"), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(r#"{"type":"done","time":"#), "type and time first: {text}");
        assert!(text.trim_end().ends_with(r#","spec":"specs/a.toml"}"#), "spec last: {text}");
    }
}
