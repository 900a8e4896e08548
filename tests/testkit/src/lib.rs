//! The stand-ins migprep's tests and demo run against: real PostgreSQL servers set up like Aurora and like
//! an Azure flexible server, moto behind an RDS fidelity layer (or alone), a fake Azure Resource Manager,
//! gateways in front of the PostgreSQL servers that check RDS IAM and Entra tokens, and an untrusted fake
//! PostgreSQL server that records what a client gives away.
//!
//! Everything here binds to loopback only and cleans up after itself when dropped.

pub mod arm;
pub mod azurite;
pub mod delay;
pub mod entra_token;
pub mod fake_pg;
pub mod gateway;
pub mod listener;
pub mod postgres;
pub mod proxy;
pub mod rds;
pub mod scenario;
pub mod secrets;
pub mod terminal;
pub mod tls;
