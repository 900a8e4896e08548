//! The Aurora PostgreSQL cluster parameter catalog (`catalog.json`, one parameter per line) and what is
//! derived from it: the families the stand-in knows (`aurora-postgresql13` … `17`), each family's engine
//! defaults, the check of a value against `AllowedValues`, and the translation of a group's effective
//! values into the `postgresql.conf` settings a rebooted writer runs with.
//!
//! AWS publishes no machine-readable catalog, so the file is built from PostgreSQL 15's `pg_settings`
//! (names, descriptions, ranges; context `postmaster` = static) with the RDS engine defaults, formulas and
//! `rds.*`/`aurora*`/extension parameters of the aurora-postgresql14 reference table (aws.md §1.1).
//! `since`/`until` bound the majors a parameter exists in, so families differ a little, as on AWS.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// Majors with a family, default group and engine versions in the stand-in.
pub const MAJORS: [u32; 5] = [13, 14, 15, 16, 17];

/// Engine versions `DescribeDBEngineVersions` lists (a cluster may still be created with any minor of a
/// known major; the stand-in answers for that version too).
pub(crate) const ENGINE_VERSIONS: [&str; 14] =
    ["13.9", "13.12", "13.16", "14.6", "14.9", "14.13", "15.2", "15.4", "15.8", "16.1", "16.4", "16.6", "17.4", "17.5"];

/// The version a cluster gets when `CreateDBCluster` names none (moto would pick 12.7, which AWS no longer
/// offers and the catalog does not cover).
pub(crate) const DEFAULT_ENGINE_VERSION: &str = "16.6";

pub(crate) const ENGINE: &str = "aurora-postgresql";

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct CatalogEntry {
    pub name: String,
    pub description: String,
    pub apply_type: String,
    pub data_type: String,
    #[serde(default)]
    pub allowed_values: Option<String>,
    pub source: String,
    pub modifiable: bool,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub since: Option<u32>,
    #[serde(default)]
    pub until: Option<u32>,
}

impl CatalogEntry {
    pub fn is_static(&self) -> bool {
        self.apply_type == "static"
    }
}

#[derive(Deserialize)]
struct CatalogFile {
    parameters: Vec<CatalogEntry>,
}

fn all() -> &'static [CatalogEntry] {
    static CATALOG: OnceLock<Vec<CatalogEntry>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let file: CatalogFile =
            serde_json::from_str(include_str!("catalog.json")).expect("rds/catalog.json is valid JSON");
        file.parameters
    })
}

/// The engine defaults of `family`, sorted by name, or `None` for a family the stand-in does not know.
pub(crate) fn family_parameters(family: &str) -> Option<Vec<&'static CatalogEntry>> {
    let major = major_of_family(family)?;
    Some(all().iter().filter(|p| p.since.is_none_or(|s| major >= s) && p.until.is_none_or(|u| major <= u)).collect())
}

pub(crate) fn lookup(family: &str, name: &str) -> Option<&'static CatalogEntry> {
    let major = major_of_family(family)?;
    all().iter().find(|p| p.name == name && p.since.is_none_or(|s| major >= s) && p.until.is_none_or(|u| major <= u))
}

pub(crate) fn major_of_family(family: &str) -> Option<u32> {
    let major: u32 = family.strip_prefix(ENGINE)?.parse().ok()?;
    MAJORS.contains(&major).then_some(major)
}

/// `(major, minor)` of an engine version such as `15.4`.
pub(crate) fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut it = version.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// `aurora-postgresql15` for engine `aurora-postgresql` version `15.x`, when the stand-in knows that major.
pub(crate) fn family_for(version: &str) -> Option<String> {
    let (major, _) = parse_version(version)?;
    MAJORS.contains(&major).then(|| format!("{ENGINE}{major}"))
}

pub(crate) fn default_group_name(family: &str) -> String {
    format!("default.{family}")
}

/// Aurora PostgreSQL 15.2+, 14.7+, 13.10+ and 12.14+ have "read availability": rebooting the writer leaves
/// the readers running with their old settings (aws.md §1.2).
pub(crate) fn has_read_availability(version: &str) -> bool {
    match parse_version(version) {
        Some((major, minor)) => match major {
            0..=11 => false,
            12 => minor >= 14,
            13 => minor >= 10,
            14 => minor >= 7,
            15 => minor >= 2,
            _ => true,
        },
        None => true,
    }
}

/// Whether `value` is allowed by the entry's `AllowedValues`: a comma list for booleans, enums and lists
/// (each list item must be allowed), `min-max` ranges for numbers. Numeric parameters also take RDS
/// formulas such as `{DBInstanceClassMemory/12038}`.
pub(crate) fn value_allowed(entry: &CatalogEntry, value: &str) -> bool {
    let Some(allowed) = entry.allowed_values.as_deref() else {
        return true;
    };
    match entry.data_type.as_str() {
        "integer" | "float" => {
            if value.contains('{') {
                return true;
            }
            let Ok(v) = value.trim().parse::<f64>() else {
                return false;
            };
            if entry.data_type == "integer" && value.trim().parse::<i64>().is_err() {
                return false;
            }
            allowed.split(',').any(|range| match split_range(range) {
                Some((lo, hi)) => lo <= v && v <= hi,
                None => range.trim().parse::<f64>().is_ok_and(|x| x == v),
            })
        }
        "list" => value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .all(|item| allowed.split(',').any(|a| a.eq_ignore_ascii_case(item))),
        _ => allowed.split(',').any(|a| a.eq_ignore_ascii_case(value.trim())),
    }
}

/// `"-1-2147483647"` → `(-1, 2147483647)`: the separator is the first `-` that is not a leading sign.
fn split_range(range: &str) -> Option<(f64, f64)> {
    let range = range.trim();
    let sep = range.char_indices().skip(1).find(|&(i, c)| c == '-' && !range[..i].ends_with(['e', 'E']))?.0;
    Some((range[..sep].parse().ok()?, range[sep + 1..].parse().ok()?))
}

/// RDS parameters whose value a vanilla PostgreSQL takes under the same name. Formulas and absent values
/// are left out: the server then keeps its own default, as Aurora would compute one.
const PASS_THROUGH: [&str; 6] = [
    "max_replication_slots",
    "max_wal_senders",
    "max_worker_processes",
    "max_logical_replication_workers",
    "max_sync_workers_per_subscription",
    "wal_sender_timeout",
];

/// The `postgresql.conf` settings for a group's effective values (`name → value`): `rds.logical_replication`
/// becomes `wal_level` (`1` → `logical`, otherwise `replica`, as on Aurora), the replication limits pass
/// through when they are plain integers. `only` restricts the result to settings derived from those names.
pub(crate) fn postgres_settings(
    effective: &BTreeMap<String, Option<String>>,
    only: Option<&[String]>,
) -> BTreeMap<String, String> {
    let wanted = |name: &str| only.is_none_or(|o| o.iter().any(|n| n == name));
    let mut out = BTreeMap::new();
    if wanted("rds.logical_replication") {
        let on = effective.get("rds.logical_replication").and_then(|v| v.as_deref()) == Some("1");
        out.insert("wal_level".to_string(), if on { "logical" } else { "replica" }.to_string());
    }
    for name in PASS_THROUGH {
        if !wanted(name) {
            continue;
        }
        if let Some(Some(v)) = effective.get(name)
            && v.trim().parse::<i64>().is_ok()
        {
            out.insert(name.to_string(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_realistic() {
        for major in MAJORS {
            let params = family_parameters(&format!("aurora-postgresql{major}")).unwrap();
            assert!(params.len() >= 150, "family {major} has {} parameters", params.len());
            let mut names: Vec<_> = params.iter().map(|p| p.name.as_str()).collect();
            names.dedup();
            assert_eq!(names.len(), params.len());
        }
        assert!(lookup("aurora-postgresql15", "force_parallel_mode").is_some());
        assert!(lookup("aurora-postgresql16", "force_parallel_mode").is_none());
        assert!(lookup("aurora-postgresql16", "debug_parallel_query").is_some());
        assert!(family_parameters("aurora-postgresql12").is_none());
        let lr = lookup("aurora-postgresql15", "rds.logical_replication").unwrap();
        assert!(lr.is_static() && lr.allowed_values.as_deref() == Some("0,1"));
    }

    #[test]
    fn allowed_values() {
        let wst = lookup("aurora-postgresql15", "wal_sender_timeout").unwrap();
        assert!(value_allowed(wst, "0") && value_allowed(wst, "3600000"));
        assert!(!value_allowed(wst, "3600001") && !value_allowed(wst, "-1") && !value_allowed(wst, "1.5"));
        let lr = lookup("aurora-postgresql15", "rds.logical_replication").unwrap();
        assert!(value_allowed(lr, "1") && !value_allowed(lr, "on"));
        let spl = lookup("aurora-postgresql15", "shared_preload_libraries").unwrap();
        assert!(value_allowed(spl, "pg_stat_statements,pglogical") && !value_allowed(spl, "nope"));
        let mwp = lookup("aurora-postgresql15", "max_worker_processes").unwrap();
        assert!(value_allowed(mwp, "GREATEST({DBInstanceVCPU*2},8)"));
        assert_eq!(split_range("-1-2147483647"), Some((-1.0, 2147483647.0)));
    }

    #[test]
    fn read_availability() {
        assert!(has_read_availability("15.4") && has_read_availability("14.7"));
        assert!(!has_read_availability("14.6") && !has_read_availability("13.9"));
    }
}
