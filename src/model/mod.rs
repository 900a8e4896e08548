//! The observed world as plain data: what the rules read. `observe` fills it through the clients; nothing
//! here does I/O, and no SDK or wire type appears here.

pub mod cluster;
pub mod endpoints;
pub mod extensions;
pub mod migration;
pub mod roles;
pub mod server;
pub mod sizing;
pub mod source;

pub use cluster::Cluster;
pub use endpoints::EndpointObservation;
pub use extensions::Extensions;
pub use roles::RoleCatalog;
pub use server::{Configurations, Replica, Server};
pub use sizing::Sizing;
pub use source::Source;

/// Everything observed for one plan.
#[derive(Clone, Debug)]
pub struct Observed {
    pub cluster: Cluster,
    pub server: Server,
    pub replicas: Vec<Replica>,
    /// N1: what connecting to each database showed, source first.
    pub endpoints: Vec<EndpointObservation>,
    /// S2–S10: the parameter groups and SQL on the writer.
    pub source: Source,
    /// The flexible server's parameters.
    pub configurations: Configurations,
    /// T4–T6: extensions and parameters across both sides.
    pub extensions: Extensions,
    /// T7–T8: roles on both sides and the target's migration user.
    pub roles: RoleCatalog,
    /// T9–T10: compute and storage on both sides.
    pub sizing: Sizing,
}
