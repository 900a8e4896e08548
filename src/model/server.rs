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

/// A flexible server as `Servers_Get` shows it. Enum-like fields stay strings: ARM's enums are
/// extensible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub location: String,
    /// `Ready`, `Updating`, `Restarting`, …
    pub state: String,
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
    /// `Primary`, `AsyncReplica`, `None`, …
    pub replication_role: Option<String>,
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
    /// `NotEnabled`, `Healthy`, `RemovingStandby`, …
    pub state: Option<String>,
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
    /// `AsyncReplica`, `GeoAsyncReplica`, …
    pub role: String,
    pub state: String,
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
