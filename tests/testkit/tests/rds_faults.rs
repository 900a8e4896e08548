//! Faults the RDS stand-in injects, as the SDK meets them: throttling retried (or not, with one attempt),
//! server errors, dropped connections and latency; and moto stopping when the stand-in is dropped.

mod common;

use aws_sdk_rds::Client;
use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use common::rds::{assert_rejected, client, create_group, describe_cluster, stand_in};
use migprep_testkit::rds::{ClusterSeed, Fault};
use std::time::{Duration, Instant};

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
