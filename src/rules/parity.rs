//! T6: the server parameters the source runs with a value of its own are set to the same value on the
//! target, where the target takes it; the others are listed with the reason. Pure.
//!
//! What the source runs is the writer's `pg_settings`, kept to the rows whose value is the server's:
//! `source` is `configuration file` (on Aurora, the parameter group with RDS's defaults under it) or
//! `command line`. The other sources are not the server's choice:
//! - `default`: PostgreSQL's built-in value, nothing was changed;
//! - `client`, `session`, `interactive`, `test`: set by the connection the row was read through, that is
//!   migprep's own session (its `application_name`, the driver's `client_encoding`);
//! - `database`, `user`, `database user`, `global`: per-database and per-role settings (`ALTER DATABASE
//!   / ROLE … SET`). They are not server parameters (T7 carries role settings), and setting them
//!   server-wide on the target would widen their reach;
//! - `override`: values the server derives itself (`data_directory`, `transaction_isolation`, an
//!   auto-tuned `wal_buffers`);
//! - `environment variable`: the server process's environment (`PGPORT`, the stack limit behind
//!   `max_stack_depth`), which describes the host and which an Aurora user cannot set.
//!
//! A row whose value is PostgreSQL's built-in default (`boot_val`) is not a change either: initdb and
//! RDS write many of those into the configuration file. A server value that a per-session, per-database
//! or per-role setting hides is not visible in `pg_settings`; the group's value still counts then.
//!
//! The group's `Source=user` values count too, and before `pg_settings`' for the same parameter: they are
//! what the user wrote, in the user's units, and what the writer runs once S7 has it in sync. A group
//! value that is an RDS formula (`{DBInstanceClassMemory/32768}`) is replaced by the running value.
//!
//! Parameters in [`never_copied`] (instance sizing, service-managed, owned by other rules) are skipped.
//! Values are compared as [`value`] describes (type- and unit-aware). A value the target cannot take
//! (read-only there, outside `allowedValues`, not expressible in its unit) is a pending change with the
//! reason: it does not block the migration (no premigration error covers parity) but the user should
//! decide. Parameters the target does not have at all are listed together in one warning.

mod never_copied;
mod value;

use super::Findings;
use super::target::configuration_address;
use crate::model::Observed;
use crate::model::cluster::Parameter;
use crate::model::extensions::Setting;
use crate::model::server::{Configuration, Configurations};
use crate::plan::file::Observation;
use crate::plan::operation::TargetOp;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::spec::Spec;
use never_copied::never_copied;
use std::collections::BTreeMap;
use value::{Kind, SourceType};

/// The `pg_settings.source` values of a server's own configuration (see the module's documentation).
const SERVER_WIDE_SOURCES: [&str; 2] = ["configuration file", "command line"];

/// Where a source value comes from, for the reason shown with the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A `Source=user` value of the cluster parameter group.
    Group,
    /// The writer's running configuration (`pg_settings`).
    Running,
}

/// A value the source has that the target should have too.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Wanted<'a> {
    /// As the source spells it (`TimeZone` in `pg_settings`, `timezone` in an RDS group).
    name: &'a str,
    value: String,
    source_type: SourceType<'a>,
    origin: Origin,
}

/// T6.
pub fn plan(spec: &Spec, observed: &Observed) -> Findings {
    let settings = observed.extensions.settings.as_ref().ok();
    let wanted = wanted(&observed.source.current.user_parameters, settings);
    compare(&spec.source.cluster, &observed.server.name, &wanted, &observed.configurations)
}

/// The source values to match, by lower-case name: the group's user values, then every server-wide
/// `pg_settings` value that is not PostgreSQL's default; none that is never copied.
fn wanted<'a>(group: &'a [Parameter], settings: Option<&'a BTreeMap<String, Setting>>) -> Vec<Wanted<'a>> {
    let setting = |name: &str| settings.and_then(|s| s.get(&name.to_ascii_lowercase()));
    let source_type = |setting: Option<&'a Setting>| SourceType {
        unit: setting.and_then(|s| s.unit.as_deref()),
        vartype: setting.map(|s| s.vartype.as_str()),
    };
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    for parameter in group {
        let setting = setting(&parameter.name);
        let value = match parameter.value.as_deref().map(str::trim) {
            Some(value) if !is_formula(value) => value.to_string(),
            // A formula's result is only in the running configuration.
            _ => match setting.filter(|s| is_server_wide(s)) {
                Some(setting) => setting.setting.clone(),
                None => continue,
            },
        };
        let origin = Origin::Group;
        let entry = Wanted { name: &parameter.name, value, source_type: source_type(setting), origin };
        wanted.insert(parameter.name.to_ascii_lowercase(), entry);
    }
    for (key, setting) in settings.into_iter().flatten() {
        if wanted.contains_key(key) || !is_server_wide(setting) || is_built_in_default(setting) {
            continue;
        }
        let value = setting.setting.clone();
        let entry =
            Wanted { name: &setting.name, value, source_type: source_type(Some(setting)), origin: Origin::Running };
        wanted.insert(key.clone(), entry);
    }
    wanted.into_values().filter(|w| !never_copied(w.name)).collect()
}

fn is_server_wide(setting: &Setting) -> bool {
    SERVER_WIDE_SOURCES.contains(&setting.source.as_str())
}

/// Whether a row holds PostgreSQL's built-in default (both are in the parameter's base unit).
fn is_built_in_default(setting: &Setting) -> bool {
    let Some(boot) = setting.boot_value.as_deref() else {
        return false;
    };
    let kind = Kind::of(None, Some(&setting.vartype));
    value::same(&setting.setting, boot, kind, setting.unit.as_deref())
}

/// RDS formulas: `{DBInstanceClassMemory/32768}`, `GREATEST(...)`, `SUM(...)`, `$DBInstanceVCPU`.
fn is_formula(value: &str) -> bool {
    value.contains(['{', '(', '$'])
}

/// The target's parameter of a source parameter's name, in any letter case (`timezone` in RDS groups,
/// `TimeZone` on Azure).
fn target_configuration<'a>(configurations: &'a Configurations, name: &str) -> Option<&'a Configuration> {
    configurations
        .configuration(name)
        .or_else(|| configurations.by_name.values().find(|c| c.name.eq_ignore_ascii_case(name)))
}

/// The changes, checks and warnings for the wanted values against the target's parameters.
fn compare(cluster: &str, server: &str, wanted: &[Wanted], configurations: &Configurations) -> Findings {
    let mut findings = Findings::default();
    let mut matched = Vec::new();
    let mut lacking = Vec::new();
    for wanted in wanted {
        let Wanted { name, value, source_type, .. } = wanted;
        let Some(configuration) = target_configuration(configurations, name) else {
            lacking.push(format!("{name} = {value}"));
            continue;
        };
        let source_address = Address::cluster(cluster).named("setting", name);
        findings.observations.push(Observation::new(source_address, value.clone()));
        let address = configuration_address(server, &configuration.name);
        let current = configuration.value.clone().unwrap_or_default();
        findings.observations.push(Observation::new(address.clone(), current.clone()));
        let unmatched = |why: String| unmatched(address.clone(), wanted, &current, why);
        let desired = match value::convert(value, *source_type, configuration) {
            Ok(desired) => desired,
            Err(why) => {
                findings.changes.push(unmatched(why));
                continue;
            }
        };
        let kind = Kind::of(configuration.data_type.as_deref(), source_type.vartype);
        let unit = configuration.unit.as_deref().or(source_type.unit);
        if value::same(&desired, &current, kind, unit) {
            matched.push(configuration.name.clone());
            continue;
        }
        if configuration.is_read_only {
            findings.changes.push(unmatched("it is read-only on the target".into()));
            continue;
        }
        if let Err(why) = allowed(&desired, kind, configuration) {
            findings.changes.push(unmatched(why));
            continue;
        }
        let mut change = Change::new(
            address,
            Action::Update,
            RuleId::T6,
            format!(
                "{name} = {value} {}; server parameters are not migrated, so the target is set to match{}",
                origin_text(wanted.origin),
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
        matched.sort();
        findings.checks.push(Check {
            address: Address::server(server).child("parameters"),
            rule: RuleId::T6,
            summary: format!("match the source: {}", matched.join(", ")),
        });
    }
    if !lacking.is_empty() {
        lacking.sort_by_key(|l| l.to_ascii_lowercase());
        findings.warnings.push(Check {
            address: Address::server(server).child("parameters"),
            rule: RuleId::T6,
            summary: format!(
                "the target has no parameter of these names, so the source's values are not carried over \
                 (set them per database or role where the application relies on them): {}",
                lacking.join(", ")
            ),
        });
    }
    findings
}

fn origin_text(origin: Origin) -> &'static str {
    match origin {
        Origin::Group => "in the source's cluster parameter group",
        Origin::Running => "in the source's running configuration",
    }
}

/// A source value the target cannot take: shown, never applied, never blocking.
fn unmatched(address: Address, wanted: &Wanted, current: &str, why: String) -> Change {
    let Wanted { name, value, origin, .. } = wanted;
    let mut change = Change::new(
        address,
        Action::Update,
        RuleId::T6,
        format!("{name} = {value} {} cannot be matched on the target: {why}", origin_text(*origin)),
    );
    change.before = Some(current.to_string());
    change.after = Some(value.clone());
    change.pending = Some(format!("the target cannot take {name} = {value}: {why}"));
    change.remedy = Some(format!(
        "decide whether the application relies on {name} = {value}; if so, set it per database or role \
         (ALTER DATABASE … SET / ALTER ROLE … SET) after the migration, or choose a value the target allows"
    ));
    change
}

/// Whether `allowedValues` admits the value: a range for numbers, a list for enumerations and sets, a
/// simple character class for strings. Anything else is left to the server to judge.
fn allowed(value: &str, kind: Kind, configuration: &Configuration) -> Result<(), String> {
    let Some(allowed) = configuration.allowed_values.as_deref().map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(());
    };
    let outside = || Err(format!("{value} is outside the target's allowed values ({allowed})"));
    match kind {
        Kind::Integer | Kind::Real => {
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
        Kind::Enumeration | Kind::Set => {
            let options: Vec<&str> = allowed.split(',').map(str::trim).collect();
            let ok = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty() || kind == Kind::Enumeration)
                .all(|v| options.iter().any(|o| o.eq_ignore_ascii_case(v)));
            if ok { Ok(()) } else { outside() }
        }
        Kind::Text => {
            if character_class(allowed).is_none_or(|matches| matches(value)) {
                Ok(())
            } else {
                outside()
            }
        }
        Kind::Boolean => Ok(()),
    }
}

/// `low-high`, where either end may be negative (`-1-2147483647`) or have an exponent
/// (`0-1.79769e+308`): the separator is the first `-` after a digit or a dot.
fn range(text: &str) -> Option<(f64, f64)> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let split =
        (1..bytes.len()).find(|&i| bytes[i] == b'-' && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.'))?;
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
mod tests;
