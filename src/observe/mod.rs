//! Providers: one per system, each reading its system into plain Rust values. SDK types, ARM JSON and
//! database rows never leave their provider. Everything here does I/O; nothing here decides anything.

pub mod aws;
pub mod azure;
pub mod postgres;
