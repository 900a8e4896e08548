//! The benchmark of `migprep plan` and `apply` against the local stand-ins, with injected latency, and
//! of the same reads done the manual way (`aws rds …`, `psql`, `curl`) as the anchor. `scripts/bench`
//! builds and runs it; the README's "Benchmark" section explains the model and shows the latest table.
//!
//! Usage: `MIGPREP_BIN=target/release/migprep migprep-bench [OUT.md]` — writes the markdown report to
//! stdout and to OUT.md (default `target/bench/results.md`); progress goes to stderr.
//!
//! Latency: every RDS request and every ARM request (token requests too) is answered `latency` late by
//! the stand-ins; PostgreSQL connections go through a [`DelayProxy`] on each side, where one round trip
//! costs `latency` (see `delay.rs`). The source is reached the way migprep reaches it: the cluster's
//! writer endpoint, as the RDS API reports it, leads to the proxy.
//!
//! Measurements: wall time around each child; its CPU time (user + system) and peak RSS from `wait4`,
//! which reports them for that one child — `getrusage(RUSAGE_CHILDREN)` deltas would do for CPU, but its
//! `ru_maxrss` is the largest of all children ever waited for, and the stand-ins' own children
//! (`pg_ctl`, moto) would mix in. Request counts are deltas of the stand-ins' logs and the proxies'
//! connection counters. Timings are reported, never asserted: the machine is shared.

use anyhow::{Context, Result, anyhow, bail};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::delay::DelayProxy;
use migprep_testkit::rds::GroupSeed;
use migprep_testkit::scenario::{CLUSTER, REGION, RESOURCE_GROUP, SERVER, SUBSCRIPTION, Scenario, ScenarioConfig};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LATENCIES_MS: [u64; 3] = [0, 20, 100];
/// Runs per plan measurement; the median is reported.
const RUNS: usize = 3;
const FAMILY: &str = "aurora-postgresql15";
const ARM_API_VERSION: &str = "2025-08-01";
/// The custom group of the "large group" run; dedicated to the cluster, so S2 changes it in place.
const LARGE_GROUP: &str = "orders-prod-large";

/// Round trips of one PostgreSQL connection as migprep opens it (`sslmode` require or verify-full,
/// password auth): TCP handshake, SSLRequest, TLS 1.3 handshake (the client's Finished goes out with the
/// startup message), and SCRAM-SHA-256: startup → SASL, client-first → server-first, client-final →
/// server-final + ReadyForQuery.
const PG_CONNECT_ROUND_TRIPS: u32 = 6;
/// Round trips of one statement: at least one, whatever the protocol (migprep sends Parse, Bind,
/// Describe, Execute and Sync in one flight, with the parameter types given, so it needs no more).
const PG_QUERY_ROUND_TRIPS: u32 = 1;
/// Requests of one ARM write on a server, at the least: the write, then one poll that finds it done.
const ARM_OPERATION_ROUND_TRIPS: u32 = 2;
/// Parameters one `ModifyDBClusterParameterGroup` call may set.
const RDS_PARAMETERS_PER_CALL: u32 = 20;
/// The largest page RDS hands out (`MaxRecords`) and ARM's configuration page in the stand-in.
const RDS_PAGE: u32 = 100;
const ARM_CONFIGURATIONS: u32 = 415;
const ARM_PAGE: u32 = 100;

/// What one child process cost.
#[derive(Clone, Debug, Default)]
struct Cost {
    wall: Duration,
    cpu: Duration,
    max_rss_kb: i64,
    code: i32,
}

/// One measured run: the child's cost and the requests it made per system.
#[derive(Clone, Debug, Default)]
struct Run {
    cost: Cost,
    rds: usize,
    arm: usize,
    pg: usize,
    children: usize,
}

/// The stand-ins with a delay proxy in front of each PostgreSQL server and a spec pointing at them.
struct Bench {
    scenario: Scenario,
    source_proxy: DelayProxy,
    target_proxy: DelayProxy,
    spec: toml::Table,
    spec_path: PathBuf,
    binary: PathBuf,
    logs: PathBuf,
}

impl Bench {
    /// The demo's "before" state (see `migprep-standins`): Aurora on its default group with a reader;
    /// the flexible server zone-redundant, temp tablespaces on the local SSD, a read replica; disruptive
    /// actions allowed.
    async fn start(binary: &Path, logs: &Path) -> Result<Self> {
        let mut config = ScenarioConfig::default();
        config.cluster.readers = vec![format!("{}-instance-2", config.cluster.id)];
        config.server = ServerSeed::new(SERVER)
            .high_availability("ZoneRedundant", "2")
            .configuration("azure.enable_temp_tablespaces_on_local_ssd", "on")
            .replica(&format!("{SERVER}-replica"));
        let scenario = Scenario::start_with(config).await.context("starting the stand-ins")?;
        let source_proxy = DelayProxy::start(scenario.source.port()).await?;
        let target_proxy = DelayProxy::start(scenario.target.port()).await?;
        // The writer endpoint the RDS API reports is where migprep connects: make that the proxy.
        scenario.rds.set_cluster_endpoint(CLUSTER, Some(source_proxy.port()));
        let mut spec = scenario.spec();
        let allow: toml::Table =
            toml::from_str("reboot_source_writer = true\nrestart_target = true\nremove_replicas = \"promote\"\n")?;
        spec.insert("allow".into(), toml::Value::Table(allow));
        table(&mut spec, "target")?
            .get_mut("connection")
            .and_then(toml::Value::as_table_mut)
            .context("the spec has no target.connection")?
            .insert("port".into(), toml::Value::Integer(target_proxy.port().into()));
        let spec_path = scenario.write_spec(&spec)?;
        Ok(Self {
            scenario,
            source_proxy,
            target_proxy,
            spec,
            spec_path,
            binary: binary.to_path_buf(),
            logs: logs.to_path_buf(),
        })
    }

    fn set_latency(&self, latency: Duration) {
        self.scenario.rds.set_latency(None, latency);
        self.scenario.arm.set_latency(latency);
        self.source_proxy.set_latency(latency);
        self.target_proxy.set_latency(latency);
    }

    fn set_databases(&mut self, databases: &[String]) -> Result<()> {
        let list = databases.iter().cloned().map(toml::Value::String).collect();
        table(&mut self.spec, "source")?.insert("databases".into(), toml::Value::Array(list));
        self.spec_path = self.scenario.write_spec(&self.spec)?;
        Ok(())
    }

    fn counts(&self) -> (usize, usize, usize) {
        (
            self.scenario.rds.requests().len(),
            self.scenario.arm.requests().len(),
            self.source_proxy.connections() + self.target_proxy.connections(),
        )
    }

    /// Runs `f` (which runs children and returns their summed cost) and counts the requests it made.
    async fn measure<F>(&self, f: F) -> Result<Run>
    where
        F: FnOnce() -> Result<(Cost, usize)> + Send + 'static,
    {
        let before = self.counts();
        // Blocking: the children are waited for with `wait4`; the stand-ins keep running on the runtime.
        let (cost, children) = tokio::task::spawn_blocking(f).await??;
        let after = self.counts();
        Ok(Run { cost, rds: after.0 - before.0, arm: after.1 - before.1, pg: after.2 - before.2, children })
    }

    /// One `migprep` run; exit codes outside `ok` fail the benchmark with migprep's stderr.
    async fn migprep(&self, args: &[&str], ok: &'static [i32]) -> Result<Run> {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .envs(self.scenario.env())
            .env("NO_COLOR", "1")
            .env_remove("MIGPREP_STATE_DIR")
            .env_remove("MIGPREP_CA_FILE")
            .current_dir(self.scenario.dir());
        let log = self.logs.join("migprep.stderr");
        let what = format!("migprep {}", args.join(" "));
        let run = self
            .measure(move || {
                let cost = run_child(command, &log)?;
                if !ok.contains(&cost.code) {
                    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                    bail!("{what} exited with {}:\n{stderr}", cost.code);
                }
                Ok((cost, 1))
            })
            .await?;
        Ok(run)
    }

    async fn plan(&self) -> Result<Run> {
        let spec = self.spec_path.to_string_lossy().into_owned();
        self.migprep(&["plan", &spec, "--detailed-exitcode"], &[0, 2, 3]).await
    }

    /// The median of `RUNS` plan runs.
    async fn plan_median(&self) -> Result<Run> {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(self.plan().await?);
        }
        Ok(median(runs))
    }

    /// The plan as JSON (not measured): what an apply of the same spec will run.
    fn plan_json(&self) -> Result<serde_json::Value> {
        let output = Command::new(&self.binary)
            .args(["plan", &self.spec_path.to_string_lossy(), "--format", "json"])
            .envs(self.scenario.env())
            .env_remove("MIGPREP_STATE_DIR")
            .env_remove("MIGPREP_CA_FILE")
            .current_dir(self.scenario.dir())
            .stderr(Stdio::null())
            .output()?;
        serde_json::from_slice(&output.stdout).context("migprep plan --format json printed no plan")
    }

    /// The reads a DBA would script for these prerequisites, one command after the other.
    async fn manual(&self) -> Result<Run> {
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
            command.stdout(Stdio::from(std::fs::File::create(&out)?));
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

/// Runs a child to its end, its stdout discarded (unless set) and stderr to `log`; CPU time and peak
/// RSS come from `wait4` for exactly this child.
fn run_child(mut command: Command, log: &Path) -> Result<Cost> {
    let stderr = std::fs::File::create(log)?;
    command.stdin(Stdio::null()).stderr(Stdio::from(stderr));
    if command.get_program() != "curl" {
        command.stdout(Stdio::null());
    }
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("starting {:?}", command.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; `pid` is our own, not yet reaped, child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break reaped;
    };
    let wall = started.elapsed();
    if reaped != pid {
        bail!("waiting for {:?}: {}", command.get_program(), std::io::Error::last_os_error());
    }
    // Reaped already: dropping the handle must not wait again (std's drop never does).
    drop(child);
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    Ok(Cost { wall, cpu: time(usage.ru_utime) + time(usage.ru_stime), max_rss_kb: usage.ru_maxrss, code })
}

fn run_checked(command: Command, log: &Path) -> Result<Cost> {
    let program = format!("{:?} {:?}", command.get_program(), command.get_args().take(3).collect::<Vec<_>>());
    let cost = run_child(command, log)?;
    if cost.code != 0 {
        let stderr = std::fs::read_to_string(log).unwrap_or_default();
        bail!("{program} exited with {}:\n{stderr}", cost.code);
    }
    Ok(cost)
}

fn add(total: &mut Cost, cost: &Cost) {
    total.wall += cost.wall;
    total.cpu += cost.cpu;
    total.max_rss_kb = total.max_rss_kb.max(cost.max_rss_kb);
}

/// The run with the median wall time (its CPU, memory and counts come with it).
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.cost.wall);
    runs.swap_remove(runs.len() / 2)
}

fn table<'a>(spec: &'a mut toml::Table, key: &str) -> Result<&'a mut toml::Table> {
    spec.get_mut(key).and_then(toml::Value::as_table_mut).ok_or_else(|| anyhow!("the spec has no [{key}]"))
}

/// The critical path of `plan`, in round trips: the longest chain of requests that must follow one
/// another, whatever runs concurrently. `user_parameters` is the number of user-set values of the
/// cluster's group. Returns the chains, longest first.
fn plan_chains(user_parameters: u32) -> Vec<(String, u32)> {
    let connect = PG_CONNECT_ROUND_TRIPS;
    let query = PG_QUERY_ROUND_TRIPS;
    let rds_pages = user_parameters.div_ceil(RDS_PAGE).max(1);
    let arm_pages = ARM_CONFIGURATIONS.div_ceil(ARM_PAGE);
    let mut chains = vec![
        (
            format!("DescribeDBClusters (writer endpoint) → PostgreSQL connect ({connect}) → one statement ({query})"),
            1 + connect + query,
        ),
        (format!("target PostgreSQL connect ({connect}) → one statement ({query})"), connect + query),
        (format!("ARM token → configurations, {arm_pages} pages by nextLink"), 1 + arm_pages),
        (
            format!("DescribeDBClusters (group name) → DescribeDBClusterParameters, {rds_pages} page(s) by Marker"),
            1 + rds_pages,
        ),
    ];
    chains.sort_by_key(|c| std::cmp::Reverse(c.1));
    chains
}

/// The critical path of `apply`, in round trips: its plan's, then the longest chain of writes that
/// must follow one another. On the source: create the migration group, set its values (20 per call),
/// attach it, reboot the writer, and read it back available. On the target's server, one operation at
/// a time (ARM refuses a second while one runs), each a write and a poll that finds it done. Waiting for
/// operations, reboots and restarts to finish is not latency and is not counted: that part of apply's
/// time shows at 0 ms. Returns the chains, longest first.
fn apply_chains(plan: &serde_json::Value) -> Vec<(String, u32)> {
    let runnable: Vec<&str> = plan["changes"]
        .as_array()
        .map(|changes| {
            changes
                .iter()
                .filter(|c| c["pending"].is_null() && c["action"] != "blocker")
                .filter_map(|c| c["address"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let count = |prefix: &str| runnable.iter().filter(|a| a.starts_with(prefix)).count() as u32;
    let observe = plan_chains(0)[0].1;
    let parameters = count(&format!("aws.cluster/{CLUSTER}/parameter/"));
    let source = count("aws.parameter_group/")
        + parameters.div_ceil(RDS_PARAMETERS_PER_CALL)
        + count(&format!("aws.cluster/{CLUSTER}/parameter_group"))
        + 2 * count(&format!("aws.cluster/{CLUSTER}/writer"));
    let operations = count(&format!("azure.server/{SERVER}/")) - count(&format!("azure.server/{SERVER}/replica/"));
    let mut chains = vec![
        (
            format!(
                "plan ({observe}) → the server's {operations} operations one after another, \
                 {ARM_OPERATION_ROUND_TRIPS} each"
            ),
            observe + operations * ARM_OPERATION_ROUND_TRIPS,
        ),
        (
            format!("plan ({observe}) → create group, {parameters} values, attach, reboot and read back"),
            observe + source,
        ),
    ];
    chains.sort_by_key(|c| std::cmp::Reverse(c.1));
    chains
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn row(out: &mut String, label: &str, latency: u64, run: &Run) {
    let _ = writeln!(
        out,
        "| {label} | {latency} | {} | {} | {:.0} | {} | {} | {} | {} |",
        secs(run.cost.wall),
        secs(run.cost.cpu),
        run.cost.max_rss_kb as f64 / 1024.0,
        run.rds,
        run.arm,
        run.pg,
        run.cost.code,
    );
}

const HEADER: &str = "| run | latency (ms) | wall (s) | CPU (s) | peak RSS (MiB) | RDS req | ARM req | PG conn | exit |\n\
                      |---|---:|---:|---:|---:|---:|---:|---:|---:|\n";

fn progress(message: &str) {
    eprintln!("bench: {message}");
}

/// A value for each modifiable parameter of the family the catalog has, so the group is as large as
/// the stand-in allows. Parameters that the migration rules manage are left alone (the plan stays
/// the same shape); the seed refuses any value it finds wrong, which is then dropped.
fn large_group_values() -> Result<Vec<(String, String, bool)>> {
    #[derive(serde::Deserialize)]
    struct Catalog {
        parameters: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        modifiable: bool,
        allowed_values: Option<String>,
        value: Option<String>,
        apply_type: String,
        since: Option<u32>,
        until: Option<u32>,
    }
    const MANAGED: [&str; 8] = [
        "rds.logical_replication",
        "max_replication_slots",
        "max_wal_senders",
        "wal_sender_timeout",
        "max_worker_processes",
        "shared_preload_libraries",
        "max_logical_replication_workers",
        "max_connections",
    ];
    let catalog: Catalog = serde_json::from_str(include_str!("../rds/catalog.json"))?;
    let mut values = Vec::new();
    for entry in catalog.parameters {
        let in_15 = entry.since.is_none_or(|s| s <= 15) && entry.until.is_none_or(|u| u >= 15);
        if !entry.modifiable || !in_15 || MANAGED.contains(&entry.name.as_str()) {
            continue;
        }
        let from_allowed = entry.allowed_values.as_deref().and_then(|allowed| {
            let first = allowed.split(',').next()?.trim();
            // "lo-hi" ranges: the lower bound (a leading minus belongs to the number).
            match first.get(1..).and_then(|rest| rest.find('-')) {
                Some(dash) => Some(first[..=dash].to_string()),
                None => Some(first.to_string()),
            }
        });
        let value = entry.value.filter(|v| !v.contains('{') && !v.is_empty()).or(from_allowed);
        if let Some(value) = value {
            values.push((entry.name, value, entry.apply_type == "static"));
        }
    }
    Ok(values)
}

/// Seeds the large group: the first 20 values at creation (RDS takes at most 20 per request), the
/// rest with `aws rds modify-db-cluster-parameter-group` 20 at a time, dropping any value the stand-in
/// refuses. Returns how many user-set values the group has.
fn seed_large_group(scenario: &Scenario) -> Result<u32> {
    let values = large_group_values()?;
    let refused = |message: &str, batch: &mut Vec<(String, String, bool)>| {
        let before = batch.len();
        batch.retain(|(name, _, _)| !message.contains(name.as_str()));
        batch.len() < before
    };
    let mut batches: Vec<Vec<(String, String, bool)>> = values.chunks(20).map(<[_]>::to_vec).collect();
    let mut count = 0;
    for (i, batch) in batches.iter_mut().enumerate() {
        loop {
            let result = if i == 0 {
                let mut seed = GroupSeed::new(LARGE_GROUP, FAMILY);
                for (name, value, _) in batch.iter() {
                    seed = seed.value(name, value);
                }
                scenario.rds.seed_parameter_group(seed).map_err(|e| e.to_string())
            } else {
                let parameters: Vec<serde_json::Value> = batch
                    .iter()
                    .map(|(name, value, is_static)| {
                        let method = if *is_static { "pending-reboot" } else { "immediate" };
                        serde_json::json!({"ParameterName": name, "ParameterValue": value, "ApplyMethod": method})
                    })
                    .collect();
                let output = Command::new("aws")
                    .args(["rds", "--endpoint-url", &scenario.rds.endpoint(), "--region", REGION])
                    .args(["modify-db-cluster-parameter-group", "--db-cluster-parameter-group-name", LARGE_GROUP])
                    .arg("--parameters")
                    .arg(serde_json::Value::Array(parameters).to_string())
                    .envs(scenario.env())
                    .output()?;
                if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).into_owned()) }
            };
            match result {
                Ok(()) => break,
                Err(message) if refused(&message, batch) => {}
                Err(message) => bail!("seeding {LARGE_GROUP}: {message}"),
            }
            if batch.is_empty() {
                break;
            }
        }
        count += batch.len() as u32;
    }
    Ok(count)
}

#[tokio::main]
async fn main() -> Result<()> {
    let binary = PathBuf::from(std::env::var("MIGPREP_BIN").unwrap_or_else(|_| "target/release/migprep".into()));
    let binary = std::fs::canonicalize(&binary).with_context(|| format!("MIGPREP_BIN {}", binary.display()))?;
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/bench/results.md".into()));
    let logs = tempfile::Builder::new().prefix("migprep-bench-").tempdir()?;
    let started = Instant::now();

    // 1–3: plan at each latency, with the manual way interleaved so both see the same noise.
    progress("starting the stand-ins (demo's before state)");
    let mut bench = Bench::start(&binary, logs.path()).await?;
    let mut plans = BTreeMap::new();
    let mut manuals = BTreeMap::new();
    for latency in LATENCIES_MS {
        bench.set_latency(Duration::from_millis(latency));
        let (mut plan_runs, mut manual_runs) = (Vec::new(), Vec::new());
        for i in 0..RUNS {
            progress(&format!("plan and the manual way at {latency} ms ({}/{RUNS})", i + 1));
            plan_runs.push(bench.plan().await?);
            manual_runs.push(bench.manual().await?);
        }
        plans.insert(latency, median(plan_runs));
        manuals.insert(latency, median(manual_runs));
    }

    // 4: growth with the work, on the same stand-ins.
    let mut growth = Vec::new();
    progress("creating 48 more databases on the source");
    {
        let db = bench.scenario.source.superuser("postgres").await?;
        for i in 1..=48 {
            db.batch_execute(&format!("CREATE DATABASE bench_{i:02}")).await?;
        }
        // Aurora on a db.r6g.large allows well over a thousand connections; the stand-in's 50 would
        // turn the 50-database plan into "too many clients" errors rather than a measurement.
        let settings = BTreeMap::from([("max_connections".to_string(), "400".to_string())]);
        bench.scenario.source.restart_with(&settings).await?;
    }
    let mut all: Vec<String> = bench.scenario.source.databases().to_vec();
    all.extend((1..=48).map(|i| format!("bench_{i:02}")));
    for n in [1, 10, 50] {
        bench.set_databases(&all[..n])?;
        for latency in [0, 100] {
            bench.set_latency(Duration::from_millis(latency));
            progress(&format!("plan with {n} database(s) at {latency} ms"));
            growth.push((format!("{n} database(s)"), latency, bench.plan_median().await?, 0));
        }
    }
    bench.set_databases(&all[..2])?;
    bench.set_latency(Duration::ZERO);
    let seeded = seed_large_group(&bench.scenario)?;
    progress(&format!("attaching {LARGE_GROUP} ({seeded} user-set values)"));
    let attach = Command::new("aws")
        .args(["rds", "--endpoint-url", &bench.scenario.rds.endpoint(), "--region", REGION, "modify-db-cluster"])
        .args(["--db-cluster-identifier", CLUSTER, "--db-cluster-parameter-group-name", LARGE_GROUP])
        .arg("--apply-immediately")
        .envs(bench.scenario.env())
        .stdout(Stdio::null())
        .status()?;
    if !attach.success() {
        bail!("attaching {LARGE_GROUP} failed");
    }
    for latency in [0, 100] {
        bench.set_latency(Duration::from_millis(latency));
        progress(&format!("plan with a {seeded}-value group at {latency} ms"));
        growth.push((format!("group with {seeded} user values"), latency, bench.plan_median().await?, seeded));
    }
    drop(bench);

    // apply: one run per latency, each on fresh stand-ins.
    let mut applies = BTreeMap::new();
    let mut apply_plan = serde_json::Value::Null;
    for latency in LATENCIES_MS {
        progress(&format!("apply at {latency} ms: starting fresh stand-ins"));
        let bench = Bench::start(&binary, logs.path()).await?;
        if apply_plan.is_null() {
            apply_plan = bench.plan_json()?;
        }
        bench.set_latency(Duration::from_millis(latency));
        let spec = bench.spec_path.to_string_lossy().into_owned();
        applies.insert(latency, bench.migprep(&["apply", &spec, "--auto-approve"], &[0]).await?);
    }

    let report = render(&plans, &manuals, &applies, &apply_chains(&apply_plan), &growth, started.elapsed());
    print!("{report}");
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, &report).with_context(|| format!("writing {}", out.display()))?;
    progress(&format!("done in {:.0} s; written to {}", started.elapsed().as_secs_f64(), out.display()));
    Ok(())
}

fn render(
    plans: &BTreeMap<u64, Run>,
    manuals: &BTreeMap<u64, Run>,
    applies: &BTreeMap<u64, Run>,
    apply_chains: &[(String, u32)],
    growth: &[(String, u64, Run, u32)],
    took: Duration,
) -> String {
    let mut out = String::new();
    let machine = machine();
    let _ =
        writeln!(out, "### migprep benchmark\n\n{machine}; the whole benchmark took {:.0} s.\n", took.as_secs_f64());
    let _ = writeln!(out, "#### plan and apply, and the manual way\n");
    out.push_str(HEADER);
    for latency in LATENCIES_MS {
        row(&mut out, &format!("plan (median of {RUNS})"), latency, &plans[&latency]);
        let manual = &manuals[&latency];
        row(&mut out, &format!("manual way ({} commands, median of {RUNS})", manual.children), latency, manual);
        row(&mut out, "apply (one run, fresh stand-ins)", latency, &applies[&latency]);
    }

    let _ = writeln!(out, "\n#### plan against its anchors\n");
    let chains = plan_chains(0);
    let bound = chains[0].1;
    out.push_str(
        "| latency (ms) | plan (s) | manual way (s) | plan / manual | lower bound (s) | plan / lower bound |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    for latency in LATENCIES_MS {
        let plan = plans[&latency].cost.wall;
        let manual = manuals[&latency].cost.wall;
        let lower = Duration::from_millis(latency * u64::from(bound));
        let ratio =
            if latency == 0 { "–".to_string() } else { format!("{:.2}×", plan.as_secs_f64() / lower.as_secs_f64()) };
        let _ = writeln!(
            out,
            "| {latency} | {} | {} | {:.2} | {} | {ratio} |",
            secs(plan),
            secs(manual),
            plan.as_secs_f64() / manual.as_secs_f64(),
            secs(lower),
        );
    }
    let _ = writeln!(out, "\nCritical path of plan ({bound} round trips):\n");
    for (chain, trips) in &chains {
        let _ = writeln!(out, "- {trips} round trips: {chain}");
    }
    let at_100 = plans[&100].cost.wall.as_secs_f64() / (0.1 * f64::from(bound));
    let _ = writeln!(
        out,
        "\nAt 100 ms plan takes {at_100:.2}× its lower bound (goal ≤ 1.5×: {}).",
        if at_100 <= 1.5 { "met" } else { "not met" }
    );

    let apply_bound = apply_chains[0].1;
    let _ = writeln!(out, "\n#### apply against its critical path\n");
    out.push_str("| latency (ms) | apply (s) | cost of the latency (s) | lower bound of it (s) | ratio |\n");
    out.push_str("|---:|---:|---:|---:|---:|\n");
    let at_zero = applies[&0].cost.wall;
    for latency in LATENCIES_MS {
        let wall = applies[&latency].cost.wall;
        let cost = wall.saturating_sub(at_zero);
        let lower = Duration::from_millis(latency * u64::from(apply_bound));
        let ratio =
            if latency == 0 { "–".to_string() } else { format!("{:.2}×", cost.as_secs_f64() / lower.as_secs_f64()) };
        let _ = writeln!(out, "| {latency} | {} | {} | {} | {ratio} |", secs(wall), secs(cost), secs(lower));
    }
    let _ = writeln!(
        out,
        "\nThe cost of the latency is apply's time minus its time at 0 ms (waiting for operations, the \
         reboot and the restart to finish, which no latency changes). Critical path of apply \
         ({apply_bound} round trips):\n"
    );
    for (chain, trips) in apply_chains {
        let _ = writeln!(out, "- {trips} round trips: {chain}");
    }

    let _ = writeln!(out, "\n#### how plan grows with the work (median of {RUNS})\n");
    out.push_str(HEADER);
    for (label, latency, run, user_values) in growth {
        let bound = plan_chains(*user_values)[0].1;
        row(&mut out, &format!("{label} (lower bound {bound} round trips)"), *latency, run);
    }
    out
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0));
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{date}, {cores} cores (nproc), {memory} memory")
}
