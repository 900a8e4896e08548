//! T4 and T5: every extension the selected source databases use is allowlisted on the target
//! (`azure.extensions`), and those that must be preloaded are in `shared_preload_libraries`. Pure.
//!
//! Both parameters are comma-separated sets whose `allowedValues` list what the server supports. Entries
//! already there are kept, in their order, and the missing ones are appended in name order, so the same
//! observations always give the same value. An extension the target cannot allowlist (or whose library
//! it cannot preload) is a blocker naming the databases that use it: the migration service refuses it
//! (603108, 603109), and only the user can drop it or leave the database out.
//!
//! `shared_preload_libraries` is static: its change joins T11's single restart (see [`super::plan`]).

use super::Findings;
use super::target::configuration_address;
use crate::model::Observed;
use crate::model::server::Configuration;
use crate::plan::file::Observation;
use crate::plan::operation::TargetOp;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::spec::Spec;
use std::collections::BTreeMap;

pub const EXTENSIONS: &str = "azure.extensions";
pub const PRELOAD: &str = "shared_preload_libraries";

/// Azure premigration errors: an extension not allowlisted, and one allowlisted but not preloaded.
const NOT_ALLOWLISTED: u32 = 603108;
const NOT_PRELOADED: u32 = 603109;

/// Extensions whose library must be in `shared_preload_libraries` before `CREATE EXTENSION` works (or
/// before the extension does anything), with that library. Sources: Azure's extension docs
/// ("concepts-extensions", the extensions that "require shared_preload_libraries") and each extension's
/// own documentation. `pg_partman` is absent on purpose: its background worker (`pg_partman_bgw`) is
/// optional (maintenance usually runs from pg_cron), and preloading it would cost a restart for nothing.
const PRELOADED: [(&str, &str); 9] = [
    ("age", "age"),
    ("anon", "anon"),
    ("pg_cron", "pg_cron"),
    ("pg_hint_plan", "pg_hint_plan"),
    ("pg_squeeze", "pg_squeeze"),
    ("pg_stat_statements", "pg_stat_statements"),
    ("pgaudit", "pgaudit"),
    ("pglogical", "pglogical"),
    ("timescaledb", "timescaledb"),
];

/// Installed in every database by PostgreSQL itself; never needs allowlisting.
const BUILT_IN: [&str; 1] = ["plpgsql"];

/// The library an extension needs preloaded, if any.
pub fn preload_library(extension: &str) -> Option<&'static str> {
    PRELOADED.iter().find(|(name, _)| *name == extension).map(|(_, library)| *library)
}

/// The entries of a comma-separated set value, trimmed, empty ones dropped.
pub fn entries(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|e| !e.is_empty()).map(String::from).collect()
}

fn contains(list: &[String], name: &str) -> bool {
    list.iter().any(|e| e.eq_ignore_ascii_case(name))
}

/// T4 and T5.
pub fn plan(spec: &Spec, observed: &Observed) -> Findings {
    let mut findings = Findings::default();
    let server = observed.server.name.as_str();
    // Extension → the databases that use it, both sorted.
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for database in &observed.extensions.databases {
        let address = Address::cluster(&spec.source.cluster).named("database", &database.name).child("extensions");
        if let Some(problem) = &database.problem {
            findings.observations.push(Observation::new(address.clone(), format!("unreadable: {problem}")));
            let mut change = Change::new(
                address,
                Action::Update,
                RuleId::T4,
                format!("the extensions of source database {} could not be listed: {problem}", database.name),
            );
            change.pending = Some("the database could not be read; T4 and T5 cannot check it".into());
            change.remedy = Some(format!(
                "make database {} reachable for source.connection.user (see the source checks), then plan again",
                database.name
            ));
            findings.changes.push(change);
            continue;
        }
        findings.observations.push(Observation::new(address, database.extensions.join(",")));
        for extension in &database.extensions {
            if !BUILT_IN.contains(&extension.as_str()) {
                used.entry(extension.clone()).or_default().push(database.name.clone());
            }
        }
    }
    for databases in used.values_mut() {
        databases.sort();
        databases.dedup();
    }
    let supported = allowlist(server, observed.configurations.configuration(EXTENSIONS), &used, &mut findings);
    let preload: BTreeMap<String, Vec<String>> = supported
        .iter()
        .filter_map(|extension| preload_library(extension).map(|library| (library, extension)))
        .fold(BTreeMap::new(), |mut map, (library, extension)| {
            map.entry(library.to_string()).or_insert_with(Vec::new).push(extension.clone());
            map
        });
    preload_libraries(server, observed.configurations.configuration(PRELOAD), &preload, &used, &mut findings);
    findings
}

fn databases_phrase(databases: &[String]) -> String {
    let noun = if databases.len() == 1 { "database" } else { "databases" };
    format!("{noun} {}", databases.join(", "))
}

/// T4. Returns the used extensions the target supports.
fn allowlist(
    server: &str,
    configuration: Option<&Configuration>,
    used: &BTreeMap<String, Vec<String>>,
    findings: &mut Findings,
) -> Vec<String> {
    let address = configuration_address(server, EXTENSIONS);
    let Some(configuration) = configuration else {
        let mut change = Change::new(
            address,
            Action::Blocker,
            RuleId::T4,
            format!("the target reports no {EXTENSIONS} parameter, so the source's extensions cannot be allowlisted"),
        );
        change.remedy = Some(format!("check that {server} is an Azure Database for PostgreSQL flexible server"));
        change.prevents = Some(NOT_ALLOWLISTED);
        findings.changes.push(change);
        return Vec::new();
    };
    let value = configuration.value.clone().unwrap_or_default();
    findings.observations.push(Observation::new(address.clone(), value.clone()));
    let current = entries(&value);
    // Without allowedValues there is nothing to check against; the write itself will tell.
    let allowed = configuration.allowed_values.as_deref().map(entries);
    let mut supported = Vec::new();
    for (extension, databases) in used {
        if allowed.as_ref().is_none_or(|allowed| contains(allowed, extension)) {
            supported.push(extension.clone());
            continue;
        }
        let mut change = Change::new(
            Address::server(server).named("extension", extension),
            Action::Blocker,
            RuleId::T4,
            format!(
                "extension {extension} is used in source {} but the target does not support it \
                 (it is not among {EXTENSIONS}' allowed values), so the migration service cannot create it",
                databases_phrase(databases)
            ),
        );
        change.remedy = Some(format!(
            "drop it on the source (DROP EXTENSION \"{extension}\"; in {}) if nothing needs it, or leave {} out \
             of source.databases; check Azure's list of supported extensions for a replacement",
            databases.join(", "),
            if databases.len() == 1 { "that database" } else { "those databases" }
        ));
        change.prevents = Some(NOT_ALLOWLISTED);
        findings.changes.push(change);
    }
    let missing: Vec<&String> = supported.iter().filter(|e| !contains(&current, e)).collect();
    if missing.is_empty() {
        if !supported.is_empty() {
            findings.checks.push(Check {
                address,
                rule: RuleId::T4,
                summary: format!("every extension the source uses is allowlisted: {}", supported.join(", ")),
            });
        }
        return supported;
    }
    let after: Vec<String> = current.iter().cloned().chain(missing.iter().map(|e| (*e).clone())).collect();
    let after = after.join(",");
    let names: Vec<String> = missing.iter().map(|e| format!("{e} ({})", databases_phrase(&used[e.as_str()]))).collect();
    let mut change = Change::new(
        address,
        Action::Update,
        RuleId::T4,
        format!(
            "the source uses extensions the target does not allowlist yet: {}; existing entries are kept",
            names.join(", ")
        ),
    );
    change.before = Some(value);
    change.after = Some(after.clone());
    change.prevents = Some(NOT_ALLOWLISTED);
    change.operation = Some(Operation::Target(TargetOp::SetConfiguration { name: EXTENSIONS.into(), value: after }));
    findings.changes.push(change);
    supported
}

/// T5: the libraries of the supported extensions that need preloading.
fn preload_libraries(
    server: &str,
    configuration: Option<&Configuration>,
    needed: &BTreeMap<String, Vec<String>>,
    used: &BTreeMap<String, Vec<String>>,
    findings: &mut Findings,
) {
    if needed.is_empty() {
        return;
    }
    let address = configuration_address(server, PRELOAD);
    let value = configuration.and_then(|c| c.value.clone()).unwrap_or_default();
    findings.observations.push(Observation::new(address.clone(), value.clone()));
    let current = entries(&value);
    let allowed = configuration.and_then(|c| c.allowed_values.as_deref()).map(entries);
    let mut missing = Vec::new();
    for (library, extensions) in needed {
        if contains(&current, library) {
            continue;
        }
        if allowed.as_ref().is_none_or(|allowed| contains(allowed, library)) {
            missing.push((library, extensions));
            continue;
        }
        let databases: Vec<String> = {
            let mut all: Vec<String> = extensions.iter().flat_map(|e| used[e].iter().cloned()).collect();
            all.sort();
            all.dedup();
            all
        };
        let mut change = Change::new(
            Address::server(server).named("preload", library),
            Action::Blocker,
            RuleId::T5,
            format!(
                "extension {} (source {}) needs library {library} preloaded, which the target's {PRELOAD} does not allow",
                extensions.join(", "),
                databases_phrase(&databases)
            ),
        );
        change.remedy = Some(format!(
            "drop {} on the source if nothing needs it, or leave those databases out of source.databases",
            extensions.join(", ")
        ));
        change.prevents = Some(NOT_PRELOADED);
        findings.changes.push(change);
    }
    if missing.is_empty() {
        findings.checks.push(Check {
            address,
            rule: RuleId::T5,
            summary: format!(
                "the libraries the source's extensions need are preloaded: {}",
                needed.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
        return;
    }
    let after: Vec<String> = current.iter().cloned().chain(missing.iter().map(|(l, _)| (*l).clone())).collect();
    let after = after.join(",");
    let names: Vec<String> =
        missing.iter().map(|(library, extensions)| format!("{library} (for {})", extensions.join(", "))).collect();
    let mut change = Change::new(
        address,
        Action::Update,
        RuleId::T5,
        format!(
            "extensions the source uses need their library preloaded: {}; static, so it takes effect with the restart",
            names.join(", ")
        ),
    );
    change.before = Some(value);
    change.after = Some(after.clone());
    change.prevents = Some(NOT_PRELOADED);
    change.operation = Some(Operation::Target(TargetOp::SetConfiguration { name: PRELOAD.into(), value: after }));
    findings.changes.push(change);
}
