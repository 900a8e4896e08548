//! Operations on the source: the Aurora cluster through the RDS API and SQL on its writer.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SourceOp {}
