//! Progress of an apply: a spinner per running step on a terminal (several run at once, and some — a
//! reboot, an HA change — take minutes); without a terminal, log lines for CI, each with a UTC timestamp:
//!
//! ```text
//! 2025-03-01T12:03:05Z ~ azure.server/pg-orders/high_availability …
//! 2025-03-01T12:03:35Z … azure.server/pg-orders/high_availability: still running after 30s (waiting for …: InProgress)
//! 2025-03-01T12:07:35Z done azure.server/pg-orders/high_availability in 4m30s
//! 2025-03-01T12:07:35Z failed aws.cluster/orders-prod/reboot after 12s
//! ```
//!
//! A step still running says so every heartbeat, with what its wait last saw ([`crate::poll::Watch`]).
//! A [`Listener`] may take the events instead (JSON lines for CI); it decides how they are shown.
//!
//! When several specs apply at once (a fleet), each line starts with its spec's label, and every spec's
//! spinners share the process's one set of bars. Anything else written to stderr while bars are drawn
//! goes through [`Stderr`] or [`say`], which move the bars aside for it, so a log line never tears a
//! spinner.

use crate::plan::Change;
use crate::poll::{Sighting, Watch};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// The bars of the process, once a step has been shown on a terminal.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

fn bars() -> &'static MultiProgress {
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// Writes `bytes` to stderr whole, with the bars (if any are drawn) cleared first and redrawn after.
fn write_aside(bytes: &[u8]) -> io::Result<()> {
    let write = || {
        let mut stderr = io::stderr().lock();
        stderr.write_all(bytes).and_then(|()| stderr.flush())
    };
    match BARS.get() {
        Some(bars) => bars.suspend(write),
        None => write(),
    }
}

/// stderr for logs: each write goes out whole, beside the bars rather than through them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_aside(buf).map(|()| buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes one line on stderr, after `label` (a fleet's spec) when there is one, beside the bars.
pub fn say(label: Option<&str>, line: &str) {
    let text = match label {
        Some(label) => format!("{} {line}\n", prefix(label)),
        None => format!("{line}\n"),
    };
    // A closed stderr must not stop the run: the journal is the record.
    let _ = write_aside(text.as_bytes());
}

/// How a label starts a line: `[specs/orders.toml]`.
fn prefix(label: &str) -> String {
    format!("[{}]", crate::text::inert(label, false))
}

/// Told of every step's start, heartbeat and end, in place of the lines on stderr.
pub trait Listener: Send + Sync {
    fn started(&self, at: SystemTime, change: &Change);
    /// The step is still running after `elapsed`; `waiting` is what it waits for, if it is waiting.
    fn running(&self, at: SystemTime, change: &Change, elapsed: Duration, waiting: Option<&Sighting>);
    /// The step ended: `Ok` with the value observed afterwards (if any), or the error.
    fn finished(&self, at: SystemTime, change: &Change, elapsed: Duration, outcome: Result<Option<&str>, String>);
}

/// Where progress goes.
pub struct Progress {
    shown: Shown,
    /// How often a running step reports (not on a terminal, where the spinner shows its time).
    heartbeat: Duration,
    clock: super::Clock,
    /// The spec whose steps these are, when several apply at once.
    label: Option<String>,
}

enum Shown {
    Spinners,
    Lines,
    Listener(Box<dyn Listener>),
}

impl Progress {
    /// Spinners when stderr is a terminal, timestamped lines otherwise.
    pub fn to_stderr(heartbeat: Duration, clock: super::Clock) -> Self {
        let shown = if std::io::stderr().is_terminal() { Shown::Spinners } else { Shown::Lines };
        Self { shown, heartbeat, clock, label: None }
    }

    /// Every event to `listener`, nothing on stderr.
    pub fn to_listener(listener: Box<dyn Listener>, heartbeat: Duration, clock: super::Clock) -> Self {
        Self { shown: Shown::Listener(listener), heartbeat, clock, label: None }
    }

    /// Starts every line (and spinner) with `label`, the spec these steps belong to.
    pub fn labelled(mut self, label: Option<String>) -> Self {
        self.label = label;
        self
    }

    /// Runs one step's `work`, reporting its start, a heartbeat while it runs, and its end.
    pub async fn follow<F>(&self, change: &Change, work: F) -> anyhow::Result<Option<String>>
    where
        F: Future<Output = anyhow::Result<Option<String>>>,
    {
        self.follow_all(&[change], work).await
    }

    /// Runs the `work` of a step that makes several changes with one operation, reporting each change's
    /// start, heartbeats and end; each change that ends well shows its own planned value unless it is the
    /// only one.
    pub async fn follow_all<F>(&self, changes: &[&Change], work: F) -> anyhow::Result<Option<String>>
    where
        F: Future<Output = anyhow::Result<Option<String>>>,
    {
        let started = Instant::now();
        let addresses: Vec<String> =
            changes.iter().map(|change| crate::text::inert(change.address.as_str(), false).into_owned()).collect();
        let bars: Vec<Option<ProgressBar>> =
            changes.iter().zip(&addresses).map(|(change, address)| self.start(change, address)).collect();
        let watch = Watch::default();
        let work = watch.around(work);
        tokio::pin!(work);
        let beats = !matches!(self.shown, Shown::Spinners);
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + self.heartbeat, self.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = heartbeat.tick(), if beats => {
                    for (change, address) in changes.iter().zip(&addresses) {
                        self.beat(change, address, started.elapsed(), watch.latest());
                    }
                }
            }
        };
        for (position, ((change, address), bar)) in changes.iter().zip(&addresses).zip(bars).enumerate() {
            let shown = match &result {
                Ok(_) if position > 0 => Ok(None),
                Ok(after) => Ok(after.clone()),
                Err(error) => Err(anyhow::anyhow!("{error:#}")),
            };
            self.finish(change, address, bar, started.elapsed(), &shown);
        }
        result
    }

    fn start(&self, change: &Change, address: &str) -> Option<ProgressBar> {
        let label = format!("{} {address}", change.action.symbol());
        match &self.shown {
            Shown::Spinners => {
                let label = match &self.label {
                    Some(spec) => format!("{} {label}", prefix(spec)),
                    None => label,
                };
                let bar = bars().add(ProgressBar::new_spinner());
                bar.set_style(ProgressStyle::with_template("  {spinner} {msg} ({elapsed})").expect("a valid template"));
                bar.set_message(label);
                bar.enable_steady_tick(Duration::from_millis(120));
                return Some(bar);
            }
            Shown::Lines => self.line(&format!("{label} …")),
            Shown::Listener(listener) => listener.started((self.clock)(), change),
        }
        None
    }

    fn beat(&self, change: &Change, address: &str, elapsed: Duration, waiting: Option<Sighting>) {
        match &self.shown {
            Shown::Spinners => {}
            Shown::Lines => {
                let waiting = waiting
                    .map(|Sighting { what, seen }| {
                        let (what, seen) = (crate::text::inert(&what, false), crate::text::inert(&seen, false));
                        format!(" (waiting for {what}: {seen})")
                    })
                    .unwrap_or_default();
                self.line(&format!("… {address}: still running after {}{waiting}", duration(elapsed)));
            }
            Shown::Listener(listener) => listener.running((self.clock)(), change, elapsed, waiting.as_ref()),
        }
    }

    fn finish(
        &self,
        change: &Change,
        address: &str,
        bar: Option<ProgressBar>,
        elapsed: Duration,
        result: &anyhow::Result<Option<String>>,
    ) {
        let outcome = if result.is_ok() { "done" } else { "failed" };
        match &self.shown {
            Shown::Spinners => {
                // A finished step leaves its spinner for a line of its own above the running ones, so
                // the screen keeps a record of what was done.
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                let preposition = if result.is_ok() { "in" } else { "after" };
                say(self.label.as_deref(), &format!("  {outcome} {address} {preposition} {}", duration(elapsed)));
            }
            Shown::Lines => {
                let preposition = if result.is_ok() { "in" } else { "after" };
                self.line(&format!("{outcome} {address} {preposition} {}", duration(elapsed)));
            }
            Shown::Listener(listener) => {
                let outcome = match result {
                    Ok(after) => Ok(after.as_deref().or(change.after.as_deref())),
                    Err(error) => Err(format!("{error:#}")),
                };
                listener.finished((self.clock)(), change, elapsed, outcome);
            }
        }
    }

    /// One timestamped line: `2025-03-01T12:03:05Z [spec] text`.
    fn line(&self, text: &str) {
        say(
            None,
            &match &self.label {
                Some(spec) => format!("{} {} {text}", super::timestamp((self.clock)()), prefix(spec)),
                None => format!("{} {text}", super::timestamp((self.clock)())),
            },
        );
    }
}

/// A step's duration for people: `850ms`, `12s`, `4m30s`, `1h02m`.
pub fn duration(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    match seconds {
        0 => format!("{}ms", elapsed.as_millis()),
        1..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        let cases = [(850, "850ms"), (12_000, "12s"), (270_000, "4m30s"), (60_000, "1m00s"), (3_720_000, "1h02m")];
        for (ms, text) in cases {
            assert_eq!(duration(Duration::from_millis(ms)), text);
        }
    }
}
