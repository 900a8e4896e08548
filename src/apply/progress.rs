//! Progress of an apply on stderr: a spinner per running step on a terminal (several run at once, and
//! some — a reboot, an HA change — take minutes, so the user sees what is being waited for), plain
//! lines otherwise so that logs of CI pipelines stay readable.

use crate::plan::Change;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Where progress goes.
pub struct Progress {
    bars: Option<MultiProgress>,
}

/// One running step.
pub struct Step {
    bar: Option<ProgressBar>,
    address: String,
}

impl Progress {
    /// Spinners when stderr is a terminal, plain lines otherwise.
    pub fn to_stderr() -> Self {
        let terminal = std::io::stderr().is_terminal();
        Self { bars: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())) }
    }

    pub fn start(&self, change: &Change) -> Step {
        let address = crate::text::inert(change.address.as_str(), false).into_owned();
        let label = format!("{} {address}", change.action.symbol());
        let Some(bars) = &self.bars else {
            eprintln!("  {label} …");
            return Step { bar: None, address };
        };
        let bar = bars.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("  {spinner} {msg} ({elapsed})").expect("a valid template"));
        bar.set_message(label);
        bar.enable_steady_tick(Duration::from_millis(120));
        Step { bar: Some(bar), address }
    }
}

impl Step {
    pub fn finish<T>(self, result: &anyhow::Result<T>) {
        let outcome = if result.is_ok() { "done" } else { "failed" };
        let line = format!("{outcome} {}", self.address);
        match self.bar {
            Some(bar) => bar.finish_with_message(line),
            None => eprintln!("  {line}"),
        }
    }
}
