//! Sizing and the network scenario end to end: the real binary against the RDS stand-in, the fake ARM and
//! both PostgreSQL stand-ins. T9 (an undersized target is reported, and resized only when allowed), T10
//! (storage against 1.25 × the selected databases' size) and N1's network scenario (the row of the
//! migration service's table that the writer's `PubliclyAccessible` and the server's network make).
//!
//! T10's growth is covered by the rule tests only: the stand-ins' databases are a few MB, and making
//! 26 GB of real data to outgrow the smallest offered storage (32 GB) is out of proportion for a test.
//! Here the seeded storage is already large enough, and nothing is grown.

mod common;

use common::{Output, json_plan, migprep, server, text, with_allow};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::rds::ClusterSeed;
use migprep_testkit::scenario::{CLUSTER, RESOURCE_GROUP, SERVER, SUBSCRIPTION, Scenario, ScenarioConfig};
use serde_json::Value;

/// The change at `address` of a JSON plan, if it has one.
fn change<'a>(plan: &'a Value, address: &str) -> Option<&'a Value> {
    plan["changes"].as_array().unwrap().iter().find(|c| c["address"] == address)
}

/// The check or warning at `address` from `rule`.
fn check<'a>(plan: &'a Value, address: &str, rule: &str) -> &'a Value {
    let checks = plan["checks"].as_array().unwrap().iter();
    checks
        .chain(plan["warnings"].as_array().unwrap())
        .find(|c| c["address"] == address && c["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} check at {address}: {plan:#}"))
}

fn sku(scenario: &Scenario) -> (String, String) {
    let server = server(scenario, SERVER);
    (server["sku"]["name"].as_str().unwrap().into(), server["sku"]["tier"].as_str().unwrap().into())
}

fn server_patches(scenario: &Scenario) -> usize {
    scenario.arm.count_requests("PATCH", &format!("flexibleServers/{SERVER}"))
}

/// A db.r6g.4xlarge writer (16 vCPU, 128 GiB) and a Standard_D2ds_v5 target (2 vCores, 8 GiB): the plan
/// shows the resize to Standard_D32ds_v5 (the smallest general-purpose size with 128 GiB) as disruptive
/// and pending, and apply leaves the server alone; with `[allow] resize_target = true` apply resizes it
/// with one PATCH, and the next plan has only a T9 check left.
#[tokio::test]
async fn an_undersized_target_is_reported_and_resized_only_when_allowed() {
    let config = ScenarioConfig {
        cluster: ClusterSeed { instance_class: "db.r6g.4xlarge".into(), ..ClusterSeed::new(CLUSTER, "15.4") },
        server: ServerSeed::new(SERVER).sku("Standard_D2ds_v5", "GeneralPurpose"),
        ..ScenarioConfig::default()
    };
    let scenario = Scenario::start_with(config).await.unwrap();
    let address = format!("azure.server/{SERVER}/sku");

    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let plan = json_plan(&scenario, &spec).await;
    let resize = change(&plan, &address).unwrap_or_else(|| panic!("{plan:#}"));
    assert_eq!(resize["rule"], "T9");
    assert_eq!(resize["before"], "Standard_D2ds_v5 (GeneralPurpose)");
    assert_eq!(resize["after"], "Standard_D32ds_v5 (GeneralPurpose)");
    assert_eq!(resize["disruptive"], true);
    assert!(resize["pending"].as_str().unwrap().contains("resize_target"), "{resize:#}");
    assert!(resize["reason"].as_str().unwrap().contains("db.r6g.4xlarge (16 vCPU, 128 GiB)"), "{resize:#}");
    let Output { code, stdout, .. } = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains(&format!("~ {address}  [T9]  (pending, not included)")), "{stdout}");

    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sku(&scenario).0, "Standard_D2ds_v5");
    assert_eq!(server_patches(&scenario), 0);

    let spec = with_allow(&scenario, &[("resize_target", true.into())]);
    let plan = json_plan(&scenario, &spec).await;
    assert!(change(&plan, &address).unwrap()["pending"].is_null(), "{plan:#}");
    let Output { code, stderr, .. } = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("done {address}")), "{stderr}");
    assert_eq!(sku(&scenario), ("Standard_D32ds_v5".to_string(), "GeneralPurpose".to_string()));
    assert_eq!(server_patches(&scenario), 1);

    let plan = json_plan(&scenario, &spec).await;
    assert!(change(&plan, &address).is_none(), "{plan:#}");
    let summary = check(&plan, &address, "T9")["summary"].as_str().unwrap();
    assert!(summary.starts_with("Standard_D32ds_v5 (GeneralPurpose, 32 vCores, 128 GiB) ≥ writer"), "{summary}");
}

/// The default scene (a db.r6g.large writer, Standard_D4ds_v5 with 128 GB, databases of a few MB) needs
/// neither a resize nor more storage: two checks, no change, no PATCH. The smallest storage (32 GB) is
/// still enough for the stand-ins' data.
#[tokio::test]
async fn a_large_enough_target_is_only_checked() {
    for storage in [128, 32] {
        let config =
            ScenarioConfig { server: ServerSeed::new(SERVER).storage_size_gb(storage), ..ScenarioConfig::default() };
        let scenario = Scenario::start_with(config).await.unwrap();
        let spec = scenario.write_spec(&scenario.spec()).unwrap();
        let plan = json_plan(&scenario, &spec).await;
        for what in ["sku", "storage"] {
            assert!(change(&plan, &format!("azure.server/{SERVER}/{what}")).is_none(), "{plan:#}");
        }
        let compute = check(&plan, &format!("azure.server/{SERVER}/sku"), "T9")["summary"].as_str().unwrap();
        assert_eq!(
            compute,
            "Standard_D4ds_v5 (GeneralPurpose, 4 vCores, 16 GiB) ≥ writer db.r6g.large (2 vCPU, 16 GiB)"
        );
        let room = check(&plan, &format!("azure.server/{SERVER}/storage"), "T10")["summary"].as_str().unwrap();
        assert!(room.starts_with(&format!("{storage} GB ≥ 1.25 × the selected databases' size (1 GB; ")), "{room}");
        for database in scenario.source.databases() {
            assert!(room.contains(&format!("{database} ")), "{room}");
        }
        assert_eq!(server_patches(&scenario), 0);
    }
}

/// N1's network scenario for three pairs: a public writer with a public server (supported), a private
/// writer with a public server (the table's "No" row) and a public writer with a VNet-only server (no row
/// of the table: reported as not supported, with the remedy). Never a blocker: each has a documented
/// way to work that migprep cannot observe (a VPN or ExpressRoute; a private endpoint).
#[tokio::test]
async fn the_network_scenario_is_reported() {
    let subnet = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pg"
    );
    let zone = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Network/privateDnsZones/pg.private.postgres.database.azure.com"
    );
    let cases = [
        (
            true,
            ServerSeed::new(SERVER),
            "scenario \"AWS RDS/Aurora with public IP → flexible server with public access\": supported",
        ),
        (
            false,
            ServerSeed::new(SERVER),
            "scenario \"AWS with private access → flexible server with public access\" is NOT supported",
        ),
        (
            true,
            ServerSeed::new(SERVER).public_network_access(false).delegated_subnet(&subnet, Some(&zone)),
            "a publicly accessible writer with a VNet-integrated flexible server (public access disabled) is not a supported scenario",
        ),
    ];
    for (public, server, expected) in cases {
        let config = ScenarioConfig {
            cluster: ClusterSeed { publicly_accessible: public, ..ClusterSeed::new(CLUSTER, "15.4") },
            server,
            ..ScenarioConfig::default()
        };
        let scenario = Scenario::start_with(config).await.unwrap();
        let spec = scenario.write_spec(&scenario.spec()).unwrap();
        let plan = json_plan(&scenario, &spec).await;
        let summary = check(&plan, &format!("azure.server/{SERVER}/network"), "N1")["summary"].as_str().unwrap();
        assert!(summary.starts_with(expected), "{summary}");
        let warned = plan["warnings"].as_array().unwrap().iter().any(|w| w["summary"] == summary);
        assert_eq!(warned, summary.contains("603000"), "unsupported rows are warnings:\n{plan:#}");
        assert_eq!(summary.contains("603000"), !public || expected.contains("VNet"), "{summary}");
        assert!(change(&plan, &format!("azure.server/{SERVER}/network")).is_none(), "{plan:#}");
        let Output { stdout: human, .. } = migprep(&scenario, &["plan", text(&spec)], &[]).await;
        assert!(human.contains(&format!("azure.server/{SERVER}/network — {expected}")), "{human}");
    }
}
