//! Operations on the source: the Aurora cluster through the RDS API and SQL on its writer. Data only: the
//! exact call a change makes, so a saved plan performs what it showed and nothing else.

use super::sql::quote_ident;
use serde::{Deserialize, Serialize};

/// The most parameters one `ModifyDBClusterParameterGroup` request takes (an RDS limit).
pub const MAX_PARAMETERS_PER_CALL: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SourceOp {
    /// Creates a DB cluster parameter group (or reuses the one an earlier run created) and sets the
    /// user-set parameters of the group it replaces, so nothing the user tuned is lost.
    CreateParameterGroup { name: String, family: String, description: String, carry_over: Vec<ParameterValue> },
    /// Sets parameters of a DB cluster parameter group in one request, each with the apply method its apply
    /// type allows. One operation may be shared by the changes of several parameters (one per parameter):
    /// it is then performed once for all of them.
    SetParameters { group: String, parameters: Vec<ParameterValue> },
    /// Attaches a DB cluster parameter group to the cluster (`ModifyDBCluster`, `ApplyImmediately`).
    AttachParameterGroup { cluster: String, group: String },
    /// Reboots the writer instance (`RebootDBInstance`; never `RebootDBCluster` on Aurora), waits until it is
    /// available and in sync, and checks the running values over SQL (`pg_settings` name → setting).
    RebootWriter { cluster: String, instance: String, verify: Vec<(String, String)> },
    /// `GRANT <role> TO <member>` on the writer; both identifiers quoted.
    Grant { role: String, member: String },
    /// `REVOKE <role> FROM <member>` on the writer (restore of a grant migprep made).
    Revoke { role: String, member: String },
}

impl SourceOp {
    /// The SQL statement the operation runs on the writer, for the operations that are SQL.
    pub fn statement(&self) -> Option<String> {
        match self {
            SourceOp::Grant { role, member } => Some(format!("GRANT {} TO {}", quote_ident(role), quote_ident(member))),
            SourceOp::Revoke { role, member } => {
                Some(format!("REVOKE {} FROM {}", quote_ident(role), quote_ident(member)))
            }
            _ => None,
        }
    }
}

/// One parameter value to set, with the apply type RDS reported for it (`static`, `dynamic`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterValue {
    pub name: String,
    pub value: String,
    pub apply_type: String,
}
