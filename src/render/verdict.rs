//! The renderings of `validate`'s [`Verdict`]: for a terminal, as versioned JSON, and as markdown, all from
//! the same value. Every item shows its scope, type and state, its messages (service text, made inert)
//! with the premigration code each carries, the rules that cover it and whether the plan agreed; a
//! disagreement is marked so it cannot be missed.
//!
//! # JSON schema (`format_version` 1)
//!
//! ```text
//! {
//!   "format_version": 1,
//!   "name": "orders",                          // the spec's name
//!   "migration": "migprepvalidate…",           // the migration the service ran
//!   "resource_id": "/subscriptions/…/migrations/…",
//!   "state": "ValidationFailed",               // currentStatus.state as the service spelled it
//!   "error": "…" | null,                       // currentStatus.error
//!   "outcome": "validated" | "validation_failed" | "failed",
//!   "summary": { "items": 9, "failed": 3, "disagreements": 1 },
//!   "items": [
//!     {
//!       "scope": "server" | "database",
//!       "database": "orders" | null,
//!       "type": "ServerParametersValidation",
//!       "state": "Succeeded" | "Warning" | "Failed" | <other>,
//!       "messages": [ { "state": "Failed", "text": "…", "code": 603107 | null } ],
//!       "rules": ["S3", "S7"],                 // the migprep rules that cover the item
//!       "prediction": "agrees" | "disagrees" | "not_covered",
//!       "because": "…" | null                  // what in the plan agrees or disagrees
//!     }
//!   ]
//! }
//! ```
//!
//! Pure: writes to the given `io::Write` and nothing else.

use super::human::Paint;
use super::inert;
use super::markdown::{code, text};
use crate::plan::verdict::{FORMAT_VERSION, Item, ItemState, Outcome, Prediction, Scope, Verdict};
use serde::Serialize;
use std::io::{self, Write};

/// The closing line: what the service decided, and how many items the plan saw differently.
fn closing_line(verdict: &Verdict) -> String {
    let decided = match verdict.outcome {
        Outcome::Validated => "Azure validated the migration".to_string(),
        Outcome::ValidationFailed => format!(
            "Azure's validation failed: {}",
            crate::text::count(verdict.failures() as u64, "item failed", "items failed")
        ),
        Outcome::Failed => format!("the validation did not complete: the migration ended {}", verdict.state),
    };
    let agreed = match verdict.disagreements() {
        0 => "the plan predicted every covered item".to_string(),
        n => format!("{} the plan saw differently", crate::text::count(n as u64, "item", "items")),
    };
    format!("{decided}; {agreed}.")
}

fn prediction_label(prediction: &Prediction) -> (&'static str, Option<&str>) {
    match prediction {
        Prediction::Agrees { because } => ("predicted", Some(because)),
        Prediction::Disagrees { because } => ("NOT PREDICTED", Some(because)),
        Prediction::NotCovered => ("no migprep rule covers this", None),
    }
}

fn rules(item: &Item) -> String {
    if item.rules.is_empty() {
        "-".into()
    } else {
        item.rules.iter().map(|rule| rule.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// Writes the verdict for a person at a terminal.
pub fn human(verdict: &Verdict, out: &mut dyn Write, colour: bool) -> io::Result<()> {
    let paint = Paint(colour);
    writeln!(
        out,
        "{}",
        paint.bold(&format!(
            "Azure premigration validation for {} (migration {})",
            inert(&verdict.name, false),
            inert(&verdict.migration, false)
        ))
    )?;
    writeln!(out, "  {}", paint.dim(&inert(&verdict.resource_id, false)))?;
    for item in &verdict.items {
        writeln!(out)?;
        let mark = match item.state {
            ItemState::Succeeded => paint.green("✓"),
            ItemState::Failed => paint.yellow("✗"),
            _ => paint.yellow("!"),
        };
        writeln!(
            out,
            "{mark} {} {}: {}",
            item.scope.label(),
            inert(&item.kind, false),
            inert(item.state.as_str(), false)
        )?;
        for message in &item.messages {
            let code = message.code.map(|c| format!(" [{c}]")).unwrap_or_default();
            writeln!(out, "    {}{code}: {}", inert(message.state.as_str(), false), inert(&message.text, false))?;
        }
        let (label, because) = prediction_label(&item.prediction);
        let label = if item.prediction.disagrees() { paint.bold(label) } else { label.to_string() };
        match because {
            Some(because) => writeln!(out, "    rules {}: {label} ({})", rules(item), inert(because, false))?,
            None => writeln!(out, "    {label}")?,
        }
    }
    if let Some(error) = &verdict.error {
        writeln!(out)?;
        writeln!(out, "The service reported: {}", inert(error, false))?;
    }
    writeln!(out)?;
    writeln!(out, "{}", paint.bold(&closing_line(verdict)))
}

/// Writes the verdict as a markdown comment.
pub fn markdown(verdict: &Verdict, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "### Azure premigration validation for {}", code(&verdict.name))?;
    writeln!(out)?;
    writeln!(out, "**{}**", text(&closing_line(verdict)))?;
    writeln!(out)?;
    writeln!(out, "- migration {}: {}", code(&verdict.migration), code(&verdict.resource_id))?;
    if let Some(error) = &verdict.error {
        writeln!(out, "- the service reported: {}", text(error))?;
    }
    writeln!(out)?;
    writeln!(out, "| | Scope | Type | Messages | Rules | Plan |")?;
    writeln!(out, "|:-:|---|---|---|---|---|")?;
    for item in &verdict.items {
        let mark = match item.state {
            ItemState::Succeeded => "✓",
            ItemState::Failed => "✗",
            _ => "!",
        };
        let messages = item
            .messages
            .iter()
            .map(|m| match m.code {
                Some(c) => format!("`{c}` {}", text(&m.text)),
                None => text(&m.text),
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let (label, because) = prediction_label(&item.prediction);
        let label = if item.prediction.disagrees() { format!("**{label}**") } else { label.to_string() };
        let plan = match because {
            Some(because) => format!("{label}: {}", text(because)),
            None => label,
        };
        writeln!(
            out,
            "| {mark} {} | {} | {} | {} | {} | {} |",
            text(item.state.as_str()),
            text(&item.scope.label()),
            code(&item.kind),
            messages,
            rules(item),
            plan
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Document<'v> {
    format_version: u32,
    name: &'v str,
    migration: &'v str,
    resource_id: &'v str,
    state: &'v str,
    error: Option<&'v str>,
    outcome: &'static str,
    summary: Summary,
    items: Vec<DocumentItem<'v>>,
}

#[derive(Serialize)]
struct Summary {
    items: usize,
    failed: usize,
    disagreements: usize,
}

#[derive(Serialize)]
struct DocumentItem<'v> {
    scope: &'static str,
    database: Option<&'v str>,
    #[serde(rename = "type")]
    kind: &'v str,
    state: &'v str,
    messages: Vec<DocumentMessage<'v>>,
    rules: Vec<&'static str>,
    prediction: &'static str,
    because: Option<&'v str>,
}

#[derive(Serialize)]
struct DocumentMessage<'v> {
    state: &'v str,
    text: &'v str,
    code: Option<u32>,
}

/// Writes the versioned JSON document.
pub fn json(verdict: &Verdict, out: &mut dyn Write) -> io::Result<()> {
    let document = Document {
        format_version: FORMAT_VERSION,
        name: &verdict.name,
        migration: &verdict.migration,
        resource_id: &verdict.resource_id,
        state: &verdict.state,
        error: verdict.error.as_deref(),
        outcome: match verdict.outcome {
            Outcome::Validated => "validated",
            Outcome::ValidationFailed => "validation_failed",
            Outcome::Failed => "failed",
        },
        summary: Summary {
            items: verdict.items.len(),
            failed: verdict.failures(),
            disagreements: verdict.disagreements(),
        },
        items: verdict
            .items
            .iter()
            .map(|item| DocumentItem {
                scope: match item.scope {
                    Scope::Server => "server",
                    Scope::Database(_) => "database",
                },
                database: match &item.scope {
                    Scope::Server => None,
                    Scope::Database(name) => Some(name),
                },
                kind: &item.kind,
                state: item.state.as_str(),
                messages: item
                    .messages
                    .iter()
                    .map(|m| DocumentMessage { state: m.state.as_str(), text: &m.text, code: m.code })
                    .collect(),
                rules: item.rules.iter().map(|rule| rule.as_str()).collect(),
                prediction: match item.prediction {
                    Prediction::Agrees { .. } => "agrees",
                    Prediction::Disagrees { .. } => "disagrees",
                    Prediction::NotCovered => "not_covered",
                },
                because: match &item.prediction {
                    Prediction::Agrees { because } | Prediction::Disagrees { because } => Some(because),
                    Prediction::NotCovered => None,
                },
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &document).map_err(io::Error::other)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RuleId;
    use crate::plan::verdict::Message;

    fn verdict() -> Verdict {
        Verdict {
            name: "orders".into(),
            migration: "migprepvalidate1".into(),
            resource_id: "/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg/migrations/migprepvalidate1".into(),
            state: "ValidationFailed".into(),
            error: None,
            outcome: Outcome::ValidationFailed,
            items: vec![
                Item {
                    scope: Scope::Server,
                    kind: "ServerParametersValidation".into(),
                    state: ItemState::Failed,
                    messages: vec![Message {
                        state: ItemState::Failed,
                        text: "Error 603107: wal_level is replica\u{1b}[2J".into(),
                        code: Some(603107),
                    }],
                    rules: vec![RuleId::S3, RuleId::S7],
                    prediction: Prediction::Agrees { because: "the plan has 603107: change x (S3)".into() },
                },
                Item {
                    scope: Scope::Database("orders".into()),
                    kind: "CollationsValidation".into(),
                    state: ItemState::Succeeded,
                    messages: vec![],
                    rules: vec![],
                    prediction: Prediction::NotCovered,
                },
                Item {
                    scope: Scope::Server,
                    kind: "AuthenticationAndConnectivityValidation".into(),
                    state: ItemState::Failed,
                    messages: vec![Message { state: ItemState::Failed, text: "603100 | <b>".into(), code: Some(603100) }],
                    rules: vec![RuleId::N1],
                    prediction: Prediction::Disagrees { because: "the plan found nothing that fails with 603100".into() },
                },
            ],
        }
    }

    #[test]
    fn the_human_rendering_names_codes_rules_and_disagreements_and_escapes_service_text() {
        let mut out = Vec::new();
        human(&verdict(), &mut out, false).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("[603107]") && out.contains("rules S3, S7: predicted"), "{out}");
        assert!(out.contains("rules N1: NOT PREDICTED"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(
            out.ends_with("Azure's validation failed: 2 items failed; 1 item the plan saw differently.\n"),
            "{out}"
        );
    }

    #[test]
    fn the_json_rendering_is_versioned_and_keeps_codes_as_numbers() {
        let mut out = Vec::new();
        json(&verdict(), &mut out).unwrap();
        let document: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(document["format_version"], 1);
        assert_eq!(document["outcome"], "validation_failed");
        assert_eq!(document["items"][0]["messages"][0]["code"], 603107);
        assert_eq!(document["items"][1]["database"], "orders");
        assert_eq!(document["items"][2]["prediction"], "disagrees");
        assert_eq!(document["summary"]["disagreements"], 1);
    }

    #[test]
    fn the_markdown_rendering_keeps_service_text_out_of_the_markup() {
        let mut out = Vec::new();
        markdown(&verdict(), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("603100 \\| &lt;b&gt;"), "{out}");
        assert!(out.contains("**NOT PREDICTED**"), "{out}");
    }
}
