//! The RDS stand-in as migprep's AWS provider sees it: the real `aws-sdk-rds` client against
//! `RdsStandIn::endpoint()` (or a skip when moto is missing), assertions on AWS-shaped rejections, and
//! shortcuts for the calls the tests repeat. The `rds_*.rs` tests check each gap of aws.md §3.3 that the
//! fidelity layer closes.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_rds::Client;
use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::config::retry::RetryConfig;
use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::{ApplyMethod, DbCluster, Filter, Parameter};
use migprep_testkit::rds::{RdsConfig, RdsStandIn, SettingsHook, settings_hook};

pub async fn stand_in() -> Option<RdsStandIn> {
    RdsStandIn::start_or_skip(RdsConfig::default()).await
}

/// A client like the tool's, with `attempts` tries and a short backoff so retry tests stay fast.
pub fn client(rds: &RdsStandIn, attempts: u32) -> Client {
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
pub fn assert_rejected<T: Debug, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
    code: &str,
    message: &str,
) where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let err = result.expect_err("the stand-in should have refused this request");
    let context = DisplayErrorContext(&err).to_string();
    assert_eq!(err.code(), Some(code), "{context}");
    assert_eq!(err.message(), Some(message), "{context}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(status), "{context}");
}

pub fn param(name: &str, value: &str, method: ApplyMethod) -> Parameter {
    Parameter::builder().parameter_name(name).parameter_value(value).apply_method(method).build()
}

pub fn name_filter(names: &[&str]) -> Filter {
    names.iter().fold(Filter::builder().name("parameter-name"), |f, n| f.values(*n)).build()
}

pub async fn describe_cluster(rds: &Client, id: &str) -> DbCluster {
    let out = rds.describe_db_clusters().db_cluster_identifier(id).send().await.expect("describe cluster");
    out.db_clusters()[0].clone()
}

/// `instance → DBClusterParameterGroupStatus` of a cluster's members.
pub async fn member_status(rds: &Client, id: &str) -> BTreeMap<String, String> {
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

pub async fn instance_status(rds: &Client, id: &str) -> String {
    let out = rds.describe_db_instances().db_instance_identifier(id).send().await.expect("describe instance");
    out.db_instances()[0].db_instance_status().unwrap().to_string()
}

pub async fn create_group(rds: &Client, name: &str, family: &str) {
    rds.create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name(name)
        .db_parameter_group_family(family)
        .description("migration settings")
        .send()
        .await
        .expect("create group");
}

pub async fn user_parameters(rds: &Client, group: &str) -> BTreeMap<String, String> {
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

/// What a recording hook was called with, one map per call.
pub type Calls = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

/// A reboot hook that records what it was given, like `PgServer::restart_with` would receive it.
pub fn recording_hook(delay: Duration) -> (SettingsHook, Calls) {
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
