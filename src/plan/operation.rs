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
}
