//! The machine-readable rendering: the plan value as pretty JSON, plus its summary. This is the versioned
//! contract (`format_version`); scripts and CI read it, so field names and meanings only change with a
//! version bump. Pure: it writes to the given `io::Write` and nothing else.
//!
//! # Schema (`format_version` 1)
//!
//! ```text
//! {
//!   "format_version": 1,                 // integer; bumped on any incompatible change
//!   "kind": "apply" | "restore",         // prepare the migration, or put back what it changed
//!   "name": "orders",                    // the spec's name
//!   "summary": {                         // the counts of the summary line
//!     "add": 0, "change": 0, "destroy": 0, "pending": 0, "blockers": 0
//!   },
//!   "changes": [                         // in the order apply considers them
//!     {
//!       "address": "aws.cluster/orders-prod/parameter/max_wal_senders",
//!       "action": "create" | "update" | "delete" | "blocker" | "restart",
//!       "rule": "S5",                    // the prerequisite that produced it (see the rule table)
//!       "before": "10" | null,           // the current value; null when there is none to show
//!       "after": "20" | null,            // the desired value; null when there is none to show
//!       "reason": "…",                   // why, in words; for people, never for decisions
//!       "remedy": "…" | null,            // what the user can run or change (blockers, pending changes)
//!       "disruptive": false,             // causes downtime (reboot, restart, promotion, resize)
//!       "temporary": false,              // `migprep restore` puts the original back
//!       "irreversible": false,           // cannot be undone (e.g. storage growth)
//!       "pending": "…" | null,           // not included because the spec does not allow it, and why
//!       "prevents": 603106 | null,       // the Azure premigration error code this change prevents
//!       "depends_on": ["<address>", …],  // changes that must finish before this one starts
//!       "operation": {…} | null          // the exact call apply makes: {"source": {"op": …}} or
//!                                        // {"target": {"op": …}}; null for blockers and reports
//!     }
//!   ],
//!   "checks": [                          // prerequisites verified and found to hold
//!     { "address": "source.pg/version", "rule": "S1", "summary": "…" }
//!   ],
//!   "warnings": [                        // needs the user's attention; blocks nothing, changes nothing
//!     { "address": "azure.server/pg-orders/network", "rule": "N1", "summary": "…" }
//!   ]
//! }
//! ```
//!
//! Every key is always present (absent values are `null`, empty lists `[]`), keys appear in the order
//! above, and `changes` and `checks` keep the plan's order, so two renderings of the same plan are
//! byte-identical. A change with `pending` set is counted as pending, not by its action; `apply` runs
//! neither pending changes nor blockers.

use crate::plan::{Change, Check, Kind, Plan, Summary};
use serde::Serialize;
use std::io::{self, Write};

/// The document written: the plan's fields with the summary placed before the lists it counts.
#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    kind: Kind,
    name: &'a str,
    summary: Summary,
    changes: &'a [Change],
    checks: &'a [Check],
    warnings: &'a [Check],
}

/// Writes the plan as pretty JSON followed by a newline.
pub fn render(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    let document = Document {
        format_version: plan.format_version,
        kind: plan.kind,
        name: &plan.name,
        summary: plan.summary(),
        changes: &plan.changes,
        checks: &plan.checks,
        warnings: &plan.warnings,
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}
