//! The RDS stand-in as migprep's AWS provider sees it: the real `aws-sdk-rds` client against
//! `RdsStandIn::endpoint()`, checking each gap of aws.md §3.3 that the fidelity layer closes (default
//! groups, catalog, Source/filters/pagination, validation errors, pending-reboot and reboots with the hook,
//! endpoints, throttling and other faults, shared groups).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_rds::Client;
use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::config::retry::RetryConfig;
use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::{ApplyMethod, DbCluster, Filter, Parameter};
use migprep_testkit::rds::{ClusterSeed, Fault, GroupSeed, RdsConfig, RdsStandIn, SettingsHook, settings_hook};

async fn stand_in() -> Option<RdsStandIn> {
    RdsStandIn::start_or_skip(RdsConfig::default()).await
}

/// A client like the tool's, with `attempts` tries and a short backoff so retry tests stay fast.
fn client(rds: &RdsStandIn, attempts: u32) -> Client {
    let config = aws_sdk_rds::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(rds.region().to_string()))
        .endpoint_url(rds.endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "static-test"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(20))
                .with_max_backoff(Duration::from_millis(100)),
        )
        .build();
    Client::from_conf(config)
}

/// Asserts an AWS-shaped rejection: HTTP status, error code and message.
#[track_caller]
fn assert_rejected<T: Debug, E>(result: Result<T, SdkError<E, HttpResponse>>, status: u16, code: &str, message: &str)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let err = result.expect_err("the stand-in should have refused this request");
    let context = DisplayErrorContext(&err).to_string();
    assert_eq!(err.code(), Some(code), "{context}");
    assert_eq!(err.message(), Some(message), "{context}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(status), "{context}");
}

fn param(name: &str, value: &str, method: ApplyMethod) -> Parameter {
    Parameter::builder().parameter_name(name).parameter_value(value).apply_method(method).build()
}

fn name_filter(names: &[&str]) -> Filter {
    names.iter().fold(Filter::builder().name("parameter-name"), |f, n| f.values(*n)).build()
}

async fn describe_cluster(rds: &Client, id: &str) -> DbCluster {
    let out = rds.describe_db_clusters().db_cluster_identifier(id).send().await.expect("describe cluster");
    out.db_clusters()[0].clone()
}

/// `instance → DBClusterParameterGroupStatus` of a cluster's members.
async fn member_status(rds: &Client, id: &str) -> BTreeMap<String, String> {
    describe_cluster(rds, id)
        .await
        .db_cluster_members()
        .iter()
        .map(|m| {
            (
                m.db_instance_identifier().unwrap().to_string(),
                m.db_cluster_parameter_group_status().unwrap().to_string(),
            )
        })
        .collect()
}

async fn instance_status(rds: &Client, id: &str) -> String {
    let out = rds.describe_db_instances().db_instance_identifier(id).send().await.expect("describe instance");
    out.db_instances()[0].db_instance_status().unwrap().to_string()
}

async fn create_group(rds: &Client, name: &str, family: &str) {
    rds.create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name(name)
        .db_parameter_group_family(family)
        .description("migration settings")
        .send()
        .await
        .expect("create group");
}

async fn user_parameters(rds: &Client, group: &str) -> BTreeMap<String, String> {
    let params: Vec<Parameter> = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name(group)
        .source("user")
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .expect("user parameters");
    params
        .iter()
        .map(|p| (p.parameter_name().unwrap().to_string(), p.parameter_value().unwrap_or_default().to_string()))
        .collect()
}

/// A reboot hook that records what it was given, like `PgServer::restart_with` would receive it.
/// What a recording hook was called with, one map per call.
type Calls = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

fn recording_hook(delay: Duration) -> (SettingsHook, Calls) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let hook = settings_hook(move |settings| {
        let seen = seen.clone();
        async move {
            tokio::time::sleep(delay).await;
            seen.lock().unwrap().push(settings);
            Ok(())
        }
    });
    (hook, calls)
}

#[tokio::test]
async fn seeded_cluster_is_on_the_default_group_which_is_read_only() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    stand_in
        .seed_cluster(ClusterSeed {
            endpoint_port: Some(15432),
            publicly_accessible: true,
            ..ClusterSeed::new("orders", "15.4")
        })
        .await
        .unwrap();
    let rds = client(&stand_in, 1);

    let cluster = describe_cluster(&rds, "orders").await;
    assert_eq!(cluster.db_cluster_parameter_group(), Some("default.aurora-postgresql15"));
    assert_eq!(cluster.status(), Some("available"));
    assert_eq!((cluster.endpoint(), cluster.port()), (Some("127.0.0.1"), Some(15432)));
    let members = cluster.db_cluster_members();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].db_instance_identifier(), Some("orders-instance-1"));
    assert_eq!(members[0].is_cluster_writer(), Some(true));
    assert_eq!(members[0].db_cluster_parameter_group_status(), Some("in-sync"));
    let instance = rds.describe_db_instances().db_instance_identifier("orders-instance-1").send().await.unwrap();
    let instance = &instance.db_instances()[0];
    assert_eq!(instance.publicly_accessible(), Some(true));
    assert_eq!(instance.db_instance_class(), Some("db.r6g.large"));

    let groups = rds.describe_db_cluster_parameter_groups().send().await.unwrap();
    let names: Vec<_> =
        groups.db_cluster_parameter_groups().iter().filter_map(|g| g.db_cluster_parameter_group_name()).collect();
    for major in 13..=17 {
        assert!(names.contains(&format!("default.aurora-postgresql{major}").as_str()), "{names:?}");
    }

    assert_rejected(
        rds.modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name("default.aurora-postgresql15")
            .parameters(param("rds.logical_replication", "1", ApplyMethod::PendingReboot))
            .send()
            .await,
        400,
        "InvalidParameterValue",
        "Cannot modify a default parameter group.",
    );
    assert_rejected(
        rds.delete_db_cluster_parameter_group()
            .db_cluster_parameter_group_name("default.aurora-postgresql15")
            .send()
            .await,
        400,
        "InvalidDBParameterGroupState",
        "Default DBClusterParameterGroup cannot be deleted: default.aurora-postgresql15",
    );
    let copy = rds
        .copy_db_cluster_parameter_group()
        .source_db_cluster_parameter_group_identifier("default.aurora-postgresql15")
        .target_db_cluster_parameter_group_identifier("orders-copy")
        .target_db_cluster_parameter_group_description("copy")
        .send()
        .await;
    assert_eq!(copy.unwrap_err().code(), Some("InvalidParameterValue"));
    // Nothing reached the default group.
    assert!(user_parameters(&rds, "default.aurora-postgresql15").await.is_empty());
}

#[tokio::test]
async fn catalog_pages_filters_and_source_user() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    let rds = client(&stand_in, 1);
    create_group(&rds, "Orders-Migration", "aurora-postgresql15").await;

    // A new group starts from the catalog; the paginator walks several pages of 50.
    let all: Vec<Parameter> = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name("orders-migration")
        .into_paginator()
        .page_size(50)
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .unwrap();
    assert!(all.len() >= 150, "{} parameters", all.len());
    let pages = stand_in.requests_for("DescribeDBClusterParameters");
    assert_eq!(pages.len(), all.len().div_ceil(50));
    assert!(pages[1].param("Marker").is_some());
    let find = |name: &str| all.iter().find(|p| p.parameter_name() == Some(name)).unwrap_or_else(|| panic!("{name}"));
    let lr = find("rds.logical_replication");
    assert_eq!(
        (lr.parameter_value(), lr.source(), lr.apply_type(), lr.data_type(), lr.allowed_values(), lr.is_modifiable()),
        (Some("0"), Some("engine-default"), Some("static"), Some("boolean"), Some("0,1"), Some(true))
    );
    assert_eq!(find("max_replication_slots").parameter_value(), Some("20"));
    assert_eq!(find("max_wal_senders").parameter_value(), Some("10"));
    assert_eq!(find("max_logical_replication_workers").parameter_value(), None);
    assert_eq!(find("max_worker_processes").parameter_value(), Some("GREATEST({DBInstanceVCPU*2},8)"));
    let wst = find("wal_sender_timeout");
    assert_eq!(
        (wst.apply_type(), wst.allowed_values(), wst.parameter_value()),
        (Some("dynamic"), Some("0-3600000"), None)
    );
    assert_eq!(find("shared_preload_libraries").data_type(), Some("list"));
    assert_eq!(find("port").is_modifiable(), Some(false));
    assert_eq!(find("port").source(), Some("system"));
    assert!(all.iter().all(|p| p.description().is_some() && p.apply_type().is_some() && p.data_type().is_some()));

    // The engine defaults of a family page the same way (moto answers HTTP 500 for this one).
    let mut defaults = 0;
    let mut pages = rds
        .describe_engine_default_cluster_parameters()
        .db_parameter_group_family("aurora-postgresql16")
        .into_paginator()
        .page_size(100)
        .send();
    while let Some(page) = pages.next().await {
        defaults += page.unwrap().engine_defaults().unwrap().parameters().len();
    }
    assert!(defaults >= 150);

    for bad in [19, 101] {
        assert_rejected(
            rds.describe_db_cluster_parameters()
                .db_cluster_parameter_group_name("orders-migration")
                .max_records(bad)
                .send()
                .await,
            400,
            "InvalidParameterValue",
            &format!("Invalid value {bad} for MaxRecords. Must be between 20 and 100"),
        );
    }

    rds.modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-migration")
        .parameters(param("rds.logical_replication", "1", ApplyMethod::PendingReboot))
        .parameters(param("wal_sender_timeout", "0", ApplyMethod::Immediate))
        .send()
        .await
        .unwrap();
    assert_eq!(
        user_parameters(&rds, "orders-migration").await,
        BTreeMap::from([("rds.logical_replication".into(), "1".into()), ("wal_sender_timeout".into(), "0".into())])
    );
    let filtered = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name("orders-migration")
        .filters(name_filter(&["rds.logical_replication", "max_wal_senders"]))
        .send()
        .await
        .unwrap();
    let got: Vec<_> = filtered
        .parameters()
        .iter()
        .map(|p| (p.parameter_name().unwrap(), p.parameter_value().unwrap(), p.source().unwrap()))
        .collect();
    assert_eq!(got, vec![("max_wal_senders", "10", "engine-default"), ("rds.logical_replication", "1", "user")]);
    assert_eq!(filtered.marker(), None);
    let engine_default = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name("orders-migration")
        .source("engine-default")
        .filters(name_filter(&["rds.logical_replication", "max_wal_senders"]))
        .send()
        .await
        .unwrap();
    assert_eq!(engine_default.parameters().len(), 1);
}

#[tokio::test]
async fn modify_is_validated_like_rds() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    let rds = client(&stand_in, 1);
    create_group(&rds, "strict", "aurora-postgresql16").await;
    let modify = |params: Vec<Parameter>| {
        rds.modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name("strict")
            .set_parameters(Some(params))
            .send()
    };

    let too_many: Vec<Parameter> = [
        "enable_seqscan",
        "enable_indexscan",
        "enable_hashjoin",
        "enable_mergejoin",
        "enable_nestloop",
        "enable_sort",
        "enable_material",
        "enable_bitmapscan",
        "enable_tidscan",
        "enable_hashagg",
        "enable_gathermerge",
        "enable_memoize",
        "enable_parallel_hash",
        "enable_parallel_append",
        "enable_partition_pruning",
        "enable_indexonlyscan",
        "enable_incremental_sort",
        "enable_async_append",
        "enable_partitionwise_join",
        "enable_partitionwise_aggregate",
        "jit",
    ]
    .iter()
    .map(|n| param(n, "1", ApplyMethod::Immediate))
    .collect();
    assert_eq!(too_many.len(), 21);
    assert_rejected(
        modify(too_many.clone()).await,
        400,
        "InvalidParameterValue",
        "The number of parameters in one request (21) exceeds the maximum of 20.",
    );
    assert_rejected(
        modify(vec![param("no_such_param", "1", ApplyMethod::Immediate)]).await,
        400,
        "InvalidParameterValue",
        "Could not find parameter with name: no_such_param",
    );
    assert_rejected(
        modify(vec![param("max_wal_senders", "-7", ApplyMethod::PendingReboot)]).await,
        400,
        "InvalidParameterValue",
        "Invalid parameter value: -7 for: max_wal_senders allowed values are: 0-262143",
    );
    assert_rejected(
        modify(vec![param("wal_sender_timeout", "3600001", ApplyMethod::Immediate)]).await,
        400,
        "InvalidParameterValue",
        "Invalid parameter value: 3600001 for: wal_sender_timeout allowed values are: 0-3600000",
    );
    assert_rejected(
        modify(vec![param("rds.logical_replication", "on", ApplyMethod::PendingReboot)]).await,
        400,
        "InvalidParameterValue",
        "Invalid parameter value: on for: rds.logical_replication allowed values are: 0,1",
    );
    assert_rejected(
        modify(vec![param("port", "5433", ApplyMethod::PendingReboot)]).await,
        400,
        "InvalidParameterValue",
        "The parameter port cannot be modified.",
    );
    // One bad entry among good ones rejects the whole call.
    assert_rejected(
        modify(vec![
            param("wal_sender_timeout", "0", ApplyMethod::Immediate),
            param("rds.logical_replication", "1", ApplyMethod::Immediate),
        ])
        .await,
        400,
        "InvalidParameterCombination",
        "cannot use immediate apply method for static parameter",
    );
    assert!(user_parameters(&rds, "strict").await.is_empty());

    // Twenty is fine, and the log shows how the tool batched its calls.
    stand_in.clear_requests();
    modify(too_many[..20].to_vec()).await.unwrap();
    modify(too_many[20..].to_vec()).await.unwrap();
    let calls = stand_in.requests_for("ModifyDBClusterParameterGroup");
    let sizes: Vec<usize> = calls.iter().map(|c| c.parameter_names().len()).collect();
    assert_eq!(sizes, vec![20, 1]);
    assert!(calls.iter().all(|c| c.status == Some(200)));
    assert_eq!(user_parameters(&rds, "strict").await.len(), 21);
    assert_eq!(stand_in.user_parameters("strict").unwrap().len(), 21);
}

#[tokio::test]
async fn missing_and_conflicting_resources() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    stand_in.seed_cluster(ClusterSeed::new("billing", "15.4")).await.unwrap();
    let rds = client(&stand_in, 1);

    let err = rds
        .modify_db_cluster()
        .db_cluster_identifier("nope")
        .db_cluster_parameter_group_name("default.aurora-postgresql15")
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_db_cluster_not_found_fault()));
    assert_rejected(
        rds.modify_db_cluster().db_cluster_identifier("nope").apply_immediately(true).send().await,
        404,
        "DBClusterNotFoundFault",
        "DBCluster nope not found.",
    );
    assert_rejected(
        rds.modify_db_cluster()
            .db_cluster_identifier("billing")
            .db_cluster_parameter_group_name("does-not-exist")
            .apply_immediately(true)
            .send()
            .await,
        404,
        "DBClusterParameterGroupNotFound",
        "DBClusterParameterGroup does-not-exist not found.",
    );
    create_group(&rds, "billing-14", "aurora-postgresql14").await;
    let wrong_family = rds
        .modify_db_cluster()
        .db_cluster_identifier("billing")
        .db_cluster_parameter_group_name("billing-14")
        .apply_immediately(true)
        .send()
        .await;
    assert_eq!(wrong_family.unwrap_err().code(), Some("InvalidParameterCombination"));
    // The refused modifications left the cluster alone (moto would lose it, G12).
    assert_eq!(
        describe_cluster(&rds, "billing").await.db_cluster_parameter_group(),
        Some("default.aurora-postgresql15")
    );

    let duplicate = rds
        .create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("BILLING-14")
        .db_parameter_group_family("aurora-postgresql14")
        .description("again")
        .send()
        .await;
    assert_rejected(duplicate, 400, "DBParameterGroupAlreadyExists", "Parameter group billing-14 already exists");
    let bad_family = rds
        .create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("whatever")
        .db_parameter_group_family("nonsense99")
        .description("x")
        .send()
        .await;
    assert_eq!(bad_family.unwrap_err().code(), Some("InvalidParameterValue"));
    let bad_name = rds
        .create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("bad--name")
        .db_parameter_group_family("aurora-postgresql15")
        .description("x")
        .send()
        .await;
    assert_eq!(bad_name.unwrap_err().code(), Some("InvalidParameterValue"));
    assert_rejected(
        rds.describe_db_cluster_parameters().db_cluster_parameter_group_name("ghost").send().await,
        404,
        "DBParameterGroupNotFound",
        "DBClusterParameterGroup not found: ghost",
    );
    assert_rejected(
        rds.reboot_db_instance().db_instance_identifier("ghost").send().await,
        404,
        "DBInstanceNotFound",
        "DBInstance ghost not found.",
    );

    create_group(&rds, "billing-15", "aurora-postgresql15").await;
    rds.modify_db_cluster()
        .db_cluster_identifier("billing")
        .db_cluster_parameter_group_name("billing-15")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_rejected(
        rds.delete_db_cluster_parameter_group().db_cluster_parameter_group_name("billing-15").send().await,
        400,
        "InvalidDBParameterGroupState",
        "One or more DB clusters are still associated with DB cluster parameter group billing-15, so it cannot \
         be deleted: billing",
    );
    rds.delete_db_cluster_parameter_group().db_cluster_parameter_group_name("billing-14").send().await.unwrap();
    assert!(stand_in.user_parameters("billing-14").is_none());
}

#[tokio::test]
async fn attach_reboot_writer_then_reader() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    let (hook, calls) = recording_hook(Duration::from_millis(300));
    stand_in
        .seed_cluster(ClusterSeed {
            writer: "orders-writer".into(),
            readers: vec!["orders-reader".into()],
            endpoint_port: Some(25432),
            reboot_hook: Some(hook),
            ..ClusterSeed::new("orders", "15.4")
        })
        .await
        .unwrap();
    let rds = client(&stand_in, 1);

    create_group(&rds, "orders-migration", "aurora-postgresql15").await;
    rds.modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-migration")
        .parameters(param("rds.logical_replication", "1", ApplyMethod::PendingReboot))
        .parameters(param("max_replication_slots", "25", ApplyMethod::PendingReboot))
        .parameters(param("max_wal_senders", "35", ApplyMethod::PendingReboot))
        .parameters(param("wal_sender_timeout", "0", ApplyMethod::Immediate))
        .send()
        .await
        .unwrap();
    // Editing a group no cluster uses changes no member.
    assert!(member_status(&rds, "orders").await.values().all(|s| s == "in-sync"));

    let attached = rds
        .modify_db_cluster()
        .db_cluster_identifier("orders")
        .db_cluster_parameter_group_name("orders-migration")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let cluster = attached.db_cluster().unwrap();
    assert_eq!(cluster.db_cluster_parameter_group(), Some("orders-migration"));
    assert!(
        cluster.db_cluster_members().iter().all(|m| m.db_cluster_parameter_group_status() == Some("pending-reboot"))
    );
    assert_eq!(
        member_status(&rds, "orders").await,
        BTreeMap::from([
            ("orders-reader".into(), "pending-reboot".into()),
            ("orders-writer".into(), "pending-reboot".into())
        ])
    );

    let rebooted = rds.reboot_db_instance().db_instance_identifier("orders-writer").send().await.unwrap();
    assert_eq!(rebooted.db_instance().unwrap().db_instance_status(), Some("rebooting"));
    assert_rejected(
        rds.reboot_db_instance().db_instance_identifier("orders-writer").send().await,
        400,
        "InvalidDBInstanceState",
        "DB instance orders-writer is not in available state.",
    );
    assert_eq!(instance_status(&rds, "orders-writer").await, "rebooting");
    assert_eq!(instance_status(&rds, "orders-writer").await, "rebooting");
    let started = Instant::now();
    let mut status = instance_status(&rds, "orders-writer").await;
    while status == "rebooting" {
        assert!(started.elapsed() < Duration::from_secs(10), "still rebooting");
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = instance_status(&rds, "orders-writer").await;
    }
    assert_eq!(status, "available");
    // 15.4 has read availability: the reader keeps its old settings until rebooted itself.
    assert_eq!(
        member_status(&rds, "orders").await,
        BTreeMap::from([("orders-reader".into(), "pending-reboot".into()), ("orders-writer".into(), "in-sync".into())])
    );
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0],
            BTreeMap::from([
                ("max_replication_slots".into(), "25".into()),
                ("max_wal_senders".into(), "35".into()),
                ("wal_level".into(), "logical".into()),
                ("wal_sender_timeout".into(), "0".into()),
            ])
        );
    }
    assert_eq!(stand_in.postgres_settings("orders-migration").unwrap()["wal_level"], "logical");

    // The cluster endpoint still leads to the local server.
    let cluster = describe_cluster(&rds, "orders").await;
    assert_eq!((cluster.endpoint(), cluster.port()), (Some("127.0.0.1"), Some(25432)));

    rds.reboot_db_instance().db_instance_identifier("orders-reader").send().await.unwrap();
    while instance_status(&rds, "orders-reader").await == "rebooting" {}
    assert!(member_status(&rds, "orders").await.values().all(|s| s == "in-sync"));
    assert_eq!(calls.lock().unwrap().len(), 1, "a reader reboot does not restart the writer's server");

    // A dynamic change applied immediately needs no reboot; a static one on the attached group does.
    rds.modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-migration")
        .parameters(param("wal_sender_timeout", "30000", ApplyMethod::Immediate))
        .send()
        .await
        .unwrap();
    assert!(member_status(&rds, "orders").await.values().all(|s| s == "in-sync"));
    rds.modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-migration")
        .parameters(param("max_wal_senders", "40", ApplyMethod::PendingReboot))
        .send()
        .await
        .unwrap();
    assert!(member_status(&rds, "orders").await.values().all(|s| s == "pending-reboot"));
    assert!(stand_in.hook_errors().is_empty());
}

#[tokio::test]
async fn before_read_availability_a_writer_reboot_takes_the_readers_along() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    let (hook, calls) = recording_hook(Duration::ZERO);
    stand_in
        .seed_parameter_group(
            GroupSeed::new("legacy-migration", "aurora-postgresql14").value("rds.logical_replication", "1"),
        )
        .unwrap();
    stand_in
        .seed_cluster(ClusterSeed {
            readers: vec!["legacy-reader".into()],
            reboot_hook: Some(hook),
            ..ClusterSeed::new("legacy", "14.6")
        })
        .await
        .unwrap();
    let rds = client(&stand_in, 1);
    rds.modify_db_cluster()
        .db_cluster_identifier("legacy")
        .db_cluster_parameter_group_name("legacy-migration")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    rds.reboot_db_instance().db_instance_identifier("legacy-instance-1").send().await.unwrap();
    assert_eq!(instance_status(&rds, "legacy-reader").await, "rebooting");
    while instance_status(&rds, "legacy-instance-1").await == "rebooting" {}
    while instance_status(&rds, "legacy-reader").await == "rebooting" {}
    assert!(member_status(&rds, "legacy").await.values().all(|s| s == "in-sync"));
    assert_eq!(calls.lock().unwrap()[0]["wal_level"], "logical");
}

#[tokio::test]
async fn failing_reboot_hook_leaves_incompatible_parameters() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    let hook = settings_hook(|_| async { anyhow::bail!("postgres did not come back") });
    stand_in.seed_cluster(ClusterSeed { reboot_hook: Some(hook), ..ClusterSeed::new("broken", "16.4") }).await.unwrap();
    let rds = client(&stand_in, 1);
    rds.reboot_db_instance().db_instance_identifier("broken-instance-1").send().await.unwrap();
    let mut status = instance_status(&rds, "broken-instance-1").await;
    while status == "rebooting" {
        status = instance_status(&rds, "broken-instance-1").await;
    }
    assert_eq!(status, "incompatible-parameters");
    assert_eq!(stand_in.hook_errors().len(), 1);
}

#[tokio::test]
async fn reload_hook_gets_dynamic_changes_applied_immediately() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    let (reload, calls) = recording_hook(Duration::ZERO);
    stand_in.seed_parameter_group(GroupSeed::new("live", "aurora-postgresql17")).unwrap();
    stand_in
        .seed_cluster(ClusterSeed {
            parameter_group: Some("live".into()),
            reload_hook: Some(reload),
            ..ClusterSeed::new("live", "17.4")
        })
        .await
        .unwrap();
    let rds = client(&stand_in, 1);
    rds.modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("live")
        .parameters(param("wal_sender_timeout", "0", ApplyMethod::Immediate))
        .parameters(param("work_mem", "8192", ApplyMethod::Immediate))
        .send()
        .await
        .unwrap();
    assert_eq!(*calls.lock().unwrap(), vec![BTreeMap::from([("wal_sender_timeout".into(), "0".into())])]);
    assert!(member_status(&rds, "live").await.values().all(|s| s == "in-sync"));
}

#[tokio::test]
async fn shared_group_is_visible_on_both_clusters() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    stand_in
        .seed_parameter_group(
            GroupSeed::new("shared-pg", "aurora-postgresql15")
                .value("work_mem", "65536")
                .value("log_min_duration_statement", "1000"),
        )
        .unwrap();
    for id in ["orders", "billing"] {
        stand_in
            .seed_cluster(ClusterSeed { parameter_group: Some("shared-pg".into()), ..ClusterSeed::new(id, "15.4") })
            .await
            .unwrap();
    }
    let rds = client(&stand_in, 1);
    let clusters: Vec<DbCluster> =
        rds.describe_db_clusters().into_paginator().items().send().collect::<Result<_, _>>().await.unwrap();
    let using: Vec<_> = clusters
        .iter()
        .filter(|c| c.db_cluster_parameter_group() == Some("shared-pg"))
        .filter_map(|c| c.db_cluster_identifier())
        .collect();
    assert_eq!(using.len(), 2, "{using:?}");
    assert_eq!(
        user_parameters(&rds, "shared-pg").await,
        BTreeMap::from([("log_min_duration_statement".into(), "1000".into()), ("work_mem".into(), "65536".into())])
    );

    // The tool's way out: a copy keeps every user-set value.
    rds.copy_db_cluster_parameter_group()
        .source_db_cluster_parameter_group_identifier("arn:aws:rds:us-east-1:123456789012:cluster-pg:shared-pg")
        .target_db_cluster_parameter_group_identifier("orders-migration")
        .target_db_cluster_parameter_group_description("orders only")
        .send()
        .await
        .unwrap();
    assert_eq!(user_parameters(&rds, "orders-migration").await.len(), 2);
    rds.reset_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-migration")
        .reset_all_parameters(true)
        .send()
        .await
        .unwrap();
    assert!(user_parameters(&rds, "orders-migration").await.is_empty());
    assert_eq!(user_parameters(&rds, "shared-pg").await.len(), 2);
    assert_eq!(
        rds.describe_db_clusters().max_records(5).send().await.unwrap_err().code(),
        Some("InvalidParameterValue")
    );
}

#[tokio::test]
async fn engine_versions_name_the_family() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    let rds = client(&stand_in, 1);
    let out =
        rds.describe_db_engine_versions().engine("aurora-postgresql").engine_version("15.4").send().await.unwrap();
    assert_eq!(out.db_engine_versions().len(), 1);
    assert_eq!(out.db_engine_versions()[0].db_parameter_group_family(), Some("aurora-postgresql15"));
    let all = rds.describe_db_engine_versions().engine("aurora-postgresql").send().await.unwrap();
    assert!(all.db_engine_versions().len() >= 10);
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_and_fails_without_retries() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    stand_in.seed_cluster(ClusterSeed::new("orders", "15.4")).await.unwrap();

    stand_in.throttle_next(Some("DescribeDBClusters"), 2);
    describe_cluster(&client(&stand_in, 3), "orders").await;
    let statuses: Vec<_> = stand_in.requests_for("DescribeDBClusters").iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(400), Some(400), Some(200)]);
    assert_eq!(stand_in.requests_for("DescribeDBClusters")[0].fault, Some(Fault::Throttle));

    stand_in.throttle_next(Some("DescribeDBClusters"), 1);
    assert_rejected(client(&stand_in, 1).describe_db_clusters().send().await, 400, "Throttling", "Rate exceeded");
    // A rule for one action leaves the others alone.
    stand_in.throttle_next(Some("RebootDBInstance"), 1);
    client(&stand_in, 1).describe_db_clusters().send().await.unwrap();
}

#[tokio::test]
async fn server_errors_dropped_connections_and_latency() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    create_group(&client(&stand_in, 1), "faulty", "aurora-postgresql15").await;
    let describe = |rds: Client| async move {
        rds.describe_db_cluster_parameter_groups().db_cluster_parameter_group_name("faulty").send().await
    };

    stand_in.inject(None, 1, Fault::ServerError(503));
    stand_in.inject(None, 1, Fault::DropConnection);
    describe(client(&stand_in, 3)).await.unwrap();
    let log = stand_in.requests_for("DescribeDBClusterParameterGroups");
    let statuses: Vec<_> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(503), None, Some(200)]);

    stand_in.inject(Some("DescribeDBClusterParameterGroups"), 1, Fault::ServerError(500));
    let err = describe(client(&stand_in, 1)).await.unwrap_err();
    assert_eq!(err.code(), Some("InternalFailure"));
    stand_in.inject(None, 1, Fault::DropConnection);
    let err = describe(client(&stand_in, 1)).await.unwrap_err();
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{}", DisplayErrorContext(&err));

    stand_in.set_latency(Some("DescribeDBClusterParameterGroups"), Duration::from_millis(400));
    let started = Instant::now();
    describe(client(&stand_in, 1)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn dropping_the_stand_in_stops_moto() {
    let Some(stand_in) = stand_in().await else {
        return;
    };
    let moto = stand_in.moto_endpoint();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(http.get(format!("{moto}/moto-api/")).send().await.is_ok());
    drop(stand_in);
    let started = Instant::now();
    while http.get(format!("{moto}/moto-api/")).send().await.is_ok() {
        assert!(started.elapsed() < Duration::from_secs(5), "moto still answers after drop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
