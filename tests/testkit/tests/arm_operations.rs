//! Tests of the fake ARM's long-running operations: a write is accepted (202 with the URLs to poll) and shows
//! only once its operation succeeds, a second write meanwhile gets 409 `ServerBusy` (as do injected busy
//! answers), an operation made to fail changes nothing, and operations finish on their own once their
//! duration has passed.

mod common;

use common::arm::{REPLICA, SERVER, SUBSCRIPTION, expect_error, harness, quick_config};
use migprep_testkit::arm::FakeArmConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_write_is_accepted_and_becomes_visible_only_when_its_operation_succeeds() {
    let h = harness(quick_config()).await;
    let accepted = h.set_parameter("azure.enable_temp_tablespaces_on_local_ssd", "OFF").await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert_eq!(accepted.body, Value::Null, "202 carries no body");
    let operation_url = accepted.header("azure-asyncoperation").to_owned();
    let location_url = accepted.header("location").to_owned();
    let prefix = format!(
        "{}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DBforPostgreSQL/locations/eastus/",
        h.arm.endpoint()
    );
    assert!(operation_url.starts_with(&format!("{prefix}azureAsyncOperation/")), "{operation_url}");
    assert!(location_url.starts_with(&format!("{prefix}operationResults/")), "{location_url}");
    assert_eq!(accepted.header("retry-after"), "0");

    assert_eq!(h.parameter("azure.enable_temp_tablespaces_on_local_ssd").await["value"], "on", "not yet");
    assert_eq!(h.server(SERVER).await["properties"]["state"], "Updating");
    assert_eq!(h.get(&location_url).await.status, StatusCode::ACCEPTED);

    // The Location poll above counted as one of the two InProgress polls.
    let statuses = h.follow(&accepted).await;
    let names: Vec<&str> = statuses.iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(names, ["InProgress", "Succeeded"]);
    assert!(statuses[0]["startTime"].as_str().unwrap().ends_with('Z'));
    assert!(statuses[1]["endTime"].is_string());

    let parameter = h.parameter("azure.enable_temp_tablespaces_on_local_ssd").await;
    assert_eq!(parameter["value"], "off", "stored in the catalog's spelling");
    assert_eq!(parameter["source"], "user-override");
    assert_eq!(parameter["isConfigPendingRestart"], false, "dynamic");
    assert_eq!(h.server(SERVER).await["properties"]["state"], "Ready");
    let result = h.get(&location_url).await;
    assert_eq!(result.status, StatusCode::OK);
    assert_eq!(result.body["properties"]["value"], "off");
}

#[tokio::test]
async fn a_second_write_while_an_operation_runs_gets_409_server_busy() {
    let h = harness(quick_config()).await;
    let first = h.set_parameter("work_mem", "8192").await;
    assert_eq!(first.status, StatusCode::ACCEPTED);

    let second = h.set_parameter("wal_sender_timeout", "120000").await;
    expect_error(&second, StatusCode::CONFLICT, "ServerBusy");
    assert_eq!(second.error_message(), "Server 'target-pg' is busy with another operation. Please try again later.");
    expect_error(
        &h.call(Method::POST, &h.versioned(&format!("{SERVER}/restart")), None).await,
        StatusCode::CONFLICT,
        "ServerBusy",
    );
    let ha = json!({ "properties": { "highAvailability": { "mode": "Disabled" } } });
    expect_error(&h.call(Method::PATCH, &h.versioned(SERVER), Some(ha)).await, StatusCode::CONFLICT, "ServerBusy");
    // Other servers are not blocked.
    assert_eq!(
        h.call(Method::POST, &h.versioned(&format!("{REPLICA}/restart")), None).await.status,
        StatusCode::ACCEPTED
    );

    h.follow(&first).await;
    assert_eq!(h.set_parameter("wal_sender_timeout", "120000").await.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn an_operation_made_to_fail_changes_nothing() {
    let h = harness(quick_config()).await;
    h.arm.fail_next_operation("InternalServerError", "The disk controller caught fire.");
    let accepted = h.set_parameter("work_mem", "16384").await;
    let last = h.follow(&accepted).await.pop().unwrap();
    assert_eq!(last["status"], "Failed");
    assert_eq!(last["error"], json!({ "code": "InternalServerError", "message": "The disk controller caught fire." }));
    assert_eq!(h.parameter("work_mem").await["value"], "4096");
    assert_eq!(h.server(SERVER).await["properties"]["state"], "Ready");
    let location = h.get(accepted.header("location")).await;
    expect_error(&location, StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError");

    // Only the next operation fails.
    let accepted = h.set_parameter("work_mem", "16384").await;
    assert_eq!(h.follow(&accepted).await.pop().unwrap()["status"], "Succeeded");
    assert_eq!(h.parameter("work_mem").await["value"], "16384");
}

#[tokio::test]
async fn operations_finish_on_their_own_once_their_duration_has_passed() {
    let h = harness(FakeArmConfig { polls_until_done: 1000, ..quick_config() }).await;
    h.arm.set_operation_duration(Some(Duration::from_millis(300)));
    let disable = json!({ "properties": { "highAvailability": { "mode": "Disabled" } } });
    let accepted = h.call(Method::PATCH, &h.versioned(SERVER), Some(disable)).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert_eq!(h.server(SERVER).await["properties"]["highAvailability"]["state"], "RemovingStandby");
    // Nobody polls the operation (its client died); reading the server later shows it done.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = h.server(SERVER).await;
    assert_eq!(after["properties"]["highAvailability"]["mode"], "Disabled");
    assert_eq!(after["properties"]["state"], "Ready");
    assert_eq!(h.get(accepted.header("azure-asyncoperation")).await.body["status"], "Succeeded");
}

#[tokio::test]
async fn injected_busy_answers_refuse_writes_only() {
    let h = harness(quick_config()).await;
    h.arm.inject_busy(2);
    assert_eq!(h.get(&h.versioned(SERVER)).await.status, StatusCode::OK, "reads are not affected");
    let first = h.set_parameter("work_mem", "8192").await;
    expect_error(&first, StatusCode::CONFLICT, "ServerBusy");
    assert!(first.headers.get("retry-after").is_none());
    expect_error(
        &h.call(Method::POST, &h.versioned(&format!("{SERVER}/restart")), None).await,
        StatusCode::CONFLICT,
        "ServerBusy",
    );
    let accepted = h.set_parameter("work_mem", "8192").await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    h.follow(&accepted).await;
    assert_eq!(h.parameter("work_mem").await["value"], "8192");
}
