//! The Aurora side as plain data: the DB cluster, its members and instances, its DB cluster parameter
//! groups and their parameters. Filled by `observe` through the RDS client; read by the rules. No I/O.

/// Member status that means "the running values match the attached group".
pub const IN_SYNC: &str = "in-sync";

/// Instance status of an idle, usable instance.
pub const AVAILABLE: &str = "available";

/// An Aurora DB cluster as `DescribeDBClusters` and `DescribeDBInstances` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub id: String,
    pub engine: String,
    pub engine_version: String,
    pub status: String,
    /// The attached DB cluster parameter group.
    pub parameter_group: String,
    /// The writer (cluster) endpoint host and port.
    pub endpoint: Option<String>,
    pub port: Option<u16>,
    pub reader_endpoint: Option<String>,
    pub master_username: Option<String>,
    pub members: Vec<Member>,
}

impl Cluster {
    /// The cluster with its members' details (class, public accessibility, status) from its instances.
    pub fn with_instances(mut self, instances: &[Instance]) -> Self {
        for member in &mut self.members {
            if let Some(instance) = instances.iter().find(|i| i.id == member.instance_id) {
                member.instance_class = Some(instance.instance_class.clone());
                member.publicly_accessible = Some(instance.publicly_accessible);
                member.status = Some(instance.status.clone());
            }
        }
        self
    }

    /// The member that takes writes, if the cluster has one.
    pub fn writer(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.is_writer)
    }

    pub fn member(&self, instance_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.instance_id == instance_id)
    }
}

/// One DB instance of a cluster. The instance fields are `None` when `DescribeDBInstances` did not
/// list the instance (it was being created or deleted between the two calls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub instance_id: String,
    pub is_writer: bool,
    /// `in-sync`, `pending-reboot`, `applying`, …
    pub parameter_group_status: String,
    pub instance_class: Option<String>,
    pub publicly_accessible: Option<bool>,
    /// `available`, `rebooting`, `modifying`, …
    pub status: Option<String>,
}

/// A DB instance as `DescribeDBInstances` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub cluster: Option<String>,
    pub instance_class: String,
    pub publicly_accessible: bool,
    pub status: String,
}

/// A DB cluster parameter group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterGroup {
    pub name: String,
    pub family: String,
    pub description: String,
}

impl ParameterGroup {
    /// AWS's own `default.<family>` groups cannot be modified.
    pub fn is_default(&self) -> bool {
        self.name.starts_with("default.")
    }
}

/// One parameter of a DB cluster parameter group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    /// Absent for many engine defaults; may be a formula such as `GREATEST(...)`.
    pub value: Option<String>,
    /// `engine-default`, `system` or `user`.
    pub source: Option<String>,
    pub apply_type: ApplyType,
    pub data_type: Option<String>,
    /// `"0,1"`, `"8192-536870912"`, … as RDS writes it.
    pub allowed_values: Option<String>,
    pub is_modifiable: bool,
}

/// When a parameter change takes effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyType {
    /// Only after a reboot.
    Static,
    /// At once, when applied `immediate`.
    Dynamic,
    /// Anything else RDS reports; treated like static because that is always accepted.
    Other(String),
}

impl ApplyType {
    pub fn parse(raw: &str) -> ApplyType {
        match raw {
            "static" => ApplyType::Static,
            "dynamic" => ApplyType::Dynamic,
            other => ApplyType::Other(other.to_string()),
        }
    }

    /// The `ApplyMethod` to send: `immediate` is refused for static parameters
    /// (`InvalidParameterCombination`), so only a known-dynamic parameter gets it.
    pub fn apply_method(&self) -> &'static str {
        match self {
            ApplyType::Dynamic => "immediate",
            _ => "pending-reboot",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dynamic_parameters_are_applied_immediately() {
        assert_eq!(ApplyType::parse("dynamic").apply_method(), "immediate");
        assert_eq!(ApplyType::parse("static").apply_method(), "pending-reboot");
        assert_eq!(ApplyType::parse("").apply_method(), "pending-reboot");
    }
}
