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
//!       "operation": {…} | null          // the exact call apply makes: {"source": {"op": …}},
//!                                        // {"target": {"op": …}} or {"target_sql": {"op": …}};
//!                                        // null for blockers and reports
//!     }
//!   ],
//!   "checks": [                          // prerequisites verified and found to hold
//!     { "address": "source.pg/version", "rule": "S1", "summary": "…" }
//!   ],
//!   "warnings": [                        // needs the user's attention; blocks nothing, changes nothing
//!     { "address": "azure.server/pg-orders/network", "rule": "N1", "summary": "…" }
//!   ],
//!   "not_verified": [                    // prerequisites that could not be verified yet, and why
//!     { "address": "source.pg/logical_decoding", "rule": "S9", "summary": "…" }
//!   ],
//!   "left_out": [                        // left as they are on purpose, and why
//!     { "address": "target.pg/role/postgres", "rule": "T7", "summary": "…" }
//!   ],
//!   "connections": [                     // every endpoint the run used, and as whom
//!     { "system": "aws" | "source" | "azure" | "target", "endpoint": "…", "identity": "…" }
//!   ]
//! }
//! ```
//!
//! Every key is always present (absent values are `null`, empty lists `[]`), keys appear in the order
//! above, and `changes` and `checks` keep the plan's order, so two renderings of the same plan are
//! byte-identical. A change with `pending` set is counted as pending, not by its action; `apply` runs
//! neither pending changes nor blockers.
//!
//! The document is built from its own types (`wire`), converted from the plan in one place, so renaming
//! a field of [`crate::plan`] does not change it; the tests below pin every operation's JSON.

mod wire;

pub(super) use wire::Document;

use crate::plan::Plan;
use std::io::{self, Write};

/// Writes the plan as pretty JSON followed by a newline.
pub fn render(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &wire::Document::from(plan))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::operation::{SourceOp, TargetOp, TargetSqlOp};
    use crate::plan::source_ops::ParameterValue;
    use crate::plan::target_ops::ReplicaDefinition;
    use crate::plan::{Action, Address, Change, Check, Kind, Operation, RuleId};
    use serde_json::{Value, json};

    fn replica() -> ReplicaDefinition {
        ReplicaDefinition {
            name: "pg-orders-ro".into(),
            resource_group: "rg-orders".into(),
            location: "westeurope".into(),
            sku: "Standard_D2ds_v5".into(),
            tier: "GeneralPurpose".into(),
            storage_size_gb: Some(128),
        }
    }

    fn parameter(name: &str, value: &str, apply_type: &str) -> ParameterValue {
        ParameterValue { name: name.into(), value: value.into(), apply_type: apply_type.into() }
    }

    /// One operation of every kind, in declaration order.
    fn every_operation() -> Vec<Operation> {
        vec![
            Operation::Source(SourceOp::CreateParameterGroup {
                name: "orders-prod-migration".into(),
                family: "aurora-postgresql15".into(),
                description: "migprep".into(),
                carry_over: vec![parameter("work_mem", "8192", "dynamic")],
            }),
            Operation::Source(SourceOp::SetParameters {
                group: "orders-prod-migration".into(),
                parameters: vec![parameter("rds.logical_replication", "1", "static")],
            }),
            Operation::Source(SourceOp::AttachParameterGroup {
                cluster: "orders-prod".into(),
                group: "orders-prod-migration".into(),
            }),
            Operation::Source(SourceOp::RebootWriter {
                cluster: "orders-prod".into(),
                instance: "orders-prod-instance-1".into(),
                verify: vec![("rds.logical_replication".into(), "on".into())],
            }),
            Operation::Source(SourceOp::Grant { role: "rds_replication".into(), member: "migrator".into() }),
            Operation::Source(SourceOp::Revoke { role: "rds_replication".into(), member: "migrator".into() }),
            Operation::Target(TargetOp::SetConfiguration { name: "max_wal_senders".into(), value: "20".into() }),
            Operation::Target(TargetOp::SetHighAvailability { mode: "Disabled".into(), standby_zone: None }),
            Operation::Target(TargetOp::SetHighAvailability {
                mode: "ZoneRedundant".into(),
                standby_zone: Some("2".into()),
            }),
            Operation::Target(TargetOp::PromoteReplica { replica: replica() }),
            Operation::Target(TargetOp::DeleteReplica {
                replica: ReplicaDefinition { storage_size_gb: None, ..replica() },
            }),
            Operation::Target(TargetOp::CreateReplica { replica: replica() }),
            Operation::Target(TargetOp::Restart { parameters: vec!["max_wal_senders".into()] }),
            Operation::Target(TargetOp::Resize { sku: "Standard_D4ds_v5".into(), tier: "GeneralPurpose".into() }),
            Operation::Target(TargetOp::GrowStorage { size_gb: 256 }),
            Operation::TargetSql(TargetSqlOp::CreateRole {
                name: "reporting".into(),
                login: false,
                inherit: true,
                createdb: false,
                createrole: false,
                connection_limit: -1,
                valid_until: None,
            }),
            Operation::TargetSql(TargetSqlOp::CreateRole {
                name: "contractor".into(),
                login: true,
                inherit: true,
                createdb: false,
                createrole: false,
                connection_limit: 2,
                valid_until: Some("infinity".into()),
            }),
            Operation::TargetSql(TargetSqlOp::GrantMembership {
                role: "readers".into(),
                member: "reporting".into(),
                admin_option: true,
            }),
            Operation::TargetSql(TargetSqlOp::AllowCreateRole { role: "migrator".into() }),
            Operation::TargetSql(TargetSqlOp::SetRoleSetting {
                role: "reporting".into(),
                database: None,
                name: "statement_timeout".into(),
                value: "5min".into(),
            }),
            Operation::TargetSql(TargetSqlOp::SetRoleSetting {
                role: "reporting".into(),
                database: Some("orders".into()),
                name: "search_path".into(),
                value: "\"$user\",app".into(),
            }),
        ]
    }

    /// The JSON of [`every_operation`], written out by hand: this is the contract.
    fn every_operation_json() -> Value {
        let replica = json!({
            "name": "pg-orders-ro",
            "resource_group": "rg-orders",
            "location": "westeurope",
            "sku": "Standard_D2ds_v5",
            "tier": "GeneralPurpose",
            "storage_size_gb": 128
        });
        json!([
            {"source": {
                "op": "create_parameter_group",
                "name": "orders-prod-migration",
                "family": "aurora-postgresql15",
                "description": "migprep",
                "carry_over": [{"name": "work_mem", "value": "8192", "apply_type": "dynamic"}]
            }},
            {"source": {
                "op": "set_parameters",
                "group": "orders-prod-migration",
                "parameters": [{"name": "rds.logical_replication", "value": "1", "apply_type": "static"}]
            }},
            {"source": {"op": "attach_parameter_group", "cluster": "orders-prod", "group": "orders-prod-migration"}},
            {"source": {
                "op": "reboot_writer",
                "cluster": "orders-prod",
                "instance": "orders-prod-instance-1",
                "verify": [["rds.logical_replication", "on"]]
            }},
            {"source": {"op": "grant", "role": "rds_replication", "member": "migrator"}},
            {"source": {"op": "revoke", "role": "rds_replication", "member": "migrator"}},
            {"target": {"op": "set_configuration", "name": "max_wal_senders", "value": "20"}},
            {"target": {"op": "set_high_availability", "mode": "Disabled", "standby_zone": null}},
            {"target": {"op": "set_high_availability", "mode": "ZoneRedundant", "standby_zone": "2"}},
            {"target": {"op": "promote_replica", "replica": replica}},
            {"target": {"op": "delete_replica", "replica": {
                "name": "pg-orders-ro",
                "resource_group": "rg-orders",
                "location": "westeurope",
                "sku": "Standard_D2ds_v5",
                "tier": "GeneralPurpose",
                "storage_size_gb": null
            }}},
            {"target": {"op": "create_replica", "replica": replica}},
            {"target": {"op": "restart", "parameters": ["max_wal_senders"]}},
            {"target": {"op": "resize", "sku": "Standard_D4ds_v5", "tier": "GeneralPurpose"}},
            {"target": {"op": "grow_storage", "size_gb": 256}},
            {"target_sql": {
                "op": "create_role",
                "name": "reporting",
                "login": false,
                "inherit": true,
                "createdb": false,
                "createrole": false,
                "connection_limit": -1,
                "valid_until": null
            }},
            {"target_sql": {
                "op": "create_role",
                "name": "contractor",
                "login": true,
                "inherit": true,
                "createdb": false,
                "createrole": false,
                "connection_limit": 2,
                "valid_until": "infinity"
            }},
            {"target_sql": {"op": "grant_membership", "role": "readers", "member": "reporting", "admin_option": true}},
            {"target_sql": {"op": "allow_create_role", "role": "migrator"}},
            {"target_sql": {
                "op": "set_role_setting",
                "role": "reporting",
                "database": null,
                "name": "statement_timeout",
                "value": "5min"
            }},
            {"target_sql": {
                "op": "set_role_setting",
                "role": "reporting",
                "database": "orders",
                "name": "search_path",
                "value": "\"$user\",app"
            }}
        ])
    }

    fn rendered(plan: &Plan) -> String {
        let mut out = Vec::new();
        render(plan, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// A plan with one change per operation, plus one change without an operation.
    fn plan_with_every_operation() -> Plan {
        let mut plan = Plan::new(Kind::Apply, "orders");
        for (i, operation) in every_operation().into_iter().enumerate() {
            let mut change =
                Change::new(Address::new(format!("target.pg/op/{i}")), Action::Update, RuleId::T1, "reason");
            change.operation = Some(operation);
            plan.changes.push(change);
        }
        plan.changes.push(Change::new(Address::new("source.pg/version"), Action::Blocker, RuleId::S1, "too old"));
        plan
    }

    #[test]
    fn every_operation_renders_as_the_contract_says() {
        let value: Value = serde_json::from_str(&rendered(&plan_with_every_operation())).unwrap();
        let changes = value["changes"].as_array().unwrap();
        let (blocker, with_operation) = changes.split_last().unwrap();
        let operations: Vec<Value> = with_operation.iter().map(|change| change["operation"].clone()).collect();
        assert_eq!(Value::Array(operations), every_operation_json());
        assert_eq!(blocker["operation"], Value::Null);
    }

    /// Key order is part of the byte-for-byte contract, and a `json!` value cannot see it: the rendering,
    /// with its layout whitespace removed (no value above contains any), holds each operation exactly so.
    #[test]
    fn operation_keys_keep_their_order() {
        let compact: String = rendered(&plan_with_every_operation()).split_whitespace().collect();
        let replica = r#"{"name":"pg-orders-ro","resource_group":"rg-orders","location":"westeurope","sku":"Standard_D2ds_v5","tier":"GeneralPurpose","storage_size_gb":128}"#;
        let expected = [
            r#"{"source":{"op":"create_parameter_group","name":"orders-prod-migration","family":"aurora-postgresql15","description":"migprep","carry_over":[{"name":"work_mem","value":"8192","apply_type":"dynamic"}]}}"#.to_string(),
            r#"{"source":{"op":"set_parameters","group":"orders-prod-migration","parameters":[{"name":"rds.logical_replication","value":"1","apply_type":"static"}]}}"#.to_string(),
            r#"{"source":{"op":"attach_parameter_group","cluster":"orders-prod","group":"orders-prod-migration"}}"#.to_string(),
            r#"{"source":{"op":"reboot_writer","cluster":"orders-prod","instance":"orders-prod-instance-1","verify":[["rds.logical_replication","on"]]}}"#.to_string(),
            r#"{"source":{"op":"grant","role":"rds_replication","member":"migrator"}}"#.to_string(),
            r#"{"source":{"op":"revoke","role":"rds_replication","member":"migrator"}}"#.to_string(),
            r#"{"target":{"op":"set_configuration","name":"max_wal_senders","value":"20"}}"#.to_string(),
            r#"{"target":{"op":"set_high_availability","mode":"Disabled","standby_zone":null}}"#.to_string(),
            r#"{"target":{"op":"set_high_availability","mode":"ZoneRedundant","standby_zone":"2"}}"#.to_string(),
            format!(r#"{{"target":{{"op":"promote_replica","replica":{replica}}}}}"#),
            format!(r#"{{"target":{{"op":"delete_replica","replica":{}}}}}"#, replica.replace("128", "null")),
            format!(r#"{{"target":{{"op":"create_replica","replica":{replica}}}}}"#),
            r#"{"target":{"op":"restart","parameters":["max_wal_senders"]}}"#.to_string(),
            r#"{"target":{"op":"resize","sku":"Standard_D4ds_v5","tier":"GeneralPurpose"}}"#.to_string(),
            r#"{"target":{"op":"grow_storage","size_gb":256}}"#.to_string(),
            r#"{"target_sql":{"op":"create_role","name":"reporting","login":false,"inherit":true,"createdb":false,"createrole":false,"connection_limit":-1,"valid_until":null}}"#.to_string(),
            r#"{"target_sql":{"op":"create_role","name":"contractor","login":true,"inherit":true,"createdb":false,"createrole":false,"connection_limit":2,"valid_until":"infinity"}}"#.to_string(),
            r#"{"target_sql":{"op":"grant_membership","role":"readers","member":"reporting","admin_option":true}}"#.to_string(),
            r#"{"target_sql":{"op":"allow_create_role","role":"migrator"}}"#.to_string(),
            r#"{"target_sql":{"op":"set_role_setting","role":"reporting","database":null,"name":"statement_timeout","value":"5min"}}"#.to_string(),
            r#"{"target_sql":{"op":"set_role_setting","role":"reporting","database":"orders","name":"search_path","value":"\"$user\",app"}}"#.to_string(),
        ];
        assert_eq!(expected.len(), every_operation().len());
        for operation in expected {
            assert!(compact.contains(&format!(r#""operation":{operation}}}"#)), "{operation} not in {compact}");
        }
    }

    #[test]
    fn a_change_renders_every_key_of_the_contract() {
        let mut plan = Plan::new(Kind::Restore, "orders");
        let mut change = Change::new(
            Address::new("azure.server/pg-orders/configuration/max_wal_senders"),
            Action::Update,
            RuleId::T5,
            "restore the value recorded before the migration",
        );
        change.before = Some("20".into());
        change.after = Some("10".into());
        change.remedy = Some("remedy".into());
        change.disruptive = true;
        change.temporary = true;
        change.irreversible = true;
        change.pending = Some("[allow] x is false".into());
        change.prevents = Some(603106);
        change.depends_on = vec![Address::new("azure.server/pg-orders/high_availability")];
        change.operation =
            Some(Operation::Target(TargetOp::SetConfiguration { name: "max_wal_senders".into(), value: "10".into() }));
        // What restore puts back is the state file's business, not the contract's.
        change.original = Some(crate::plan::Original::Configuration {
            server: "pg-orders".into(),
            name: "max_wal_senders".into(),
            value: "20".into(),
        });
        plan.changes.push(change);
        plan.checks.push(Check {
            address: Address::new("source.pg/version"),
            rule: RuleId::S1,
            summary: "PostgreSQL 15.4".into(),
        });
        plan.warnings.push(Check {
            address: Address::new("azure.server/pg-orders/network"),
            rule: RuleId::N1,
            summary: "private writer".into(),
        });
        plan.not_verified.push(Check {
            address: Address::new("source.pg/logical_decoding"),
            rule: RuleId::S9,
            summary: "needs the reboot".into(),
        });
        plan.left_out.push(Check {
            address: Address::new("target.pg/role/postgres"),
            rule: RuleId::T7,
            summary: "the master user".into(),
        });
        plan.connections.push(crate::plan::Connection {
            system: crate::plan::System::Azure,
            endpoint: "https://management.azure.com".into(),
            identity: "managed identity".into(),
        });
        let value: Value = serde_json::from_str(&rendered(&plan)).unwrap();
        assert_eq!(
            value,
            json!({
                "format_version": 1,
                "kind": "restore",
                "name": "orders",
                "summary": {"add": 0, "change": 0, "destroy": 0, "pending": 1, "blockers": 0},
                "changes": [{
                    "address": "azure.server/pg-orders/configuration/max_wal_senders",
                    "action": "update",
                    "rule": "T5",
                    "before": "20",
                    "after": "10",
                    "reason": "restore the value recorded before the migration",
                    "remedy": "remedy",
                    "disruptive": true,
                    "temporary": true,
                    "irreversible": true,
                    "pending": "[allow] x is false",
                    "prevents": 603106,
                    "depends_on": ["azure.server/pg-orders/high_availability"],
                    "operation": {"target": {"op": "set_configuration", "name": "max_wal_senders", "value": "10"}}
                }],
                "checks": [{"address": "source.pg/version", "rule": "S1", "summary": "PostgreSQL 15.4"}],
                "warnings": [{"address": "azure.server/pg-orders/network", "rule": "N1", "summary": "private writer"}],
                "not_verified": [{"address": "source.pg/logical_decoding", "rule": "S9", "summary": "needs the reboot"}],
                "left_out": [{"address": "target.pg/role/postgres", "rule": "T7", "summary": "the master user"}],
                "connections": [{
                    "system": "azure",
                    "endpoint": "https://management.azure.com",
                    "identity": "managed identity"
                }]
            })
        );
    }
}
