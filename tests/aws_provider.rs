//! The AWS provider against the RDS stand-in (moto behind the fidelity layer): observing clusters,
//! shared groups and parameters, the write calls the source rules use, the polling helpers, retries
//! under throttling, and the errors a user sees; and against plain moto, which ignores the filters and
//! lacks `DescribeEngineDefaultClusterParameters`. Each test starts its own stand-in.

use std::time::Duration;

use migprep::clients::rds::{AwsError, ParameterChange, ParameterSource, Rds, Retry, Settings, StaticCredentials};
use migprep::model::cluster::ApplyType;
use migprep::secret::Secret;
use migprep::tls::Trust;
use migprep_testkit::rds::{ClusterSeed, Fault, GroupSeed, RdsBackend, RdsConfig, RdsStandIn};

async fn stand_in(reboot_describes: u32) -> Option<RdsStandIn> {
    RdsStandIn::start_or_skip(RdsConfig { reboot_describes, ..Default::default() }).await
}

fn settings(endpoint: String, attempts: u32) -> Settings {
    Settings {
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint),
        static_credentials: Some(StaticCredentials {
            access_key_id: "testing".into(),
            secret_access_key: Secret::new("testing"),
        }),
        retry: Some(Retry {
            max_attempts: attempts,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        }),
        poll_interval: Some(Duration::from_millis(50)),
        ..Settings::default()
    }
}

async fn client(rds: &RdsStandIn) -> Rds {
    Rds::connect(&settings(rds.endpoint(), 3), &Trust::load(None).unwrap()).await.expect("client")
}

/// A cluster nobody configured: it sits on `default.aurora-postgresql15` with a writer and a reader,
/// and its endpoint leads to a local port.
#[tokio::test]
async fn observes_a_cluster_on_its_default_group() {
    let Some(rds) = stand_in(0).await else { return };
    let mut seed = ClusterSeed::new("orders", "15.4");
    seed.readers = vec!["orders-instance-2".into()];
    seed.endpoint_port = Some(15432);
    seed.publicly_accessible = true;
    rds.seed_cluster(seed).await.unwrap();
    let aws = client(&rds).await;

    let cluster = aws.cluster("orders").await.unwrap();
    assert_eq!(cluster.id, "orders");
    assert_eq!(cluster.engine_version, "15.4");
    assert_eq!(cluster.parameter_group, "default.aurora-postgresql15");
    assert_eq!(cluster.endpoint.as_deref(), Some("127.0.0.1"));
    assert_eq!(cluster.port, Some(15432));
    assert_eq!(cluster.members.len(), 2);
    let writer = cluster.writer().expect("a writer");
    assert_eq!(writer.instance_id, "orders-instance-1");
    assert_eq!(writer.parameter_group_status, "in-sync");
    assert_eq!(writer.instance_class.as_deref(), Some("db.r6g.large"));
    assert_eq!(writer.publicly_accessible, Some(true));
    assert_eq!(writer.status.as_deref(), Some("available"));
    let reader = cluster.member("orders-instance-2").expect("the reader");
    assert!(!reader.is_writer);

    let group = aws.parameter_group(&cluster.parameter_group).await.unwrap().expect("the default group exists");
    assert_eq!(group.family, "aurora-postgresql15");
    assert!(group.is_default());
    assert_eq!(aws.parameter_group("no-such-group").await.unwrap(), None);
}

/// Two clusters share one custom group, a third uses its default: only the two are reported.
#[tokio::test]
async fn finds_every_cluster_sharing_a_group() {
    let Some(rds) = stand_in(0).await else { return };
    rds.seed_parameter_group(GroupSeed::new("shared-pg", "aurora-postgresql15")).unwrap();
    for id in ["billing", "orders"] {
        let mut seed = ClusterSeed::new(id, "15.4");
        seed.parameter_group = Some("shared-pg".into());
        rds.seed_cluster(seed).await.unwrap();
    }
    rds.seed_cluster(ClusterSeed::new("reports", "15.4")).await.unwrap();
    let aws = client(&rds).await;

    assert_eq!(aws.clusters_using_group("shared-pg").await.unwrap(), vec!["billing".to_string(), "orders".to_string()]);
    assert_eq!(aws.clusters_using_group("default.aurora-postgresql15").await.unwrap(), vec!["reports".to_string()]);
}

/// A custom group with three user-set values among 270-odd catalog parameters: `Source=user` returns
/// exactly those, the unfiltered list needs several pages, and the name filter narrows it.
#[tokio::test]
async fn reads_all_pages_and_filters_by_source_and_name() {
    let Some(rds) = stand_in(0).await else { return };
    rds.seed_parameter_group(
        GroupSeed::new("orders-pg", "aurora-postgresql15")
            .value("max_replication_slots", "30")
            .value("wal_sender_timeout", "0")
            .value("rds.logical_replication", "1"),
    )
    .unwrap();
    let aws = client(&rds).await;

    let user = aws.parameters("orders-pg", Some(ParameterSource::User), &[]).await.unwrap();
    let mut names: Vec<&str> = user.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["max_replication_slots", "rds.logical_replication", "wal_sender_timeout"]);
    let slots = user.iter().find(|p| p.name == "max_replication_slots").unwrap();
    assert_eq!(slots.value.as_deref(), Some("30"));
    assert_eq!(slots.source.as_deref(), Some("user"));
    assert_eq!(slots.apply_type, ApplyType::Static);
    assert!(slots.is_modifiable);

    rds.clear_requests();
    let all = aws.parameters("orders-pg", None, &[]).await.unwrap();
    assert!(all.len() > 200, "only {} parameters", all.len());
    let pages = rds.requests_for("DescribeDBClusterParameters");
    assert!(pages.len() >= 3, "{} pages", pages.len());
    assert!(pages.iter().all(|r| r.param("MaxRecords") == Some("100")));
    assert!(pages[1..].iter().all(|r| r.param("Marker").is_some()));

    let named = aws.parameters("orders-pg", None, &["wal_sender_timeout", "max_wal_senders"]).await.unwrap();
    let mut names: Vec<&str> = named.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["max_wal_senders", "wal_sender_timeout"]);
    let timeout = named.iter().find(|p| p.name == "wal_sender_timeout").unwrap();
    assert_eq!(timeout.apply_type, ApplyType::Dynamic);
}

/// Carrying 25 values over into a new group takes two calls (20 + 5), static ones `pending-reboot`,
/// dynamic ones `immediate`, and all of them end up user-set in the group.
#[tokio::test]
async fn modifies_in_batches_of_twenty_with_the_apply_method_of_each_type() {
    let Some(rds) = stand_in(0).await else { return };
    let aws = client(&rds).await;
    let group = aws
        .create_parameter_group("orders-migration", "aurora-postgresql15", "migprep: orders migration")
        .await
        .unwrap();
    assert_eq!(group.name, "orders-migration");
    assert!(!group.is_default());

    // Re-set 23 modifiable parameters to the plain values they have (a valid value for each), plus
    // the two the migration needs.
    let catalog = aws.parameters("orders-migration", None, &[]).await.unwrap();
    let mut changes: Vec<ParameterChange> = catalog
        .iter()
        .filter(|p| p.is_modifiable && p.name != "rds.logical_replication")
        .filter(|p| p.name != "wal_sender_timeout")
        .filter_map(|p| {
            let value = p.value.as_ref()?;
            let plain = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric());
            plain.then(|| ParameterChange {
                name: p.name.clone(),
                value: value.clone(),
                apply_type: p.apply_type.clone(),
            })
        })
        .take(23)
        .collect();
    assert_eq!(changes.len(), 23);
    changes.push(ParameterChange {
        name: "rds.logical_replication".into(),
        value: "1".into(),
        apply_type: ApplyType::Static,
    });
    changes.push(ParameterChange {
        name: "wal_sender_timeout".into(),
        value: "0".into(),
        apply_type: ApplyType::Dynamic,
    });

    rds.clear_requests();
    let calls = aws.modify_parameters("orders-migration", &changes).await.unwrap();
    assert_eq!(calls, 2);
    let modifies = rds.requests_for("ModifyDBClusterParameterGroup");
    assert_eq!(modifies.len(), 2);
    assert_eq!(modifies[0].parameter_names().len(), 20);
    assert_eq!(modifies[1].parameter_names().len(), 5);
    assert!(modifies.iter().all(|r| r.status == Some(200)));
    let method_of = |name: &str| {
        let last = &modifies[1];
        let index = last.parameter_names().iter().position(|n| n == name).unwrap() + 1;
        // The query protocol names list members `Parameters.<member>.<n>.<field>`.
        let suffix = format!(".{index}.ApplyMethod");
        last.params.iter().find(|(k, _)| k.starts_with("Parameters.") && k.ends_with(&suffix)).map(|(_, v)| v.clone())
    };
    assert_eq!(method_of("rds.logical_replication").as_deref(), Some("pending-reboot"));
    assert_eq!(method_of("wal_sender_timeout").as_deref(), Some("immediate"));

    let user = rds.user_parameters("orders-migration").unwrap();
    assert_eq!(user.get("rds.logical_replication").map(String::as_str), Some("1"));
    assert_eq!(user.get("wal_sender_timeout").map(String::as_str), Some("0"));
    assert_eq!(user.len(), 25);
}

/// The S2/S7 path: a new group with a static change is attached, the writer shows pending-reboot,
/// is rebooted, and the polling helper sees it come back available and in-sync.
#[tokio::test]
async fn attach_reboot_and_wait_until_in_sync() {
    let Some(rds) = stand_in(3).await else { return };
    let mut seed = ClusterSeed::new("orders", "15.4");
    seed.readers = vec!["orders-instance-2".into()];
    rds.seed_cluster(seed).await.unwrap();
    let aws = client(&rds).await;

    aws.create_parameter_group("orders-migration", "aurora-postgresql15", "migration").await.unwrap();
    aws.modify_parameters(
        "orders-migration",
        &[ParameterChange { name: "rds.logical_replication".into(), value: "1".into(), apply_type: ApplyType::Static }],
    )
    .await
    .unwrap();
    aws.attach_parameter_group("orders", "orders-migration").await.unwrap();

    let cluster = aws.cluster("orders").await.unwrap();
    assert_eq!(cluster.parameter_group, "orders-migration");
    let writer = cluster.writer().unwrap().instance_id.clone();
    assert_eq!(cluster.writer().unwrap().parameter_group_status, "pending-reboot");

    // Waiting without a reboot runs into the timeout and says what it saw.
    let error = aws.wait_until_in_sync("orders", &[], Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(error, AwsError::Timeout { .. }), "{error}");
    assert!(error.to_string().contains("pending-reboot"), "{error}");

    aws.reboot_instance(&writer).await.unwrap();
    let cluster = aws.wait_until_in_sync("orders", &[], Duration::from_secs(30)).await.unwrap();
    let after = cluster.writer().unwrap();
    assert_eq!(after.parameter_group_status, "in-sync");
    assert_eq!(after.status.as_deref(), Some("available"));
    // Several describes showed `rebooting` before it was done: the helper polled, not slept 30 s.
    assert!(rds.requests_for("DescribeDBClusters").len() >= 4);
    // 15.4 has read availability: the reader still waits for its own reboot.
    assert_eq!(cluster.member("orders-instance-2").unwrap().parameter_group_status, "pending-reboot");
    let instance = aws.wait_until_available(&writer, Duration::from_secs(5)).await.unwrap();
    assert_eq!(instance.status, "available");
}

/// Two throttled answers are retried away; three exhaust the 3 attempts and surface `Throttling`.
#[tokio::test]
async fn retries_throttling_and_reports_it_when_it_persists() {
    let Some(rds) = stand_in(0).await else { return };
    rds.seed_cluster(ClusterSeed::new("orders", "15.4")).await.unwrap();
    let aws = client(&rds).await;

    rds.clear_requests();
    rds.throttle_next(Some("DescribeDBClusters"), 2);
    aws.cluster("orders").await.expect("retried past throttling");
    let tries = rds.requests_for("DescribeDBClusters");
    assert_eq!(tries.len(), 3);
    assert_eq!(tries.iter().filter(|r| r.fault == Some(Fault::Throttle)).count(), 2);

    rds.throttle_next(Some("DescribeDBClusters"), 3);
    let error = aws.cluster("orders").await.unwrap_err();
    assert_eq!(error.code(), Some("Throttling"));
    assert_eq!(error.message(), Some("Rate exceeded"));
    let user = error.to_user_error();
    assert!(user.message.contains("DescribeDBClusters"), "{user}");
    assert!(user.message.contains("orders"), "{user}");
    assert!(user.hint.unwrap().contains("throttling"));
}

/// A cluster id that does not exist gives one line naming it and the region, and a hint.
#[tokio::test]
async fn a_missing_cluster_is_one_clear_error() {
    let Some(rds) = stand_in(0).await else { return };
    let aws = client(&rds).await;
    let error = aws.cluster("orders-prod").await.unwrap_err();
    assert!(error.is_not_found());
    assert_eq!(error.code(), Some("DBClusterNotFoundFault"));
    let user = error.to_user_error();
    assert_eq!(user.message, "DB cluster orders-prod not found in us-east-1");
    assert!(user.hint.unwrap().contains("source.region"));

    let error = aws.reboot_instance("orders-prod-instance-9").await.unwrap_err();
    assert!(
        matches!(&error, AwsError::InstanceNotFound { instance, .. } if instance == "orders-prod-instance-9"),
        "{error:?}"
    );
}

/// The extra CA applies to the SDK's HTTPS too: pointed at an HTTPS server whose certificate only
/// the CA file vouches for, the request gets through TLS (and is then refused by a server that is
/// not RDS); without the CA file it fails in the TLS handshake.
#[tokio::test]
async fn the_extra_ca_is_trusted_for_aws_https() {
    use migprep_testkit::arm::{FakeArm, FakeArmConfig};
    let https = FakeArm::start(FakeArmConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, https.ca_pem()).unwrap();

    let trusted = Rds::connect(&settings(https.endpoint(), 1), &Trust::load(Some(&ca)).unwrap()).await.unwrap();
    let error = trusted.cluster("orders").await.unwrap_err();
    assert!(matches!(error, AwsError::Service { status: Some(401), .. }), "{error:?}");

    let untrusted = Rds::connect(&settings(https.endpoint(), 1), &Trust::load(None).unwrap()).await.unwrap();
    let error = untrusted.cluster("orders").await.unwrap_err();
    assert!(matches!(error, AwsError::Transport { .. }), "{error:?}");
    assert!(error.hint().unwrap().contains("ca_file"));
}

/// A profile that does not exist, nothing else configured: one error naming the profile as missing
/// (not the failure of a credential source the SDK falls through to), with how to define one, before
/// any request.
#[tokio::test]
async fn missing_credentials_are_one_clear_error() {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        // The default chain reads the environment before any profile; nothing to test here.
        eprintln!("skipping: AWS_ACCESS_KEY_ID is set");
        return;
    }
    let Some(rds) = stand_in(0).await else { return };
    let mut settings = settings(rds.endpoint(), 1);
    settings.static_credentials = None;
    settings.profile = Some("migprep-test-no-such-profile".into());
    let error = Rds::connect(&settings, &Trust::load(None).unwrap()).await.unwrap_err();
    assert!(matches!(error, AwsError::ProfileNotFound { .. }), "{error:?}");
    let user = error.to_user_error();
    assert!(user.message.contains("the AWS profile migprep-test-no-such-profile (source.profile)"), "{user}");
    assert!(user.hint.unwrap().contains("source.profile"));
    assert!(rds.requests().is_empty());
}

/// Plain moto ignores `Source` and `parameter-name`: the answers are filtered again, so a default group
/// has no user value and a custom one only what was set. Its engine defaults come from
/// `DescribeEngineDefaultClusterParameters` through the layer, and from `default.<family>` on plain moto,
/// which does not implement that call; with neither, the error names the family.
#[tokio::test]
async fn filters_are_checked_and_engine_defaults_found_on_either_backend() {
    for backend in [RdsBackend::Fidelity, RdsBackend::PlainMoto] {
        let Some(rds) = RdsStandIn::start_or_skip(RdsConfig { backend, ..Default::default() }).await else { return };
        rds.seed_cluster(ClusterSeed::new("orders", "15.4")).await.unwrap();
        rds.seed_group(GroupSeed::new("orders-pg", "aurora-postgresql15").value("work_mem", "8192")).await.unwrap();
        let aws = Rds::connect(&settings(rds.endpoint(), 1), &Trust::load(None).unwrap()).await.unwrap();

        let default = aws.parameters("default.aurora-postgresql15", Some(ParameterSource::User), &[]).await.unwrap();
        assert!(default.is_empty(), "{backend:?}: {default:#?}");
        let user = aws.parameters("orders-pg", Some(ParameterSource::User), &[]).await.unwrap();
        let user: Vec<_> = user.iter().map(|p| (p.name.as_str(), p.value.as_deref())).collect();
        assert_eq!(user, [("work_mem", Some("8192"))], "{backend:?}");
        let named = aws.parameters("default.aurora-postgresql15", None, &["max_wal_senders"]).await.unwrap();
        assert_eq!(named.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["max_wal_senders"], "{backend:?}");

        let defaults = aws.engine_defaults("aurora-postgresql15").await.unwrap();
        let logical = defaults.iter().find(|p| p.name == "rds.logical_replication").expect("rds.logical_replication");
        assert_eq!((logical.value.as_deref(), logical.is_modifiable), (Some("0"), true), "{backend:?}");
        assert!(defaults.len() > 150, "{backend:?}: {} parameters", defaults.len());

        if backend == RdsBackend::PlainMoto {
            // No cluster of version 16 was seeded, so moto has no default group of that family either.
            let error = aws.engine_defaults("aurora-postgresql16").await.unwrap_err();
            assert!(matches!(error, AwsError::NoEngineDefaults { .. }), "{error:?}");
            let user_error = error.to_user_error();
            assert!(user_error.message.contains("aurora-postgresql16"), "{}", user_error.message);
            assert!(user_error.hint.is_some_and(|h| h.contains("default.aurora-postgresql16")));
        }
    }
}
