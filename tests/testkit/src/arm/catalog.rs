//! The server-parameter catalog every fake flexible server starts from, and the rules a parameter write
//! must pass.
//!
//! `catalog.json` holds the 415 parameters of the official `ConfigurationsListByServer.json` example
//! (api-version 2025-08-01, a PostgreSQL 13 server), reduced to `name` plus the `properties` fields, in
//! the example's order. It is embedded so the fake (and the demo built on it) never reads `shared/` at run
//! time. Validation follows what the catalog itself declares: `allowedValues` is a comma list for
//! `Boolean`, `Enumeration` and `Set`, a `low-high` range for `Integer` and `Numeric`, and a regular
//! expression for `String`.

use serde::Deserialize;
use std::sync::OnceLock;

/// One parameter as the catalog describes it (the static part of a `Configuration`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Parameter {
    pub name: String,
    /// The value a fresh server reports (not always `defaultValue`: Azure pre-sets some).
    pub value: String,
    pub description: String,
    pub default_value: String,
    pub data_type: String,
    pub allowed_values: String,
    /// `system-default` or `user-override` on a fresh server.
    pub source: String,
    pub is_dynamic_config: bool,
    pub is_read_only: bool,
    /// Always false in the catalog; pending restarts are tracked per server.
    #[serde(rename = "isConfigPendingRestart")]
    _is_config_pending_restart: bool,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub documentation_link: Option<String>,
}

/// All parameters, in the order ARM lists them.
pub(crate) fn parameters() -> &'static [Parameter] {
    static CATALOG: OnceLock<Vec<Parameter>> = OnceLock::new();
    CATALOG
        .get_or_init(|| serde_json::from_str(include_str!("catalog.json")).expect("the embedded catalog.json is valid"))
}

/// Checks `value` against the parameter's `allowedValues` and returns the value as the server stores it
/// (list entries trimmed, boolean and enumeration spellings taken from `allowedValues`), or why it is
/// refused.
pub(crate) fn normalize_value(parameter: &Parameter, value: &str) -> Result<String, String> {
    let allowed = parameter.allowed_values.as_str();
    match parameter.data_type.as_str() {
        "Boolean" | "Enumeration" => allowed
            .split(',')
            .map(str::trim)
            .find(|choice| choice.eq_ignore_ascii_case(value.trim()))
            .map(str::to_owned)
            .ok_or_else(|| format!("'{value}' is not one of the allowed values '{allowed}'")),
        "Integer" => {
            let number: i64 = value.trim().parse().map_err(|_| format!("'{value}' is not an integer"))?;
            let inside = ranges(allowed).any(|(low, high)| {
                matches!((low.parse::<i64>(), high.parse::<i64>()), (Ok(low), Ok(high)) if (low..=high).contains(&number))
            });
            inside
                .then(|| number.to_string())
                .ok_or_else(|| format!("{number} is outside the allowed range '{allowed}'"))
        }
        "Numeric" => {
            let number: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| format!("'{value}' is not a number"))?;
            let inside = ranges(allowed).any(|(low, high)| {
                matches!((low.parse::<f64>(), high.parse::<f64>()), (Ok(low), Ok(high)) if low <= number && number <= high)
            });
            inside
                .then(|| value.trim().to_owned())
                .ok_or_else(|| format!("{value} is outside the allowed range '{allowed}'"))
        }
        "Set" => {
            let members: Vec<&str> = allowed.split(',').map(str::trim).collect();
            if value.trim().is_empty() {
                // A leading comma in allowedValues (",age,anon,…") is how Azure says "empty is allowed".
                return if members.contains(&"") {
                    Ok(String::new())
                } else {
                    Err(format!("an empty value is not allowed; allowed values are '{allowed}'"))
                };
            }
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            let refused: Vec<&str> =
                items.iter().copied().filter(|item| item.is_empty() || !members.contains(item)).collect();
            if refused.is_empty() {
                Ok(items.join(","))
            } else {
                Err(format!("'{}' not in the allowed values '{allowed}'", refused.join(",")))
            }
        }
        "String" => match regex_lite::Regex::new(&format!("^(?:{allowed})$")) {
            Ok(pattern) if !pattern.is_match(value) => {
                Err(format!("'{value}' does not match the allowed pattern '{allowed}'"))
            }
            // A pattern regex-lite can't compile is treated as "anything goes" rather than refusing all.
            _ => Ok(value.to_owned()),
        },
        _ => Ok(value.to_owned()),
    }
}

/// The `low-high` ranges of an `allowedValues` string such as `-1-2147483647` or `0-1.79769e+308`: the
/// separator is the first `-` that follows a digit or a dot (so a leading minus or an exponent's sign is
/// part of a bound).
fn ranges(allowed: &str) -> impl Iterator<Item = (&str, &str)> {
    allowed.split(',').filter_map(|range| {
        let range = range.trim();
        let bytes = range.as_bytes();
        (1..bytes.len())
            .find(|&i| bytes[i] == b'-' && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.'))
            .map(|i| (&range[..i], &range[i + 1..]))
    })
}
