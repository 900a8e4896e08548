//! N1: both databases answer over TLS and accept the configured login ([`reachability`]), and the pair
//! of networks is one the migration service supports ([`scenario`]).
//!
//! Pure: takes what the providers observed and turns it into checks (what holds) and blockers (what the
//! user must fix). No I/O here.

use crate::model::endpoints::{EndpointObservation, Side};
use crate::model::server::Network;
use crate::plan::{Action, Address, Change, Check, RuleId};

/// Checks for reachable endpoints, blockers for the others, in the order given.
pub fn reachability(endpoints: &[EndpointObservation]) -> (Vec<Check>, Vec<Change>) {
    let mut checks = Vec::new();
    let mut blockers = Vec::new();
    for endpoint in endpoints {
        let database = match endpoint.side {
            Side::Source => Address::source_database(),
            Side::Target => Address::target_database(),
        };
        let address = database.child("connection");
        match &endpoint.outcome {
            Ok(reached) => {
                let tls = match &reached.tls {
                    Some(protocol) => format!("TLS on ({protocol})"),
                    None => "TLS off".to_string(),
                };
                checks.push(Check {
                    address,
                    rule: RuleId::N1,
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
                    RuleId::N1,
                    format!("the {} database is not reachable: {}", endpoint.side.name(), unreachable.problem),
                );
                change.remedy = Some(unreachable.hint.clone());
                blockers.push(change);
            }
        }
    }
    (checks, blockers)
}

/// The migration service's network scenarios for an Aurora source, from Microsoft's "Network guide for
/// migration service in Azure Database for PostgreSQL" (`how-to-network-setup-migration-service.md`,
/// azure-databases-docs, 06/2024): the rows that name AWS, and the Azure-side part of its remedy.
const DOC: &str =
    "https://learn.microsoft.com/azure/postgresql/migrate/migration-service/how-to-network-setup-migration-service";

/// How the target can be reached, from its `network` properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TargetNetwork {
    /// Injected into a delegated subnet: reachable only inside its virtual network (and peered ones).
    VnetIntegrated,
    /// Public access enabled (firewall rules, possibly private endpoints besides).
    Public,
    /// Neither a delegated subnet nor public access: private endpoints only.
    PrivateEndpoint,
}

fn target_network(network: &Network) -> TargetNetwork {
    let public = network.public_network_access.as_deref().is_none_or(|a| a.eq_ignore_ascii_case("Enabled"));
    if network.delegated_subnet.as_deref().is_some_and(|s| !s.is_empty()) {
        TargetNetwork::VnetIntegrated
    } else if public {
        TargetNetwork::Public
    } else {
        TargetNetwork::PrivateEndpoint
    }
}

/// N1, network half: which row of the migration service's network scenarios the writer's
/// `PubliclyAccessible` and the server's network make, and whether the table says it is supported.
///
/// A supported row is a check; a mismatch is a warning, never a blocker: each has a documented way to
/// work that migprep cannot see (a VPN or ExpressRoute between the VPC and the VNet; a private endpoint
/// on a server with public access), so the summary says plainly that the row as observed is not
/// supported, what would make it so, and that Azure's validation fails with 603000 otherwise.
pub fn scenario(server: &str, writer_public: Option<bool>, network: &Network) -> NetworkScenario {
    let address = Address::server(server).child("network");
    let target = target_network(network);
    let (summary, supported) = match (writer_public, target) {
        (None, _) => (
            format!(
                "the writer's PubliclyAccessible is unknown, so the network scenario could not be matched; \
                 see {DOC}"
            ),
            false,
        ),
        (Some(true), TargetNetwork::Public) => (
            "scenario \"AWS RDS/Aurora with public IP → flexible server with \
             public access\": supported; allow the flexible server's address in the writer's security group \
             (inbound, port 5432)"
                .to_string(),
            true,
        ),
        (Some(false), TargetNetwork::VnetIntegrated) => (
            "scenario \"AWS RDS/Aurora with private access via \
             VPN/ExpressRoute → VNet-integrated flexible server\": supported, given a VPN or ExpressRoute between \
             the VPC and the VNet, NSG rules allowing port 5432 and the VNet's range in the writer's security group"
                .to_string(),
            true,
        ),
        (Some(false), TargetNetwork::PrivateEndpoint) => (
            "scenario \"AWS with private access → flexible server \
             with private endpoint\": supported with a migration runtime server (a VNet-integrated flexible server \
             that reaches both) and private DNS zone links for the endpoint"
                .to_string(),
            true,
        ),
        (Some(false), TargetNetwork::Public) => (
            format!(
                "scenario \"AWS with private access → flexible server with public access\" is NOT supported \
             by the migration service (Azure validation fails with 603000); make the writer publicly accessible \
             (aws rds modify-db-instance --publicly-accessible) and allow the flexible server's address in its \
             security group, or, if the server also has a private endpoint, use a migration runtime server; \
             see {DOC}"
            ),
            false,
        ),
        (Some(true), TargetNetwork::VnetIntegrated | TargetNetwork::PrivateEndpoint) => (
            format!(
                "a publicly accessible writer with a {} flexible server (public access disabled) is not a \
             supported scenario (Azure validation fails with 603000): the server has no public address for the \
             writer's security group to allow; set up a VPN or ExpressRoute between the VPC and the VNet (the \
             supported \"private access via VPN/ExpressRoute\" row), or enable public access on the server; \
             see {DOC}",
                if target == TargetNetwork::VnetIntegrated { "VNet-integrated" } else { "private-endpoint-only" }
            ),
            false,
        ),
    };
    NetworkScenario { check: Check { address, rule: RuleId::N1, summary }, supported }
}

/// The network row that applies, and whether the migration service supports it as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkScenario {
    pub check: Check,
    pub supported: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::endpoints::{Reached, Unreachable};

    fn observed(side: Side, outcome: Result<Reached, Unreachable>) -> EndpointObservation {
        EndpointObservation { side, address: "127.0.0.1:5432".into(), user: "postgres".into(), outcome }
    }

    #[test]
    fn reachable_endpoints_are_checks_with_version_and_tls() {
        let (checks, blockers) = reachability(&[observed(
            Side::Source,
            Ok(Reached { server_version: "15.4".into(), tls: Some("TLSv1.3".into()) }),
        )]);
        assert!(blockers.is_empty());
        assert_eq!(checks[0].address.as_str(), "source.pg/connection");
        assert_eq!(checks[0].summary, "127.0.0.1:5432 reachable as postgres: PostgreSQL 15.4, TLS on (TLSv1.3)");
    }

    fn network(public: Option<&str>, subnet: Option<&str>) -> Network {
        Network {
            public_network_access: public.map(Into::into),
            delegated_subnet: subnet.map(Into::into),
            private_dns_zone: None,
        }
    }

    #[test]
    fn network_scenarios_follow_the_table() {
        let subnet =
            Some("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pg");
        let cases = [
            (Some(true), network(Some("Enabled"), None), "public IP → flexible server with public access\": supported"),
            (Some(false), network(Some("Disabled"), subnet), "VNet-integrated flexible server\": supported"),
            (Some(false), network(Some("Disabled"), None), "private endpoint\": supported"),
            (
                Some(false),
                network(Some("Enabled"), None),
                "scenario \"AWS with private access → flexible server with public access\" is NOT",
            ),
            (Some(true), network(Some("Disabled"), subnet), "a publicly accessible writer with a VNet"),
            (Some(true), network(Some("Disabled"), None), "private-endpoint-only"),
            (None, network(None, None), "could not be matched"),
        ];
        for (public, network, expected) in cases {
            let NetworkScenario { check, supported } = scenario("pg", public, &network);
            assert_eq!(check.address.as_str(), "azure.server/pg/network");
            assert!(check.summary.contains(expected), "{public:?} {network:?}: {}", check.summary);
            assert_eq!(check.summary.contains("603000"), !supported && public.is_some(), "{}", check.summary);
        }
    }

    #[test]
    fn every_unreachable_endpoint_is_a_blocker() {
        let down = || Err(Unreachable { problem: "connection refused".into(), hint: "start it".into() });
        let (checks, blockers) = reachability(&[observed(Side::Source, down()), observed(Side::Target, down())]);
        assert!(checks.is_empty());
        let addresses: Vec<&str> = blockers.iter().map(|b| b.address.as_str()).collect();
        assert_eq!(addresses, ["source.pg/connection", "target.pg/connection"]);
        assert!(blockers.iter().all(|b| b.action == Action::Blocker && b.remedy.as_deref() == Some("start it")));
    }
}
