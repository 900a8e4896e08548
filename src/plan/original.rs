//! What a temporary change replaced, as data: everything `restore` needs to put it back. A change carries
//! it from the plan into the journal and the state file; restore reads it and never the display text
//! (`before`/`after`), so rewording a rendering cannot break a restore.

use super::target_ops::ReplicaDefinition;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Original {
    /// A parameter of the flexible server `server` and its value before migprep set it (T1).
    Configuration { server: String, name: String, value: String },
    /// The high-availability mode and standby zone of `server` before migprep disabled it (T2).
    HighAvailability { server: String, mode: String, standby_zone: Option<String> },
    /// A read replica of `server` that migprep removed, its definition, and how it was removed (T3).
    Replica { server: String, replica: ReplicaDefinition, removed: Removal },
    /// A role membership migprep granted on the Aurora writer (S8): restore revokes it.
    Membership { role: String, member: String },
}

/// How a read replica was taken away from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// Promoted to a standalone server: it still holds the name.
    Promoted,
    /// Deleted with its data.
    Deleted,
}
