//! The pull-request rendering: GitHub-flavoured markdown for a review comment. The summary comes first
//! (reviewers decide from it), then one table per system, the checks that passed folded away, and a
//! legend of the symbols in use.
//!
//! Pure: it writes to the given `io::Write` and nothing else. Values and addresses are code spans so that
//! names such as `max_wal_senders` are neither reformatted nor mistaken for markup.

use super::{
    actions_used, closing_line, connection_label, flags, groups, heading, inert, legend_entry, sections, shown,
};
use crate::plan::{Action, Change, Kind, Plan};
use std::io::{self, Write};

/// Writes the plan as a markdown comment.
pub fn render(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "### {}", text(&heading(plan)))?;
    writeln!(out)?;
    writeln!(out, "**{}**", text(&closing_line(plan)))?;
    if !plan.connections.is_empty() {
        writeln!(out)?;
        for connection in &plan.connections {
            writeln!(
                out,
                "- {}: {}, as {}",
                connection_label(connection.system),
                code(&connection.endpoint),
                text(&connection.identity)
            )?;
        }
    }

    for group in groups(plan) {
        writeln!(out)?;
        writeln!(out, "#### {}", group.system.title())?;
        writeln!(out)?;
        writeln!(out, "| | Address | Before → after | Details |")?;
        writeln!(out, "|:-:|---|---|---|")?;
        for change in group.changes {
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                code(change.action.symbol()),
                code(change.address.as_str()),
                values(change),
                details(change, plan.kind)
            )?;
        }
    }

    for (title, mark, entries) in sections(plan) {
        if entries.is_empty() {
            continue;
        }
        // What needs reading is shown open; what is only for the record is folded away.
        let folded = matches!(mark, "✓" | "–");
        writeln!(out)?;
        if folded {
            writeln!(out, "<details><summary>{title} ({})</summary>", entries.len())?;
        } else {
            writeln!(out, "**{title}**")?;
        }
        writeln!(out)?;
        for entry in entries {
            writeln!(out, "- {mark} {} — {} ({})", code(entry.address.as_str()), text(&entry.summary), entry.rule)?;
        }
        if folded {
            writeln!(out)?;
            writeln!(out, "</details>")?;
        }
    }

    let used = actions_used(plan);
    if !used.is_empty() {
        let legend: Vec<String> =
            used.into_iter().map(|action| format!("{} {}", code(action.symbol()), legend_entry(action))).collect();
        writeln!(out)?;
        writeln!(out, "<sub>{}</sub>", legend.join(" · "))?;
    }
    Ok(())
}

/// The values cell: `before → after`, or what was found and what is needed for a blocker.
fn values(change: &Change) -> String {
    let (before, after) = (change.before.as_deref(), change.after.as_deref());
    if change.action == Action::Blocker {
        let mut parts = Vec::new();
        if let Some(before) = before {
            parts.push(format!("found {}", code(before)));
        }
        if let Some(after) = after {
            parts.push(format!("needs {}", code(after)));
        }
        return parts.join("<br>");
    }
    if before.is_none() && after.is_none() {
        return String::new();
    }
    format!("{} → {}", code(shown(before)), code(shown(after)))
}

/// The details cell: reason, pending, flags, prevented error, and the hint, one per line.
fn details(change: &Change, kind: Kind) -> String {
    let mut lines = vec![text(&change.reason)];
    if let Some(pending) = &change.pending {
        lines.push(format!("**pending:** {}", text(pending)));
    }
    for (flag, meaning) in flags(change, kind) {
        lines.push(format!("**{flag}:** {}", text(meaning)));
    }
    if let Some(code) = change.prevents {
        lines.push(format!("prevents Azure premigration error {code}"));
    }
    if let Some(operation) = &change.operation {
        lines.push(format!("**runs:** {}", code(&operation.describe())));
    }
    if let Some(remedy) = &change.remedy {
        lines.push(format!("**hint:** {}", statements(remedy)));
    }
    lines.push(format!("rule {}", change.rule));
    lines.join("<br>")
}

/// Plain text for a table cell: one line, no raw HTML, no column breaks.
pub(super) fn text(value: &str) -> String {
    cell(&inert(value, false))
}

/// A remedy: several statements may stand on lines of their own (names in them are quoted identifiers).
fn statements(value: &str) -> String {
    cell(&inert(value, true))
}

fn cell(value: &str) -> String {
    value.replace('<', "&lt;").replace('>', "&gt;").replace('|', "\\|").replace('\n', "<br>")
}

/// A code span for a table cell. A backtick inside needs a longer fence; a pipe needs escaping even in
/// code (GitHub splits cells first); a line break cannot live in a code span, so lines are split.
pub(super) fn code(value: &str) -> String {
    inert(value, false)
        .lines()
        .map(|line| {
            let line = line.replace('|', "\\|");
            if line.contains('`') { format!("`` {line} ``") } else { format!("`{line}`") }
        })
        .collect::<Vec<_>>()
        .join("<br>")
}
