//! Operations on the target: the flexible server through ARM and SQL on it. Data only: the exact call a
//! change makes, so a saved plan performs what it showed and nothing else.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TargetOp {
    /// Sets one server parameter (`source: user-override`). A static one then waits for [`TargetOp::Restart`].
    SetConfiguration { name: String, value: String },
    /// Sets the high-availability mode; `standby_zone` only when enabling it.
    SetHighAvailability { mode: String, standby_zone: Option<String> },
    /// Promotes a read replica to a standalone server (`promoteMode: Standalone`); it keeps its data and name.
    PromoteReplica { replica: ReplicaDefinition },
    /// Deletes a read replica.
    DeleteReplica { replica: ReplicaDefinition },
    /// Creates a read replica of the server from a recorded definition (restore).
    CreateReplica { replica: ReplicaDefinition },
    /// One restart (no failover) for every static parameter waiting for it.
    Restart { parameters: Vec<String> },
    /// Moves the server to another compute size (T9); the server restarts to do so.
    Resize { sku: String, tier: String },
    /// Grows the storage (T10). Azure cannot shrink it again: `restore` leaves it.
    GrowStorage { size_gb: i32 },
}

/// The HA mode and standby zone for people, e.g. `ZoneRedundant (standby zone 2)`. Display only: nothing
/// reads it back.
pub fn describe_high_availability(mode: &str, standby_zone: Option<&str>) -> String {
    match standby_zone.filter(|z| !z.is_empty()) {
        Some(zone) if !mode.eq_ignore_ascii_case("Disabled") => format!("{mode} (standby zone {zone})"),
        _ => mode.to_string(),
    }
}

/// A read replica's definition: what `restore` needs to create it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaDefinition {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    pub sku: String,
    pub tier: String,
    pub storage_size_gb: Option<i32>,
}
