//! Tests of the fake ARM's server parameters: the configuration list paged through `nextLink` as the service
//! shapes it, and a static change that stays pending until a restart, which runs the restart hook once with
//! the server's restart settings.

mod common;

use common::arm::{RESOURCE_GROUP, SERVER, SUBSCRIPTION, expect_error, harness, quick_config};
use migprep_testkit::arm::{FakeArmConfig, LINK_API_VERSION, RestartHook};
use reqwest::{Method, StatusCode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn configuration_list_takes_several_pages_through_next_link() {
    let h = harness(quick_config()).await;
    let mut url = h.versioned(&format!("{SERVER}/configurations"));
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let reply = h.get(&url).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        pages += 1;
        let items = reply.body["value"].as_array().expect("a value array");
        assert!(items.len() <= 100);
        for item in items {
            assert_eq!(item["type"], "Microsoft.DBforPostgreSQL/flexibleServers/configurations");
            assert!(
                item["id"].as_str().unwrap().ends_with(&format!("/configurations/{}", item["name"].as_str().unwrap()))
            );
            names.push(item["name"].as_str().unwrap().to_owned());
        }
        match reply.body["nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("//resourceGroups/"), "shaped like ARM's: {next}");
                assert!(next.contains(&format!("api-version={LINK_API_VERSION}")), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(names.len(), 415);
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), 415);
    for required in [
        "azure.enable_temp_tablespaces_on_local_ssd",
        "azure.extensions",
        "shared_preload_libraries",
        "max_replication_slots",
        "max_wal_senders",
        "wal_level",
        "wal_sender_timeout",
        "max_worker_processes",
        "work_mem",
    ] {
        assert!(names.iter().any(|n| n == required), "{required} is listed");
    }

    let extensions = h.parameter("azure.extensions").await;
    assert_eq!(extensions["dataType"], "Set");
    assert_eq!(extensions["isDynamicConfig"], true);
    assert!(extensions["allowedValues"].as_str().unwrap().split(',').count() > 60);
    let senders = h.parameter("max_wal_senders").await;
    assert_eq!(senders["value"], "20", "seeded override");
    assert_eq!(senders["source"], "user-override");
    assert_eq!(senders["isConfigPendingRestart"], false);

    let bad_token = h.get(&format!("{}&$skiptoken=9999", h.versioned(&format!("{SERVER}/configurations")))).await;
    expect_error(&bad_token, StatusCode::BAD_REQUEST, "InvalidSkipToken");
}

#[tokio::test]
async fn a_static_change_waits_for_a_restart_which_runs_the_hook_once() {
    let calls: Arc<Mutex<Vec<BTreeMap<String, String>>>> = Arc::default();
    let recorded = calls.clone();
    let hook: RestartHook = Arc::new(move |settings| {
        let recorded = recorded.clone();
        Box::pin(async move {
            recorded.lock().unwrap().push(settings);
            Ok(())
        })
    });
    let h = harness(FakeArmConfig { on_restart: Some(hook), ..quick_config() }).await;

    let libraries = "pg_cron,pg_stat_statements,pglogical";
    let accepted = h.set_parameter("shared_preload_libraries", " pg_cron, pg_stat_statements,pglogical").await;
    assert_eq!(h.follow(&accepted).await.last().unwrap()["status"], "Succeeded");
    let parameter = h.parameter("shared_preload_libraries").await;
    assert_eq!(parameter["value"], libraries);
    assert_eq!(parameter["isDynamicConfig"], false);
    assert_eq!(parameter["isConfigPendingRestart"], true);
    let running = h.arm.running_value(SUBSCRIPTION, RESOURCE_GROUP, SERVER, "shared_preload_libraries");
    assert_eq!(running.as_deref(), Some("pg_cron,pg_stat_statements"), "PostgreSQL still runs the old value");
    assert!(calls.lock().unwrap().is_empty());

    let restart = h.call(Method::POST, &h.versioned(&format!("{SERVER}/restart")), None).await;
    assert_eq!(restart.status, StatusCode::ACCEPTED);
    assert_eq!(h.server(SERVER).await["properties"]["state"], "Restarting");
    // A restart's final state is read through Location: 202 while running, then 204.
    let location = restart.header("location").to_owned();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let reply = h.get(&location).await;
        statuses.push(reply.status.as_u16());
        if reply.status != StatusCode::ACCEPTED {
            break;
        }
        assert!(reply.header("retry-after").parse::<u32>().is_ok());
    }
    assert_eq!(statuses, [202, 202, 204]);
    assert_eq!(h.get(restart.header("azure-asyncoperation")).await.body["status"], "Succeeded");

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "the hook runs once per restart");
    assert_eq!(calls[0]["shared_preload_libraries"], libraries);
    assert_eq!(calls[0]["wal_level"], "replica");
    assert_eq!(calls[0]["max_wal_senders"], "20");
    assert!(!calls[0].contains_key("work_mem"), "dynamic parameters are not restart settings");
    assert_eq!(h.parameter("shared_preload_libraries").await["isConfigPendingRestart"], false);
    assert_eq!(h.server(SERVER).await["properties"]["state"], "Ready");
    assert_eq!(h.arm.count_requests("POST", "/restart"), 1);
}
