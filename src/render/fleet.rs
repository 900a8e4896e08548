//! The summary of a fleet run (several specs in one run): one row per spec, as a table for people, a
//! markdown table, or one JSON document holding every plan and the summary. Pure, like every view.

use super::inert;
use crate::plan::fleet::Entry;
use serde_json::{Value, json};
use std::io::{self, Write};

/// The version of the fleet JSON document.
pub const FORMAT_VERSION: u32 = 1;

const HEADINGS: [&str; 9] =
    ["SPEC", "CLUSTER → SERVER", "ADD", "CHANGE", "DESTROY", "PENDING", "BLOCKERS", "WARNINGS", "RESULT"];

/// The cells of one row, as text.
fn cells(entry: &Entry) -> [String; 9] {
    let summary = entry.summary();
    let pair = format!("{} → {}", entry.cluster.as_deref().unwrap_or("?"), entry.server.as_deref().unwrap_or("?"));
    [
        inert(&entry.spec, false).into_owned(),
        inert(&pair, false).into_owned(),
        summary.add.to_string(),
        summary.change.to_string(),
        summary.destroy.to_string(),
        summary.pending.to_string(),
        summary.blockers.to_string(),
        entry.warnings().to_string(),
        entry.result.word().to_string(),
    ]
}

/// The table for a terminal, and below it the error of every spec that failed.
pub fn human(entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<[String; 9]> = entries.iter().map(cells).collect();
    let mut widths = HEADINGS.map(|heading| heading.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                let pad = " ".repeat(width - cell.chars().count());
                // Counts are right-aligned, text left.
                if (2..8).contains(&column) { format!("{pad}{cell}") } else { format!("{cell}{pad}") }
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    writeln!(out, "\nSummary of {} specs:", entries.len())?;
    writeln!(out, "  {}", line(&HEADINGS.map(str::to_string)))?;
    for row in &rows {
        writeln!(out, "  {}", line(row))?;
    }
    for entry in entries {
        if let crate::plan::fleet::Result::Failed(error) = &entry.result {
            writeln!(out, "  {}: {}", inert(&entry.spec, false), inert(error, false))?;
        }
    }
    Ok(())
}

/// The table as markdown, for a pull-request comment.
pub fn markdown(entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
    let cell = |text: &str| text.replace('|', "\\|");
    writeln!(out, "\n## Summary of {} specs\n", entries.len())?;
    writeln!(out, "| {} |", HEADINGS.join(" | "))?;
    writeln!(out, "|{}", "---|".repeat(HEADINGS.len()))?;
    for entry in entries {
        let row: Vec<String> = cells(entry).iter().map(|c| cell(c)).collect();
        writeln!(out, "| {} |", row.join(" | "))?;
    }
    for entry in entries {
        if let crate::plan::fleet::Result::Failed(error) = &entry.result {
            writeln!(out, "\n- `{}`: {}", cell(&entry.spec), cell(&inert(error, false)))?;
        }
    }
    Ok(())
}

/// One JSON document: every spec's plan (as `plan --format json` writes it) and the summary.
pub fn json(entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
    let mut specs = Vec::new();
    for entry in entries {
        let plan = match &entry.plan {
            Some(plan) => {
                let mut bytes = Vec::new();
                super::json::render(plan, &mut bytes)?;
                serde_json::from_slice::<Value>(&bytes).map_err(io::Error::other)?
            }
            None => Value::Null,
        };
        let summary = entry.summary();
        let error = match &entry.result {
            crate::plan::fleet::Result::Failed(error) => Some(error.as_str()),
            _ => None,
        };
        specs.push(json!({
            "spec": entry.spec,
            "cluster": entry.cluster,
            "server": entry.server,
            "result": entry.result.word(),
            "error": error,
            "summary": {
                "add": summary.add,
                "change": summary.change,
                "destroy": summary.destroy,
                "pending": summary.pending,
                "blockers": summary.blockers,
                "warnings": entry.warnings(),
            },
            "plan": plan,
        }));
    }
    let document = json!({ "format_version": FORMAT_VERSION, "specs": specs });
    serde_json::to_writer_pretty(&mut *out, &document).map_err(io::Error::other)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fleet::Result;

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                spec: "a.toml".into(),
                cluster: Some("orders-prod".into()),
                server: Some("pg-orders".into()),
                plan: None,
                result: Result::NoChanges,
            },
            Entry {
                spec: "b.toml".into(),
                cluster: None,
                server: None,
                plan: None,
                result: Result::Failed("boom".into()),
            },
        ]
    }

    #[test]
    fn the_table_has_a_row_per_spec_and_names_each_failure() {
        let mut out = Vec::new();
        human(&entries(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Summary of 2 specs:"), "{text}");
        assert!(text.contains("a.toml  orders-prod → pg-orders"), "{text}");
        assert!(text.lines().any(|l| l.contains("b.toml") && l.trim_end().ends_with("failed")), "{text}");
        assert!(text.contains("b.toml: boom"), "{text}");
        let mut out = Vec::new();
        json(&entries(), &mut out).unwrap();
        let document: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(document["specs"][1]["result"], "failed");
        assert_eq!(document["specs"][1]["error"], "boom");
        assert_eq!(document["specs"][0]["plan"], Value::Null);
    }
}
