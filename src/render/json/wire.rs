//! The JSON contract's own types (`format_version` 1), apart from the plan's: renaming or adding a field
//! of [`crate::plan`] cannot change what scripts read. Every conversion from the plan is in this file.
//!
//! A field added to [`plan::Change`] or [`plan::Check`] stays out of the JSON until it is added here. A
//! variant or field added to an operation does not compile until it is given its JSON form here, since the
//! operation is the exact call apply makes and the JSON must show it whole.

use crate::plan::{self, source_ops, target_ops, target_sql_ops};
use serde::Serialize;

/// The document written: the plan's fields with the summary placed before the lists it counts.
#[derive(Serialize)]
pub struct Document {
    format_version: u32,
    kind: Kind,
    name: String,
    summary: Summary,
    changes: Vec<Change>,
    checks: Vec<Check>,
    warnings: Vec<Check>,
    not_verified: Vec<Check>,
    left_out: Vec<Check>,
    connections: Vec<Connection>,
}

/// An endpoint the run used and the identity it presented there.
#[derive(Serialize)]
struct Connection {
    system: System,
    endpoint: String,
    identity: String,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum System {
    Aws,
    Source,
    Azure,
    Target,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Apply,
    Restore,
}

#[derive(Serialize)]
struct Summary {
    add: usize,
    change: usize,
    destroy: usize,
    pending: usize,
    blockers: usize,
}

#[derive(Serialize)]
struct Change {
    address: String,
    action: Action,
    rule: String,
    before: Option<String>,
    after: Option<String>,
    reason: String,
    remedy: Option<String>,
    disruptive: bool,
    temporary: bool,
    irreversible: bool,
    pending: Option<String>,
    prevents: Option<u32>,
    depends_on: Vec<String>,
    operation: Option<Operation>,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Create,
    Update,
    Delete,
    Blocker,
    Restart,
}

/// A check that holds, or a warning.
#[derive(Serialize)]
struct Check {
    address: String,
    rule: String,
    summary: String,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Operation {
    Source(SourceOp),
    Target(TargetOp),
    TargetSql(TargetSqlOp),
    Forget,
}

#[derive(Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum SourceOp {
    CreateParameterGroup {
        name: String,
        family: String,
        description: String,
        carry_over: Vec<ParameterValue>,
    },
    SetParameters {
        group: String,
        parameters: Vec<ParameterValue>,
    },
    AttachParameterGroup {
        cluster: String,
        group: String,
    },
    /// `verify` is a list of `[name, setting]` pairs.
    RebootWriter {
        cluster: String,
        instance: String,
        verify: Vec<(String, String)>,
    },
    Grant {
        role: String,
        member: String,
    },
    Revoke {
        role: String,
        member: String,
    },
}

#[derive(Serialize)]
struct ParameterValue {
    name: String,
    value: String,
    apply_type: String,
}

#[derive(Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum TargetOp {
    SetConfiguration { name: String, value: String },
    SetHighAvailability { mode: String, standby_zone: Option<String> },
    PromoteReplica { replica: Replica },
    DeleteReplica { replica: Replica },
    CreateReplica { replica: Replica },
    Restart { parameters: Vec<String> },
    Resize { sku: String, tier: String },
    GrowStorage { size_gb: i32 },
}

#[derive(Serialize)]
struct Replica {
    name: String,
    resource_group: String,
    location: String,
    sku: String,
    tier: String,
    storage_size_gb: Option<i32>,
}

#[derive(Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum TargetSqlOp {
    CreateRole {
        name: String,
        login: bool,
        inherit: bool,
        createdb: bool,
        createrole: bool,
        connection_limit: i32,
        valid_until: Option<String>,
    },
    GrantMembership {
        role: String,
        member: String,
        admin_option: bool,
    },
    AllowCreateRole {
        role: String,
    },
    SetRoleSetting {
        role: String,
        database: Option<String>,
        name: String,
        value: String,
    },
}

impl From<&plan::Plan> for Document {
    fn from(plan: &plan::Plan) -> Self {
        Self {
            format_version: plan.format_version,
            kind: plan.kind.into(),
            name: plan.name.clone(),
            summary: (&plan.summary()).into(),
            changes: plan.changes.iter().map(Change::from).collect(),
            checks: plan.checks.iter().map(Check::from).collect(),
            warnings: plan.warnings.iter().map(Check::from).collect(),
            not_verified: plan.not_verified.iter().map(Check::from).collect(),
            left_out: plan.left_out.iter().map(Check::from).collect(),
            connections: plan
                .connections
                .iter()
                .map(|c| Connection {
                    system: match c.system {
                        plan::System::Aws => System::Aws,
                        plan::System::Source => System::Source,
                        plan::System::Azure => System::Azure,
                        plan::System::Target => System::Target,
                    },
                    endpoint: c.endpoint.clone(),
                    identity: c.identity.clone(),
                })
                .collect(),
        }
    }
}

impl From<plan::Kind> for Kind {
    fn from(kind: plan::Kind) -> Self {
        match kind {
            plan::Kind::Apply => Kind::Apply,
            plan::Kind::Restore => Kind::Restore,
        }
    }
}

impl From<&plan::Summary> for Summary {
    fn from(summary: &plan::Summary) -> Self {
        Self {
            add: summary.add,
            change: summary.change,
            destroy: summary.destroy,
            pending: summary.pending,
            blockers: summary.blockers,
        }
    }
}

impl From<&plan::Change> for Change {
    fn from(change: &plan::Change) -> Self {
        Self {
            address: change.address.to_string(),
            action: change.action.into(),
            rule: change.rule.to_string(),
            before: change.before.clone(),
            after: change.after.clone(),
            reason: change.reason.clone(),
            remedy: change.remedy.clone(),
            disruptive: change.disruptive,
            temporary: change.temporary,
            irreversible: change.irreversible,
            pending: change.pending.clone(),
            prevents: change.prevents,
            depends_on: change.depends_on.iter().map(ToString::to_string).collect(),
            operation: change.operation.as_ref().map(Operation::from),
        }
    }
}

impl From<plan::Action> for Action {
    fn from(action: plan::Action) -> Self {
        match action {
            plan::Action::Create => Action::Create,
            plan::Action::Update => Action::Update,
            plan::Action::Delete => Action::Delete,
            plan::Action::Blocker => Action::Blocker,
            plan::Action::Restart => Action::Restart,
        }
    }
}

impl From<&plan::Check> for Check {
    fn from(check: &plan::Check) -> Self {
        Self { address: check.address.to_string(), rule: check.rule.to_string(), summary: check.summary.clone() }
    }
}

impl From<&plan::Operation> for Operation {
    fn from(operation: &plan::Operation) -> Self {
        match operation {
            plan::Operation::Source(op) => Operation::Source(op.into()),
            plan::Operation::Target(op) => Operation::Target(op.into()),
            plan::Operation::TargetSql(op) => Operation::TargetSql(op.into()),
            plan::Operation::Forget => Operation::Forget,
        }
    }
}

impl From<&source_ops::SourceOp> for SourceOp {
    fn from(op: &source_ops::SourceOp) -> Self {
        use source_ops::SourceOp as Op;
        match op {
            Op::CreateParameterGroup { name, family, description, carry_over } => SourceOp::CreateParameterGroup {
                name: name.clone(),
                family: family.clone(),
                description: description.clone(),
                carry_over: carry_over.iter().map(ParameterValue::from).collect(),
            },
            Op::SetParameters { group, parameters } => SourceOp::SetParameters {
                group: group.clone(),
                parameters: parameters.iter().map(ParameterValue::from).collect(),
            },
            Op::AttachParameterGroup { cluster, group } => {
                SourceOp::AttachParameterGroup { cluster: cluster.clone(), group: group.clone() }
            }
            Op::RebootWriter { cluster, instance, verify } => {
                SourceOp::RebootWriter { cluster: cluster.clone(), instance: instance.clone(), verify: verify.clone() }
            }
            Op::Grant { role, member } => SourceOp::Grant { role: role.clone(), member: member.clone() },
            Op::Revoke { role, member } => SourceOp::Revoke { role: role.clone(), member: member.clone() },
        }
    }
}

impl From<&source_ops::ParameterValue> for ParameterValue {
    fn from(parameter: &source_ops::ParameterValue) -> Self {
        let source_ops::ParameterValue { name, value, apply_type } = parameter;
        Self { name: name.clone(), value: value.clone(), apply_type: apply_type.clone() }
    }
}

impl From<&target_ops::TargetOp> for TargetOp {
    fn from(op: &target_ops::TargetOp) -> Self {
        use target_ops::TargetOp as Op;
        match op {
            Op::SetConfiguration { name, value } => {
                TargetOp::SetConfiguration { name: name.clone(), value: value.clone() }
            }
            Op::SetHighAvailability { mode, standby_zone } => {
                TargetOp::SetHighAvailability { mode: mode.clone(), standby_zone: standby_zone.clone() }
            }
            Op::PromoteReplica { replica } => TargetOp::PromoteReplica { replica: replica.into() },
            Op::DeleteReplica { replica } => TargetOp::DeleteReplica { replica: replica.into() },
            Op::CreateReplica { replica } => TargetOp::CreateReplica { replica: replica.into() },
            Op::Restart { parameters } => TargetOp::Restart { parameters: parameters.clone() },
            Op::Resize { sku, tier } => TargetOp::Resize { sku: sku.clone(), tier: tier.clone() },
            Op::GrowStorage { size_gb } => TargetOp::GrowStorage { size_gb: *size_gb },
        }
    }
}

impl From<&target_ops::ReplicaDefinition> for Replica {
    fn from(replica: &target_ops::ReplicaDefinition) -> Self {
        let target_ops::ReplicaDefinition { name, resource_group, location, sku, tier, storage_size_gb } = replica;
        Self {
            name: name.clone(),
            resource_group: resource_group.clone(),
            location: location.clone(),
            sku: sku.clone(),
            tier: tier.clone(),
            storage_size_gb: *storage_size_gb,
        }
    }
}

impl From<&target_sql_ops::TargetSqlOp> for TargetSqlOp {
    fn from(op: &target_sql_ops::TargetSqlOp) -> Self {
        use target_sql_ops::TargetSqlOp as Op;
        match op {
            Op::CreateRole { name, login, inherit, createdb, createrole, connection_limit, valid_until } => {
                TargetSqlOp::CreateRole {
                    name: name.clone(),
                    login: *login,
                    inherit: *inherit,
                    createdb: *createdb,
                    createrole: *createrole,
                    connection_limit: *connection_limit,
                    valid_until: valid_until.clone(),
                }
            }
            Op::GrantMembership { role, member, admin_option } => {
                TargetSqlOp::GrantMembership { role: role.clone(), member: member.clone(), admin_option: *admin_option }
            }
            Op::AllowCreateRole { role } => TargetSqlOp::AllowCreateRole { role: role.clone() },
            Op::SetRoleSetting { role, database, name, value } => TargetSqlOp::SetRoleSetting {
                role: role.clone(),
                database: database.clone(),
                name: name.clone(),
                value: value.clone(),
            },
        }
    }
}
