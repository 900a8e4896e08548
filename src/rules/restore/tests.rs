//! Restore planned from recorded originals: each one is put back, forgotten when it is already back, or a
//! blocker when migprep cannot see it; none is left out.

use super::{Live, plan};
use crate::model::server::{Configuration, Configurations, Replica, Server};
use crate::model::source::{Database, Decoding};
use crate::plan::operation::{SourceOp, TargetOp};
use crate::plan::recorded::Step;
use crate::plan::{Action, Change, Kind, Operation, Recorded, RuleId};
use crate::rules::Findings;
use crate::rules::fixtures::{self, configuration, replica, server_with_ha as server, spec};
use crate::rules::target::{TEMP_TABLESPACES, definition, plan as target_plan};

fn state(list: &[Configuration]) -> Configurations {
    fixtures::configurations(list)
}

/// The writer's SQL view with the migration user a member of `rds_replication` or not.
fn writer(member: bool) -> Result<Database, String> {
    Ok(Database {
        version_num: 160_000,
        version: "16.0".into(),
        settings: Default::default(),
        slots: 0,
        walsenders: 0,
        rds_replication_exists: true,
        migration_user_exists: true,
        migration_user_is_member: member,
        access: Vec::new(),
        decoding: Decoding::NotTried,
    })
}

fn restore(
    spec: &crate::spec::Spec,
    server: &Server,
    replicas: &[Replica],
    configurations: &Configurations,
    recorded: &Recorded,
) -> Findings {
    let source = writer(false);
    plan(spec, Live { source: &source, server, replicas, configurations }, recorded)
}

fn addresses(findings: &Findings) -> Vec<(&str, Action, bool)> {
    findings.changes.iter().map(|c| (c.address.as_str(), c.action, c.pending.is_some())).collect()
}

/// Records the plan's temporary changes as the executor does once they are applied. `reword` first
/// changes their display text, which restore must not depend on.
fn applied(findings: &Findings, reword: bool) -> Recorded {
    let mut recorded = Recorded::default();
    for change in findings.changes.iter().filter(|c| c.temporary) {
        let mut change = change.clone();
        if reword {
            change.before = Some("shown some other way".into());
            change.after = Some("reworded".into());
        }
        recorded.record(Step::of(Kind::Apply, &change, change.after.as_deref()));
    }
    recorded
}

/// A temporary S8 grant of `role` to `member`, as recorded.
fn granted(role: &str, member: &str) -> Recorded {
    let mut change = Change::new(
        crate::plan::Address::source_database().named("role", member).named("grant", role),
        Action::Create,
        RuleId::S8,
        "r",
    );
    change.temporary = true;
    change.original = Some(crate::plan::Original::Membership { role: role.into(), member: member.into() });
    let mut recorded = Recorded::default();
    recorded.record(Step::of(Kind::Apply, &change, Some("member")));
    recorded
}

#[test]
fn restore_puts_back_what_is_not_back_yet_from_typed_originals() {
    let on = state(&[configuration(TEMP_TABLESPACES, "on", true, false)]);
    let enabled = server("ZoneRedundant", Some("2"));
    let planned = target_plan(&spec("remove_replicas = \"promote\""), &enabled, &[replica("r1")], &on, &[]);
    assert_eq!(planned.changes.iter().filter(|c| c.temporary).count(), 3);
    for reword in [false, true] {
        let recorded = applied(&planned, reword);
        let off = state(&[configuration(TEMP_TABLESPACES, "off", true, false)]);
        let findings = restore(&spec(""), &server("Disabled", None), &[], &off, &recorded);
        assert_eq!(
            addresses(&findings),
            [
                (
                    "azure.server/pg-orders/configuration/azure.enable_temp_tablespaces_on_local_ssd",
                    Action::Update,
                    false
                ),
                ("azure.server/pg-orders/high_availability", Action::Update, false),
                ("azure.server/pg-orders/replica/r1", Action::Create, true),
            ],
            "reworded: {reword}"
        );
        assert_eq!(
            findings.changes[0].operation,
            Some(Operation::Target(TargetOp::SetConfiguration { name: TEMP_TABLESPACES.into(), value: "on".into() }))
        );
        assert_eq!(
            findings.changes[1].operation,
            Some(Operation::Target(TargetOp::SetHighAvailability {
                mode: "ZoneRedundant".into(),
                standby_zone: Some("2".into())
            }))
        );
        assert_eq!(
            findings.changes[2].operation,
            Some(Operation::Target(TargetOp::CreateReplica { replica: definition(&spec(""), &replica("r1")) }))
        );
        assert!(findings.changes[2].reason.contains("promoted standalone server r1"));
        let opted_in = restore(&spec("recreate_replicas = true"), &server("Disabled", None), &[], &off, &recorded);
        assert!(opted_in.changes[2].pending.is_none());
    }
}

/// Everything put back outside migprep: nothing is sent anywhere, and every original is forgotten by a
/// step of its own, under its own rule, so that a later apply records what it finds then.
#[test]
fn originals_already_back_are_forgotten_one_step_each() {
    let on = state(&[configuration(TEMP_TABLESPACES, "on", true, false)]);
    let enabled = server("ZoneRedundant", Some("2"));
    let recorded =
        applied(&target_plan(&spec("remove_replicas = \"delete\""), &enabled, &[replica("r1")], &on, &[]), false);
    let findings = restore(&spec(""), &enabled, &[replica("r1")], &on, &recorded);
    let forgotten: Vec<_> = findings.changes.iter().map(|c| (c.address.as_str(), c.rule, c.action)).collect();
    assert_eq!(
        forgotten,
        [
            (
                "azure.server/pg-orders/configuration/azure.enable_temp_tablespaces_on_local_ssd",
                RuleId::T1,
                Action::Delete
            ),
            ("azure.server/pg-orders/high_availability", RuleId::T2, Action::Delete),
            ("azure.server/pg-orders/replica/r1", RuleId::T3, Action::Delete),
        ]
    );
    for change in &findings.changes {
        assert_eq!(change.operation, Some(Operation::Forget), "{change:?}");
        assert!(change.reason.contains("already back"), "{}", change.reason);
        assert!(!change.temporary && change.pending.is_none(), "{change:?}");
    }
    assert_eq!(findings.changes[1].before.as_deref(), Some("original recorded: ZoneRedundant (standby zone 2)"));
}

/// The spec was edited to name another server: the originals recorded for the first one are blockers
/// naming it, with the way back; nothing is planned on the server the spec names now.
#[test]
fn originals_of_a_server_the_spec_no_longer_names_are_blockers() {
    let on = state(&[configuration(TEMP_TABLESPACES, "on", true, false)]);
    let mut other = server("ZoneRedundant", Some("2"));
    other.name = "pg-other".into();
    let recorded = applied(&target_plan(&spec(""), &other, &[], &on, &[]), false);
    assert_eq!(recorded.originals().count(), 2);
    let off = state(&[configuration(TEMP_TABLESPACES, "off", true, false)]);
    let findings = restore(&spec(""), &server("Disabled", None), &[], &off, &recorded);
    assert_eq!(
        addresses(&findings),
        [
            ("azure.server/pg-other/configuration/azure.enable_temp_tablespaces_on_local_ssd", Action::Blocker, false),
            ("azure.server/pg-other/high_availability", Action::Blocker, false),
        ]
    );
    for blocker in &findings.changes {
        assert!(blocker.reason.contains("pg-other") && blocker.reason.contains("pg-orders"), "{}", blocker.reason);
        let remedy = blocker.remedy.as_deref().unwrap();
        assert!(remedy.contains("[target] server") && remedy.contains("pg-other"), "{remedy}");
        assert_eq!(blocker.operation, None);
    }
}

/// A grant recorded as temporary is revoked while the member has it and forgotten once it is gone; while
/// the writer cannot be read, or when the spec names another migration user, it is a blocker that says
/// why and what to do.
#[test]
fn a_recorded_grant_is_revoked_forgotten_or_blocked() {
    let recorded = granted("rds_replication", "migrator");
    let (server, configurations) = (server("Disabled", None), state(&[]));
    let restore_with = |spec: &crate::spec::Spec, source: &Result<Database, String>| {
        plan(spec, Live { source, server: &server, replicas: &[], configurations: &configurations }, &recorded)
    };
    let spec = spec("");
    assert_eq!(spec.source.migration_user, "migrator");

    let member = restore_with(&spec, &writer(true));
    assert_eq!(member.changes.len(), 1);
    assert_eq!(
        member.changes[0].operation,
        Some(Operation::Source(SourceOp::Revoke { role: "rds_replication".into(), member: "migrator".into() }))
    );

    let gone = restore_with(&spec, &writer(false));
    assert_eq!(gone.changes[0].operation, Some(Operation::Forget));

    let unreachable = restore_with(&spec, &Err("connection refused".into()));
    let blocker = &unreachable.changes[0];
    assert_eq!((blocker.action, blocker.rule), (Action::Blocker, RuleId::S8));
    assert_eq!(blocker.address, recorded.changed.keys().next().unwrap().clone());
    assert!(
        blocker.reason.contains("orders-prod") && blocker.reason.contains("connection refused"),
        "{}",
        blocker.reason
    );
    assert!(blocker.remedy.as_deref().unwrap().contains("fix the connection to the source database"));

    let other_user = granted("rds_replication", "someone_else");
    let findings = plan(
        &spec,
        Live { source: &writer(true), server: &server, replicas: &[], configurations: &configurations },
        &other_user,
    );
    assert_eq!(findings.changes[0].action, Action::Blocker);
    assert!(findings.changes[0].remedy.as_deref().unwrap().contains("migration_user = \"someone_else\""));
}

/// A temporary entry without its typed original (a state edited by hand) is a blocker, not skipped.
#[test]
fn a_temporary_entry_without_an_original_is_a_blocker() {
    let mut recorded =
        applied(&target_plan(&spec(""), &server("ZoneRedundant", Some("2")), &[], &state(&[]), &[]), false);
    recorded.changed.values_mut().for_each(|entry| entry.original = None);
    let findings = restore(&spec(""), &server("Disabled", None), &[], &state(&[]), &recorded);
    assert_eq!(addresses(&findings), [("azure.server/pg-orders/high_availability", Action::Blocker, false)]);
}
