//! What connecting to each database showed (N1). Plain data, no I/O.

/// Which database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// What connecting to one endpoint showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointObservation {
    pub side: Side,
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
