//! The Azure side as plain data: which flexible server, and what ARM shows of it, its read replicas, its
//! server parameters (configurations) and the compute sizes it can move to. Filled by `observe` through
//! the ARM client; read by the rules. No I/O.

use std::collections::BTreeMap;

/// Which flexible server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

impl ServerId {
    pub fn new(subscription: &str, resource_group: &str, name: &str) -> Self {
        ServerId { subscription: subscription.into(), resource_group: resource_group.into(), name: name.into() }
    }

    /// A replica listed under this server, in the replica's own resource group (from its id).
    pub fn sibling(&self, replica: &Replica) -> ServerId {
        ServerId {
            subscription: self.subscription.clone(),
            resource_group: replica.resource_group.clone().unwrap_or_else(|| self.resource_group.clone()),
            name: replica.name.clone(),
        }
    }
}

impl std::fmt::Display for ServerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "flexible server {} (resource group {})", self.name, self.resource_group)
    }
}

/// An enum of ARM's, which the service may extend: the known values, and `Other` for the rest (kept as
/// sent). Read case-insensitively; shown as the official spelling.
macro_rules! extensible {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
            /// A value this version of migprep does not know.
            Other(String),
        }

        impl $name {
            pub fn parse(raw: &str) -> Self {
                $(if raw.eq_ignore_ascii_case(stringify!($variant)) {
                    return Self::$variant;
                })+
                Self::Other(raw.to_string())
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => stringify!($variant),)+
                    Self::Other(raw) => raw,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

extensible! {
    /// `ServerState` of the official spec.
    ServerState { Ready, Dropping, Disabled, Starting, Stopping, Stopped, Updating, Restarting, Inaccessible, Provisioning }
}

extensible! {
    /// `HighAvailabilityState` of the official spec.
    HaState { NotEnabled, CreatingStandby, ReplicatingData, FailingOver, Healthy, RemovingStandby }
}

extensible! {
    /// `ReplicationRole` of the official spec.
    ReplicationRole { None, Primary, AsyncReplica, GeoAsyncReplica }
}

impl ServerState {
    /// On its way somewhere: waiting shows where it ends up. Any other state (ready, stopped, disabled, one
    /// this version does not know) stays as it is until someone acts.
    pub fn is_transition(&self) -> bool {
        matches!(
            self,
            ServerState::Dropping
                | ServerState::Starting
                | ServerState::Stopping
                | ServerState::Updating
                | ServerState::Restarting
                | ServerState::Provisioning
        )
    }
}

impl HaState {
    /// A standby is being created, removed or failed over to: the server takes no other change meanwhile.
    pub fn is_transition(&self) -> bool {
        matches!(self, HaState::CreatingStandby | HaState::RemovingStandby | HaState::FailingOver)
    }
}

impl ReplicationRole {
    /// A read replica of another server.
    pub fn is_replica(&self) -> bool {
        matches!(self, ReplicationRole::AsyncReplica | ReplicationRole::GeoAsyncReplica)
            || matches!(self, ReplicationRole::Other(raw) if raw.to_ascii_lowercase().contains("replica"))
    }
}

/// A flexible server as `Servers_Get` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub location: String,
    pub state: ServerState,
    /// Major version, e.g. `"16"`.
    pub version: String,
    pub minor_version: Option<String>,
    pub sku: Sku,
    pub storage_size_gb: Option<i32>,
    pub storage_auto_grow: Option<String>,
    pub high_availability: HighAvailability,
    pub network: Network,
    pub fqdn: Option<String>,
    pub availability_zone: Option<String>,
    pub replication_role: Option<ReplicationRole>,
    pub administrator_login: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sku {
    pub name: String,
    /// `Burstable`, `GeneralPurpose`, `MemoryOptimized`.
    pub tier: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HighAvailability {
    /// `Disabled`, `ZoneRedundant`, `SameZone`.
    pub mode: String,
    pub state: Option<HaState>,
    pub standby_zone: Option<String>,
}

impl HighAvailability {
    pub fn is_enabled(&self) -> bool {
        !self.mode.eq_ignore_ascii_case("Disabled")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// `Enabled` or `Disabled`.
    pub public_network_access: Option<String>,
    pub delegated_subnet: Option<String>,
    pub private_dns_zone: Option<String>,
}

/// A read replica of the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    pub id: String,
    pub name: String,
    /// From the resource id; replicas can live in another resource group.
    pub resource_group: Option<String>,
    pub location: String,
    pub sku: Sku,
    pub storage_size_gb: Option<i32>,
    pub role: ReplicationRole,
    pub state: ServerState,
}

/// A server parameter. All values are strings, lists comma-separated, as ARM sends them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configuration {
    pub name: String,
    pub value: Option<String>,
    pub default_value: Option<String>,
    /// `Boolean`, `Integer`, `Enumeration`, `Set`, …
    pub data_type: Option<String>,
    pub allowed_values: Option<String>,
    pub is_dynamic: bool,
    pub is_read_only: bool,
    pub is_pending_restart: bool,
    /// `system-default` or `user-override`.
    pub source: Option<String>,
    pub unit: Option<String>,
}

/// A compute size offered for the server, from its capabilities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkuCapability {
    pub name: String,
    pub tier: String,
    pub vcores: u32,
    pub memory_mb: u64,
    pub ha_modes: Vec<String>,
}

/// Every server parameter of the flexible server, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Configurations {
    pub by_name: BTreeMap<String, Configuration>,
}

impl Configurations {
    pub fn configuration(&self, name: &str) -> Option<&Configuration> {
        self.by_name.get(name)
    }

    /// Parameters whose new value waits for a restart, by name.
    pub fn pending_restart(&self) -> impl Iterator<Item = &Configuration> {
        self.by_name.values().filter(|c| c.is_pending_restart)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_enums_read_any_case_and_keep_values_they_do_not_know() {
        assert_eq!(ServerState::parse("ready"), ServerState::Ready);
        assert_eq!(ServerState::parse("Migrating"), ServerState::Other("Migrating".into()));
        assert_eq!(ServerState::parse("Migrating").to_string(), "Migrating");
        assert!(HaState::parse("RemovingStandby").is_transition() && !HaState::parse("Healthy").is_transition());
        assert!(ReplicationRole::parse("GeoAsyncReplica").is_replica());
        assert!(ReplicationRole::parse("FutureReplica").is_replica());
        assert!(!ReplicationRole::parse("Primary").is_replica() && !ReplicationRole::parse("None").is_replica());
    }
}
