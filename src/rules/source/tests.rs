//! Scenarios across S1–S10: each builds a cluster, its groups and the writer's SQL view, runs `plan`, and
//! looks at the findings of the rules it is about.

use super::{allowed, group_description, plan};
use crate::model::cluster::{ApplyType, Cluster, IN_SYNC, Member, Parameter, ParameterGroup};
use crate::model::source::{Database, DatabaseAccess, Decoding, GroupState, Source};
use crate::plan::operation::SourceOp;
use crate::plan::sql::quote_ident;
use crate::plan::{Action, Change, Operation};
use crate::rules::{Findings, fixtures};
use crate::spec::Spec;

fn spec(extra: &str) -> Spec {
    fixtures::spec_with(&["orders", "billing"], extra)
}

fn cluster(group: &str, status: &str) -> Cluster {
    Cluster {
        id: "orders-prod".into(),
        engine: "aurora-postgresql".into(),
        engine_version: "15.4".into(),
        status: "available".into(),
        parameter_group: group.into(),
        endpoint: None,
        port: None,
        reader_endpoint: None,
        master_username: None,
        members: vec![Member {
            instance_id: "orders-prod-instance-1".into(),
            is_writer: true,
            parameter_group_status: status.into(),
            instance_class: None,
            publicly_accessible: None,
            status: Some("available".into()),
        }],
    }
}

fn parameter(name: &str, value: Option<&str>, source: &str) -> Parameter {
    let (apply_type, allowed) = match name {
        "rds.logical_replication" => (ApplyType::Static, "0,1"),
        "wal_sender_timeout" => (ApplyType::Dynamic, "0-3600000"),
        _ => (ApplyType::Static, "0-262143"),
    };
    Parameter {
        name: name.into(),
        value: value.map(str::to_string),
        source: Some(source.into()),
        apply_type,
        data_type: Some("integer".into()),
        allowed_values: Some(allowed.into()),
        is_modifiable: true,
    }
}

/// A group with the engine defaults of the stand-in's catalog, overridden by `user` values.
fn group(name: &str, users: &[&str], user: &[(&str, &str)]) -> GroupState {
    let defaults = [
        ("rds.logical_replication", Some("0")),
        ("max_replication_slots", Some("20")),
        ("max_wal_senders", Some("10")),
        ("wal_sender_timeout", None),
    ];
    let managed = defaults
        .iter()
        .map(|(n, v)| match user.iter().find(|(u, _)| u == n) {
            Some((_, value)) => parameter(n, Some(value), "user"),
            None => parameter(n, *v, "engine-default"),
        })
        .collect();
    GroupState {
        group: ParameterGroup { name: name.into(), family: "aurora-postgresql15".into(), description: "custom".into() },
        users: users.iter().map(|s| s.to_string()).collect(),
        user_parameters: user.iter().map(|(n, v)| parameter(n, Some(v), "user")).collect(),
        managed,
    }
}

fn database(settings: &[(&str, &str)], slots: u32, walsenders: u32) -> Database {
    Database {
        version_num: 150004,
        version: "15.4".into(),
        settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        slots,
        walsenders,
        rds_replication_exists: true,
        migration_user_exists: true,
        migration_user_is_member: false,
        access: vec![DatabaseAccess {
            name: "orders".into(),
            exists: true,
            connect: true,
            unreadable: Vec::new(),
            problem: None,
        }],
        decoding: Decoding::NotTried,
    }
}

const FRESH: [(&str, &str); 5] = [
    ("wal_level", "replica"),
    ("rds.logical_replication", "off"),
    ("max_replication_slots", "20"),
    ("max_wal_senders", "10"),
    ("wal_sender_timeout", "60000"),
];

fn state(current: GroupState, migration: Option<GroupState>, db: Database) -> Source {
    Source { current, migration_name: "orders-prod-migration".into(), migration, database: Ok(db) }
}

fn find<'a>(findings: &'a Findings, address: &str) -> Option<&'a Change> {
    findings.changes.iter().find(|c| c.address.as_str() == address)
}

#[test]
fn default_group_creates_sets_attaches_and_leaves_the_reboot_pending() {
    let current = group("default.aurora-postgresql15", &["orders-prod"], &[]);
    let findings = plan(
        &spec(""),
        &cluster("default.aurora-postgresql15", IN_SYNC),
        &state(current, None, database(&FRESH, 0, 0)),
    );
    let create = find(&findings, "aws.parameter_group/orders-prod-migration").unwrap();
    assert_eq!(create.action, Action::Create);
    let logical = find(&findings, "aws.cluster/orders-prod/parameter/rds.logical_replication").unwrap();
    assert_eq!((logical.after.as_deref(), logical.prevents), (Some("1"), Some(603107)));
    assert_eq!(logical.depends_on, vec![create.address.clone()]);
    let senders = find(&findings, "aws.cluster/orders-prod/parameter/max_wal_senders").unwrap();
    // One ModifyDBClusterParameterGroup for every parameter: the changes share it and wait for the group only.
    assert_eq!(senders.depends_on, vec![create.address.clone()]);
    assert_eq!(senders.operation, logical.operation);
    assert!(logical.operation.as_ref().unwrap().is_shared());
    assert_eq!((senders.before.as_deref(), senders.after.as_deref()), (Some("10"), Some("20")));
    assert!(find(&findings, "aws.cluster/orders-prod/parameter/max_replication_slots").is_none());
    let attach = find(&findings, "aws.cluster/orders-prod/parameter_group").unwrap();
    assert!(attach.depends_on.contains(&senders.address));
    let reboot = find(&findings, "aws.cluster/orders-prod/writer").unwrap();
    assert!(reboot.pending.as_deref().unwrap().contains("reboot_source_writer"));
    assert!(reboot.depends_on.contains(&attach.address) && reboot.disruptive);
    assert_eq!(
        reboot.remedy.as_deref(),
        Some("aws rds reboot-db-instance --db-instance-identifier orders-prod-instance-1 --region us-east-1")
    );
    let grant = find(&findings, "source.pg/role/migrator/grant/rds_replication").unwrap();
    assert_eq!(
        grant.operation,
        Some(Operation::Source(SourceOp::Grant { role: "rds_replication".into(), member: "migrator".into() }))
    );
}

#[test]
fn version_below_9_5_is_a_blocker() {
    let current = group("orders-pg", &["orders-prod"], &[]);
    let mut db = database(&FRESH, 0, 0);
    db.version_num = 90422;
    db.version = "9.4.22".into();
    let findings = plan(&spec(""), &cluster("orders-pg", IN_SYNC), &state(current, None, db));
    let blocker = find(&findings, "source.pg/version").unwrap();
    assert_eq!((blocker.action, blocker.prevents), (Action::Blocker, Some(603400)));
}

#[test]
fn numbers_make_room_for_slots_and_walsenders_in_use_and_never_go_down() {
    let current = group("orders-pg", &["orders-prod"], &[("max_wal_senders", "50")]);
    let findings = plan(&spec(""), &cluster("orders-pg", IN_SYNC), &state(current, None, database(&FRESH, 19, 3)));
    let slots = find(&findings, "aws.cluster/orders-prod/parameter/max_replication_slots").unwrap();
    assert_eq!(slots.after.as_deref(), Some("22"));
    // 50 ≥ 22 + 3: left alone.
    assert!(find(&findings, "aws.cluster/orders-prod/parameter/max_wal_senders").is_none());
    let current = group("orders-pg", &["orders-prod"], &[]);
    let findings = plan(&spec(""), &cluster("orders-pg", IN_SYNC), &state(current, None, database(&FRESH, 19, 3)));
    let senders = find(&findings, "aws.cluster/orders-prod/parameter/max_wal_senders").unwrap();
    assert_eq!(senders.after.as_deref(), Some("25"));
    assert!(find(&findings, "aws.parameter_group/orders-prod-migration").is_none(), "modified in place");
}

#[test]
fn finished_work_is_recognised() {
    let values = [("rds.logical_replication", "1"), ("max_wal_senders", "20"), ("wal_sender_timeout", "0")];
    let current = group("orders-prod-migration", &["orders-prod"], &values);
    let running = [
        ("wal_level", "logical"),
        ("max_replication_slots", "20"),
        ("max_wal_senders", "20"),
        ("wal_sender_timeout", "0"),
    ];
    let mut db = database(&running, 0, 0);
    db.migration_user_is_member = true;
    db.decoding = Decoding::Works;
    let findings = plan(&spec(""), &cluster("orders-prod-migration", IN_SYNC), &state(current, None, db));
    assert!(findings.changes.is_empty(), "{:#?}", findings.changes);
    // The same group, but the writer still runs the old values: only the reboot is left.
    let current = group("orders-prod-migration", &["orders-prod"], &values);
    let mut db = database(&FRESH, 0, 0);
    db.migration_user_is_member = true;
    let findings = plan(&spec(""), &cluster("orders-prod-migration", "pending-reboot"), &state(current, None, db));
    let addresses: Vec<&str> = findings.changes.iter().map(|c| c.address.as_str()).collect();
    assert_eq!(addresses, ["aws.cluster/orders-prod/writer"]);
}

#[test]
fn a_foreign_group_of_the_chosen_name_is_a_blocker_and_ours_is_reused() {
    let current = group("default.aurora-postgresql15", &["orders-prod"], &[]);
    let foreign = group("orders-prod-migration", &[], &[]);
    let findings = plan(
        &spec(""),
        &cluster("default.aurora-postgresql15", IN_SYNC),
        &state(current.clone(), Some(foreign.clone()), database(&FRESH, 0, 0)),
    );
    let blocker = find(&findings, "aws.parameter_group/orders-prod-migration").unwrap();
    assert_eq!(blocker.action, Action::Blocker);
    let mut ours = foreign;
    ours.group.description = group_description("orders-prod");
    let findings = plan(
        &spec(""),
        &cluster("default.aurora-postgresql15", IN_SYNC),
        &state(current, Some(ours), database(&FRESH, 0, 0)),
    );
    assert!(find(&findings, "aws.parameter_group/orders-prod-migration").is_none(), "nothing to carry over");
    assert!(find(&findings, "aws.cluster/orders-prod/parameter_group").is_some());
}

#[test]
fn values_outside_allowed_values_are_blockers() {
    assert!(allowed("1", Some("0,1")) && !allowed("2", Some("0,1")));
    assert!(allowed("-1", Some("-1-2147483647")) && !allowed("-2", Some("-1-2147483647")));
    assert!(allowed("8192", Some("8192-536870912")) && !allowed("8191", Some("8192-536870912")));
    let current = group("orders-pg", &["orders-prod"], &[]);
    // The spec refuses such a value already; the group's AllowedValues are checked all the same.
    let mut spec = spec("");
    spec.desired.wal_sender_timeout = Some(4_000_000);
    let findings = plan(&spec, &cluster("orders-pg", IN_SYNC), &state(current, None, database(&FRESH, 0, 0)));
    let blocker = find(&findings, "aws.cluster/orders-prod/parameter/wal_sender_timeout").unwrap();
    assert_eq!(blocker.action, Action::Blocker);
}

#[test]
fn read_privileges_block_with_the_exact_grant() {
    let current = group("orders-pg", &["orders-prod"], &[]);
    let mut db = database(&FRESH, 0, 0);
    db.access[0].unreadable = vec![("public".into(), true, 2)];
    let mut spec = spec("");
    spec.source.migration_user = "Mig \"rator\"".into();
    let findings = plan(&spec, &cluster("orders-pg", IN_SYNC), &state(current, None, db));
    let blocker = find(&findings, "source.pg/database/orders/privileges").unwrap();
    assert!(
        blocker
            .remedy
            .as_deref()
            .unwrap()
            .ends_with("GRANT SELECT ON ALL TABLES IN SCHEMA \"public\" TO \"Mig \"\"rator\"\"\";"),
        "{:?}",
        blocker.remedy
    );
    assert_eq!(quote_ident("Mig \"rator\""), "\"Mig \"\"rator\"\"\"");
}
