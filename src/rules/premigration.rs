//! Azure's premigration validation set beside migprep's plan: every item the migration service reported is
//! mapped to the rules that cover it — by the premigration codes in its messages (`603107` → S3, S7), else
//! by its type (`ServerParametersValidation` → S3–S8) — and compared with what the plan predicted.
//! The codes are read from the message text because the service has no code field; that is the only
//! reading of service text here, and it only extracts a number. Pure: no I/O, no clock.

use crate::model::migration::{Migration, MigrationState, ValidationItem, ValidationState};
use crate::plan::verdict::{Item, ItemState, Message, Outcome, Prediction, Scope, Verdict};
use crate::plan::{Action, Change, Plan, RuleId};

/// The rules that cover a premigration error code (anchors: the service's troubleshooting page).
pub fn rules_for_code(code: u32) -> &'static [RuleId] {
    use RuleId::*;
    match code {
        603100 => &[N1],
        603104 => &[S8],
        603105 => &[S4],
        603106 => &[S5, S6],
        603107 => &[S3, S7],
        603108 => &[T4],
        603109 => &[T5, T11],
        603110 => &[S10],
        603115 | 603116 => &[T8],
        603400 => &[S1],
        // 603101 (database exists on the target), 603102 (missing on the source), 603103 (Entra role),
        // 603111, 603112, 603117: no migprep rule checks these.
        _ => &[],
    }
}

/// The rules and codes an item type covers, for items whose messages carry no code.
fn covered_by_kind(kind: &str) -> (&'static [RuleId], &'static [u32]) {
    use RuleId::*;
    match kind {
        "AuthenticationAndConnectivityValidation" => (&[N1, T8], &[603100, 603115, 603116]),
        "SourceVersionValidation" => (&[S1], &[603400]),
        "ServerParametersValidation" => (&[S3, S4, S5, S7, S8], &[603104, 603105, 603106, 603107]),
        "ExtensionsValidation" => (&[T4, T5], &[603108, 603109]),
        _ => (&[], &[]),
    }
}

/// The first premigration code in a message: six digits starting `603`, not part of a longer number.
pub fn code_in(text: &str) -> Option<u32> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let end = start + bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
        let digits = &text[start..end];
        if digits.len() == 6 && digits.starts_with("603") {
            return digits.parse().ok();
        }
        start = end;
    }
    None
}

/// The verdict: the migration's outcome and every item with its rules and the plan's prediction.
pub fn compare(name: &str, plan: &Plan, migration: &Migration) -> Verdict {
    let mut items = Vec::new();
    if let Some(validation) = &migration.validation {
        for item in &validation.server {
            items.push(judge(Scope::Server, item, plan));
        }
        for database in &validation.databases {
            for item in &database.items {
                items.push(judge(Scope::Database(database.name.clone()), item, plan));
            }
        }
    }
    let outcome = match migration.state {
        MigrationState::Succeeded => Outcome::Validated,
        MigrationState::ValidationFailed => Outcome::ValidationFailed,
        _ => Outcome::Failed,
    };
    Verdict {
        name: name.to_string(),
        migration: migration.name.clone(),
        resource_id: migration.id.clone(),
        state: migration.state.as_str().to_string(),
        error: migration.error.clone(),
        outcome,
        items,
    }
}

fn state(state: &ValidationState) -> ItemState {
    match state {
        ValidationState::Succeeded => ItemState::Succeeded,
        ValidationState::Warning => ItemState::Warning,
        ValidationState::Failed => ItemState::Failed,
        ValidationState::Other(other) => ItemState::Other(other.clone()),
    }
}

fn judge(scope: Scope, item: &ValidationItem, plan: &Plan) -> Item {
    let messages: Vec<Message> = item
        .messages
        .iter()
        .map(|m| Message { state: state(&m.state), text: m.text.clone(), code: code_in(&m.text) })
        .collect();
    let mut codes: Vec<u32> = messages.iter().filter_map(|m| m.code).collect();
    codes.dedup();
    let item_state = state(&item.state);
    let (rules, prediction) =
        if codes.is_empty() { by_kind(&item.kind, &item_state, plan) } else { by_codes(&codes, &item_state, plan) };
    Item { scope, kind: item.kind.clone(), state: item_state, messages, rules, prediction }
}

/// A change of the plan that predicts `code`: one that prevents it, or a blocker of a rule that covers a
/// code no change names (N1's unreachable database for 603100).
fn predicting(plan: &Plan, code: u32) -> Option<&Change> {
    plan.changes.iter().find(|change| change.prevents == Some(code)).or_else(|| {
        plan.changes.iter().find(|change| {
            change.prevents.is_none() && change.action == Action::Blocker && rules_for_code(code).contains(&change.rule)
        })
    })
}

fn named(change: &Change) -> String {
    let what = if change.action == Action::Blocker {
        "blocker"
    } else if change.pending.is_some() {
        "pending change"
    } else {
        "change"
    };
    format!("{what} {} ({})", change.address, change.rule)
}

fn by_codes(codes: &[u32], item_state: &ItemState, plan: &Plan) -> (Vec<RuleId>, Prediction) {
    let mut rules: Vec<RuleId> = codes.iter().flat_map(|code| rules_for_code(*code).iter().copied()).collect();
    rules.sort();
    rules.dedup();
    if rules.is_empty() {
        return (rules, Prediction::NotCovered);
    }
    let covered: Vec<u32> = codes.iter().copied().filter(|code| !rules_for_code(*code).is_empty()).collect();
    let mut found = Vec::new();
    let mut missed = Vec::new();
    for code in &covered {
        match predicting(plan, *code) {
            Some(change) => found.push(format!("{code}: {}", named(change))),
            None => missed.push(code.to_string()),
        }
    }
    let prediction = if *item_state == ItemState::Succeeded {
        // A success that still names codes: it agrees when the plan expects none of them.
        if found.is_empty() {
            Prediction::Agrees { because: "the plan has nothing to fix here".into() }
        } else {
            Prediction::Disagrees { because: format!("the plan expected a failure: {}", found.join("; ")) }
        }
    } else if missed.is_empty() {
        Prediction::Agrees { because: format!("the plan has {}", found.join("; ")) }
    } else {
        Prediction::Disagrees { because: format!("the plan found nothing that fails with {}", missed.join(", ")) }
    };
    (rules, prediction)
}

fn by_kind(kind: &str, item_state: &ItemState, plan: &Plan) -> (Vec<RuleId>, Prediction) {
    let (rules, codes) = covered_by_kind(kind);
    if rules.is_empty() {
        return (Vec::new(), Prediction::NotCovered);
    }
    let expected: Vec<String> = codes
        .iter()
        .filter_map(|code| predicting(plan, *code).map(|change| format!("{code}: {}", named(change))))
        .collect();
    let prediction = match item_state {
        ItemState::Failed => {
            if expected.is_empty() {
                Prediction::Disagrees { because: "the plan found nothing to fix for these rules".into() }
            } else {
                Prediction::Agrees { because: format!("the plan has {}", expected.join("; ")) }
            }
        }
        _ => {
            if expected.is_empty() {
                Prediction::Agrees { because: "the plan has nothing to fix for these rules".into() }
            } else {
                Prediction::Disagrees { because: format!("the plan expected a failure: {}", expected.join("; ")) }
            }
        }
    };
    (rules.to_vec(), prediction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::migration::{DatabaseValidation, Validation, ValidationMessage};
    use crate::plan::{Address, Kind};

    fn item(kind: &str, state: ValidationState, messages: &[&str]) -> ValidationItem {
        ValidationItem {
            kind: kind.into(),
            state: state.clone(),
            messages: messages.iter().map(|m| ValidationMessage { state: state.clone(), text: (*m).into() }).collect(),
        }
    }

    fn migration(state: MigrationState, server: Vec<ValidationItem>, databases: Vec<DatabaseValidation>) -> Migration {
        Migration {
            id: "/subscriptions/s/…/migrations/m".into(),
            name: "m".into(),
            state,
            sub_state: Some("Completed".into()),
            error: None,
            validation: Some(Validation { status: None, server, databases }),
        }
    }

    fn plan_with(changes: Vec<Change>) -> Plan {
        let mut plan = Plan::new(Kind::Apply, "orders");
        plan.changes = changes;
        plan
    }

    fn change(address: &str, rule: RuleId, prevents: Option<u32>, action: Action) -> Change {
        let mut change = Change::new(Address::new(address), action, rule, "r");
        change.prevents = prevents;
        change
    }

    #[test]
    fn codes_are_read_from_message_text() {
        let table = [
            ("Error 603107: wal_level is replica", Some(603107)),
            ("(603105) not enough slots: 3 needed", Some(603105)),
            ("code 6031070 is not a code", None),
            ("no code here, 42 slots", None),
            ("first 12 then 603116", Some(603116)),
        ];
        for (text, code) in table {
            assert_eq!(code_in(text), code, "{text}");
        }
    }

    #[test]
    fn failed_items_with_codes_map_to_rules_and_agree_when_the_plan_prevents_them() {
        let plan = plan_with(vec![
            change("aws.cluster/c/parameter/rds.logical_replication", RuleId::S3, Some(603107), Action::Update),
            change("aws.cluster/c/parameter/max_wal_senders", RuleId::S5, Some(603106), Action::Update),
        ]);
        let migration = migration(
            MigrationState::ValidationFailed,
            vec![item(
                "ServerParametersValidation",
                ValidationState::Failed,
                &["603107: wal_level", "603106: senders", "603104: replication"],
            )],
            vec![],
        );
        let verdict = compare("orders", &plan, &migration);
        assert_eq!(verdict.outcome, Outcome::ValidationFailed);
        let item = &verdict.items[0];
        assert_eq!(item.rules, vec![RuleId::S3, RuleId::S5, RuleId::S6, RuleId::S7, RuleId::S8]);
        match &item.prediction {
            Prediction::Disagrees { because } => assert!(because.contains("603104"), "{because}"),
            other => panic!("603104 is not in the plan: {other:?}"),
        }
        assert_eq!(verdict.disagreements(), 1);
    }

    #[test]
    fn a_wrong_password_is_n1_and_a_disagreement_unless_the_plan_found_the_database_unreachable() {
        let failed = migration(
            MigrationState::ValidationFailed,
            vec![item("AuthenticationAndConnectivityValidation", ValidationState::Failed, &["Error 603100: password"])],
            vec![],
        );
        let verdict = compare("orders", &plan_with(vec![]), &failed);
        assert_eq!(verdict.items[0].rules, vec![RuleId::N1]);
        assert!(verdict.items[0].prediction.disagrees());
        let unreachable = plan_with(vec![change("source.pg/connection", RuleId::N1, None, Action::Blocker)]);
        let verdict = compare("orders", &unreachable, &failed);
        assert!(matches!(verdict.items[0].prediction, Prediction::Agrees { .. }));
    }

    #[test]
    fn successes_agree_with_an_empty_plan_and_disagree_with_a_plan_that_expected_failure() {
        let succeeded = migration(
            MigrationState::Succeeded,
            vec![item("ServerParametersValidation", ValidationState::Succeeded, &[])],
            vec![DatabaseValidation {
                name: "orders".into(),
                items: vec![
                    item("ExtensionsValidation", ValidationState::Succeeded, &[]),
                    item("CollationsValidation", ValidationState::Succeeded, &[]),
                ],
            }],
        );
        let verdict = compare("orders", &plan_with(vec![]), &succeeded);
        assert_eq!(verdict.outcome, Outcome::Validated);
        assert!(matches!(verdict.items[0].prediction, Prediction::Agrees { .. }));
        assert_eq!(verdict.items[1].scope, Scope::Database("orders".into()));
        assert_eq!(verdict.items[2].prediction, Prediction::NotCovered);
        let mut reboot = change("aws.cluster/c/writer", RuleId::S7, Some(603107), Action::Restart);
        reboot.pending = Some("not allowed".into());
        let verdict = compare("orders", &plan_with(vec![reboot]), &succeeded);
        assert!(verdict.items[0].prediction.disagrees());
    }
}
