//! How T6 reads a server parameter's value and writes it the way the target takes it. Pure.
//!
//! The kind of a value comes from the target's `dataType` (what it will accept), else the source's
//! `pg_settings.vartype`. Equality follows PostgreSQL's own parsing:
//! - numbers carry a unit: a value without one is in the parameter's unit (`pg_settings.unit` on the
//!   source, `unit` on the target); `8MB`, `8192kB` and `8192` in kB are one value. Fractions and
//!   exponents are numbers too (`0.1` = `0.10` = `1e-1`); an integer parameter takes only a whole number
//!   of its unit, and a value that is not is refused rather than rounded (PostgreSQL would round, and the
//!   user should see that happen);
//! - booleans are `on`/`off`, `true`/`false`, `yes`/`no`, `1`/`0`, and the unambiguous prefixes
//!   PostgreSQL accepts (`t`, `of`);
//! - enumerations are compared without letter case, and written as the target's `allowedValues` spells
//!   them; a boolean spelling of an on/off member (`1` for `on`) is that member;
//! - sets are compared as sets of comma-separated members; other strings without letter case.
//!
//! Reals are written normalised, as the shortest decimal that reads back as the same number and never
//! with an exponent (`0.10` and `1e-1` are sent as `0.1`): one spelling for plan, apply and the next
//! plan, and one every parser accepts.

use crate::model::server::Configuration;

/// What a value is, as far as comparing and writing it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Boolean,
    Integer,
    Real,
    Enumeration,
    Set,
    Text,
}

impl Kind {
    /// From the target's `dataType`, else from the source's `vartype` (`bool`, `integer`, `real`,
    /// `enum`, `string`).
    pub(super) fn of(data_type: Option<&str>, vartype: Option<&str>) -> Self {
        let data_type = data_type.map(str::to_ascii_lowercase);
        match data_type.as_deref() {
            Some("boolean") => Kind::Boolean,
            Some("integer") => Kind::Integer,
            Some("numeric") => Kind::Real,
            Some("enumeration") => Kind::Enumeration,
            Some("set") => Kind::Set,
            Some("string") => Kind::Text,
            _ => match vartype {
                Some("bool") => Kind::Boolean,
                Some("integer") => Kind::Integer,
                Some("real") => Kind::Real,
                Some("enum") => Kind::Enumeration,
                _ => Kind::Text,
            },
        }
    }
}

/// The source side of a value: its parameter's unit and type in `pg_settings`, when known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SourceType<'a> {
    pub unit: Option<&'a str>,
    pub vartype: Option<&'a str>,
}

/// The source's value as the target takes it: in the target parameter's unit, booleans and
/// enumerations in its spelling, reals normalised. `Err` says why it cannot be expressed there.
pub(super) fn convert(value: &str, source: SourceType, configuration: &Configuration) -> Result<String, String> {
    let value = value.trim();
    let allowed = configuration.allowed_values.as_deref().unwrap_or_default();
    match Kind::of(configuration.data_type.as_deref(), source.vartype) {
        Kind::Boolean => {
            let on = boolean(value).ok_or_else(|| format!("{value} is not a boolean"))?;
            let spelled_true = allowed.to_ascii_lowercase().contains("true");
            Ok(match (on, spelled_true) {
                (true, true) => "true",
                (false, true) => "false",
                (true, false) => "on",
                (false, false) => "off",
            }
            .into())
        }
        kind @ (Kind::Integer | Kind::Real) => {
            let target_unit = configuration.unit.as_deref();
            let number = in_unit(value, source.unit, target_unit)?;
            if kind == Kind::Real {
                return Ok(real(number));
            }
            whole(number).map(|n| n.to_string()).ok_or_else(|| match target_unit.or(source.unit) {
                Some(unit) => format!("{value} is not a whole number of the target's unit ({unit})"),
                None => format!("{value} is not a whole number"),
            })
        }
        Kind::Enumeration => Ok(member(value, allowed).unwrap_or(value).to_string()),
        Kind::Set => Ok(set_members(value).join(",")),
        Kind::Text => Ok(value.to_string()),
    }
}

/// Whether the target's current value already is the desired one (both as the target writes them).
pub(super) fn same(desired: &str, current: &str, kind: Kind, unit: Option<&str>) -> bool {
    match kind {
        Kind::Boolean => boolean(desired).is_some_and(|d| boolean(current) == Some(d)),
        Kind::Integer | Kind::Real => match (in_unit(desired, unit, unit), in_unit(current, unit, unit)) {
            (Ok(a), Ok(b)) => close(a, b),
            _ => desired.trim().eq_ignore_ascii_case(current.trim()),
        },
        Kind::Enumeration => {
            desired.trim().eq_ignore_ascii_case(current.trim())
                || boolean(desired).is_some_and(|d| boolean(current) == Some(d))
        }
        Kind::Set => {
            let sorted = |value: &str| {
                let mut members: Vec<String> = set_members(value).iter().map(|m| m.to_ascii_lowercase()).collect();
                members.sort();
                members.dedup();
                members
            };
            sorted(desired) == sorted(current)
        }
        Kind::Text => desired.trim().eq_ignore_ascii_case(current.trim()),
    }
}

/// PostgreSQL's boolean spellings: `on`, `off`, `1`, `0`, and `true`, `false`, `yes`, `no` or any
/// prefix of them (`of` for `off`, `o` alone being ambiguous).
pub(super) fn boolean(value: &str) -> Option<bool> {
    let value = value.trim().to_ascii_lowercase();
    match value.as_str() {
        "" | "o" => None,
        "1" | "on" => Some(true),
        "0" | "of" | "off" => Some(false),
        _ if "true".starts_with(&value) || "yes".starts_with(&value) => Some(true),
        _ if "false".starts_with(&value) || "no".starts_with(&value) => Some(false),
        _ => None,
    }
}

/// The member of an enumeration's `allowedValues` that `value` names: the same word in any letter case,
/// or the on/off member a boolean spelling stands for.
fn member<'a>(value: &str, allowed: &'a str) -> Option<&'a str> {
    let members = || allowed.split(',').map(str::trim);
    members().find(|m| m.eq_ignore_ascii_case(value)).or_else(|| {
        let on = boolean(value)?;
        members().find(|m| boolean(m) == Some(on) && !m.chars().all(|c| c.is_ascii_digit()))
    })
}

/// The members of a comma-separated list, trimmed, empty ones dropped.
fn set_members(value: &str) -> Vec<&str> {
    value.split(',').map(str::trim).filter(|m| !m.is_empty()).collect()
}

/// The dimension of a unit and its size in the dimension's smallest unit (bytes, microseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dimension {
    Memory,
    Time,
}

/// PostgreSQL's unit names (`kB`, `8kB`, `ms`, `min`) and Azure's (`KB`, `8KB`, `milliseconds`).
fn unit_factor(unit: &str) -> Option<(Dimension, f64)> {
    use Dimension::{Memory, Time};
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "b" | "byte" | "bytes" => (Memory, 1.0),
        "kb" => (Memory, 1024.0),
        "8kb" => (Memory, 8192.0),
        "16kb" => (Memory, 16384.0),
        "32kb" => (Memory, 32768.0),
        "mb" | "megabytes" => (Memory, 1_048_576.0),
        "gb" | "gigabytes" => (Memory, 1_073_741_824.0),
        "tb" | "terabytes" => (Memory, 1_099_511_627_776.0),
        "us" | "microseconds" => (Time, 1.0),
        "ms" | "milliseconds" => (Time, 1e3),
        "s" | "seconds" => (Time, 1e6),
        "min" | "minutes" => (Time, 60e6),
        "h" | "hours" => (Time, 3_600e6),
        "d" | "days" => (Time, 86_400e6),
        _ => return None,
    };
    Some(factor)
}

/// A number with an optional unit written after it: `8MB` → (8, `MB`), `0.1` → (0.1, none),
/// `1e-1` → (0.1, none). `None` when the value does not start with a number.
fn number_with_unit(value: &str) -> Option<(f64, Option<&str>)> {
    let value = value.trim();
    let bytes = value.as_bytes();
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut end = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let start = end;
    end = digits(end);
    if bytes.get(end) == Some(&b'.') {
        end = digits(end + 1);
    }
    if end == start || &value[start..end] == "." {
        return None;
    }
    // An exponent only when digits follow it (no PostgreSQL unit starts with `e`).
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'-' | b'+')));
        let after = digits(end + 1 + sign);
        if after > end + 1 + sign {
            end = after;
        }
    }
    let number: f64 = value[..end].parse().ok().filter(|n: &f64| n.is_finite())?;
    let suffix = value[end..].trim();
    Some((number, (!suffix.is_empty()).then_some(suffix)))
}

/// `value` in `target_unit`. A value without a unit is in `source_unit`; a parameter without a unit on
/// the target is in PostgreSQL's base unit, which is the source's too. A unit migprep does not know
/// (Azure's `percentage`) is taken as it is, without conversion.
fn in_unit(value: &str, source_unit: Option<&str>, target_unit: Option<&str>) -> Result<f64, String> {
    let (number, suffix) = number_with_unit(value).ok_or_else(|| format!("{value} is not a number"))?;
    if suffix.is_none() && number == -1.0 {
        // -1 means "off" or "use another setting" and is written the same in every unit.
        return Ok(number);
    }
    let from = suffix.or(source_unit);
    let to = target_unit.or(source_unit);
    match (from.map(|u| (u, unit_factor(u))), to.and_then(|u| Some((u, unit_factor(u)?)))) {
        (Some((_, Some((from_dimension, from)))), Some((to_name, (to_dimension, to)))) => {
            if from_dimension == to_dimension {
                Ok(number * from / to)
            } else {
                Err(format!("{value} is not in a unit the target's parameter is measured in ({to_name})"))
            }
        }
        (Some((unit, None)), _) if suffix.is_some() => Err(format!("unknown unit {unit} in {value}")),
        (Some((_, Some(_))), None) if suffix.is_some() => {
            Err(format!("{value} has a unit, but the target's parameter is a plain number"))
        }
        _ => Ok(number),
    }
}

/// The integer `number` is, if it is one (within floating-point noise).
fn whole(number: f64) -> Option<i64> {
    let rounded = number.round();
    (close(number, rounded) && rounded.abs() < 9.0e15).then_some(rounded as i64)
}

/// Equal up to floating-point noise from a unit conversion.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// A real as the shortest decimal that reads back as the same number, never with an exponent.
fn real(number: f64) -> String {
    if number == 0.0 { "0".into() } else { number.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configuration(data_type: &str, allowed: &str, unit: Option<&str>) -> Configuration {
        Configuration {
            name: "p".into(),
            value: None,
            default_value: None,
            data_type: Some(data_type.into()),
            allowed_values: Some(allowed.into()),
            is_dynamic: true,
            is_read_only: false,
            is_pending_restart: false,
            source: None,
            unit: unit.map(Into::into),
        }
    }

    fn source(unit: Option<&'static str>, vartype: &'static str) -> SourceType<'static> {
        SourceType { unit, vartype: Some(vartype) }
    }

    /// (source value, source unit, source vartype, target dataType, target unit, expected).
    type Case = (
        &'static str,
        Option<&'static str>,
        &'static str,
        &'static str,
        Option<&'static str>,
        Result<&'static str, &'static str>,
    );

    #[test]
    fn values_are_written_in_the_targets_unit_and_spelling() {
        let cases: &[Case] = &[
            // Integers with units: the source's unit when the value has none.
            ("8MB", None, "integer", "Integer", Some("KB"), Ok("8192")),
            ("8192kB", None, "integer", "Integer", Some("KB"), Ok("8192")),
            ("8192", Some("kB"), "integer", "Integer", Some("KB"), Ok("8192")),
            ("1GB", Some("kB"), "integer", "Integer", Some("KB"), Ok("1048576")),
            ("0.5MB", Some("kB"), "integer", "Integer", Some("KB"), Ok("512")),
            ("16384", Some("8kB"), "integer", "Integer", Some("8KB"), Ok("16384")),
            ("30s", Some("ms"), "integer", "Integer", Some("milliseconds"), Ok("30000")),
            ("30000", Some("ms"), "integer", "Integer", Some("milliseconds"), Ok("30000")),
            ("5min", Some("s"), "integer", "Integer", None, Ok("300")),
            ("1h", Some("min"), "integer", "Integer", Some("minutes"), Ok("60")),
            ("0", Some("ms"), "integer", "Integer", Some("milliseconds"), Ok("0")),
            ("-1", Some("kB"), "integer", "Integer", Some("8KB"), Ok("-1")),
            ("1500B", None, "integer", "Integer", Some("KB"), Err("not a whole number of the target's unit (KB)")),
            ("30MB", None, "integer", "Integer", Some("milliseconds"), Err("not in a unit")),
            ("30parsecs", Some("ms"), "integer", "Integer", Some("milliseconds"), Err("unknown unit parsecs")),
            ("eight", Some("kB"), "integer", "Integer", Some("KB"), Err("eight is not a number")),
            // Reals: numeric equality, written normalised; a real in ms onto Azure's integer ms.
            ("0.1", None, "real", "Numeric", None, Ok("0.1")),
            ("0.10", None, "real", "Numeric", None, Ok("0.1")),
            ("1e-1", None, "real", "Numeric", None, Ok("0.1")),
            ("1e-05", None, "real", "Numeric", None, Ok("0.00001")),
            ("0.05", None, "real", "Numeric", None, Ok("0.05")),
            (".9", None, "real", "Numeric", None, Ok("0.9")),
            ("2", None, "real", "Numeric", None, Ok("2")),
            ("2", Some("ms"), "real", "Integer", Some("milliseconds"), Ok("2")),
            ("0.5", Some("ms"), "real", "Integer", Some("milliseconds"), Err("not a whole number")),
            ("2000us", Some("ms"), "real", "Integer", Some("milliseconds"), Ok("2")),
            // Booleans: PostgreSQL's spellings and prefixes, in the target's spelling.
            ("1", None, "bool", "Boolean", None, Ok("on")),
            ("yes", None, "bool", "Boolean", None, Ok("on")),
            ("t", None, "bool", "Boolean", None, Ok("on")),
            ("OF", None, "bool", "Boolean", None, Ok("off")),
            ("maybe", None, "bool", "Boolean", None, Err("not a boolean")),
            // Enumerations in the allowed list's spelling; strings as they are.
            ("FORCE_GENERIC_PLAN", None, "enum", "Enumeration", None, Ok("force_generic_plan")),
            ("1", None, "enum", "Enumeration", None, Ok("on")),
            ("Europe/Berlin", None, "string", "String", None, Ok("Europe/Berlin")),
            (" ddl , role ", None, "string", "Set", None, Ok("ddl,role")),
        ];
        for (value, unit, vartype, data_type, target_unit, expected) in cases {
            let allowed = match *data_type {
                "Boolean" => "on,off",
                "Enumeration" => "auto,force_generic_plan,force_custom_plan,on,off",
                _ => "",
            };
            let got = convert(value, source(*unit, vartype), &configuration(data_type, allowed, *target_unit));
            match expected {
                Ok(expected) => {
                    assert_eq!(got.as_deref(), Ok(*expected), "{value} {unit:?} → {data_type} {target_unit:?}")
                }
                Err(why) => {
                    let got = got.expect_err(value);
                    assert!(got.contains(why), "{value}: {got}");
                }
            }
        }
        let bouncer = configuration("Boolean", "true, false", None);
        assert_eq!(convert("0", SourceType::default(), &bouncer), Ok("false".into()));
    }

    #[test]
    fn equality_is_type_and_unit_aware() {
        let cases: &[(&str, &str, Kind, Option<&str>, bool)] = &[
            ("8192", "8192", Kind::Integer, Some("KB"), true),
            ("8192", "8MB", Kind::Integer, Some("KB"), true),
            ("8192", "4096", Kind::Integer, Some("KB"), false),
            ("0.1", "0.10", Kind::Real, None, true),
            ("0.1", "1e-1", Kind::Real, None, true),
            ("0.1", "0.2", Kind::Real, None, false),
            ("on", "true", Kind::Boolean, None, true),
            ("on", "1", Kind::Boolean, None, true),
            ("on", "ON", Kind::Boolean, None, true),
            ("on", "off", Kind::Boolean, None, false),
            ("force_generic_plan", "FORCE_GENERIC_PLAN", Kind::Enumeration, None, true),
            ("on", "true", Kind::Enumeration, None, true),
            ("auto", "force_generic_plan", Kind::Enumeration, None, false),
            ("ddl,role", "ROLE, ddl", Kind::Set, None, true),
            ("ddl", "ddl,role", Kind::Set, None, false),
            ("UTC", "utc", Kind::Text, None, true),
            ("Europe/Berlin", "UTC", Kind::Text, None, false),
        ];
        for (desired, current, kind, unit, expected) in cases {
            assert_eq!(same(desired, current, *kind, *unit), *expected, "{desired} vs {current} ({kind:?})");
        }
    }

    #[test]
    fn the_kind_is_the_targets_else_the_sources() {
        assert_eq!(Kind::of(Some("Numeric"), Some("integer")), Kind::Real);
        assert_eq!(Kind::of(Some("Integer"), Some("real")), Kind::Integer);
        assert_eq!(Kind::of(None, Some("real")), Kind::Real);
        assert_eq!(Kind::of(None, Some("bool")), Kind::Boolean);
        assert_eq!(Kind::of(None, None), Kind::Text);
    }
}
