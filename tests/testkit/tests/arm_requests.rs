//! Tests of the fake ARM (`migprep_testkit::arm`) over real HTTPS, as a client meets it before any operation:
//! the Entra ID token flow, every rejection a strict ARM gives (token, api-version, subscription, resource
//! group, route, parameter values, bodies), injected 429/5xx and latency, and the request log.

mod common;

use common::arm::{
    REPLICA, RESOURCE_GROUP, SERVER, SUBSCRIPTION, expect_error, harness, into_reply, quick_config, request_token,
};
use migprep_testkit::arm::{API_VERSION, FakeArm, LINK_API_VERSION, ServerSeed};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn token_flow_issues_random_bearer_tokens_and_refuses_bad_credentials() {
    let h = harness(quick_config()).await;
    assert!(h.arm.endpoint().starts_with("https://127.0.0.1:"));
    // Signed, JWT-shaped, for the audience asked for.
    let claims = h.arm.token_key().verify(&h.token, std::time::SystemTime::now()).unwrap();
    assert_eq!(claims.aud, "https://management.azure.com");
    assert_eq!((claims.tid.as_str(), claims.appid.as_str()), (h.arm.tenant_id(), h.arm.client_id()));

    let again = request_token(&h.http, &h.arm, h.arm.client_secret(), "https://management.azure.com/.default").await;
    assert_eq!(again.body["token_type"], "Bearer");
    assert_eq!(again.body["expires_in"], 3599);
    assert_eq!(again.body["ext_expires_in"], 3599);
    assert_ne!(again.body["access_token"], json!(h.token), "tokens are random");

    let wrong_secret = request_token(&h.http, &h.arm, "not-the-secret", "https://management.azure.com/.default").await;
    assert_eq!(wrong_secret.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_secret.body["error"], "invalid_client");
    assert!(
        wrong_secret.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: Invalid client secret provided.")
    );
    assert_eq!(wrong_secret.body["error_codes"], json!([7000215]));

    let no_default =
        request_token(&h.http, &h.arm, h.arm.client_secret(), "https://management.azure.com/user_impersonation").await;
    assert_eq!(no_default.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_default.body["error"], "invalid_scope");

    let wrong_tenant = h
        .http
        .post(format!("{}/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token", h.arm.authority_host()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_tenant.status(), StatusCode::BAD_REQUEST);

    // ARM itself: no header, a token it never issued, and a token for another resource.
    let url = h.versioned(SERVER);
    let missing = into_reply(h.http.get(&url).send().await.unwrap()).await;
    expect_error(&missing, StatusCode::UNAUTHORIZED, "AuthenticationFailed");
    assert!(missing.header("www-authenticate").starts_with("Bearer authorization_uri="));
    let forged = into_reply(h.http.get(&url).bearer_auth("forged-token").send().await.unwrap()).await;
    expect_error(&forged, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    let graph = request_token(&h.http, &h.arm, h.arm.client_secret(), "https://graph.microsoft.com/.default").await;
    let graph_token = graph.body["access_token"].as_str().unwrap();
    let wrong_audience = into_reply(h.http.get(&url).bearer_auth(graph_token).send().await.unwrap()).await;
    expect_error(&wrong_audience, StatusCode::UNAUTHORIZED, "InvalidAuthenticationTokenAudience");

    assert_eq!(h.get(&url).await.status, StatusCode::OK);
}

#[tokio::test]
async fn requests_arm_would_reject_are_rejected_with_arm_codes() {
    let h = harness(quick_config()).await;
    let base = h.server_url(SERVER);

    expect_error(&h.get(&base).await, StatusCode::BAD_REQUEST, "MissingApiVersionParameter");
    expect_error(
        &h.get(&format!("{base}?api-version=2024-08-01")).await,
        StatusCode::BAD_REQUEST,
        "NoRegisteredProviderFound",
    );
    expect_error(
        &h.get(&format!("{base}?api-version=latest")).await,
        StatusCode::BAD_REQUEST,
        "InvalidApiVersionParameter",
    );
    // The service's own link version is good only on the links it hands out.
    let preview = h.get(&format!("{base}?api-version={LINK_API_VERSION}")).await;
    expect_error(&preview, StatusCode::BAD_REQUEST, "NoRegisteredProviderFound");

    let endpoint = h.arm.endpoint();
    let bad_subscription = format!(
        "{endpoint}/subscriptions/not-a-guid/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{SERVER}?api-version={API_VERSION}"
    );
    expect_error(&h.get(&bad_subscription).await, StatusCode::BAD_REQUEST, "InvalidSubscriptionId");
    let other_subscription = bad_subscription.replace("not-a-guid", "99999999-9999-4999-8999-999999999999");
    expect_error(&h.get(&other_subscription).await, StatusCode::NOT_FOUND, "SubscriptionNotFound");
    let other_group = bad_subscription.replace("not-a-guid", SUBSCRIPTION).replace(RESOURCE_GROUP, "nowhere-rg");
    expect_error(&h.get(&other_group).await, StatusCode::NOT_FOUND, "ResourceGroupNotFound");

    let missing_server = h.get(&h.versioned("no-such-server")).await;
    expect_error(&missing_server, StatusCode::NOT_FOUND, "ResourceNotFound");
    assert!(missing_server.error_message().contains("Microsoft.DBforPostgreSQL/flexibleServers/no-such-server"));

    let missing_parameter = h.get(&h.versioned(&format!("{SERVER}/configurations/no_such_parameter"))).await;
    expect_error(&missing_parameter, StatusCode::NOT_FOUND, "ConfigurationNotExists");
    assert_eq!(
        missing_parameter.error_message(),
        "The configuration 'no_such_parameter' does not exist for target-pg server version 16."
    );
    let missing_parameter_write = h.set_parameter("no_such_parameter", "1").await;
    expect_error(&missing_parameter_write, StatusCode::NOT_FOUND, "ConfigurationNotExists");

    let read_only = h.set_parameter("archive_mode", "on").await;
    expect_error(&read_only, StatusCode::BAD_REQUEST, "ReadOnlyParameter");

    for (name, value, why) in [
        ("max_replication_slots", "1", "outside the allowed range '2-262143'"),
        ("max_replication_slots", "ten", "not an integer"),
        ("wal_level", "minimal", "not one of the allowed values 'replica,logical'"),
        ("azure.enable_temp_tablespaces_on_local_ssd", "maybe", "not one of the allowed values"),
        ("azure.extensions", "pg_cron,not_an_extension", "'not_an_extension' not in the allowed values"),
        ("shared_preload_libraries", "pg_cron,,pglogical", "not in the allowed values"),
        ("work_mem", "64MB", "not an integer"),
        ("application_name", "has spaces", "does not match the allowed pattern"),
        ("checkpoint_completion_target", "1.5", "outside the allowed range '0-1'"),
    ] {
        let reply = h.set_parameter(name, value).await;
        expect_error(&reply, StatusCode::BAD_REQUEST, "InvalidParameterValue");
        assert!(reply.error_message().contains(name), "{name}: {}", reply.error_message());
        assert!(reply.error_message().contains(why), "{name}={value}: {}", reply.error_message());
    }

    let config_url = h.versioned(&format!("{SERVER}/configurations/work_mem"));
    let no_value =
        h.call(Method::PATCH, &config_url, Some(json!({ "properties": { "source": "user-override" } }))).await;
    expect_error(&no_value, StatusCode::BAD_REQUEST, "InvalidRequestContent");
    let numeric_value = h.call(Method::PUT, &config_url, Some(json!({ "properties": { "value": 8192 } }))).await;
    expect_error(&numeric_value, StatusCode::BAD_REQUEST, "InvalidRequestContent");
    let no_body = h.call(Method::PATCH, &config_url, None).await;
    expect_error(&no_body, StatusCode::BAD_REQUEST, "InvalidRequestContent");
    let bad_source =
        h.call(Method::PATCH, &config_url, Some(json!({ "properties": { "value": "8192", "source": "me" } }))).await;
    expect_error(&bad_source, StatusCode::BAD_REQUEST, "InvalidParameterValue");

    let server_url = h.versioned(SERVER);
    let ha_off = h
        .call(Method::PATCH, &server_url, Some(json!({ "properties": { "highAvailability": { "mode": "Off" } } })))
        .await;
    expect_error(&ha_off, StatusCode::BAD_REQUEST, "InvalidParameterValue");
    let same_zone_standby =
        json!({ "properties": { "highAvailability": { "mode": "ZoneRedundant", "standbyAvailabilityZone": "1" } } });
    expect_error(
        &h.call(Method::PATCH, &server_url, Some(same_zone_standby)).await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValue",
    );
    let shrink = h
        .call(Method::PATCH, &server_url, Some(json!({ "properties": { "storage": { "storageSizeGB": 128 } } })))
        .await;
    expect_error(&shrink, StatusCode::BAD_REQUEST, "InvalidParameterValue");
    assert!(shrink.error_message().contains("can't be decreased"));
    let odd_size = h
        .call(Method::PATCH, &server_url, Some(json!({ "properties": { "storage": { "storageSizeGB": 300 } } })))
        .await;
    expect_error(&odd_size, StatusCode::BAD_REQUEST, "InvalidParameterValue");
    let unknown_sku = h
        .call(Method::PATCH, &server_url, Some(json!({ "sku": { "name": "Standard_Z99", "tier": "GeneralPurpose" } })))
        .await;
    expect_error(&unknown_sku, StatusCode::BAD_REQUEST, "InvalidParameterValue");
    let burstable_with_ha = h
        .call(Method::PATCH, &server_url, Some(json!({ "sku": { "name": "Standard_B2s", "tier": "Burstable" } })))
        .await;
    expect_error(&burstable_with_ha, StatusCode::BAD_REQUEST, "InvalidParameterValue");
    let failover_without_ha = h
        .call(Method::POST, &h.versioned(&format!("{REPLICA}/restart")), Some(json!({ "restartWithFailover": true })))
        .await;
    expect_error(&failover_without_ha, StatusCode::BAD_REQUEST, "InvalidParameterValue");

    expect_error(&h.call(Method::POST, &server_url, None).await, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
    // What Azure does to the replicas of a deleted primary is not modelled, so it is refused, not guessed.
    expect_error(&h.call(Method::DELETE, &server_url, None).await, StatusCode::BAD_REQUEST, "NotSupported");
    let not_a_replica = json!({ "location": "eastus", "properties": { "createMode": "Default" } });
    expect_error(
        &h.call(Method::PUT, &h.versioned("new-pg"), Some(not_a_replica)).await,
        StatusCode::BAD_REQUEST,
        "NotSupported",
    );
    let replica_of_replica = json!({
        "location": "eastus",
        "properties": { "createMode": "Replica", "sourceServerResourceId": FakeArm::server_resource_id(SUBSCRIPTION, RESOURCE_GROUP, REPLICA) }
    });
    expect_error(
        &h.call(Method::PUT, &h.versioned("new-pg"), Some(replica_of_replica)).await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValue",
    );
    expect_error(
        &h.get(&h.versioned(&format!("{SERVER}/databases"))).await,
        StatusCode::NOT_FOUND,
        "InvalidResourceType",
    );

    // Nothing above started an operation: the server is still idle.
    assert_eq!(h.server(SERVER).await["properties"]["state"], "Ready");
    assert!(h.arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, ServerSeed::new(SERVER)).is_err(), "duplicate name");
    let bad_parameter = ServerSeed::new("other-pg").configuration("wal_level", "minimal");
    assert!(h.arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, bad_parameter).is_err());
    let burstable_ha = ServerSeed::new("other-pg").sku("Standard_B2s", "Burstable").high_availability("SameZone", "");
    assert!(h.arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, burstable_ha).is_err());
}

#[tokio::test]
async fn injected_throttling_and_server_errors_clear_after_their_count() {
    let h = harness(quick_config()).await;
    h.arm.inject_throttling(1, 1);
    let started = Instant::now();
    let throttled = h.get(&h.versioned(SERVER)).await;
    expect_error(&throttled, StatusCode::TOO_MANY_REQUESTS, "SubscriptionRequestsThrottled");
    let retry_after: u64 = throttled.header("retry-after").parse().expect("a Retry-After in seconds");
    assert_eq!(retry_after, 1);
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(h.get(&h.versioned(SERVER)).await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_secs(1));

    h.arm.inject_server_errors(2, 503);
    expect_error(&h.get(&h.versioned(SERVER)).await, StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
    expect_error(&h.get(&h.versioned(SERVER)).await, StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
    assert_eq!(h.get(&h.versioned(SERVER)).await.status, StatusCode::OK);

    h.arm.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(h.get(&h.versioned(SERVER)).await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn the_request_log_records_method_path_query_and_status() {
    let h = harness(quick_config()).await;
    h.arm.clear_requests();
    h.get(&h.versioned(SERVER)).await;
    let restart = h.call(Method::POST, &h.versioned(&format!("{SERVER}/restart")), None).await;
    h.follow(&restart).await;
    h.get(&h.server_url(SERVER)).await;

    let log = h.arm.requests();
    assert_eq!(log[0].method, "GET");
    assert_eq!(
        log[0].path,
        format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{SERVER}"
        )
    );
    assert_eq!(log[0].query.as_deref(), Some("api-version=2025-08-01"));
    assert_eq!(log[0].status, 200);
    assert_eq!((log[1].method.as_str(), log[1].status), ("POST", 202));
    assert_eq!(log.last().unwrap().status, 400);
    assert_eq!(h.arm.count_requests("POST", "/restart"), 1);
    assert_eq!(h.arm.count_requests("GET", "/flexibleServers/target-pg"), 2);
}
