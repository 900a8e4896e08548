//! The RDS stand-in's pending-reboot model: attaching a group and rebooting the writer then the reader (with
//! the reboot hook), a writer reboot taking the readers along before read availability, a failing hook
//! leaving the parameters incompatible, and the reload hook getting dynamic changes applied immediately.

mod common;

use aws_sdk_rds::types::ApplyMethod;
use common::rds::{
    assert_rejected, client, create_group, describe_cluster, instance_status, member_status, param, recording_hook,
    stand_in,
};
use migprep_testkit::rds::{ClusterSeed, GroupSeed, settings_hook};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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
