//! The exact call a change makes when applied, as data. A saved plan carries it, so `apply PLANFILE`
//! performs exactly what was shown and nothing else; the executor hands it to the provider of its side.
//!
//! Each side defines its own operations ([`SourceOp`]: RDS API and SQL on the Aurora writer;
//! [`TargetOp`]: ARM and SQL on the flexible server;
//! [`TargetSqlOp`]: the target's roles). Data only: no I/O here.

use serde::{Deserialize, Serialize};

pub use super::source_ops::SourceOp;
pub use super::target_ops::TargetOp;
pub use super::target_sql_ops::TargetSqlOp;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Source(SourceOp),
    Target(TargetOp),
    /// SQL on the flexible server's roles (T7, T8).
    TargetSql(TargetSqlOp),
    /// Nothing on a live system: a restore found the address already back at its recorded original (put
    /// back outside migprep), so the record is dropped. A step of its own, so that it is shown, approved
    /// and journaled like any other, and a later apply records the value it finds then.
    Forget,
}

impl Operation {
    /// Whether several changes may carry this very operation, which is then performed once for all of
    /// them: the parameters one `ModifyDBClusterParameterGroup` request sets, each its own change.
    pub fn is_shared(&self) -> bool {
        matches!(self, Operation::Source(SourceOp::SetParameters { parameters, .. }) if parameters.len() > 1)
    }

    /// The exact call, for people: the service and its operation with every argument the typed operation
    /// holds (the SQL statement itself for SQL), so that what a reviewer reads is all that runs.
    pub fn describe(&self) -> String {
        match self {
            Operation::Source(op) => op.describe(),
            Operation::Target(op) => op.describe(),
            Operation::TargetSql(op) => format!("SQL on the target: {};", op.statement()),
            Operation::Forget => {
                "nothing on the clouds or databases: migprep drops the recorded original from its state".to_string()
            }
        }
    }
}

impl SourceOp {
    fn describe(&self) -> String {
        let values = |parameters: &[super::source_ops::ParameterValue]| {
            let listed: Vec<String> =
                parameters.iter().map(|p| format!("{}={:?} ({})", p.name, p.value, p.apply_type)).collect();
            listed.join(", ")
        };
        match self {
            SourceOp::CreateParameterGroup { name, family, description, carry_over } => {
                let mut text =
                    format!("RDS CreateDBClusterParameterGroup {name} family {family} description {description:?}");
                if !carry_over.is_empty() {
                    text.push_str(&format!("; ModifyDBClusterParameterGroup {name}: {}", values(carry_over)));
                }
                text
            }
            SourceOp::SetParameters { group, parameters } => {
                format!("RDS ModifyDBClusterParameterGroup {group}: {}", values(parameters))
            }
            SourceOp::AttachParameterGroup { cluster, group } => {
                format!("RDS ModifyDBCluster {cluster} DBClusterParameterGroupName={group} ApplyImmediately=true")
            }
            SourceOp::RebootWriter { cluster, instance, verify } => {
                let checks: Vec<String> = verify.iter().map(|(name, value)| format!("{name}={value:?}")).collect();
                format!(
                    "RDS RebootDBInstance {instance} (cluster {cluster}); then SQL on the writer checks {}",
                    checks.join(", ")
                )
            }
            SourceOp::Grant { .. } | SourceOp::Revoke { .. } => {
                format!("SQL on the source: {};", self.statement().expect("grants and revokes are statements"))
            }
        }
    }
}

impl TargetOp {
    fn describe(&self) -> String {
        let server = "ARM PATCH the flexible server";
        match self {
            TargetOp::SetConfiguration { name, value } => format!(
                "ARM PATCH the flexible server's configurations/{name} {{\"properties\":{{\"value\":{value:?},\"source\":\"user-override\"}}}}"
            ),
            TargetOp::SetHighAvailability { mode, standby_zone } => match standby_zone {
                Some(zone) => format!(
                    "{server} {{\"properties\":{{\"highAvailability\":{{\"mode\":{mode:?},\"standbyAvailabilityZone\":{zone:?}}}}}}}"
                ),
                None => format!("{server} {{\"properties\":{{\"highAvailability\":{{\"mode\":{mode:?}}}}}}}"),
            },
            TargetOp::PromoteReplica { replica } => format!(
                "ARM PATCH flexible server {} (resource group {}) {{\"properties\":{{\"replica\":{{\"promoteMode\":\"Standalone\",\"promoteOption\":\"Planned\"}}}}}}",
                replica.name, replica.resource_group
            ),
            TargetOp::DeleteReplica { replica } => {
                format!("ARM DELETE flexible server {} (resource group {})", replica.name, replica.resource_group)
            }
            TargetOp::CreateReplica { replica } => format!(
                "ARM PUT flexible server {} (resource group {}, {}, {} {}{}) as a read replica of the server",
                replica.name,
                replica.resource_group,
                replica.location,
                replica.sku,
                replica.tier,
                replica.storage_size_gb.map(|gb| format!(", {gb} GB")).unwrap_or_default()
            ),
            TargetOp::Restart { parameters } => {
                format!("ARM POST the flexible server's restart (for {})", parameters.join(", "))
            }
            TargetOp::Resize { sku, tier } => {
                format!("{server} {{\"sku\":{{\"name\":{sku:?},\"tier\":{tier:?}}}}}")
            }
            TargetOp::GrowStorage { size_gb } => {
                format!("{server} {{\"properties\":{{\"storage\":{{\"storageSizeGB\":{size_gb}}}}}}}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_names_every_argument() {
        let grant = Operation::Source(SourceOp::Grant { role: "rds_replication".into(), member: "migrator".into() });
        assert_eq!(grant.describe(), "SQL on the source: GRANT \"rds_replication\" TO \"migrator\";");
        let ha = Operation::Target(TargetOp::SetHighAvailability {
            mode: "ZoneRedundant".into(),
            standby_zone: Some("2".into()),
        });
        assert_eq!(
            ha.describe(),
            "ARM PATCH the flexible server {\"properties\":{\"highAvailability\":{\"mode\":\"ZoneRedundant\",\"standbyAvailabilityZone\":\"2\"}}}"
        );
        let set = Operation::Source(SourceOp::SetParameters {
            group: "orders-migration".into(),
            parameters: vec![super::super::source_ops::ParameterValue {
                name: "max_wal_senders".into(),
                value: "21".into(),
                apply_type: "static".into(),
            }],
        });
        assert_eq!(
            set.describe(),
            "RDS ModifyDBClusterParameterGroup orders-migration: max_wal_senders=\"21\" (static)"
        );
    }
}
