//! S1: the source runs PostgreSQL 9.5 or later, the oldest an online migration starts from. Pure: it reads
//! the version the writer reported over SQL, else the cluster's engine version, and calls nothing.

use super::MIN_VERSION_NUM;
use crate::model::cluster::Cluster;
use crate::model::source::Database;
use crate::plan::file::Observation;
use crate::plan::{Action, Address, Change, Check, RuleId};
use crate::rules::Findings;

/// S1 from SQL, else from the cluster's engine version (when the writer could not be read).
pub(super) fn check(findings: &mut Findings, cluster: &Cluster, db: Option<&Database>) {
    let address = Address::source_database().child("version");
    let (num, shown) = match db {
        Some(db) => (db.version_num, db.version.clone()),
        None => (version_num(&cluster.engine_version), cluster.engine_version.clone()),
    };
    findings.observations.push(Observation::new(address.clone(), num.to_string()));
    if num >= MIN_VERSION_NUM {
        findings.checks.push(Check { address, rule: RuleId::S1, summary: format!("PostgreSQL {shown} (≥ 9.5)") });
        return;
    }
    let mut blocker = Change::new(
        address,
        Action::Blocker,
        RuleId::S1,
        format!("PostgreSQL {shown} is older than 9.5, the oldest version an online migration supports"),
    );
    blocker.before = Some(shown);
    blocker.after = Some("9.5 or later".into());
    blocker.prevents = Some(603400);
    blocker.remedy = Some(format!(
        "upgrade the cluster first (out of migprep's scope), e.g. aws rds modify-db-cluster \
         --db-cluster-identifier {} --engine-version <version> --allow-major-version-upgrade --apply-immediately",
        cluster.id
    ));
    findings.changes.push(blocker);
}

/// An engine version such as `15.4` or `9.6.22` as `server_version_num` would show it: from 10 on the
/// second number is the minor version, before 10 it is part of the major one. What does not parse counts
/// as 0, which is below any supported version.
fn version_num(engine_version: &str) -> u32 {
    let mut parts = engine_version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if major >= 10 { major * 10000 + minor } else { major * 10000 + minor * 100 }
}
