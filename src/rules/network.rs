//! N1, reachability half: both databases answer over TLS and accept the configured login.
//!
//! Pure: takes what the PostgreSQL provider observed and turns it into checks (what holds) and
//! blockers (what the user must fix). No I/O here.

use crate::plan::{Action, Address, Change, Check};

/// What connecting to one endpoint showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointObservation {
    /// `source` or `target`.
    pub side: &'static str,
    /// `host:port`.
    pub address: String,
    pub user: String,
    pub outcome: Result<Reached, Unreachable>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reached {
    pub server_version: String,
    pub tls: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreachable {
    pub problem: String,
    pub hint: String,
}

/// Checks for reachable endpoints, blockers for the others, in the order given.
pub fn reachability(endpoints: &[EndpointObservation]) -> (Vec<Check>, Vec<Change>) {
    let mut checks = Vec::new();
    let mut blockers = Vec::new();
    for endpoint in endpoints {
        let address = Address::new(format!("{}.pg/connection", endpoint.side));
        match &endpoint.outcome {
            Ok(reached) => {
                let tls = match &reached.tls {
                    Some(protocol) => format!("TLS on ({protocol})"),
                    None => "TLS off".to_string(),
                };
                checks.push(Check {
                    address,
                    rule: "N1".into(),
                    summary: format!(
                        "{} reachable as {}: PostgreSQL {}, {tls}",
                        endpoint.address, endpoint.user, reached.server_version
                    ),
                });
            }
            Err(unreachable) => {
                let mut change = Change::new(
                    address,
                    Action::Blocker,
                    "N1",
                    format!("the {} database is not reachable: {}", endpoint.side, unreachable.problem),
                );
                change.remedy = Some(unreachable.hint.clone());
                blockers.push(change);
            }
        }
    }
    (checks, blockers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(side: &'static str, outcome: Result<Reached, Unreachable>) -> EndpointObservation {
        EndpointObservation { side, address: "127.0.0.1:5432".into(), user: "postgres".into(), outcome }
    }

    #[test]
    fn reachable_endpoints_are_checks_with_version_and_tls() {
        let (checks, blockers) = reachability(&[observed(
            "source",
            Ok(Reached { server_version: "15.4".into(), tls: Some("TLSv1.3".into()) }),
        )]);
        assert!(blockers.is_empty());
        assert_eq!(checks[0].address.as_str(), "source.pg/connection");
        assert_eq!(checks[0].summary, "127.0.0.1:5432 reachable as postgres: PostgreSQL 15.4, TLS on (TLSv1.3)");
    }

    #[test]
    fn every_unreachable_endpoint_is_a_blocker() {
        let down = || Err(Unreachable { problem: "connection refused".into(), hint: "start it".into() });
        let (checks, blockers) = reachability(&[observed("source", down()), observed("target", down())]);
        assert!(checks.is_empty());
        let addresses: Vec<&str> = blockers.iter().map(|b| b.address.as_str()).collect();
        assert_eq!(addresses, ["source.pg/connection", "target.pg/connection"]);
        assert!(blockers.iter().all(|b| b.action == Action::Blocker && b.remedy.as_deref() == Some("start it")));
    }
}
