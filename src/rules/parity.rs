//! T6: server parameters the user changed on the source are set to the same value on the target, where
//! the target allows it; the others are listed with the reason. Pure.
//!
//! What counts as "changed by the user" is the source cluster group's `Source=user` parameters. On Aurora
//! that is the only place a user can change a server parameter (there is no ALTER SYSTEM); `pg_settings`
//! cannot tell a user's value from the ones RDS sets itself (memory and connection formulas show up as
//! `configuration file` too), and copying those would size the target like the source's instance class.
//! `pg_settings` supplies each parameter's unit, and the effective value where the group holds a formula.
//!
//! Values are compared normalised: numbers converted into the target parameter's unit (`8MB` on the
//! source and `8192` kB on the target are equal), booleans as on/off (`1` on RDS, `on` on Azure), other
//! values case-insensitively. A value the target cannot take (read-only there, outside `allowedValues`,
//! not expressible in its unit, or no such parameter) is shown as a pending change with the reason: it
//! does not block the migration (no premigration error covers parity) but the user should decide.

use super::Findings;
use super::target::configuration_address;
use crate::model::Observed;
use crate::model::cluster::Parameter;
use crate::model::extensions::Setting;
use crate::model::server::Configuration;
use crate::plan::file::Observation;
use crate::plan::operation::TargetOp;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::spec::Spec;

/// Source parameters never copied, by prefix: replication settings that the source rules (S3–S6) and
/// the migration service manage, Aurora- and RDS-only settings, TLS and log destinations that belong to
/// each platform, standby settings, and the preload libraries T5 derives from the extensions in use.
const EXCLUDED_PREFIXES: [&str; 12] = [
    "rds.",
    "aurora",
    "apg_",
    "wal_",
    "ssl",
    "archive_",
    "hot_standby",
    "max_standby_",
    "primary_",
    "recovery_",
    "syslog_",
    "log_rotation_",
];

/// Source parameters never copied, by name (see [`EXCLUDED_PREFIXES`]).
const EXCLUDED: [&str; 17] = [
    "max_replication_slots",
    "max_wal_senders",
    "max_logical_replication_workers",
    "shared_preload_libraries",
    "session_preload_libraries",
    "local_preload_libraries",
    "log_destination",
    "log_directory",
    "log_filename",
    "log_file_mode",
    "logging_collector",
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "unix_socket_permissions",
    "synchronous_standby_names",
    "password_encryption",
];

/// Source (RDS) name → target (Azure) name, for names that differ beyond letter case. Sources:
/// `rds.force_ssl` — AWS "Using SSL with a PostgreSQL DB instance" (RDS's switch for requiring TLS);
/// `require_secure_transport` — Azure "Server parameters in Azure Database for PostgreSQL" (the same
/// switch). Letter case alone (`timezone` in RDS groups, `TimeZone` on Azure; `datestyle`/`DateStyle`;
/// `intervalstyle`/`IntervalStyle`, see the configuration list example in the Azure REST spec) is matched
/// without a table entry.
const RENAMED: [(&str, &str); 1] = [("rds.force_ssl", "require_secure_transport")];

fn excluded(name: &str) -> bool {
    EXCLUDED.contains(&name) || EXCLUDED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The target's name for a source parameter, if the target has it.
fn target_configuration<'a>(observed: &'a Observed, source_name: &str) -> Option<&'a Configuration> {
    let lower = source_name.to_ascii_lowercase();
    let wanted = RENAMED.iter().find(|(from, _)| *from == lower).map_or(lower.as_str(), |(_, to)| to);
    observed
        .configurations
        .configuration(wanted)
        .or_else(|| observed.configurations.by_name.values().find(|c| c.name.eq_ignore_ascii_case(wanted)))
}

/// T6.
pub fn plan(spec: &Spec, observed: &Observed) -> Findings {
    let mut findings = Findings::default();
    let server = observed.server.name.as_str();
    let mut parameters: Vec<&Parameter> = observed.source.current.user_parameters.iter().collect();
    parameters.sort_by(|a, b| a.name.cmp(&b.name));
    let mut matched = Vec::new();
    for parameter in parameters {
        let lower = parameter.name.to_ascii_lowercase();
        let renamed = RENAMED.iter().any(|(from, _)| *from == lower);
        if !renamed && excluded(&lower) {
            continue;
        }
        let setting = observed.extensions.setting(&parameter.name);
        let Some((value, unit)) = source_value(parameter, setting) else {
            continue;
        };
        let source_address = Address::cluster(&spec.source.cluster).named("setting", &parameter.name);
        findings.observations.push(Observation::new(source_address, value.clone()));
        let Some(configuration) = target_configuration(observed, &parameter.name) else {
            findings.changes.push(unmatched(
                configuration_address(server, &parameter.name),
                &parameter.name,
                &value,
                None,
                "the target has no parameter of that name".into(),
            ));
            continue;
        };
        let address = configuration_address(server, &configuration.name);
        let current = configuration.value.clone().unwrap_or_default();
        findings.observations.push(Observation::new(address.clone(), current.clone()));
        let desired = match convert(&value, unit.as_deref(), configuration) {
            Ok(desired) => desired,
            Err(why) => {
                findings.changes.push(unmatched(address, &parameter.name, &value, Some(&current), why));
                continue;
            }
        };
        if same(&desired, &current, configuration) {
            matched.push(configuration.name.clone());
            continue;
        }
        if configuration.is_read_only {
            findings.changes.push(unmatched(
                address,
                &parameter.name,
                &value,
                Some(&current),
                "it is read-only on the target".into(),
            ));
            continue;
        }
        if let Err(why) = allowed(&desired, configuration) {
            findings.changes.push(unmatched(address, &parameter.name, &value, Some(&current), why));
            continue;
        }
        let mut change = Change::new(
            address,
            Action::Update,
            RuleId::T6,
            format!(
                "{} = {value} on the source{}; server parameters are not migrated, so the target is set to match",
                parameter.name,
                if configuration.is_dynamic { "" } else { " (static: takes effect with the restart)" }
            ),
        );
        change.before = Some(current);
        change.after = Some(desired.clone());
        change.operation =
            Some(Operation::Target(TargetOp::SetConfiguration { name: configuration.name.clone(), value: desired }));
        findings.changes.push(change);
    }
    if !matched.is_empty() {
        findings.checks.push(Check {
            address: Address::server(server).child("parameters"),
            rule: RuleId::T6,
            summary: format!("match the source: {}", matched.join(", ")),
        });
    }
    findings
}

/// A source value the target cannot take: shown, never applied, never blocking.
fn unmatched(address: Address, name: &str, value: &str, current: Option<&str>, why: String) -> Change {
    let mut change = Change::new(
        address,
        Action::Update,
        RuleId::T6,
        format!("{name} = {value} on the source cannot be matched on the target: {why}"),
    );
    change.before = current.map(String::from);
    change.after = Some(value.to_string());
    change.pending = Some(format!("the target cannot take {name} = {value}: {why}"));
    change.remedy = Some(format!(
        "decide whether the application relies on {name} = {value}; if so, set it per database or role \
         (ALTER DATABASE … SET / ALTER ROLE … SET) after the migration, or choose a value the target allows"
    ));
    change
}

/// The source's value and its unit: the group's value unless it is a formula (then `pg_settings`).
fn source_value(parameter: &Parameter, setting: Option<&Setting>) -> Option<(String, Option<String>)> {
    let unit = setting.and_then(|s| s.unit.clone());
    match parameter.value.as_deref().map(str::trim) {
        Some(value) if !is_formula(value) => Some((value.to_string(), unit)),
        _ => setting.map(|s| (s.setting.clone(), unit)),
    }
}

/// RDS formulas: `{DBInstanceClassMemory/32768}`, `GREATEST(...)`, `SUM(...)`, `$DBInstanceVCPU`.
fn is_formula(value: &str) -> bool {
    value.contains(['{', '(', '$'])
}

/// A unit as a multiple of its dimension's smallest unit (bytes, microseconds).
fn unit_factor(unit: &str) -> Option<(char, i128)> {
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "b" | "byte" | "bytes" => ('m', 1),
        "kb" => ('m', 1024),
        "8kb" => ('m', 8192),
        "16kb" => ('m', 16384),
        "mb" | "megabytes" => ('m', 1 << 20),
        "gb" | "gigabytes" => ('m', 1 << 30),
        "tb" => ('m', 1 << 40),
        "us" | "microseconds" => ('t', 1),
        "ms" | "milliseconds" => ('t', 1_000),
        "s" | "seconds" => ('t', 1_000_000),
        "min" | "minutes" => ('t', 60_000_000),
        "h" | "hours" => ('t', 3_600_000_000),
        "d" | "days" => ('t', 86_400_000_000),
        _ => return None,
    };
    Some(factor)
}

/// `8MB` → (8, Some("MB")); `4096` → (4096, None); anything else → None.
fn number_with_unit(value: &str) -> Option<(i128, Option<&str>)> {
    let value = value.trim();
    let split = value.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(value.len());
    let number = value[..split].parse::<i128>().ok()?;
    let suffix = value[split..].trim();
    Some((number, (!suffix.is_empty()).then_some(suffix)))
}

fn is_boolean(configuration: &Configuration) -> bool {
    configuration.data_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("Boolean"))
}

fn boolean(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Some(true),
        "off" | "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// The source value as the target writes it: in the target parameter's unit, booleans in its spelling.
fn convert(value: &str, source_unit: Option<&str>, configuration: &Configuration) -> Result<String, String> {
    if is_boolean(configuration) {
        let on = boolean(value).ok_or_else(|| format!("{value} is not a boolean"))?;
        let spelled_true = configuration.allowed_values.as_deref().is_some_and(|a| a.contains("true"));
        return Ok(match (on, spelled_true) {
            (true, true) => "true",
            (false, true) => "false",
            (true, false) => "on",
            (false, false) => "off",
        }
        .into());
    }
    let Some((number, suffix)) = number_with_unit(value) else {
        return Ok(value.trim().to_string());
    };
    // Without a unit on the target the value is in PostgreSQL's base unit, the same as pg_settings'.
    let target_unit = configuration.unit.as_deref().or(source_unit);
    let from = suffix.or(source_unit).and_then(unit_factor);
    let to = target_unit.and_then(unit_factor);
    // -1 and 0 usually mean "off" or "default" and are written the same in every unit.
    if number == 0 || number == -1 {
        return match suffix {
            Some(_) if from.is_none() => Err(format!("unknown unit in {value}")),
            _ => Ok(number.to_string()),
        };
    }
    match (from, to) {
        (Some((from_kind, from)), Some((to_kind, to))) if from_kind == to_kind => {
            let base = number * from;
            if base % to != 0 {
                return Err(format!(
                    "{value} is not a whole number of the target's unit ({})",
                    target_unit.unwrap_or_default()
                ));
            }
            Ok((base / to).to_string())
        }
        (Some(_), Some(_)) => Err(format!("{value} is not in a unit the target's parameter is measured in")),
        (None, _) if suffix.is_some() => Err(format!("unknown unit in {value}")),
        _ => Ok(number.to_string()),
    }
}

/// Whether the target already has the desired value.
fn same(desired: &str, current: &str, configuration: &Configuration) -> bool {
    if is_boolean(configuration) {
        return boolean(desired).is_some() && boolean(desired) == boolean(current);
    }
    match (number_with_unit(desired), number_with_unit(current)) {
        (Some((a, None)), Some((b, None))) => a == b,
        _ => desired.trim().eq_ignore_ascii_case(current.trim()),
    }
}

/// Whether `allowedValues` admits the value: a range for numbers, a list for enumerations and sets, a
/// simple character class for strings. Anything else is left to the server to judge.
fn allowed(value: &str, configuration: &Configuration) -> Result<(), String> {
    let Some(allowed) = configuration.allowed_values.as_deref().map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(());
    };
    let data_type = configuration.data_type.as_deref().unwrap_or_default().to_ascii_lowercase();
    let outside = || Err(format!("{value} is outside the target's allowed values ({allowed})"));
    match data_type.as_str() {
        "integer" | "numeric" => {
            let Ok(number) = value.trim().parse::<f64>() else {
                return Err(format!("{value} is not a number"));
            };
            let ranges: Vec<(f64, f64)> = allowed.split(',').filter_map(range).collect();
            if ranges.is_empty() || ranges.iter().any(|(low, high)| (*low..=*high).contains(&number)) {
                Ok(())
            } else {
                outside()
            }
        }
        "enumeration" | "set" => {
            let options: Vec<&str> = allowed.split(',').map(str::trim).collect();
            let ok = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty() || data_type == "enumeration")
                .all(|v| options.iter().any(|o| o.eq_ignore_ascii_case(v)));
            if ok { Ok(()) } else { outside() }
        }
        "string" => {
            if character_class(allowed).is_none_or(|matches| matches(value)) {
                Ok(())
            } else {
                outside()
            }
        }
        _ => Ok(()),
    }
}

/// `low-high`, where either end may be negative (`-1-2147483647`).
fn range(text: &str) -> Option<(f64, f64)> {
    let text = text.trim();
    let split = text.char_indices().skip(1).find(|(_, c)| *c == '-').map(|(i, _)| i)?;
    Some((text[..split].trim().parse().ok()?, text[split + 1..].trim().parse().ok()?))
}

/// A matcher for patterns of the form `[class]*` or `[class]+` (e.g. `[A-Za-z0-9/+_-]+`); `None` for
/// any other pattern, which the server checks itself when the value is written.
fn character_class(pattern: &str) -> Option<impl Fn(&str) -> bool> {
    let (body, at_least_one) =
        if let Some(body) = pattern.strip_suffix('+') { (body, true) } else { (pattern.strip_suffix('*')?, false) };
    let class: Vec<char> = body.strip_prefix('[')?.strip_suffix(']')?.chars().collect();
    if class.first() == Some(&'^') {
        return None;
    }
    let mut singles = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            spans.push((class[i], class[i + 2]));
            i += 3;
        } else {
            singles.push(class[i]);
            i += 1;
        }
    }
    Some(move |value: &str| {
        (!at_least_one || !value.is_empty())
            && value.chars().all(|c| singles.contains(&c) || spans.iter().any(|(a, b)| (*a..=*b).contains(&c)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configuration(name: &str, data_type: &str, allowed: &str, unit: Option<&str>) -> Configuration {
        Configuration {
            name: name.into(),
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

    #[test]
    fn values_are_converted_into_the_targets_unit() {
        let work_mem = configuration("work_mem", "Integer", "4096-2097151", Some("KB"));
        assert_eq!(convert("8MB", None, &work_mem), Ok("8192".into()));
        assert_eq!(convert("8192", Some("kB"), &work_mem), Ok("8192".into()));
        assert!(convert("1500B", None, &work_mem).is_err());
        let timeout = configuration("statement_timeout", "Integer", "0-2147483647", Some("milliseconds"));
        assert_eq!(convert("30s", None, &timeout), Ok("30000".into()));
        assert_eq!(convert("0", Some("ms"), &timeout), Ok("0".into()));
        assert!(convert("30MB", None, &timeout).is_err());
        let unitless = configuration("checkpoint_timeout", "Integer", "30-86400", None);
        assert_eq!(convert("5min", Some("s"), &unitless), Ok("300".into()));
    }

    #[test]
    fn booleans_take_the_targets_spelling() {
        let jit = configuration("jit", "Boolean", "on, off", None);
        assert_eq!(convert("1", None, &jit), Ok("on".into()));
        assert!(same("on", "ON", &jit) && !same("on", "off", &jit));
        let bouncer = configuration("pgbouncer.enabled", "Boolean", "true, false", None);
        assert_eq!(convert("0", None, &bouncer), Ok("false".into()));
    }

    #[test]
    fn allowed_values_are_ranges_lists_or_classes() {
        let range = configuration("x", "Integer", "-1-2147483647", None);
        assert!(allowed("-1", &range).is_ok() && allowed("-2", &range).is_err());
        let work_mem = configuration("work_mem", "Integer", "4096-2097151", None);
        assert!(allowed("1024", &work_mem).is_err());
        let enumeration = configuration("plan_cache_mode", "Enumeration", "auto,force_generic_plan", None);
        assert!(allowed("force_generic_plan", &enumeration).is_ok() && allowed("never", &enumeration).is_err());
        let zone = configuration("TimeZone", "String", "[A-Za-z0-9/+_-]+", None);
        assert!(allowed("Europe/Berlin", &zone).is_ok() && allowed("Europe Berlin", &zone).is_err());
        let anything = configuration("search_path", "String", ".*", None);
        assert!(allowed("\"$user\", public", &anything).is_ok());
    }

    #[test]
    fn formulas_fall_back_to_pg_settings() {
        let parameter = |value: Option<&str>| Parameter {
            name: "shared_buffers".into(),
            value: value.map(Into::into),
            source: Some("user".into()),
            apply_type: crate::model::cluster::ApplyType::Static,
            data_type: None,
            allowed_values: None,
            is_modifiable: true,
        };
        let setting = Setting {
            name: "shared_buffers".into(),
            setting: "16384".into(),
            unit: Some("8kB".into()),
            vartype: "integer".into(),
            source: "configuration file".into(),
        };
        assert_eq!(
            source_value(&parameter(Some("{DBInstanceClassMemory/32768}")), Some(&setting)),
            Some(("16384".into(), Some("8kB".into())))
        );
        assert_eq!(source_value(&parameter(Some("2048")), Some(&setting)), Some(("2048".into(), Some("8kB".into()))));
        assert_eq!(source_value(&parameter(None), None), None);
    }

    #[test]
    fn replication_and_rds_only_parameters_are_left_out() {
        for name in ["rds.logical_replication", "wal_sender_timeout", "max_wal_senders", "ssl_ciphers", "aurora_x"] {
            assert!(excluded(name), "{name}");
        }
        assert!(!excluded("work_mem") && !excluded("timezone"));
    }
}
