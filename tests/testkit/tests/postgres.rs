//! The PostgreSQL stand-ins are set up like the services they imitate.

use migprep_testkit::postgres::PgServer;
use migprep_testkit::tls::CertAuthority;
use std::collections::BTreeMap;

async fn setting(server: &PgServer, name: &str) -> String {
    let client = server.superuser("postgres").await.unwrap();
    client.query_one("SELECT setting FROM pg_settings WHERE name = $1", &[&name]).await.unwrap().get(0)
}

/// An Aurora-like source: the master user can do much but is no superuser; the migration user has no
/// replication rights yet; logical decoding is off until the writer is rebooted with new settings.
#[tokio::test]
async fn aurora_source_looks_like_aurora() {
    let ca = CertAuthority::generate().unwrap();
    let server = PgServer::start_aurora(&ca).await.unwrap();
    let client = server.superuser("postgres").await.unwrap();
    let row = client
        .query_one(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, pg_has_role(rolname, 'rds_superuser', 'MEMBER'),
                    pg_has_role(rolname, 'rds_replication', 'MEMBER')
             FROM pg_roles WHERE rolname = $1",
            &[&server.admin().user],
        )
        .await
        .unwrap();
    let (superuser, createrole, createdb, in_rds_superuser, in_rds_replication): (bool, bool, bool, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert!(!superuser, "the master user must not be a superuser");
    assert!(createrole && createdb);
    assert!(in_rds_superuser && in_rds_replication);

    let migrator: bool = client
        .query_one("SELECT pg_has_role($1, 'rds_replication', 'MEMBER')", &[&server.migration_user().user])
        .await
        .unwrap()
        .get(0);
    assert!(!migrator, "the migration user starts without rds_replication");

    assert_eq!(setting(&server, "wal_level").await, "replica");
    assert_eq!(setting(&server, "max_replication_slots").await, "20");
    assert_eq!(setting(&server, "max_wal_senders").await, "10");
    assert_eq!(server.databases(), ["billing", "orders"]);
    let orders = server.superuser("orders").await.unwrap();
    let extensions: Vec<String> = orders
        .query("SELECT extname FROM pg_extension ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(extensions, ["hstore", "pg_stat_statements", "plpgsql"]);
}

/// A reboot with new static settings is what SQL sees afterwards.
#[tokio::test]
async fn restart_applies_static_settings() {
    let ca = CertAuthority::generate().unwrap();
    let server = PgServer::start_aurora(&ca).await.unwrap();
    let settings = BTreeMap::from([
        ("wal_level".to_string(), "logical".to_string()),
        ("max_wal_senders".to_string(), "25".to_string()),
    ]);
    server.restart_with(&settings).await.unwrap();
    assert_eq!(setting(&server, "wal_level").await, "logical");
    assert_eq!(setting(&server, "max_wal_senders").await, "25");
    assert_eq!(setting(&server, "max_replication_slots").await, "20", "other settings are kept");
}

/// A flexible-server-like target: the admin is in azure_pg_admin, with CREATEROLE, and not a superuser.
#[tokio::test]
async fn flexible_target_looks_like_azure() {
    let ca = CertAuthority::generate().unwrap();
    let server = PgServer::start_flexible(&ca).await.unwrap();
    let client = server.superuser("postgres").await.unwrap();
    let row = client
        .query_one(
            "SELECT rolsuper, rolcreaterole, pg_has_role(rolname, 'azure_pg_admin', 'MEMBER') FROM pg_roles WHERE rolname = $1",
            &[&server.admin().user],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0));
    assert!(row.get::<_, bool>(1));
    assert!(row.get::<_, bool>(2));
}

/// Dropping a stand-in stops the server: its port no longer accepts connections.
#[tokio::test]
async fn drop_stops_the_server() {
    let ca = CertAuthority::generate().unwrap();
    let server = PgServer::start_flexible(&ca).await.unwrap();
    let port = server.port();
    drop(server);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
