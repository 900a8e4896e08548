//! What the sizing rules (T9, T10) read beyond the cluster and the server: the selected databases' sizes
//! and the compute sizes the server can move to. Plain data, no I/O.

use super::server::SkuCapability;

/// What T9–T10 observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// `pg_database_size` of each selected database that exists, in the spec's order; `Err` (why) when
    /// the sizes could not be read.
    pub database_sizes: Result<Vec<DatabaseSize>, String>,
    /// The compute sizes offered to the server; `Err` (why) when ARM did not answer.
    pub capabilities: Result<Vec<SkuCapability>, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseSize {
    pub name: String,
    pub bytes: u64,
}

impl Default for Sizing {
    fn default() -> Self {
        Self { database_sizes: Err("not read".into()), capabilities: Err("not read".into()) }
    }
}
