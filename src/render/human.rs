//! The terminal rendering, modelled on terraform's: a legend of the symbols in use, the changes grouped by
//! system, the checks that passed, and the summary line last (where the eye lands).
//!
//! Pure: it writes to the given `io::Write` and never looks at the terminal or the environment; ANSI
//! colour is added only when [`Style::colour`] says so.

use super::{
    actions_used, closing_line, connection_label, flags, groups, heading, inert, legend_entry, sections, shown,
};
use crate::plan::{Action, Change, Kind, Plan};
use std::io::{self, Write};

/// How to draw the plan. The caller decides colour from the terminal and `NO_COLOR`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

/// Writes the plan for a person at a terminal.
pub fn render(plan: &Plan, out: &mut dyn Write, style: Style) -> io::Result<()> {
    let paint = Paint(style.colour);
    writeln!(out, "{}", paint.bold(&heading(plan)))?;
    if !plan.connections.is_empty() {
        writeln!(out)?;
        for connection in &plan.connections {
            let (endpoint, identity) = (inert(&connection.endpoint, false), inert(&connection.identity, false));
            let label = format!("{:<22}", connection_label(connection.system));
            writeln!(out, "  {} {endpoint}, as {identity}", paint.dim(&label))?;
        }
    }

    let used = actions_used(plan);
    if !used.is_empty() {
        writeln!(out)?;
        writeln!(out, "Actions are shown with these symbols:")?;
        for action in used {
            writeln!(out, "  {} {}", paint.symbol(action), legend_entry(action))?;
        }
    }

    for group in groups(plan) {
        writeln!(out)?;
        writeln!(out, "{}", paint.bold(group.system.title()))?;
        for change in group.changes {
            writeln!(out)?;
            change_block(out, change, plan.kind, paint)?;
        }
    }

    for (title, mark, entries) in sections(plan) {
        if entries.is_empty() {
            continue;
        }
        let mark = match mark {
            "✓" => paint.green(mark),
            "–" => paint.dim(mark),
            _ => paint.yellow(mark),
        };
        writeln!(out)?;
        writeln!(out, "{}", paint.bold(title))?;
        writeln!(out)?;
        for entry in entries {
            let rule = paint.dim(&format!("[{}]", entry.rule));
            let (address, summary) = (inert(entry.address.as_str(), false), inert(&entry.summary, false));
            writeln!(out, "  {mark} {address} — {summary}  {rule}")?;
        }
    }

    writeln!(out)?;
    writeln!(out, "{}", paint.bold(&closing_line(plan)))
}

/// One change: the symbol and address, then its details indented under it.
fn change_block(out: &mut dyn Write, change: &Change, kind: Kind, paint: Paint) -> io::Result<()> {
    let pending =
        if change.pending.is_some() { format!("  {}", paint.yellow("(pending, not included)")) } else { String::new() };
    let rule = paint.dim(&format!("[{}]", change.rule));
    let address = inert(change.address.as_str(), false);
    writeln!(out, "  {} {}  {rule}{pending}", paint.symbol(change.action), paint.bold(&address))?;

    if change.action == Action::Blocker {
        if let Some(before) = &change.before {
            field(out, "found", "found", &inert(before, false))?;
        }
        if let Some(after) = &change.after {
            field(out, "needs", "needs", &inert(after, false))?;
        }
    } else if change.before.is_some() || change.after.is_some() {
        let (before, after) = (shown(change.before.as_deref()), shown(change.after.as_deref()));
        let values = format!("{} → {}", inert(before, false), inert(after, false));
        indented(out, &values)?;
    }
    indented(out, &inert(&change.reason, false))?;
    if let Some(pending) = &change.pending {
        field(out, "pending", &paint.yellow("pending"), &inert(pending, false))?;
    }
    for (flag, meaning) in flags(change, kind) {
        field(out, flag, &paint.flag(flag), meaning)?;
    }
    if let Some(code) = change.prevents {
        field(out, "prevents", "prevents", &format!("Azure premigration error {code}"))?;
    }
    if let Some(operation) = &change.operation {
        // What apply will call, exactly: a reviewed plan runs nothing that was not shown.
        field(out, "runs", &paint.dim("runs"), &inert(&operation.describe(), false))?;
    }
    if let Some(remedy) = &change.remedy {
        // A remedy may hold several statements, one a line; names in them are quoted identifiers.
        field(out, "hint", &paint.cyan("hint"), &inert(remedy, true))?;
    }
    Ok(())
}

/// The indentation of a change's details, under the address.
const DETAIL: &str = "      ";

/// Writes text (already made [`inert`]) under the change, every line indented.
fn indented(out: &mut dyn Write, text: &str) -> io::Result<()> {
    for line in text.lines() {
        writeln!(out, "{DETAIL}{line}")?;
    }
    Ok(())
}

/// Writes `label: text`, continuation lines aligned under the text. `label` is the plain word (its width
/// aligns the continuation lines); `painted` is what is shown, possibly with colour codes.
fn field(out: &mut dyn Write, label: &str, painted: &str, text: &str) -> io::Result<()> {
    let mut lines = text.lines();
    writeln!(out, "{DETAIL}{painted}: {}", lines.next().unwrap_or_default())?;
    let hanging = " ".repeat(label.chars().count() + 2);
    for line in lines {
        writeln!(out, "{DETAIL}{hanging}{line}")?;
    }
    Ok(())
}

/// ANSI markup that disappears when colour is off.
#[derive(Clone, Copy)]
pub(super) struct Paint(pub(super) bool);

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    pub(super) fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }

    pub(super) fn dim(self, text: &str) -> String {
        self.wrap("2", text)
    }

    pub(super) fn green(self, text: &str) -> String {
        self.wrap("32", text)
    }

    pub(super) fn yellow(self, text: &str) -> String {
        self.wrap("33", text)
    }

    fn cyan(self, text: &str) -> String {
        self.wrap("36", text)
    }

    /// Flags that warn get colour: downtime in yellow, the one-way change in red.
    fn flag(self, flag: &str) -> String {
        match flag {
            "disruptive" => self.wrap("1;33", flag),
            "irreversible" => self.wrap("1;31", flag),
            _ => self.wrap("1", flag),
        }
    }

    /// The action symbol in terraform's colours (create green, update yellow, delete red), with a restart
    /// in magenta and a blocker in bold red.
    fn symbol(self, action: Action) -> String {
        let code = match action {
            Action::Create => "32",
            Action::Update => "33",
            Action::Delete => "31",
            Action::Restart => "35",
            Action::Blocker => "1;31",
        };
        self.wrap(code, action.symbol())
    }
}
