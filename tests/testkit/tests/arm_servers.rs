//! Tests of the fake ARM's flexible servers: high availability disabled and restored (with a new SKU and
//! storage) through operations, read replicas pointing at their primary, network settings, location and
//! server capabilities, and a replica deleted and created again.

mod common;

use common::arm::{REPLICA, RESOURCE_GROUP, SERVER, SUBSCRIPTION, expect_error, harness, quick_config};
use migprep_testkit::arm::{API_VERSION, FakeArm, ServerSeed};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn high_availability_is_disabled_and_restored_through_operations() {
    let h = harness(quick_config()).await;
    let ha = |server: &Value| server["properties"]["highAvailability"].clone();
    assert_eq!(
        ha(&h.server(SERVER).await),
        json!({ "mode": "ZoneRedundant", "state": "Healthy", "standbyAvailabilityZone": "2" })
    );

    let disable = json!({ "properties": { "highAvailability": { "mode": "Disabled" } } });
    let accepted = h.call(Method::PATCH, &h.versioned(SERVER), Some(disable)).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let during = h.server(SERVER).await;
    assert_eq!(during["properties"]["state"], "Updating");
    assert_eq!(ha(&during)["state"], "RemovingStandby");
    assert_eq!(ha(&during)["mode"], "ZoneRedundant", "the mode changes when the operation completes");
    h.follow(&accepted).await;
    let after = h.server(SERVER).await;
    assert_eq!(ha(&after), json!({ "mode": "Disabled", "state": "NotEnabled" }));
    assert_eq!(after["properties"]["state"], "Ready");

    let restore = json!({
        "properties": { "highAvailability": { "mode": "ZoneRedundant", "standbyAvailabilityZone": "2" }, "storage": { "storageSizeGB": 512 } },
        "sku": { "name": "Standard_D8ds_v5", "tier": "GeneralPurpose" }
    });
    let accepted = h.call(Method::PATCH, &h.versioned(SERVER), Some(restore)).await;
    assert_eq!(ha(&h.server(SERVER).await)["state"], "CreatingStandby");
    h.follow(&accepted).await;
    let restored = h.server(SERVER).await;
    assert_eq!(ha(&restored), json!({ "mode": "ZoneRedundant", "state": "Healthy", "standbyAvailabilityZone": "2" }));
    assert_eq!(restored["sku"], json!({ "name": "Standard_D8ds_v5", "tier": "GeneralPurpose" }));
    assert_eq!(restored["properties"]["storage"]["storageSizeGB"], 512);
    assert_eq!(restored["properties"]["storage"]["tier"], "P20");
}

#[tokio::test]
async fn replicas_point_at_their_primary_and_capabilities_are_served() {
    let h = harness(quick_config()).await;
    let primary = h.server(SERVER).await;
    assert_eq!(primary["properties"]["replicationRole"], "Primary");
    let replicas = h.get(&h.versioned(&format!("{SERVER}/replicas"))).await;
    assert_eq!(replicas.status, StatusCode::OK);
    let list = replicas.body["value"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], REPLICA);
    assert_eq!(list[0]["properties"]["replicationRole"], "AsyncReplica");
    assert_eq!(list[0]["properties"]["sourceServerResourceId"], primary["id"]);
    assert_eq!(h.get(&h.versioned(&format!("{REPLICA}/replicas"))).await.body["value"], json!([]));

    let vnet = ServerSeed::new("private-pg").delegated_subnet(
        "/subscriptions/c0ffee00-1111-4222-8333-444455556666/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pg",
        None,
    );
    h.arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, vnet).unwrap();
    let network = h.server("private-pg").await["properties"]["network"].clone();
    assert_eq!(network["publicNetworkAccess"], "Disabled");
    assert!(network["delegatedSubnetResourceId"].as_str().unwrap().ends_with("/subnets/pg"));
    let group = h.get(&format!("{}?api-version={API_VERSION}", h.server_url("").trim_end_matches('/'))).await;
    assert_eq!(group.body["value"].as_array().unwrap().len(), 3);

    let endpoint = h.arm.endpoint();
    let location = |loc: &str| {
        format!(
            "{endpoint}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DBforPostgreSQL/locations/{loc}/capabilities?api-version={API_VERSION}"
        )
    };
    let capabilities = h.get(&location("eastus")).await;
    assert_eq!(capabilities.status, StatusCode::OK);
    let editions = capabilities.body["value"][0]["supportedServerEditions"].as_array().unwrap();
    let tiers: Vec<&str> = editions.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(tiers, ["Burstable", "GeneralPurpose", "MemoryOptimized"]);
    expect_error(&h.get(&location("atlantis")).await, StatusCode::BAD_REQUEST, "LocationNotAvailableForResourceType");
    assert_eq!(h.get(&h.versioned(&format!("{SERVER}/capabilities"))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_replica_is_deleted_and_created_again_through_operations() {
    let h = harness(quick_config()).await;
    let deleted = h.call(Method::DELETE, &h.versioned(REPLICA), None).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert!(deleted.header("azure-asyncoperation").contains("/azureAsyncOperation/"));
    assert_eq!(h.server(REPLICA).await["properties"]["state"], "Dropping", "gone only when the operation ends");
    expect_error(&h.call(Method::DELETE, &h.versioned(REPLICA), None).await, StatusCode::CONFLICT, "ServerBusy");
    assert_eq!(h.follow(&deleted).await.last().unwrap()["status"], "Succeeded");
    expect_error(&h.get(&h.versioned(REPLICA)).await, StatusCode::NOT_FOUND, "ResourceNotFound");
    assert_eq!(h.get(deleted.header("location")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get(&h.versioned(&format!("{SERVER}/replicas"))).await.body["value"], json!([]));
    // Deleting what is not there: 204, as the spec says.
    assert_eq!(h.call(Method::DELETE, &h.versioned(REPLICA), None).await.status, StatusCode::NO_CONTENT);

    let primary_id = FakeArm::server_resource_id(SUBSCRIPTION, RESOURCE_GROUP, SERVER);
    let too_small = json!({
        "location": "eastus",
        "properties": { "createMode": "Replica", "sourceServerResourceId": primary_id, "storage": { "storageSizeGB": 128 } }
    });
    expect_error(
        &h.call(Method::PUT, &h.versioned(REPLICA), Some(too_small)).await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValue",
    );
    let create = json!({
        "location": "eastus",
        "sku": { "name": "Standard_D2ds_v5", "tier": "GeneralPurpose" },
        "properties": { "createMode": "Replica", "sourceServerResourceId": primary_id, "storage": { "storageSizeGB": 512 } }
    });
    let created = h.call(Method::PUT, &h.versioned(REPLICA), Some(create)).await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.body);
    assert_eq!(h.server(REPLICA).await["properties"]["state"], "Provisioning");
    assert_eq!(h.follow(&created).await.last().unwrap()["status"], "Succeeded");
    let replica = h.server(REPLICA).await;
    assert_eq!(replica["properties"]["state"], "Ready");
    assert_eq!(replica["properties"]["replicationRole"], "AsyncReplica");
    assert_eq!(replica["properties"]["sourceServerResourceId"], primary_id.as_str());
    assert_eq!(replica["properties"]["storage"]["storageSizeGB"], 512);
    assert_eq!(replica["sku"]["name"], "Standard_D2ds_v5");
    let list = h.get(&h.versioned(&format!("{SERVER}/replicas"))).await;
    assert_eq!(list.body["value"][0]["name"], REPLICA);

    // A creation that fails leaves no server behind.
    h.arm.fail_next_operation("InternalServerError", "No capacity in the region.");
    let create = json!({ "properties": { "createMode": "Replica", "sourceServerResourceId": primary_id } });
    let failed = h.call(Method::PUT, &h.versioned("target-pg-replica2"), Some(create)).await;
    assert_eq!(h.follow(&failed).await.last().unwrap()["status"], "Failed");
    expect_error(&h.get(&h.versioned("target-pg-replica2")).await, StatusCode::NOT_FOUND, "ResourceNotFound");
}
