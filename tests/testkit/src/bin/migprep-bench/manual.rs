//! The anchor: the reads a DBA would script for the same prerequisites (`aws rds …`, `psql`, and `curl`
//! against ARM), run one after the other and measured like migprep.

use crate::bench::Bench;
use crate::measure::{Cost, Run, add, run_checked};
use crate::{ARM_API_VERSION, FAMILY};
use anyhow::{Context, Result};
use migprep_testkit::scenario::{CLUSTER, REGION, RESOURCE_GROUP, SERVER, SUBSCRIPTION, Scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

impl Bench {
    /// The reads a DBA would script for these prerequisites, one command after the other.
    pub(crate) async fn manual(&self) -> Result<Run> {
        let commands = self.manual_commands();
        let logs = self.logs.clone();
        let arm = ArmCalls::new(&self.scenario);
        self.measure(move || {
            let mut total = Cost::default();
            let mut children = 0;
            for command in commands {
                let cost = run_checked(command, &logs.join("manual.stderr"))?;
                add(&mut total, &cost);
                children += 1;
            }
            let (cost, calls) = arm.run(&logs)?;
            add(&mut total, &cost);
            Ok((total, children + calls))
        })
        .await
    }

    /// `aws rds …` and `psql` calls (the `curl` ones follow `nextLink`, see [`ArmCalls`]).
    fn manual_commands(&self) -> Vec<Command> {
        let env = self.scenario.env();
        let endpoint = self.scenario.rds.endpoint();
        let aws = |args: &[&str]| {
            let mut c = Command::new("aws");
            c.args(["rds", "--endpoint-url", &endpoint, "--region", REGION, "--output", "json"])
                .args(args)
                .envs(env.iter().cloned());
            c
        };
        let group = self.current_group();
        let mut commands = vec![
            aws(&["describe-db-clusters", "--db-cluster-identifier", CLUSTER]),
            aws(&["describe-db-instances", "--filters", &format!("Name=db-cluster-id,Values={CLUSTER}")]),
            aws(&["describe-db-cluster-parameter-groups", "--db-cluster-parameter-group-name", &group]),
            aws(&["describe-db-cluster-parameters", "--db-cluster-parameter-group-name", &group, "--source", "user"]),
            aws(&[
                "describe-db-cluster-parameters",
                "--db-cluster-parameter-group-name",
                &group,
                "--filters",
                "Name=parameter-name,Values=rds.logical_replication,max_replication_slots,max_wal_senders,\
                 wal_sender_timeout,max_worker_processes,shared_preload_libraries",
            ]),
        ];
        let source = self.scenario.source.admin();
        let target = self.scenario.target.admin();
        let migrator = &self.scenario.source.migration_user().user;
        let psql = |port: u16, user: &str, password: &str, db: &str, sql: &[String]| {
            let mut c = Command::new("psql");
            c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["-U", user, "-d", db])
                .env("PGSSLMODE", "require")
                .env("PGPASSWORD", password)
                .env("PGCONNECT_TIMEOUT", "10");
            for statement in sql {
                c.args(["-c", statement]);
            }
            c
        };
        let source_port = self.source_proxy.port();
        let databases = self.databases();
        let names = databases.iter().map(|d| format!("'{d}'")).collect::<Vec<_>>().join(",");
        commands.push(psql(
            source_port,
            &source.user,
            &source.password,
            &databases[0],
            &[
                "SELECT current_setting('server_version'), current_setting('wal_level')".into(),
                "SELECT name, setting FROM pg_settings".into(),
                "SELECT count(*) FROM pg_replication_slots".into(),
                "SELECT count(*) FROM pg_stat_replication".into(),
                "SELECT rolname, rolsuper, rolreplication, rolcanlogin FROM pg_roles".into(),
                "SELECT roleid::regrole, member::regrole, admin_option FROM pg_auth_members".into(),
                format!("SELECT pg_has_role('{migrator}', 'rds_replication', 'MEMBER')"),
                format!("SELECT datname, pg_database_size(datname) FROM pg_database WHERE datname IN ({names})"),
            ],
        ));
        for database in &databases {
            commands.push(psql(
                source_port,
                &source.user,
                &source.password,
                database,
                &[
                    "SELECT extname FROM pg_extension".into(),
                    format!("SELECT has_database_privilege('{migrator}', current_database(), 'CONNECT')"),
                    format!(
                        "SELECT n.nspname, has_schema_privilege('{migrator}', n.oid, 'USAGE'), \
                         count(*) FILTER (WHERE NOT has_table_privilege('{migrator}', c.oid, 'SELECT')) \
                         FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r','p') \
                         WHERE n.nspname NOT IN ('pg_catalog','information_schema') GROUP BY 1, 2"
                    ),
                ],
            ));
        }
        commands.push(psql(
            self.target_proxy.port(),
            &target.user,
            &target.password,
            "postgres",
            &[
                "SELECT current_setting('server_version_num')".into(),
                "SELECT rolname, rolsuper, rolreplication, rolcanlogin FROM pg_roles".into(),
                "SELECT roleid::regrole, member::regrole, admin_option FROM pg_auth_members".into(),
                "SELECT pg_has_role(current_user, 'azure_pg_admin', 'MEMBER')".into(),
            ],
        ));
        commands
    }

    fn databases(&self) -> Vec<String> {
        self.spec["source"]["databases"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    }

    /// The cluster's parameter group, as the stand-in knows it (the default one until changed).
    fn current_group(&self) -> String {
        let attached = self
            .scenario
            .rds
            .requests_for("ModifyDBCluster")
            .iter()
            .rev()
            .find_map(|r| r.param("DBClusterParameterGroupName").map(String::from));
        attached.unwrap_or_else(|| format!("default.{FAMILY}"))
    }
}

/// The ARM reads with `curl`: a token with the client credentials, then the server, its replicas, its
/// capabilities and every page of its configurations (each page names the next).
struct ArmCalls {
    authority: String,
    tenant: String,
    client_id: String,
    client_secret: String,
    server_url: String,
    ca: PathBuf,
}

impl ArmCalls {
    fn new(scenario: &Scenario) -> Self {
        let env: BTreeMap<String, String> = scenario.env().into_iter().collect();
        Self {
            authority: scenario.arm.authority_host(),
            tenant: env["AZURE_TENANT_ID"].clone(),
            client_id: env["AZURE_CLIENT_ID"].clone(),
            client_secret: env["AZURE_CLIENT_SECRET"].clone(),
            server_url: format!(
                "{}/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/\
                 Microsoft.DBforPostgreSQL/flexibleServers/{SERVER}",
                scenario.arm.endpoint()
            ),
            ca: scenario.dir().join("ca.pem"),
        }
    }

    fn curl(&self) -> Command {
        let mut c = Command::new("curl");
        c.args(["-sS", "--fail", "--cacert"]).arg(&self.ca);
        c
    }

    fn run(&self, logs: &Path) -> Result<(Cost, usize)> {
        let mut total = Cost::default();
        let mut calls = 0;
        let mut call = |mut command: Command| -> Result<serde_json::Value> {
            let out = logs.join("curl.stdout");
            command.arg("--output").arg(&out);
            let cost = run_checked(command, &logs.join("curl.stderr"))?;
            add(&mut total, &cost);
            calls += 1;
            Ok(serde_json::from_str(&std::fs::read_to_string(&out)?)?)
        };
        let mut token = self.curl();
        token
            .arg(format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant))
            .args(["--data-urlencode", "grant_type=client_credentials"])
            .args(["--data-urlencode", &format!("client_id={}", self.client_id)])
            .args(["--data-urlencode", &format!("client_secret={}", self.client_secret)])
            .args(["--data-urlencode", "scope=https://management.azure.com/.default"]);
        let token = call(token)?;
        let bearer = token["access_token"].as_str().context("no access_token in the token answer")?.to_string();
        let get = |url: &str| {
            let mut c = self.curl();
            c.args(["-H", &format!("Authorization: Bearer {bearer}"), url]);
            c
        };
        for path in ["", "/replicas", "/capabilities"] {
            call(get(&format!("{}{path}?api-version={ARM_API_VERSION}", self.server_url)))?;
        }
        let mut next = Some(format!("{}/configurations?api-version={ARM_API_VERSION}", self.server_url));
        while let Some(url) = next {
            let page = call(get(&url))?;
            next = page["nextLink"].as_str().map(String::from);
        }
        Ok((total, calls))
    }
}
