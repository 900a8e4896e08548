//! One client per system, each reading AND writing it: [`rds`] (the RDS API), [`arm`] (Azure Resource
//! Manager), [`postgres`] (SQL on either database), [`secrets`] (a password in AWS Secrets Manager) and
//! [`store`] (the shared state backends: an S3 bucket, an Azure Blob container). Clients translate between
//! the wire and the plain
//! [`crate::model`]; SDK and wire types never leave their folder, and no client decides anything.

pub mod arm;
pub mod postgres;
pub mod rds;
pub mod secrets;
pub mod store;

use crate::model::server::ServerId;
use crate::tls::Trust;
use postgres::Endpoint;

/// The cloud clients of one run, built once from the spec and the settings. The RDS and ARM clients may
/// be shared with other specs of the same run (one AWS configuration per profile and region, one Azure
/// credential and token cache per cloud).
pub struct Clients {
    pub trust: Trust,
    pub rds: std::sync::Arc<rds::Rds>,
    pub arm: std::sync::Arc<arm::Arm>,
    /// The flexible server the spec names.
    pub server: ServerId,
}

/// Where the two databases are, once observation has found their addresses.
#[derive(Clone, Debug)]
pub struct Databases {
    pub source: Endpoint,
    pub target: Endpoint,
}
