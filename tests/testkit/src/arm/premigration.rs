//! The premigration checks a validate-only migration runs, for real, against the stand-in databases: it
//! logs in with the credentials the migration's `secretParameters` carried, reads what Azure's migration
//! service reads (wal_level, slots, walsenders, `rds_replication` membership, the databases and their
//! extensions on the source; the admin's memberships and CREATEROLE and the databases on the target), and
//! reports it in the official `ValidationDetails` shape, the premigration code inside the message text as
//! the service writes it (there is no code field).
//!
//! Split in two so the checks can be tested on their own: [`gather`] does the I/O and returns plain
//! [`Facts`]; [`judge`] is pure and turns facts into the items. Which item type carries which check
//! follows the types in the official examples (`AuthenticationAndConnectivityValidation`,
//! `SourceVersionValidation`, `ServerParametersValidation`, per database `ExtensionsValidation` and
//! `SchemaValidation`); the grouping of the target-user and database-existence checks is this fake's
//! choice, since no public example shows them.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Extensions whose library must be preloaded on the target (Azure's extension documentation).
const PRELOADED: [&str; 9] = [
    "age",
    "anon",
    "pg_cron",
    "pg_hint_plan",
    "pg_squeeze",
    "pg_stat_statements",
    "pgaudit",
    "pglogical",
    "timescaledb",
];

/// Where and as whom the checks log in. The passwords come from the migration's `secretParameters` and
/// live only as long as the check.
#[derive(Clone)]
pub(crate) struct Logins {
    pub source_host: String,
    pub source_port: u16,
    pub source_user: String,
    pub source_password: String,
    /// The target database's address; `None` when the fake was not told where it is.
    pub target: Option<(String, u16)>,
    pub target_user: String,
    pub target_password: String,
    pub ca_pem: String,
}

/// Why a login failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LoginFailure {
    /// SQLSTATE 28P01 (or 28000): the password or user was refused.
    Password,
    /// Anything else: no route, TLS, a refused connection.
    Unreachable(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SourceFacts {
    pub version_num: i64,
    pub version: String,
    pub wal_level: String,
    pub max_replication_slots: i64,
    pub slots_in_use: i64,
    pub max_wal_senders: i64,
    /// Member of `rds_replication`, or a role with REPLICATION.
    pub replication: bool,
    /// The source's databases and the extensions installed in each (plpgsql aside).
    pub databases: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TargetFacts {
    pub in_azure_pg_admin: bool,
    pub createrole: bool,
    pub databases: BTreeSet<String>,
}

/// Everything the checks saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Facts {
    pub source: Result<SourceFacts, LoginFailure>,
    pub target: Result<TargetFacts, LoginFailure>,
    /// The target server's `azure.extensions` (as written) and the libraries its PostgreSQL preloads.
    pub allowlisted: Vec<String>,
    pub preloaded: Vec<String>,
}

/// The validation's result: the overall state and the `ValidationDetails` body.
pub(crate) struct Judgement {
    pub failed: bool,
    pub details: Value,
}

fn item(kind: &str, failures: Vec<String>, success: &str) -> (bool, Value) {
    let failed = !failures.is_empty();
    let messages: Vec<Value> = if failed {
        failures.into_iter().map(|m| json!({ "state": "Failed", "message": m })).collect()
    } else {
        vec![json!({ "state": "Succeeded", "message": success })]
    };
    (failed, json!({ "type": kind, "state": if failed { "Failed" } else { "Succeeded" }, "messages": messages }))
}

fn login_failure(side: &str, user: &str, failure: &LoginFailure) -> String {
    match failure {
        LoginFailure::Password => format!(
            "Error 603100: password authentication failed for user '{user}' on the {side} server. Check the password given for the {side} server."
        ),
        LoginFailure::Unreachable(why) => {
            format!("Could not connect to the {side} server as '{user}': {why}. Check that the server is reachable.")
        }
    }
}

/// The items for `databases`, from what the checks saw. Pure.
pub(crate) fn judge(
    databases: &[String],
    logins: (&str, &str),
    facts: &Facts,
    started: &str,
    ended: &str,
) -> Judgement {
    let (source_user, target_user) = logins;
    let mut server_items = Vec::new();
    let mut any_failed = false;
    let mut push = |items: &mut Vec<Value>, (failed, value): (bool, Value)| {
        any_failed |= failed;
        items.push(value);
    };

    let mut connectivity = Vec::new();
    if let Err(failure) = &facts.source {
        connectivity.push(login_failure("source", source_user, failure));
    }
    match &facts.target {
        Err(failure) => connectivity.push(login_failure("target", target_user, failure)),
        Ok(target) => {
            if !target.in_azure_pg_admin {
                connectivity.push(format!(
                    "Error 603115: the target user '{target_user}' is not a member of azure_pg_admin. Run GRANT azure_pg_admin TO \"{target_user}\"."
                ));
            }
            if !target.createrole {
                connectivity.push(format!(
                    "Error 603116: the target user '{target_user}' does not have the CREATEROLE privilege. Run ALTER ROLE \"{target_user}\" CREATEROLE."
                ));
            }
        }
    }
    push(
        &mut server_items,
        item("AuthenticationAndConnectivityValidation", connectivity, "Connected to the source and the target server."),
    );

    let mut database_items = Vec::new();
    if let Ok(source) = &facts.source {
        let version = if source.version_num < 90500 {
            vec![format!(
                "Error 603400: the source server runs PostgreSQL {}; the migration service supports 9.5 and later.",
                source.version
            )]
        } else {
            Vec::new()
        };
        push(&mut server_items, item("SourceVersionValidation", version, "The source server's version is supported."));

        let mut parameters = Vec::new();
        if source.wal_level != "logical" {
            parameters.push(format!(
                "Error 603107: the source server's wal_level is '{}'; an online migration needs 'logical' (rds.logical_replication = 1 on Aurora, then a reboot).",
                source.wal_level
            ));
        }
        let needed = (databases.len() as i64 + source.slots_in_use + 1).max(2);
        if source.max_replication_slots < needed {
            parameters.push(format!(
                "Error 603105: max_replication_slots is {} on the source server; {needed} are needed for {} databases and the {} slots in use.",
                source.max_replication_slots,
                databases.len(),
                source.slots_in_use
            ));
        }
        if source.max_wal_senders < source.max_replication_slots {
            parameters.push(format!(
                "Error 603106: max_wal_senders ({}) must be at least max_replication_slots ({}) on the source server.",
                source.max_wal_senders, source.max_replication_slots
            ));
        }
        if !source.replication {
            parameters.push(format!(
                "Error 603104: the source user '{source_user}' does not have the replication role. On Aurora, GRANT rds_replication TO \"{source_user}\"."
            ));
        }
        push(
            &mut server_items,
            item("ServerParametersValidation", parameters, "The source server's parameters allow an online migration."),
        );

        for database in databases {
            let mut schema = Vec::new();
            let extensions = source.databases.get(database);
            if extensions.is_none() {
                schema.push(format!("Error 603102: the database '{database}' does not exist on the source server."));
            }
            if let Ok(target) = &facts.target
                && target.databases.contains(database)
            {
                schema.push(format!(
                    "Error 603101: the database '{database}' already exists on the target server. Drop it or leave it out of the migration."
                ));
            }
            let mut items = Vec::new();
            let mut push_db = |(failed, value): (bool, Value)| {
                any_failed |= failed;
                items.push(value);
            };
            push_db(item("SchemaValidation", schema, "The database can be created on the target server."));
            let mut extension_problems = Vec::new();
            let used = extensions.cloned().unwrap_or_default();
            let not_allowed: Vec<&String> =
                used.iter().filter(|e| !facts.allowlisted.iter().any(|a| a.eq_ignore_ascii_case(e))).collect();
            if !not_allowed.is_empty() {
                let list: Vec<&str> = not_allowed.iter().map(|e| e.as_str()).collect();
                extension_problems.push(format!(
                    "Error 603108: the extensions {} are not allowlisted on the target server. Add them to azure.extensions.",
                    list.join(", ")
                ));
            }
            let not_preloaded: Vec<&str> = used
                .iter()
                .filter(|e| PRELOADED.contains(&e.as_str()))
                .filter(|e| !facts.preloaded.iter().any(|p| p.eq_ignore_ascii_case(e)))
                .map(String::as_str)
                .collect();
            if !not_preloaded.is_empty() {
                extension_problems.push(format!(
                    "Error 603109: the extensions {} need shared_preload_libraries on the target server (a restart applies it).",
                    not_preloaded.join(", ")
                ));
            }
            push_db(item(
                "ExtensionsValidation",
                extension_problems,
                "Every extension is available on the target server.",
            ));
            database_items.push(json!({
                "databaseName": database, "startedOn": started, "endedOn": ended, "summary": items
            }));
        }
    }

    Judgement {
        failed: any_failed,
        details: json!({
            "status": if any_failed { "Failed" } else { "Succeeded" },
            "validationStartTimeInUtc": started,
            "validationEndTimeInUtc": ended,
            "serverLevelValidationDetails": server_items,
            "dbLevelValidationDetails": database_items,
        }),
    }
}

// -- I/O ----------------------------------------------------------------------------------------------

fn tls(ca_pem: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

async fn connect(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    database: &str,
    ca_pem: &str,
) -> Result<tokio_postgres::Client, LoginFailure> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port)
        .user(user)
        .password(password)
        .dbname(database)
        .ssl_mode(tokio_postgres::config::SslMode::Require)
        .connect_timeout(std::time::Duration::from_secs(10))
        .application_name("fake-arm-premigration");
    let tls = tls(ca_pem).map_err(LoginFailure::Unreachable)?;
    match config.connect(tls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Ok(client)
        }
        Err(error) => match error.as_db_error().map(|e| e.code().code()) {
            Some("28P01" | "28000") => Err(LoginFailure::Password),
            _ => Err(LoginFailure::Unreachable(format!("{error}"))),
        },
    }
}

fn unreadable(error: tokio_postgres::Error) -> LoginFailure {
    LoginFailure::Unreachable(format!("reading the catalogs failed: {error}"))
}

async fn source_facts(logins: &Logins) -> Result<SourceFacts, LoginFailure> {
    let (host, port, user, password, ca) =
        (&logins.source_host, logins.source_port, &logins.source_user, &logins.source_password, &logins.ca_pem);
    let client = connect(host, port, user, password, "postgres", ca).await?;
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::bigint, current_setting('server_version'),
                    current_setting('wal_level'), current_setting('max_replication_slots')::bigint,
                    (SELECT count(*) FROM pg_replication_slots), current_setting('max_wal_senders')::bigint,
                    (SELECT rolreplication FROM pg_roles WHERE rolname = current_user)
                    OR (EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_replication')
                        AND pg_has_role(current_user, 'rds_replication', 'MEMBER'))",
            &[],
        )
        .await
        .map_err(unreadable)?;
    let mut facts = SourceFacts {
        version_num: row.get(0),
        version: row.get(1),
        wal_level: row.get(2),
        max_replication_slots: row.get(3),
        slots_in_use: row.get(4),
        max_wal_senders: row.get(5),
        replication: row.get::<_, Option<bool>>(6).unwrap_or(false),
        databases: BTreeMap::new(),
    };
    let names: Vec<String> = client
        .query("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate", &[])
        .await
        .map_err(unreadable)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for name in names {
        // A database the user cannot connect to is reported without extensions.
        let extensions = match connect(host, port, user, password, &name, ca).await {
            Ok(db) => db
                .query("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname", &[])
                .await
                .map(|rows| rows.iter().map(|row| row.get(0)).collect())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        facts.databases.insert(name, extensions);
    }
    Ok(facts)
}

async fn target_facts(logins: &Logins) -> Result<TargetFacts, LoginFailure> {
    let Some((host, port)) = &logins.target else {
        return Err(LoginFailure::Unreachable("the target server's database is not reachable from the service".into()));
    };
    let client = connect(host, *port, &logins.target_user, &logins.target_password, "postgres", &logins.ca_pem).await?;
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'azure_pg_admin')
                    AND pg_has_role(current_user, 'azure_pg_admin', 'MEMBER'),
                    (SELECT rolcreaterole FROM pg_roles WHERE rolname = current_user)",
            &[],
        )
        .await
        .map_err(unreadable)?;
    let databases = client
        .query("SELECT datname FROM pg_database WHERE NOT datistemplate", &[])
        .await
        .map_err(unreadable)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(TargetFacts { in_azure_pg_admin: row.get(0), createrole: row.get(1), databases })
}

/// Logs in to both databases and reads what the checks need.
pub(crate) async fn gather(logins: &Logins, allowlisted: Vec<String>, preloaded: Vec<String>) -> Facts {
    let (source, target) = tokio::join!(source_facts(logins), target_facts(logins));
    Facts { source, target, allowlisted, preloaded }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_source() -> SourceFacts {
        SourceFacts {
            version_num: 150004,
            version: "15.4".into(),
            wal_level: "logical".into(),
            max_replication_slots: 20,
            slots_in_use: 0,
            max_wal_senders: 20,
            replication: true,
            databases: [("orders".to_string(), vec!["hstore".to_string(), "pg_stat_statements".to_string()])].into(),
        }
    }

    fn ready() -> Facts {
        Facts {
            source: Ok(ready_source()),
            target: Ok(TargetFacts {
                in_azure_pg_admin: true,
                createrole: true,
                databases: ["postgres".into()].into(),
            }),
            allowlisted: vec!["HSTORE".into(), "pg_stat_statements".into()],
            preloaded: vec!["pg_stat_statements".into()],
        }
    }

    fn run(facts: &Facts, databases: &[&str]) -> Judgement {
        let databases: Vec<String> = databases.iter().map(|d| d.to_string()).collect();
        judge(&databases, ("migrator", "azureadmin"), facts, "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z")
    }

    fn messages(judgement: &Judgement) -> String {
        judgement.details.to_string()
    }

    #[test]
    fn a_ready_pair_succeeds_with_every_item() {
        let judgement = run(&ready(), &["orders"]);
        assert!(!judgement.failed, "{}", judgement.details);
        assert_eq!(judgement.details["status"], "Succeeded");
        let kinds: Vec<&str> = judgement.details["serverLevelValidationDetails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["AuthenticationAndConnectivityValidation", "SourceVersionValidation", "ServerParametersValidation"]
        );
        assert_eq!(judgement.details["dbLevelValidationDetails"][0]["databaseName"], "orders");
    }

    #[test]
    fn every_source_parameter_problem_carries_its_code() {
        let mut facts = ready();
        let source = facts.source.as_mut().unwrap();
        source.wal_level = "replica".into();
        source.max_replication_slots = 1;
        source.max_wal_senders = 0;
        source.replication = false;
        let judgement = run(&facts, &["orders"]);
        assert!(judgement.failed);
        let text = messages(&judgement);
        for code in ["603107", "603105", "603106", "603104"] {
            assert!(text.contains(code), "{code} in {text}");
        }
    }

    #[test]
    fn slots_count_the_databases_and_the_slots_in_use() {
        let mut facts = ready();
        let source = facts.source.as_mut().unwrap();
        source.max_replication_slots = 3;
        source.slots_in_use = 1;
        assert!(!messages(&run(&facts, &["orders"])).contains("603105"));
        facts.source.as_mut().unwrap().slots_in_use = 2;
        assert!(messages(&run(&facts, &["orders"])).contains("603105"));
    }

    #[test]
    fn a_wrong_password_is_603100_and_stops_the_source_checks() {
        let mut facts = ready();
        facts.source = Err(LoginFailure::Password);
        let judgement = run(&facts, &["orders"]);
        assert!(judgement.failed);
        let server = judgement.details["serverLevelValidationDetails"].as_array().unwrap();
        assert_eq!(server.len(), 1);
        assert!(server[0]["messages"][0]["message"].as_str().unwrap().contains("603100"));
        assert!(!messages(&judgement).contains("hunter2"));
    }

    #[test]
    fn extensions_must_be_allowlisted_and_preloaded() {
        let mut facts = ready();
        facts.allowlisted = vec![];
        facts.preloaded = vec![];
        let text = messages(&run(&facts, &["orders"]));
        assert!(text.contains("603108") && text.contains("hstore, pg_stat_statements"), "{text}");
        assert!(text.contains("603109"), "{text}");
    }

    #[test]
    fn databases_must_exist_on_the_source_and_not_on_the_target() {
        let mut facts = ready();
        facts.target.as_mut().unwrap().databases.insert("orders".into());
        let text = messages(&run(&facts, &["orders", "missing"]));
        assert!(text.contains("603101: the database 'orders'"), "{text}");
        assert!(text.contains("603102: the database 'missing'"), "{text}");
    }

    #[test]
    fn the_target_user_needs_azure_pg_admin_and_createrole() {
        let mut facts = ready();
        facts.target = Ok(TargetFacts { in_azure_pg_admin: false, createrole: false, databases: BTreeSet::new() });
        let text = messages(&run(&facts, &["orders"]));
        assert!(text.contains("603115") && text.contains("603116"), "{text}");
    }
}
