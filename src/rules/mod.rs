//! The prerequisites, as pure functions from the spec and the observed state to plan changes and checks.
//! No I/O, no clock, no async: same inputs, same plan, in the same order.

pub mod network;
