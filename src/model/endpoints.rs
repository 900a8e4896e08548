//! What connecting to each database showed (N1). Plain data, no I/O.

/// What connecting to one endpoint showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointObservation {
    /// `source` or `target`.
    pub side: &'static str,
    /// `host:port`.
    pub address: String,
    pub user: String,
    pub outcome: Result<Reached, Unreachable>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reached {
    pub server_version: String,
    pub tls: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreachable {
    pub problem: String,
    pub hint: String,
}
