//! The RDS stand-in's custom cluster parameter groups: modifications validated as RDS validates them, missing
//! and conflicting resources refused with RDS's codes and messages, and a group shared by two clusters.

mod common;

use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{ApplyMethod, DbCluster, Parameter};
use common::rds::{assert_rejected, client, create_group, describe_cluster, param, stand_in, user_parameters};
use migprep_testkit::rds::{ClusterSeed, GroupSeed};
use std::collections::BTreeMap;

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
