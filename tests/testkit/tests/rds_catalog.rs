//! The RDS stand-in's parameter catalog as the real `aws-sdk-rds` client sees it: a seeded cluster on its
//! read-only default group, the catalog paged and filtered (including `Source=user`), and engine versions
//! naming their parameter group family.

mod common;

use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{ApplyMethod, Parameter};
use common::rds::{
    assert_rejected, client, create_group, describe_cluster, name_filter, param, stand_in, user_parameters,
};
use migprep_testkit::rds::ClusterSeed;
use std::collections::BTreeMap;

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
