//! The AWS RDS stand-in: `moto_server` (moto 5.2.1) behind a fidelity layer that closes the gaps between
//! moto and real Aurora PostgreSQL listed in aws.md §3.3 (G1–G9), so migprep's AWS provider can be tested
//! with the real `aws-sdk-rds` client against `endpoint()`.
//!
//! Who owns what:
//! - **DB cluster parameter groups belong to the layer** ([`groups`]): the read-only
//!   `default.aurora-postgresql13` … `17` groups, custom groups that start from the family's catalog
//!   (`catalog.json`, 270-odd parameters with `Source`, `ApplyType`, `DataType`, `AllowedValues`,
//!   `IsModifiable`, absent values and formulas), `Source=user`, `Source` and `parameter-name` filters,
//!   `MaxRecords` 20–100 and `Marker` pages, and RDS's validation errors. Create, describe, modify,
//!   reset, copy, delete, tags on `cluster-pg` ARNs, `DescribeEngineDefaultClusterParameters` and
//!   `DescribeDBEngineVersions` never reach moto. Owning them outright is simpler and more exact than
//!   seeding moto's groups and patching its answers, and moto only ever needs the group *name*.
//! - **Clusters and instances belong to moto**; the layer validates what moto would accept wrongly
//!   (missing cluster, missing or wrong-family group, engine version outside 13–17), passes the right
//!   default group on `CreateDBCluster`, and rewrites moto's answers: member
//!   `DBClusterParameterGroupStatus` (`pending-reboot` after a static or pending-reboot change to the
//!   attached group, or after another group is attached), `rebooting` while a reboot is in progress,
//!   and the cluster endpoint and port of clusters seeded with one (so it leads to the local PostgreSQL).
//! - **Reboots**: `RebootDBInstance` of the writer shows `rebooting` for `reboot_describes` describes and
//!   until the cluster's reboot hook has restarted the source PostgreSQL with the group's settings in
//!   `postgresql.conf` terms (`rds.logical_replication=1` → `wal_level=logical`, the replication limits
//!   when they are plain numbers); then the writer is `available` and `in-sync`. From 15.2/14.7/13.10/12.14
//!   on, readers keep `pending-reboot` until rebooted themselves; before, the writer's reboot takes them
//!   along. A failing hook leaves the instance `incompatible-parameters`.
//!   Dynamic parameters changed with `immediate` call the cluster's reload hook instead.
//! - **Faults** ([`Fault`]) and latency are injected before a request is looked at, per action or for any;
//!   every request other than the stand-in's own seeding is logged ([`RequestRecord`]).
//!
//! One stand-in is one moto process and one account/region: start one per test. moto's `x-moto-account-id`
//! header is passed through, but the layer's groups are not partitioned by it.
//!
//! With [`RdsBackend::PlainMoto`] the layer is left out: the endpoint is moto's own, the "before" state is
//! arranged through moto's API ([`plain`]), and what moto does not do (pending-reboot, restarting the
//! source on a reboot) is left to the test ([`RdsStandIn::complete_reboot`]). The layer's own
//! bookkeeping (request log, faults, latency, its groups) is then not there, and asking for it panics.

mod catalog;
mod groups;
mod moto;
mod plain;
mod proxy;
mod query;
mod xml;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::future::BoxFuture;

pub use catalog::MAJORS as SUPPORTED_MAJORS;
pub use groups::MAX_PARAMETERS_PER_CALL;
pub use moto::{MOTO_VERSION, moto_server_path};

use proxy::{ClusterExtra, FaultRule, INTERNAL_HEADER, Shared, State};

/// A writer reboot in the cloud-like profile: Amazon's "Amazon Aurora updates" page (AuroraUserGuide,
/// Aurora.Updates) says a database restart typically means "20–30 seconds of downtime": the upper end,
/// 30 s, ÷ 60 as in the ARM profile ([`crate::arm::timing::SCALE`]).
pub const CLOUD_LIKE_REBOOT: Duration = Duration::from_millis(500);

/// Called with `postgresql.conf` settings (`wal_level`, `max_replication_slots`, …): on a writer reboot
/// with all of them, on an `immediate` change of dynamic parameters with just those.
pub type SettingsHook = Arc<dyn Fn(BTreeMap<String, String>) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Wraps an async closure as a [`SettingsHook`].
pub fn settings_hook<F, Fut>(f: F) -> SettingsHook
where
    F: Fn(BTreeMap<String, String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    Arc::new(move |settings| Box::pin(f(settings)))
}

/// What answers the RDS API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RdsBackend {
    /// moto behind the fidelity layer, which closes moto's gaps (the default).
    #[default]
    Fidelity,
    /// `moto_server` alone: filters ignored, custom groups listing only what was set, members always
    /// `in-sync`, reboots that restart nothing.
    PlainMoto,
}

#[derive(Clone, Debug)]
pub struct RdsConfig {
    /// The region in ARNs and in the stand-in's own requests to moto.
    pub region: String,
    /// How many describes show a rebooting instance as `rebooting` (at least; it also waits for the hook).
    pub reboot_describes: u32,
    /// The `moto_server` to run; default `$MOTO_SERVER`, else `PATH`.
    pub moto_server: Option<PathBuf>,
    pub backend: RdsBackend,
}

impl Default for RdsConfig {
    fn default() -> Self {
        RdsConfig { region: "us-east-1".into(), reboot_describes: 2, moto_server: None, backend: RdsBackend::Fidelity }
    }
}

/// A transient failure to answer with instead of handling a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 `Throttling` "Rate exceeded", which the SDK retries.
    Throttle,
    /// That HTTP status (500 `InternalFailure`, 503 `ServiceUnavailable`, …).
    ServerError(u16),
    /// Close the connection without answering.
    DropConnection,
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub action: String,
    /// The HTTP status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// The injected fault, if one answered this request.
    pub fault: Option<Fault>,
    /// The decoded form fields, in order.
    pub params: Vec<(String, String)>,
}

impl RequestRecord {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The `ParameterName`s of a Modify/Reset call, in order.
    pub fn parameter_names(&self) -> Vec<String> {
        query::Query::from_pairs(self.params.clone())
            .members("Parameters")
            .into_iter()
            .filter_map(|m| m.get("ParameterName").cloned())
            .collect()
    }
}

/// An Aurora PostgreSQL cluster to create, with a writer and readers.
#[derive(Clone)]
pub struct ClusterSeed {
    pub id: String,
    pub engine_version: String,
    /// `None`: the family's default group, as AWS does.
    pub parameter_group: Option<String>,
    pub writer: String,
    pub readers: Vec<String>,
    pub instance_class: String,
    pub publicly_accessible: bool,
    /// Where the cluster endpoint leads (`127.0.0.1:port`), normally the source PostgreSQL's port.
    pub endpoint_port: Option<u16>,
    pub master_username: String,
    pub reboot_hook: Option<SettingsHook>,
    pub reload_hook: Option<SettingsHook>,
}

impl ClusterSeed {
    /// A cluster on its default group with writer `<id>-instance-1`, no readers, `db.r6g.large`.
    pub fn new(id: &str, engine_version: &str) -> Self {
        ClusterSeed {
            id: id.into(),
            engine_version: engine_version.into(),
            parameter_group: None,
            writer: format!("{id}-instance-1"),
            readers: Vec::new(),
            instance_class: "db.r6g.large".into(),
            publicly_accessible: false,
            endpoint_port: None,
            master_username: "postgres".into(),
            reboot_hook: None,
            reload_hook: None,
        }
    }
}

impl std::fmt::Debug for ClusterSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSeed")
            .field("id", &self.id)
            .field("engine_version", &self.engine_version)
            .field("parameter_group", &self.parameter_group)
            .field("writer", &self.writer)
            .field("readers", &self.readers)
            .field("instance_class", &self.instance_class)
            .field("publicly_accessible", &self.publicly_accessible)
            .field("endpoint_port", &self.endpoint_port)
            .field("master_username", &self.master_username)
            .field("reboot_hook", &self.reboot_hook.is_some())
            .field("reload_hook", &self.reload_hook.is_some())
            .finish()
    }
}

/// A custom DB cluster parameter group with values already set by the user (`Source=user`).
#[derive(Clone, Debug)]
pub struct GroupSeed {
    pub name: String,
    pub family: String,
    pub description: String,
    pub values: Vec<(String, String)>,
}

impl GroupSeed {
    pub fn new(name: &str, family: &str) -> Self {
        GroupSeed {
            name: name.into(),
            family: family.into(),
            description: format!("{name} (seeded)"),
            values: Vec::new(),
        }
    }

    pub fn value(mut self, name: &str, value: &str) -> Self {
        self.values.push((name.into(), value.into()));
        self
    }
}

/// A running stand-in; dropping it stops the proxy and kills moto.
pub struct RdsStandIn {
    endpoint: String,
    region: String,
    moto_url: String,
    backend: Backend,
    _moto: moto::MotoProcess,
}

enum Backend {
    Fidelity { shared: Arc<Shared>, server: tokio::task::JoinHandle<()> },
    Plain(plain::Plain),
}

impl RdsStandIn {
    /// Starts moto and the layer on free loopback ports. Must be called inside a tokio runtime, which
    /// then runs the layer.
    pub async fn start(config: RdsConfig) -> Result<RdsStandIn> {
        let exe = config.moto_server.clone().or_else(moto_server_path).ok_or_else(|| {
            anyhow!(
                "moto_server not found (PATH or $MOTO_SERVER); install it with tests/testkit/scripts/install-moto \
                 (moto[server]=={MOTO_VERSION})"
            )
        })?;
        let moto = moto::MotoProcess::start(&exe).await?;
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build()?;
        let region = config.region.clone();
        let moto_url = moto.url();
        if config.backend == RdsBackend::PlainMoto {
            let endpoint = moto_url.trim_end_matches('/').to_string();
            let plain = plain::Plain::new(moto_url.clone(), region.clone(), http);
            return Ok(RdsStandIn { endpoint, region, moto_url, backend: Backend::Plain(plain), _moto: moto });
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(&config.region)),
            moto_url: moto_url.clone(),
            http,
            config,
        });
        let server = tokio::spawn(proxy::serve(listener, shared.clone()));
        Ok(RdsStandIn { endpoint, region, moto_url, backend: Backend::Fidelity { shared, server }, _moto: moto })
    }

    /// [`start`](Self::start) for tests: `None` (with a note on stderr) when moto_server is not installed,
    /// except under `CI=true`, where that is a failure. Panics if the stand-in does not start.
    pub async fn start_or_skip(config: RdsConfig) -> Option<RdsStandIn> {
        if config.moto_server.clone().or_else(moto_server_path).is_none() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("moto_server is required under CI=true; run tests/testkit/scripts/install-moto");
            }
            eprintln!("skipping: moto_server not found; run tests/testkit/scripts/install-moto");
            return None;
        }
        Some(Self::start(config).await.unwrap_or_else(|e| panic!("starting the RDS stand-in: {e:#}")))
    }

    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// moto's own address, behind the layer (for diagnosing the stand-in itself).
    pub fn moto_endpoint(&self) -> String {
        self.moto_url.trim_end_matches('/').to_string()
    }

    /// The moto process behind the stand-in (for measuring what it costs).
    pub fn moto_pid(&self) -> i32 {
        self._moto.pid()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Which backend answers.
    pub fn backend(&self) -> RdsBackend {
        match self.backend {
            Backend::Fidelity { .. } => RdsBackend::Fidelity,
            Backend::Plain(_) => RdsBackend::PlainMoto,
        }
    }

    /// The fidelity layer's shared state; a test that asks for it on plain moto is wrong, hence the panic.
    fn shared(&self) -> &Arc<Shared> {
        match &self.backend {
            Backend::Fidelity { shared, .. } => shared,
            Backend::Plain(_) => panic!(
                "this needs the RDS fidelity layer (request log, faults, latency, its groups); the stand-in is \
                 plain moto_server: use the backend-neutral async methods instead"
            ),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared().state.lock().unwrap()
    }

    /// Creates the cluster (on `default.aurora-postgresqlNN` unless a group is named) and its writer and
    /// readers through the layer, so the same validation applies as to the tool.
    pub async fn seed_cluster(&self, seed: ClusterSeed) -> Result<()> {
        if let Backend::Plain(plain) = &self.backend {
            return plain.seed_cluster(&seed).await;
        }
        self.state().clusters.insert(
            seed.id.clone(),
            ClusterExtra {
                endpoint_port: seed.endpoint_port,
                reboot_hook: seed.reboot_hook.clone(),
                reload_hook: seed.reload_hook.clone(),
            },
        );
        let mut cluster = vec![
            ("Action", "CreateDBCluster".to_string()),
            ("DBClusterIdentifier", seed.id.clone()),
            ("Engine", catalog::ENGINE.to_string()),
            ("EngineVersion", seed.engine_version.clone()),
            ("MasterUsername", seed.master_username.clone()),
            ("MasterUserPassword", "stand-in-password".to_string()),
        ];
        if let Some(g) = &seed.parameter_group {
            cluster.push(("DBClusterParameterGroupName", g.clone()));
        }
        self.internal(&cluster).await.with_context(|| format!("seeding cluster {}", seed.id))?;
        for instance in std::iter::once(&seed.writer).chain(&seed.readers) {
            let request = [
                ("Action", "CreateDBInstance".to_string()),
                ("DBInstanceIdentifier", instance.clone()),
                ("DBClusterIdentifier", seed.id.clone()),
                ("Engine", catalog::ENGINE.to_string()),
                ("DBInstanceClass", seed.instance_class.clone()),
                ("PubliclyAccessible", seed.publicly_accessible.to_string()),
            ];
            self.internal(&request).await.with_context(|| format!("seeding instance {instance}"))?;
        }
        Ok(())
    }

    /// Creates a custom cluster parameter group with user-set values (checked like a modify would be).
    pub fn seed_parameter_group(&self, seed: GroupSeed) -> Result<()> {
        self.state()
            .groups
            .seed(&seed.name, &seed.family, &seed.description, &seed.values)
            .map_err(|e| anyhow!("seeding parameter group {}: {}: {}", seed.name, e.code, e.message))
    }

    /// [`seed_parameter_group`](Self::seed_parameter_group) on either backend: on plain moto, a create and
    /// a modify through moto's API.
    pub async fn seed_group(&self, seed: GroupSeed) -> Result<()> {
        match &self.backend {
            Backend::Fidelity { .. } => self.seed_parameter_group(seed),
            Backend::Plain(plain) => plain.seed_parameter_group(&seed).await,
        }
    }

    /// The values set by a user in a group (`Source=user`; on plain moto, every value listed without
    /// an engine's `Source`), or `None` if there is no group of that name. Either backend.
    pub async fn user_values(&self, group: &str) -> Result<Option<BTreeMap<String, String>>> {
        let Backend::Plain(plain) = &self.backend else {
            return Ok(self.user_parameters(group));
        };
        let Some(listing) = plain.parameters(&group.to_ascii_lowercase()).await? else {
            return Ok(None);
        };
        Ok(Some(
            listing
                .into_iter()
                .filter(|(_, (_, source))| source.as_deref().is_none_or(|s| s == "user"))
                .map(|(name, (value, _))| (name, value.unwrap_or_default()))
                .collect(),
        ))
    }

    /// Every group's user values ([`user_values`](Self::user_values)), by group name. Either backend.
    pub async fn all_user_values(&self) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
        let names = match &self.backend {
            Backend::Fidelity { .. } => self.state().groups.names(),
            Backend::Plain(plain) => plain.group_names().await?,
        };
        let mut all = BTreeMap::new();
        for name in names {
            if let Some(values) = self.user_values(&name).await? {
                all.insert(name, values);
            }
        }
        Ok(all)
    }

    /// Does what RDS does on a reboot of `cluster`'s writer that this backend does not: on plain moto,
    /// restarts the source PostgreSQL with the values of the group the cluster has, in the family of
    /// that engine version (`RebootDBInstance` itself is the caller's); the fidelity layer has done it.
    pub async fn complete_reboot(&self, cluster: &str, engine_version: &str) -> Result<()> {
        match &self.backend {
            Backend::Fidelity { .. } => Ok(()),
            Backend::Plain(plain) => {
                let family = catalog::family_for(engine_version)
                    .with_context(|| format!("no family for engine version {engine_version}"))?;
                plain.complete_reboot(cluster, &family).await
            }
        }
    }

    /// A request through the layer that is neither logged nor faulted.
    async fn internal(&self, fields: &[(&str, String)]) -> Result<String> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Version", "2014-10-31");
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        let resp = self
            .shared()
            .http
            .post(&self.endpoint)
            .header(INTERNAL_HEADER, "1")
            .header("authorization", proxy::auth_header(self.region()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            let code = xml::parse(&body).ok().and_then(|r| r.descendants("Code").first().map(|c| c.text()));
            let message = xml::parse(&body).ok().and_then(|r| r.descendants("Message").first().map(|c| c.text()));
            bail!("HTTP {status}: {}: {}", code.unwrap_or_default(), message.unwrap_or(body));
        }
        Ok(body)
    }

    /// Points the cluster endpoint at `127.0.0.1:port` (or back at moto's name with `None`).
    pub fn set_cluster_endpoint(&self, cluster: &str, port: Option<u16>) {
        self.state().clusters.entry(cluster.into()).or_default().endpoint_port = port;
    }

    pub fn set_reboot_hook(&self, cluster: &str, hook: Option<SettingsHook>) {
        self.state().clusters.entry(cluster.into()).or_default().reboot_hook = hook;
    }

    pub fn set_reload_hook(&self, cluster: &str, hook: Option<SettingsHook>) {
        self.state().clusters.entry(cluster.into()).or_default().reload_hook = hook;
    }

    /// The next `count` requests (of `action`, or of any action) fail with `fault`. Rules are used in the
    /// order they were added.
    pub fn inject(&self, action: Option<&str>, count: usize, fault: Fault) {
        self.state().faults.push(FaultRule { action: action.map(Into::into), remaining: count, fault });
    }

    /// Shorthand for `inject(action, count, Fault::Throttle)`.
    pub fn throttle_next(&self, action: Option<&str>, count: usize) {
        self.inject(action, count, Fault::Throttle);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// How long a reboot of an instance shows `rebooting` at least (`None`: only its describes and the
    /// reboot hook). The benchmark's cloud-like profile uses [`CLOUD_LIKE_REBOOT`].
    pub fn set_reboot_duration(&self, duration: Option<Duration>) {
        self.state().reboot_duration = duration;
    }

    /// Delay before answering each request of `action` (or of any action without its own delay).
    pub fn set_latency(&self, action: Option<&str>, latency: Duration) {
        self.state().latency.insert(action.map(Into::into), latency);
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().log.clone()
    }

    /// The requests of one action.
    pub fn requests_for(&self, action: &str) -> Vec<RequestRecord> {
        self.state().log.iter().filter(|r| r.action == action).cloned().collect()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// The user-set values of a group (`Source=user`), or `None` if it does not exist.
    pub fn user_parameters(&self, group: &str) -> Option<BTreeMap<String, String>> {
        let st = self.state();
        let g = st.groups.get(group)?;
        Some(g.values.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect())
    }

    /// What a reboot hook would receive for a cluster on `group`.
    pub fn postgres_settings(&self, group: &str) -> Option<BTreeMap<String, String>> {
        let st = self.state();
        Some(catalog::postgres_settings(&st.groups.get(group)?.effective_values(), None))
    }

    /// Errors returned by reboot and reload hooks so far.
    pub fn hook_errors(&self) -> Vec<String> {
        self.state().hook_errors.clone()
    }
}

impl Drop for RdsStandIn {
    fn drop(&mut self) {
        if let Backend::Fidelity { server, .. } = &self.backend {
            server.abort();
        }
    }
}
