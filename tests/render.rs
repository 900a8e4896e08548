//! Snapshot tests of the three renderings (human without colour, JSON, markdown) for plans that cover
//! every kind of finding: an empty plan, a plan of blockers only, a mixed prepare plan with pending,
//! temporary, disruptive and irreversible changes, a restore plan, and a plan with nothing to change but
//! a warning, a prerequisite not verified yet and a role left out. The snapshots in
//! `tests/snapshots/` are reviewed like code: a change to a rendering shows up as a diff there.

use migprep::plan::{Action, Address, Change, Check, Connection, Kind, Plan, System};
use migprep::render::{self, human::Style};

fn change(address: &str, action: Action, rule: &str, reason: &str) -> Change {
    Change::new(Address::new(address), action, rule.parse().unwrap(), reason)
}

fn values(mut change: Change, before: Option<&str>, after: Option<&str>) -> Change {
    change.before = before.map(str::to_string);
    change.after = after.map(str::to_string);
    change
}

fn check(address: &str, rule: &str, summary: &str) -> Check {
    Check { address: Address::new(address), rule: rule.parse().unwrap(), summary: summary.into() }
}

/// T1's change to temporary tablespaces on the local SSD, temporary.
fn temp_tablespaces(reason: &str, before: &str, after: &str) -> Change {
    let mut temp = values(
        change(
            "azure.server/pg-orders/configuration/azure.enable_temp_tablespaces_on_local_ssd",
            Action::Update,
            "T1",
            reason,
        ),
        Some(before),
        Some(after),
    );
    temp.temporary = true;
    temp
}

/// T2's change to high availability, temporary and disruptive.
fn high_availability(reason: &str, before: &str, after: &str) -> Change {
    let mut ha = values(
        change("azure.server/pg-orders/high_availability", Action::Update, "T2", reason),
        Some(before),
        Some(after),
    );
    ha.temporary = true;
    ha.disruptive = true;
    ha
}

/// A source and target that already meet every prerequisite.
fn empty() -> Plan {
    let mut plan = Plan::new(Kind::Apply, "orders");
    plan.checks = vec![
        check("target.pg/connection", "N1", "connected with TLS 1.3; public access on both sides"),
        check("source.pg/version", "S1", "PostgreSQL 15.4 is 9.5 or later"),
        check("aws.cluster/orders-prod/parameter/rds.logical_replication", "S3", "1"),
    ];
    plan
}

/// A source too old to migrate, a user without read access, and an extension Azure does not offer.
fn blockers_only() -> Plan {
    let mut plan = Plan::new(Kind::Apply, "legacy");
    let mut version = values(
        change("source.pg/version", Action::Blocker, "S1", "the migration service needs PostgreSQL 9.5 or later"),
        Some("9.4.26"),
        Some("9.5 or later"),
    );
    version.prevents = Some(603400);
    version.remedy = Some("upgrade the Aurora cluster's engine version first (out of scope for migprep)".into());
    let mut read = change(
        "source.pg/database/billing/read/migrator",
        Action::Blocker,
        "S10",
        "migrator cannot read 3 tables in billing (schema ledger)",
    );
    read.prevents = Some(603110);
    read.remedy = Some("GRANT USAGE ON SCHEMA \"ledger\" TO \"migrator\";\nGRANT SELECT ON ALL TABLES IN SCHEMA \"ledger\" TO \"migrator\";".into());
    let mut extension = values(
        change(
            "azure.server/pg-legacy/configuration/azure.extensions/plv8",
            Action::Blocker,
            "T4",
            "extension plv8 is used in billing but Azure does not support it",
        ),
        None,
        Some("plv8 | allowlisted"),
    );
    extension.prevents = Some(603108);
    extension.remedy = Some("drop plv8 from billing, or migrate billing another way".into());
    plan.changes = vec![extension, read, version];
    plan
}

/// A typical first run: a default parameter group, low limits, a writer that would need a reboot the
/// spec does not allow, and a target with HA, small storage and a read replica.
fn mixed() -> Plan {
    let mut plan = Plan::new(Kind::Apply, "orders");
    let cluster = "aws.cluster/orders-prod";
    let group = values(
        change(
            &format!("{cluster}/parameter_group"),
            Action::Create,
            "S2",
            "the cluster uses default.aurora-postgresql15, which cannot be changed",
        ),
        Some("default.aurora-postgresql15"),
        Some("orders-prod-migration"),
    );
    let mut logical = values(
        change(
            &format!("{cluster}/parameter/rds.logical_replication"),
            Action::Update,
            "S3",
            "logical replication must be on (static: takes effect after a reboot)",
        ),
        Some("0"),
        Some("1"),
    );
    logical.prevents = Some(603107);
    logical.depends_on = vec![group.address.clone()];
    let mut senders = values(
        change(
            &format!("{cluster}/parameter/max_wal_senders"),
            Action::Update,
            "S5",
            "max_wal_senders must be at least max_replication_slots + 2 walsenders in use",
        ),
        Some("10"),
        Some("22"),
    );
    senders.prevents = Some(603106);
    senders.depends_on = vec![group.address.clone()];
    let mut reboot = values(
        change(
            &format!("{cluster}/writer"),
            Action::Restart,
            "S7",
            "static parameters take effect only after the writer reboots",
        ),
        Some("pending-reboot"),
        Some("in-sync"),
    );
    reboot.disruptive = true;
    reboot.pending = Some("[allow] reboot_source_writer is false".into());
    reboot.remedy =
        Some("set reboot_source_writer = true in [allow], or reboot orders-prod-instance-1 yourself".into());
    reboot.depends_on = vec![logical.address.clone()];
    let mut grant = values(
        change(
            "source.pg/role/migrator/grant/rds_replication",
            Action::Create,
            "S8",
            "the migration user must be a member of rds_replication",
        ),
        None,
        Some("GRANT \"rds_replication\" TO \"migrator\""),
    );
    grant.prevents = Some(603104);
    let temp =
        temp_tablespaces("temporary tablespaces on the local SSD break the migration's temporary files", "on", "off");
    let ha =
        high_availability("the migration needs high availability off", "ZoneRedundant (standby zone 2)", "Disabled");
    let mut replica = values(
        change(
            "azure.server/pg-orders/replica/pg-orders-ro",
            Action::Delete,
            "T3",
            "the target must have no read replicas during the migration",
        ),
        Some("pg-orders-ro"),
        None,
    );
    replica.disruptive = true;
    replica.pending = Some("[allow] remove_replicas is \"no\"".into());
    replica.remedy = Some("set remove_replicas = \"promote\" or \"delete\" in [allow]".into());
    let mut storage = values(
        change(
            "azure.server/pg-orders/storage",
            Action::Update,
            "T10",
            "the selected databases hold 180 GiB; the target needs at least 225 GiB",
        ),
        Some("128 GiB"),
        Some("256 GiB"),
    );
    storage.irreversible = true;
    let role = values(
        change(
            "target.pg/role/reporting",
            Action::Create,
            "T7",
            "role reporting exists on the source; its password is not copied",
        ),
        None,
        Some("NOLOGIN"),
    );
    plan.changes = vec![role, storage, replica, ha, temp, grant, reboot, senders, logical, group];
    // The renderings group by system; inside a system they keep the plan's order.
    plan.changes.reverse();
    plan.checks = vec![check("source.pg/version", "S1", "PostgreSQL 15.4 is 9.5 or later")];
    plan.warnings = vec![check(
        "azure.server/pg-orders/network",
        "N1",
        "a private writer with a public flexible server is not a supported scenario (603000)",
    )];
    plan
}

/// Nothing to change, but not everything is known to hold: a warning, a probe that must wait for a
/// reboot, and a role left out on purpose. None of them may read as passed, and the closing line must
/// not say that every prerequisite is met. The header names where migprep looked and as whom.
fn unfinished() -> Plan {
    let mut plan = Plan::new(Kind::Apply, "orders");
    plan.connections = vec![
        Connection {
            system: System::Aws,
            endpoint: "AWS's RDS endpoint for us-east-1".into(),
            identity: "AWS profile prod".into(),
        },
        Connection {
            system: System::Source,
            endpoint: "orders.cluster-c1.us-east-1.rds.amazonaws.com:5432/orders (sslmode verify-full)".into(),
            identity: "role migrator".into(),
        },
        Connection {
            system: System::Azure,
            endpoint: "https://management.azure.com".into(),
            identity: "service principal 3c9f in tenant 72f9 (AZURE_CLIENT_SECRET)".into(),
        },
        Connection {
            system: System::Target,
            endpoint: "pg-orders.postgres.database.azure.com:5432/postgres (sslmode verify-full)".into(),
            identity: "role azureadmin".into(),
        },
    ];
    plan.checks = vec![check("source.pg/version", "S1", "PostgreSQL 15.4 (≥ 9.5)")];
    plan.warnings = vec![check(
        "azure.server/pg-orders/network",
        "N1",
        "a private writer with a public flexible server is not a supported scenario (603000)",
    )];
    plan.not_verified = vec![check(
        "source.pg/logical_decoding",
        "S9",
        "the decoding probe runs once wal_level is logical, after the writer's reboot: plan again after apply",
    )];
    plan.left_out = vec![check(
        "target.pg/role/postgres",
        "T7",
        "postgres is the source's master user: the target has its own admin (azureadmin)",
    )];
    plan
}

/// Putting back what the migration changed: temporary settings and high availability.
fn restore() -> Plan {
    let mut plan = Plan::new(Kind::Restore, "orders");
    let reason = "restore the value recorded before the migration";
    plan.changes = vec![
        temp_tablespaces(reason, "off", "on"),
        high_availability(reason, "Disabled", "ZoneRedundant (standby zone 2)"),
    ];
    plan
}

fn human(plan: &Plan, colour: bool) -> String {
    let mut out = Vec::new();
    render::human::render(plan, &mut out, Style { colour }).unwrap();
    String::from_utf8(out).unwrap()
}

fn json(plan: &Plan) -> String {
    let mut out = Vec::new();
    render::json::render(plan, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn markdown(plan: &Plan) -> String {
    let mut out = Vec::new();
    render::markdown::render(plan, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn fixtures() -> [(&'static str, Plan); 5] {
    [
        ("empty", empty()),
        ("blockers_only", blockers_only()),
        ("mixed", mixed()),
        ("restore", restore()),
        ("unfinished", unfinished()),
    ]
}

#[test]
fn human_renderings() {
    for (name, plan) in fixtures() {
        insta::assert_snapshot!(format!("human_{name}"), human(&plan, false));
    }
}

#[test]
fn json_renderings() {
    for (name, plan) in fixtures() {
        insta::assert_snapshot!(format!("json_{name}"), json(&plan));
    }
}

#[test]
fn markdown_renderings() {
    for (name, plan) in fixtures() {
        insta::assert_snapshot!(format!("markdown_{name}"), markdown(&plan));
    }
}

#[test]
fn colour_off_writes_no_escape_codes_and_colour_on_does() {
    for (name, plan) in fixtures() {
        assert!(!human(&plan, false).contains('\x1b'), "{name}: escape code with colour off");
        assert!(human(&plan, true).contains("\x1b["), "{name}: no colour with colour on");
    }
    for (name, plan) in fixtures() {
        assert!(!json(&plan).contains('\x1b') && !markdown(&plan).contains('\x1b'), "{name}");
    }
}

#[test]
fn the_summary_line_is_terraforms_with_our_two_counts() {
    let text = human(&mixed(), false);
    assert!(
        text.ends_with(
            "Plan: 3 to add, 5 to change, 0 to destroy, 2 pending, 0 blockers. 1 warning needs your attention.\n"
        ),
        "{text}"
    );
    assert!(human(&empty(), false).ends_with("No changes. The source and target meet every prerequisite checked.\n"));
}

#[test]
fn only_what_passed_is_listed_as_passed() {
    let plan = unfinished();
    let passed_section = |text: &str, title: &str| -> String {
        let start = text.find(title).unwrap_or_else(|| panic!("no {title} in {text}"));
        text[start..].split("\n\n").take(2).collect::<Vec<_>>().join("\n")
    };
    for text in [human(&plan, false), markdown(&plan)] {
        let passed = passed_section(&text, "Checks passed");
        assert!(passed.contains("source.pg/version"), "{text}");
        for entry in plan.not_verified.iter().chain(&plan.left_out).chain(&plan.warnings) {
            assert!(!passed.contains(entry.address.as_str()), "{} listed as passed:\n{text}", entry.address);
            assert!(text.contains(entry.address.as_str()), "{} missing:\n{text}", entry.address);
        }
        assert!(!text.contains("meet every prerequisite"), "{text}");
        assert!(text.contains("1 warning needs your attention"), "{text}");
        assert!(text.contains("1 prerequisite is not verified yet"), "{text}");
        assert!(text.contains("service principal 3c9f in tenant 72f9"), "the identity used is named:\n{text}");
    }
}

#[test]
fn the_legend_lists_only_the_symbols_in_use() {
    let text = human(&restore(), false);
    assert!(text.contains("  ~ update in place"));
    assert!(!text.contains("+ create") && !text.contains("! blocker"));
}

#[test]
fn the_json_rendering_reads_back_as_the_same_plan() {
    for (name, plan) in fixtures() {
        let value: serde_json::Value = serde_json::from_str(&json(&plan)).unwrap();
        assert_eq!(value["format_version"], 1, "{name}");
        assert_eq!(value["summary"]["pending"], plan.summary().pending, "{name}");
        let back: Plan = serde_json::from_value(value).unwrap();
        assert_eq!(back, plan, "{name}");
    }
}
