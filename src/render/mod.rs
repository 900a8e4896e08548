//! Views of a [`crate::plan::Plan`]: human (terminal), JSON (the versioned contract) and markdown (a
//! pull-request comment), each written to any `io::Write`.
//!
//! Everything here is pure: no clock, no environment, no terminal detection. Whether to colour is decided
//! by the caller (terminal and `NO_COLOR`) and passed in as [`human::Style`]. All three views are derived
//! from the same plan value and share the grouping and wording below, so they cannot disagree.

pub mod events;
pub mod fleet;
pub mod human;
pub mod json;
pub mod markdown;
pub mod roles_sql;
pub mod verdict;

use crate::plan::{Action, Change, Check, Kind, Plan, Summary, System};

use crate::text::count;
pub use crate::text::inert;

/// The systems in the order the renderings show them (the enum's order).
const SYSTEMS: [System; 4] = [System::Aws, System::Source, System::Azure, System::Target];

/// The line shown for a plan without any change.
pub const NO_CHANGES: &str = "No changes. The source and target meet every prerequisite checked.";

/// The line shown for a restore plan without any change.
pub const NOTHING_TO_RESTORE: &str = "No changes. Everything migprep changed for the migration is back as it was.";

/// The changes of one system, in plan order.
struct Group<'a> {
    system: System,
    changes: Vec<&'a Change>,
}

/// The plan's changes grouped by system, in [`SYSTEMS`] order; systems without changes are left out.
fn groups(plan: &Plan) -> Vec<Group<'_>> {
    SYSTEMS
        .iter()
        .map(|&system| Group {
            system,
            changes: plan.changes.iter().filter(|change| change.address.system() == system).collect(),
        })
        .filter(|group| !group.changes.is_empty())
        .collect()
}

/// Checks in system order and otherwise in plan order.
fn by_system(checks: &[Check]) -> Vec<&Check> {
    let mut checks: Vec<&Check> = checks.iter().collect();
    // A stable sort keeps the rules' order inside each system.
    checks.sort_by_key(|check| check.address.system());
    checks
}

/// The lists of findings that are not changes, in the order the renderings show them: each with its
/// title, the mark before each entry, and its entries. A finding is listed as passed only when it
/// passed; what could not be verified and what is left out on purpose have lists of their own.
fn sections(plan: &Plan) -> [(&'static str, &'static str, Vec<&Check>); 4] {
    [
        ("Warnings", "⚠", plan.warnings.iter().collect()),
        ("Not verified yet", "?", by_system(&plan.not_verified)),
        ("Left as they are", "–", by_system(&plan.left_out)),
        ("Checks passed", "✓", by_system(&plan.checks)),
    ]
}

/// What a [`crate::plan::Connection`]'s system is called in the header.
fn connection_label(system: System) -> &'static str {
    match system {
        System::Aws => "AWS RDS API",
        System::Source => "source database",
        System::Azure => "Azure Resource Manager",
        System::Target => "target database",
    }
}

/// The summary line, exactly as terraform users expect it (plus our two counts). Counts stay digits in
/// the same places whatever their value, so scripts and eyes find them.
fn summary_line(summary: Summary) -> String {
    format!(
        "Plan: {} to add, {} to change, {} to destroy, {} pending, {} blockers.",
        summary.add, summary.change, summary.destroy, summary.pending, summary.blockers
    )
}

/// What the plan is for, as a heading.
fn heading(plan: &Plan) -> String {
    match plan.kind {
        Kind::Apply => format!("migprep plan for \"{}\": prepare the migration", inert(&plan.name, false)),
        Kind::Restore => {
            let name = inert(&plan.name, false);
            format!("migprep restore plan for \"{name}\": put back what was changed for the migration")
        }
    }
}

/// The line that ends a rendering: the counts, or the no-changes sentence, and what still needs the
/// reader: warnings and what could not be verified. "Every prerequisite is met" is said only when
/// nothing of the kind is left.
fn closing_line(plan: &Plan) -> String {
    let mut attention = Vec::new();
    if !plan.warnings.is_empty() {
        let verb = if plan.warnings.len() == 1 { "needs" } else { "need" };
        attention.push(format!("{} {verb} your attention.", count(plan.warnings.len() as u64, "warning", "warnings")));
    }
    if !plan.not_verified.is_empty() {
        let verb = if plan.not_verified.len() == 1 { "is" } else { "are" };
        attention.push(format!(
            "{} {verb} not verified yet.",
            count(plan.not_verified.len() as u64, "prerequisite", "prerequisites")
        ));
    }
    let head = match (plan.changes.is_empty(), plan.kind) {
        (false, _) => summary_line(plan.summary()),
        (true, Kind::Apply) if attention.is_empty() => NO_CHANGES.to_string(),
        (true, Kind::Apply) => "No changes to make.".to_string(),
        (true, Kind::Restore) => NOTHING_TO_RESTORE.to_string(),
    };
    std::iter::once(head).chain(attention).collect::<Vec<_>>().join(" ")
}

/// Every action in the order the legend lists them.
const LEGEND_ORDER: [Action; 5] = [Action::Create, Action::Update, Action::Delete, Action::Restart, Action::Blocker];

/// The legend entry for an action.
fn legend_entry(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update in place",
        Action::Delete => "delete",
        Action::Restart => "reboot or restart",
        Action::Blocker => "blocker: migprep cannot fix it, you must act",
    }
}

/// The actions the plan uses, in legend order, so the legend explains only what is on screen.
fn actions_used(plan: &Plan) -> Vec<Action> {
    LEGEND_ORDER.into_iter().filter(|action| plan.changes.iter().any(|change| change.action == *action)).collect()
}

/// The flags of a change, each with the sentence that explains it (`temporary` reads differently in a
/// restore plan, where the change is the putting back).
fn flags(change: &Change, kind: Kind) -> Vec<(&'static str, &'static str)> {
    let mut flags = Vec::new();
    if change.disruptive {
        flags.push(("disruptive", "causes downtime while it runs"));
    }
    if change.temporary {
        let meaning = match kind {
            Kind::Apply => "only for the migration; `migprep restore` puts the original back",
            Kind::Restore => "puts back the original recorded before the migration",
        };
        flags.push(("temporary", meaning));
    }
    if change.irreversible {
        flags.push(("irreversible", "cannot be undone; `migprep restore` leaves it as it is"));
    }
    flags
}

/// A value for display; `None` means the thing does not exist (or has no value to show), and an empty
/// value is shown as `""` so that it is visibly there.
fn shown(value: Option<&str>) -> &str {
    match value {
        None => "(none)",
        Some("") => "\"\"",
        Some(value) => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Address, RuleId};

    #[test]
    fn text_from_outside_reaches_no_terminal_raw() {
        assert_eq!(inert("plain text", false), "plain text");
        assert_eq!(inert("a\u{1b}[2Jb\rc", false), "a\\u{1b}[2Jb\\u{d}c");
        assert_eq!(inert("one\ntwo", true), "one\ntwo");
        assert_eq!(inert("one\ntwo", false), "one\\u{a}two");
        assert_eq!(inert("abc\u{202e}fed", false), "abc\\u{202e}fed", "a right-to-left override is shown, not obeyed");
    }

    #[test]
    fn no_rendering_lets_a_hostile_name_forge_a_line_or_an_escape() {
        let mut plan = Plan::new(Kind::Apply, "orders");
        let name = "x\n  + target.pg/role/fake\u{1b}[8m";
        let mut change = Change::new(Address::target_database().named("role", name), Action::Create, RuleId::T7, name);
        change.after = Some(name.into());
        change.pending = Some(name.into());
        plan.changes.push(change);
        plan.checks.push(Check { address: Address::target_database(), rule: RuleId::N1, summary: name.into() });
        for rendering in [human_text(&plan), markdown_text(&plan)] {
            assert!(!rendering.contains('\u{1b}'), "{rendering}");
            assert!(
                !rendering.lines().any(|line| line.trim_start().starts_with("+ target.pg/role/fake")),
                "{rendering}"
            );
        }
    }

    #[test]
    fn every_rendering_shows_the_exact_operation() {
        use crate::plan::Operation;
        use crate::plan::operation::SourceOp;
        let mut plan = Plan::new(Kind::Apply, "orders");
        let address = Address::source_database().named("role", "migrator").named("grant", "rds_replication");
        let mut change = Change::new(address, Action::Create, RuleId::S8, "the migration user must replicate");
        change.operation =
            Some(Operation::Source(SourceOp::Grant { role: "rds_replication".into(), member: "migrator".into() }));
        plan.changes.push(change);
        let statement = r#"GRANT "rds_replication" TO "migrator";"#;
        assert!(human_text(&plan).contains(&format!("runs: SQL on the source: {statement}")), "{}", human_text(&plan));
        assert!(markdown_text(&plan).contains(statement), "{}", markdown_text(&plan));
    }

    fn human_text(plan: &Plan) -> String {
        let mut out = Vec::new();
        human::render(plan, &mut out, human::Style { colour: false }).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn markdown_text(plan: &Plan) -> String {
        let mut out = Vec::new();
        markdown::render(plan, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }
}
