//! Helpers the test files share: `arm` for the fake ARM's tests (`arm_*.rs`), `rds` for the RDS stand-in's
//! (`rds_*.rs`). Every test file compiles the whole module and uses only part of it, hence the `dead_code`
//! allowance.

#![allow(dead_code)]

pub mod arm;
pub mod rds;
