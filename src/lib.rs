//! migprep gets an Aurora PostgreSQL cluster and an Azure Database for PostgreSQL flexible server ready
//! for an online migration with Azure's migration service.
//!
//! The code follows one shape: **observe** the live systems ([`observe`], all I/O, concurrent), **diff**
//! the observations against the spec ([`rules`], pure), **render** the resulting [`plan::Plan`]
//! ([`render`], pure), and **apply** it ([`apply`], journaled). [`spec`] turns the user's TOML into
//! validated values; [`cli`] holds the command line and [`run`] ties the pieces together; [`validate`]
//! asks Azure's migration service for its own verdict and sets it beside the plan.

pub mod apply;
pub mod cli;
pub mod clients;
pub mod digest;
pub mod error;
pub mod model;
pub mod observe;
pub mod plan;
pub mod poll;
pub mod render;
pub mod rules;
pub mod run;
pub mod secret;
pub mod settings;
pub mod spec;
pub mod text;
pub mod tls;
pub mod validate;
