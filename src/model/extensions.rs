//! What the extension and parameter-parity rules (T4–T6) read from the source: each selected database's
//! extensions and the writer's `pg_settings`. Plain data, no I/O.

use std::collections::BTreeMap;

/// What T4–T6 observed on the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extensions {
    /// One entry per selected database, in the spec's order.
    pub databases: Vec<DatabaseExtensions>,
    /// `pg_settings` on the writer by lower-case name; `Err` (why) when it could not be read.
    pub settings: Result<BTreeMap<String, Setting>, String>,
}

/// The extensions of one source database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatabaseExtensions {
    pub name: String,
    /// `pg_extension.extname`, sorted.
    pub extensions: Vec<String>,
    /// Why the database could not be read, if it could not.
    pub problem: Option<String>,
}

/// One `pg_settings` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// As PostgreSQL spells it (`TimeZone`).
    pub name: String,
    /// In the base unit ([`Setting::unit`]).
    pub setting: String,
    /// `kB`, `8kB`, `ms`, `s`, `min`, … or `None` for unitless parameters.
    pub unit: Option<String>,
    /// `bool`, `integer`, `real`, `string`, `enum`.
    pub vartype: String,
    /// Where the value comes from (`default`, `configuration file`, `client`, …).
    pub source: String,
    /// PostgreSQL's built-in default (`boot_val`), in the same unit; `None` for a placeholder of a
    /// library that is not loaded.
    pub boot_value: Option<String>,
}

impl Default for Extensions {
    /// Nothing observed: no databases, and no `pg_settings` (so T6 falls back to the group's values).
    fn default() -> Self {
        Self { databases: Vec::new(), settings: Err("not read".into()) }
    }
}

impl Extensions {
    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.settings.as_ref().ok()?.get(&name.to_ascii_lowercase())
    }
}
