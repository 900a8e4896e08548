//! The fake Azure Resource Manager: a stateful, strict stand-in for the Entra ID token endpoint and the
//! flexible-server endpoints migprep calls (servers, configurations, replicas, restart, capabilities,
//! deleting a server, creating a read replica, and the migration service's migrations) at api-version
//! 2025-08-01, served over HTTPS on a loopback port. A validate-only migration runs real premigration
//! checks against the stand-in databases (`premigration`).
//!
//! It behaves like ARM where a client could get it wrong: every write answers 202 with
//! `Azure-AsyncOperation` / `Location` / `Retry-After` and takes effect only when its operation completes
//! (after a few polls, or on its own once its duration has passed, as for a client that was killed);
//! a second write while one runs is refused with 409 `ServerBusy`; static parameters stay pending until a
//! restart; values outside `allowedValues` and read-only parameters are refused; tokens, api-versions and
//! paths are checked. Tests steer it through [`FakeArm`]: seed servers, inject throttling, busy answers,
//! server errors, latency or a failing operation, and read the request log. `routes` answers requests, `model` holds
//! the state, `catalog` the embedded parameter catalog, `server` the TLS listener.

mod catalog;
mod identities;
mod model;
mod premigration;
mod routes;
mod server;
pub mod timing;

pub use timing::Timing;

pub use identities::{Grant, MintedToken};
pub use model::RecordedRequest;

use crate::entra_token::TokenKey;
use crate::tls::CertAuthority;
use anyhow::{Context, Result, bail, ensure};
use futures::future::BoxFuture;
use model::{STORAGE_SIZES, Server, State};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The only api-version the fake accepts on URLs a client builds.
pub const API_VERSION: &str = "2025-08-01";

/// The api-version ARM writes into the URLs it hands out (operation status, `nextLink`), as in the official
/// examples. Accepted only on those URLs, so a client that rebuilds them instead of following them verbatim
/// still works, and one that sends it elsewhere is caught.
pub const LINK_API_VERSION: &str = "2025-06-01-preview";

/// Called when a restart completes, with the running value of every static, writable parameter
/// (`shared_preload_libraries`, `wal_level`, `max_replication_slots`, …), so the testkit can restart the
/// PostgreSQL stand-in with them. An error fails the restart operation.
pub type RestartHook = Arc<dyn Fn(BTreeMap<String, String>) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// How to start a [`FakeArm`].
#[derive(Clone)]
pub struct FakeArmConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// How many status polls answer `InProgress` before an operation completes.
    pub polls_until_done: u32,
    /// How long an operation takes at most: once this has passed since it started, it has completed for
    /// whoever looks next (a poll, a read of the server), even if nobody polled it, as real ARM
    /// operations finish after their client died. `None`: only polls complete operations.
    pub operation_duration: Option<Duration>,
    /// The `Retry-After` (seconds) sent with every 202 and `InProgress` answer.
    pub retry_after_secs: u32,
    /// Items per page of the configuration list (the catalog has 415).
    pub page_size: usize,
    /// The CA whose leaf the fake presents; a fresh one when `None`. Pass the testkit's shared CA so one
    /// `ca_file` covers every stand-in.
    pub certificate_authority: Option<Arc<CertAuthority>>,
    pub on_restart: Option<RestartHook>,
    /// How long a validate-only migration reports `ValidationInProgress` at least (its checks run at once).
    pub validation_duration: Duration,
}

impl Default for FakeArmConfig {
    fn default() -> Self {
        Self {
            tenant_id: "7e2b8c1a-4f3d-4a6b-9c5e-1d2f3a4b5c6d".into(),
            client_id: "3c9f1e2d-8b7a-4c6d-a5e4-f3b2c1d0e9f8".into(),
            client_secret: "fake-arm-client-secret~0123456789".into(),
            polls_until_done: 2,
            // Long enough that no test which follows its operations ever sees one finish by time alone.
            operation_duration: Some(Duration::from_secs(30)),
            retry_after_secs: 1,
            page_size: 100,
            certificate_authority: None,
            on_restart: None,
            validation_duration: Duration::from_secs(3),
        }
    }
}

/// A server to create in the fake before a test runs. Fields are public; [`ServerSeed::new`] and the
/// builder methods fill the usual ones.
#[derive(Clone, Debug)]
pub struct ServerSeed {
    pub name: String,
    pub location: String,
    /// Major version, e.g. `"16"`. The embedded parameter catalog is the one of a PostgreSQL 13 server.
    pub version: String,
    pub sku_name: String,
    pub sku_tier: String,
    pub storage_size_gb: i32,
    pub availability_zone: String,
    /// `Disabled`, `ZoneRedundant` or `SameZone`.
    pub high_availability_mode: String,
    /// The standby's zone when HA is on; empty picks one (another zone for `ZoneRedundant`).
    pub standby_availability_zone: String,
    /// Names of read replicas to create next to it (same resource group).
    pub replicas: Vec<String>,
    /// Parameter values already in effect (no restart pending), reported with `source: user-override`.
    pub configuration: BTreeMap<String, String>,
    pub public_network_access: bool,
    pub delegated_subnet_resource_id: Option<String>,
    pub private_dns_zone_resource_id: Option<String>,
    pub administrator_login: String,
    pub tags: BTreeMap<String, String>,
}

impl ServerSeed {
    /// A Ready general-purpose server in `eastus`, PostgreSQL 16, 128 GB, HA disabled, public access.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            location: "eastus".into(),
            version: "16".into(),
            sku_name: "Standard_D4ds_v5".into(),
            sku_tier: "GeneralPurpose".into(),
            storage_size_gb: 128,
            availability_zone: "1".into(),
            high_availability_mode: "Disabled".into(),
            standby_availability_zone: String::new(),
            replicas: Vec::new(),
            configuration: BTreeMap::new(),
            public_network_access: true,
            delegated_subnet_resource_id: None,
            private_dns_zone_resource_id: None,
            administrator_login: "migprepadmin".into(),
            tags: BTreeMap::new(),
        }
    }

    pub fn location(mut self, location: &str) -> Self {
        self.location = location.into();
        self
    }

    pub fn version(mut self, version: &str) -> Self {
        self.version = version.into();
        self
    }

    pub fn sku(mut self, name: &str, tier: &str) -> Self {
        self.sku_name = name.into();
        self.sku_tier = tier.into();
        self
    }

    pub fn storage_size_gb(mut self, size: i32) -> Self {
        self.storage_size_gb = size;
        self
    }

    pub fn availability_zone(mut self, zone: &str) -> Self {
        self.availability_zone = zone.into();
        self
    }

    pub fn high_availability(mut self, mode: &str, standby_zone: &str) -> Self {
        self.high_availability_mode = mode.into();
        self.standby_availability_zone = standby_zone.into();
        self
    }

    pub fn replica(mut self, name: &str) -> Self {
        self.replicas.push(name.into());
        self
    }

    pub fn configuration(mut self, name: &str, value: &str) -> Self {
        self.configuration.insert(name.into(), value.into());
        self
    }

    pub fn public_network_access(mut self, enabled: bool) -> Self {
        self.public_network_access = enabled;
        self
    }

    /// VNet integration: the delegated subnet (and private DNS zone); public access is turned off.
    pub fn delegated_subnet(mut self, subnet_resource_id: &str, private_dns_zone_resource_id: Option<&str>) -> Self {
        self.delegated_subnet_resource_id = Some(subnet_resource_id.into());
        self.private_dns_zone_resource_id = private_dns_zone_resource_id.map(Into::into);
        self.public_network_access = false;
        self
    }

    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// What the request handlers share: fixed settings and the mutable state.
pub(crate) struct Shared {
    pub endpoint: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The service principal's object id, in the tokens' `oid` claim.
    pub object_id: String,
    /// Signs the tokens the token endpoint issues (see [`crate::entra_token`]).
    pub token_key: TokenKey,
    pub retry_after_secs: u32,
    pub page_size: usize,
    /// The CA the stand-ins' certificates chain to: the premigration checks trust it.
    pub ca_pem: String,
    pub state: Mutex<State>,
    pub restart_hook: Mutex<Option<RestartHook>>,
}

impl Shared {
    /// The state, even if a handler panicked while holding it (the data is still consistent enough for
    /// a test double, and a poisoned lock would turn one failure into many).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn restart_hook(&self) -> Option<RestartHook> {
        self.restart_hook.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// A running fake ARM. Stops (listener and open connections) when dropped.
pub struct FakeArm {
    shared: Arc<Shared>,
    ca_pem: String,
    address: SocketAddr,
    server_task: JoinHandle<()>,
}

impl Drop for FakeArm {
    fn drop(&mut self) {
        self.server_task.abort();
    }
}

impl FakeArm {
    /// Binds a free port on 127.0.0.1 and starts serving HTTPS.
    pub async fn start(config: FakeArmConfig) -> Result<Self> {
        ensure!(config.page_size > 0, "page_size must be at least 1");
        let authority = match config.certificate_authority {
            Some(authority) => authority,
            None => Arc::new(CertAuthority::generate()?),
        };
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the fake ARM to a loopback port")?;
        let address = listener.local_addr()?;
        let acceptor = server::tls_acceptor(&authority)?;
        let shared = Arc::new(Shared {
            endpoint: format!("https://127.0.0.1:{}", address.port()),
            tenant_id: config.tenant_id,
            client_id: config.client_id,
            client_secret: config.client_secret,
            object_id: uuid::Uuid::new_v4().to_string(),
            token_key: TokenKey::generate(),
            retry_after_secs: config.retry_after_secs,
            page_size: config.page_size,
            ca_pem: authority.ca_pem.clone(),
            state: Mutex::new(State {
                polls_until_done: config.polls_until_done,
                operation_duration: config.operation_duration,
                validation_duration: config.validation_duration,
                failing_status: 500,
                ..State::default()
            }),
            restart_hook: Mutex::new(config.on_restart),
        });
        let server_task = tokio::spawn(server::serve(listener, acceptor, shared.clone()));
        Ok(Self { shared, ca_pem: authority.ca_pem.clone(), address, server_task })
    }

    /// `https://127.0.0.1:PORT`, the ARM endpoint (use instead of `https://management.azure.com`).
    pub fn endpoint(&self) -> String {
        self.shared.endpoint.clone()
    }

    /// The Entra ID authority host (the same server): tokens come from `{authority_host}/{tenant}/oauth2/v2.0/token`.
    pub fn authority_host(&self) -> String {
        self.shared.endpoint.clone()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The CA certificate (PEM) a client must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn tenant_id(&self) -> &str {
        &self.shared.tenant_id
    }

    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// The service principal's object id (the `oid` of its tokens).
    pub fn object_id(&self) -> &str {
        &self.shared.object_id
    }

    /// The key the token endpoint signs with: whoever holds it can check a token was issued here.
    pub fn token_key(&self) -> TokenKey {
        self.shared.token_key.clone()
    }

    /// The ARM resource id of a server.
    pub fn server_resource_id(subscription: &str, resource_group: &str, name: &str) -> String {
        model::server_id(subscription, resource_group, name)
    }

    /// Creates a Ready server (and its read replicas) in `subscription` / `resource_group`, which then
    /// exist for ARM. Returns the server's resource id. Refuses what Azure would: unknown SKU, storage
    /// size, HA mode or parameter, values outside `allowedValues`, HA on Burstable, duplicate names.
    pub fn seed_server(&self, subscription: &str, resource_group: &str, seed: ServerSeed) -> Result<String> {
        ensure!(uuid::Uuid::parse_str(subscription).is_ok(), "subscription id '{subscription}' is not a GUID");
        ensure!(routes::valid_server_name(&seed.name), "'{}' is not a valid flexible server name", seed.name);
        let sku = model::skus()
            .into_iter()
            .find(|s| s.name.eq_ignore_ascii_case(&seed.sku_name))
            .with_context(|| format!("unknown SKU '{}'", seed.sku_name))?;
        ensure!(sku.tier == seed.sku_tier, "SKU '{}' belongs to tier {}, not {}", sku.name, sku.tier, seed.sku_tier);
        let (_, storage_tier, storage_iops) = *STORAGE_SIZES
            .iter()
            .find(|(gb, _, _)| *gb == seed.storage_size_gb)
            .with_context(|| format!("storage size {} GB is not offered", seed.storage_size_gb))?;
        let (ha_mode, standby_zone) = routes::resolve_high_availability(
            &seed.high_availability_mode,
            &seed.standby_availability_zone,
            &seed.availability_zone,
            sku.tier,
        )
        .map_err(|refusal| anyhow::anyhow!(refusal.message))?;
        let mut settings = Server::fresh_settings();
        for (name, value) in &seed.configuration {
            let setting = settings
                .iter_mut()
                .find(|s| s.parameter.name.eq_ignore_ascii_case(name))
                .with_context(|| format!("unknown server parameter '{name}'"))?;
            let value = catalog::normalize_value(setting.parameter, value)
                .map_err(|why| anyhow::anyhow!("parameter '{name}': {why}"))?;
            setting.running = value.clone();
            setting.value = value;
            setting.source = "user-override".into();
        }
        let primary = Server {
            subscription: subscription.into(),
            resource_group: resource_group.into(),
            name: seed.name.clone(),
            location: seed.location.clone(),
            version: seed.version.clone(),
            sku_name: sku.name.clone(),
            sku_tier: sku.tier.into(),
            storage_size_gb: seed.storage_size_gb,
            storage_tier: storage_tier.into(),
            storage_iops,
            storage_auto_grow: "Disabled".into(),
            availability_zone: seed.availability_zone.clone(),
            ha_state: if ha_mode == "Disabled" { "NotEnabled" } else { "Healthy" }.into(),
            ha_mode,
            ha_standby_zone: standby_zone,
            state: "Ready".into(),
            public_network_access: if seed.public_network_access { "Enabled" } else { "Disabled" }.into(),
            delegated_subnet_resource_id: seed.delegated_subnet_resource_id.clone(),
            private_dns_zone_resource_id: seed.private_dns_zone_resource_id.clone(),
            source_server_resource_id: None,
            backup_retention_days: 7,
            administrator_login: seed.administrator_login.clone(),
            tags: seed.tags.clone(),
            created_at: model::now_rfc3339(),
            settings,
            fqdn: None,
        };
        let primary_id = primary.id();
        let mut replicas = Vec::new();
        for (index, replica_name) in seed.replicas.iter().enumerate() {
            ensure!(routes::valid_server_name(replica_name), "'{replica_name}' is not a valid flexible server name");
            replicas.push(Server {
                name: replica_name.clone(),
                availability_zone: ["1", "2", "3"][(index + 1) % 3].into(),
                ha_mode: "Disabled".into(),
                ha_standby_zone: String::new(),
                ha_state: "NotEnabled".into(),
                source_server_resource_id: Some(primary_id.clone()),
                tags: BTreeMap::new(),
                created_at: model::now_rfc3339(),
                settings: Server::fresh_settings(),
                fqdn: None,
                subscription: primary.subscription.clone(),
                resource_group: primary.resource_group.clone(),
                location: primary.location.clone(),
                version: primary.version.clone(),
                sku_name: primary.sku_name.clone(),
                sku_tier: primary.sku_tier.clone(),
                storage_size_gb: primary.storage_size_gb,
                storage_tier: primary.storage_tier.clone(),
                storage_iops: primary.storage_iops,
                storage_auto_grow: primary.storage_auto_grow.clone(),
                state: "Ready".into(),
                public_network_access: primary.public_network_access.clone(),
                delegated_subnet_resource_id: primary.delegated_subnet_resource_id.clone(),
                private_dns_zone_resource_id: primary.private_dns_zone_resource_id.clone(),
                backup_retention_days: primary.backup_retention_days,
                administrator_login: primary.administrator_login.clone(),
            });
        }
        let mut state = self.shared.state();
        for server in std::iter::once(&primary).chain(&replicas) {
            let key = model::server_key(subscription, resource_group, &server.name);
            if state.servers.contains_key(&key) {
                bail!("server '{}' already exists in {subscription}/{resource_group}", server.name);
            }
        }
        for server in std::iter::once(primary).chain(replicas) {
            state.servers.insert(model::server_key(subscription, resource_group, &server.name), server);
        }
        Ok(primary_id)
    }

    /// The server as `GET` would return it, if it exists.
    pub fn server_json(&self, subscription: &str, resource_group: &str, name: &str) -> Option<serde_json::Value> {
        let state = self.shared.state();
        state.servers.get(&model::server_key(subscription, resource_group, name)).map(Server::render)
    }

    /// The value PostgreSQL runs with for one parameter (differs from ARM's `value` while a static change
    /// waits for a restart).
    pub fn running_value(
        &self,
        subscription: &str,
        resource_group: &str,
        server: &str,
        parameter: &str,
    ) -> Option<String> {
        let state = self.shared.state();
        let server = state.servers.get(&model::server_key(subscription, resource_group, server))?;
        server.setting(parameter).map(|s| s.running.clone())
    }

    /// Sets a parameter's value as a finished PATCH would, without a restart: a static parameter then
    /// reports `isConfigPendingRestart` until the server restarts (sets up "already waiting" states).
    pub fn stage_configuration(
        &self,
        subscription: &str,
        resource_group: &str,
        server: &str,
        parameter: &str,
        value: &str,
    ) -> Result<()> {
        let mut state = self.shared.state();
        let server = state
            .servers
            .get_mut(&model::server_key(subscription, resource_group, server))
            .with_context(|| format!("no server '{server}'"))?;
        let setting =
            server.setting_mut(parameter).with_context(|| format!("unknown server parameter '{parameter}'"))?;
        let value = catalog::normalize_value(setting.parameter, value)
            .map_err(|why| anyhow::anyhow!("parameter '{parameter}': {why}"))?;
        if setting.parameter.is_dynamic_config {
            setting.running = value.clone();
        }
        setting.value = value;
        setting.source = "user-override".into();
        Ok(())
    }

    /// Sets the high-availability mode and standby zone as a finished PATCH would, checked as ARM checks
    /// it (someone changing the server outside migprep, e.g. with the az CLI).
    pub fn stage_high_availability(
        &self,
        subscription: &str,
        resource_group: &str,
        server: &str,
        mode: &str,
        standby_zone: &str,
    ) -> Result<()> {
        let mut state = self.shared.state();
        let server = state
            .servers
            .get_mut(&model::server_key(subscription, resource_group, server))
            .with_context(|| format!("no server '{server}'"))?;
        let (mode, zone) =
            routes::resolve_high_availability(mode, standby_zone, &server.availability_zone, &server.sku_tier)
                .map_err(|refusal| anyhow::anyhow!(refusal.message))?;
        server.ha_state = if mode == "Disabled" { "NotEnabled" } else { "Healthy" }.into();
        server.ha_mode = mode;
        server.ha_standby_zone = zone;
        Ok(())
    }

    /// Where the server's PostgreSQL listens, for the premigration checks of validate-only migrations (real
    /// Azure connects to the server's FQDN; the stand-in listens on a loopback port).
    pub fn set_database_address(&self, subscription: &str, resource_group: &str, server: &str, host: &str, port: u16) {
        self.shared
            .state()
            .database_addresses
            .insert(model::server_key(subscription, resource_group, server), (host.into(), port));
    }

    /// The FQDN ARM reports for the server from now on, in place of `<name>.postgres.database.azure.com`
    /// (which leads nowhere here): e.g. the loopback address where a stand-in listens on 5432, as the
    /// server does at its FQDN in Azure.
    pub fn set_fqdn(&self, subscription: &str, resource_group: &str, server: &str, fqdn: &str) -> Result<()> {
        let key = model::server_key(subscription, resource_group, server);
        let mut state = self.shared.state();
        state.servers.get_mut(&key).with_context(|| format!("no server '{server}'"))?.fqdn = Some(fqdn.into());
        Ok(())
    }

    /// Every migration on the server as `GET` would return it (final ones too), oldest name first.
    pub fn migrations_json(&self, subscription: &str, resource_group: &str, server: &str) -> Vec<serde_json::Value> {
        let key = model::server_key(subscription, resource_group, server);
        let mut state = self.shared.state();
        let minimum = state.validation_duration;
        state
            .migrations
            .values_mut()
            .filter(|m| m.server == key)
            .map(|m| {
                m.settle(minimum);
                m.render()
            })
            .collect()
    }

    /// How long validate-only migrations started from now on stay `ValidationInProgress` at least.
    pub fn set_validation_duration(&self, duration: Duration) {
        self.shared.state().validation_duration = duration;
    }

    /// Starts a migration on the server as someone else would (the az CLI, the portal): active, waiting
    /// for the user, with nothing to validate. Returns its resource id.
    pub fn seed_active_migration(
        &self,
        subscription: &str,
        resource_group: &str,
        server: &str,
        name: &str,
    ) -> Result<String> {
        let mut state = self.shared.state();
        let key = model::server_key(subscription, resource_group, server);
        let target = state.servers.get(&key).with_context(|| format!("no server '{server}'"))?;
        let mut properties = serde_json::Map::new();
        properties.insert("migrationMode".into(), "Online".into());
        properties.insert("migrationOption".into(), "ValidateAndMigrate".into());
        let migration = model::Migration {
            server: key.clone(),
            server_id: target.id(),
            name: name.into(),
            migration_id: uuid::Uuid::new_v4().to_string(),
            location: target.location.clone(),
            properties,
            created_at: model::now_rfc3339(),
            started: std::time::Instant::now(),
            state: "WaitingForUserAction".into(),
            sub_state: "WaitingForCutoverTrigger".into(),
            error: None,
            verdict: None,
        };
        let id = migration.id();
        state.migrations.insert((key, name.into()), migration);
        Ok(id)
    }

    /// The next `count` ARM requests (not token requests) are answered 429 with `Retry-After: retry_after_secs`.
    pub fn inject_throttling(&self, count: u32, retry_after_secs: u32) {
        let mut state = self.shared.state();
        state.throttled_requests_left = count;
        state.throttle_retry_after_secs = retry_after_secs;
    }

    /// The next `count` write requests (PATCH, PUT, POST, DELETE on a server or its parameters) are answered
    /// 409 `ServerBusy` without a `Retry-After`, as ARM does while another operation holds the server.
    /// Requests ARM would refuse anyway (bad token, unknown route, api-version) are refused as before.
    pub fn inject_busy(&self, count: u32) {
        self.shared.state().busy_writes_left = count;
    }

    /// How long operations started from now on take at most, polled or not (`None`: only polls complete
    /// them). See [`FakeArmConfig::operation_duration`].
    pub fn set_operation_duration(&self, duration: Option<Duration>) {
        self.shared.state().operation_duration = duration;
    }

    /// Durations per kind for operations started from now on (`None`: back to polls and
    /// `operation_duration`). See [`Timing::cloud_like`].
    pub fn set_timing(&self, timing: Option<Timing>) {
        self.shared.state().timing = timing;
    }

    /// Holds the server as an operation someone else started would (a scaling from the portal, say): it
    /// reports `Updating` and every write to it is answered 409 `ServerBusy` until [`Self::release_server`].
    pub fn hold_server(&self, subscription: &str, resource_group: &str, server: &str) -> Result<()> {
        self.set_held(subscription, resource_group, server, true)
    }

    /// Ends [`Self::hold_server`]: the server is `Ready` and takes writes again.
    pub fn release_server(&self, subscription: &str, resource_group: &str, server: &str) -> Result<()> {
        self.set_held(subscription, resource_group, server, false)
    }

    fn set_held(&self, subscription: &str, resource_group: &str, server: &str, held: bool) -> Result<()> {
        let key = model::server_key(subscription, resource_group, server);
        let mut state = self.shared.state();
        let found = state.servers.get_mut(&key).with_context(|| format!("no server '{server}'"))?;
        found.state = if held { "Updating" } else { "Ready" }.into();
        if held {
            state.held.insert(key);
        } else {
            state.held.remove(&key);
        }
        Ok(())
    }

    /// The next `count` ARM requests (not token requests) are answered with `status` (500, 502, 503 or 504).
    pub fn inject_server_errors(&self, count: u32, status: u16) {
        let mut state = self.shared.state();
        state.failing_requests_left = count;
        state.failing_status = status;
    }

    /// Every request (token requests too) waits this long before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.state().latency = latency;
    }

    /// Every GET whose path contains `part` waits `latency` more: a slow read of one kind of resource.
    pub fn set_read_latency(&self, part: &str, latency: Duration) {
        self.shared.state().read_latency = Some((part.to_string(), latency));
    }

    /// The next long-running operation started ends `Failed` with this error, changing nothing.
    pub fn fail_next_operation(&self, code: &str, message: &str) {
        self.shared.state().fail_next_operation = Some((code.into(), message.into()));
    }

    /// How many status polls answer `InProgress` for operations started from now on.
    pub fn set_polls_until_done(&self, polls: u32) {
        self.shared.state().polls_until_done = polls;
    }

    pub fn set_restart_hook(&self, hook: Option<RestartHook>) {
        *self.shared.restart_hook.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = hook;
    }

    /// Every request handled so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// How many requests used `method` on a path ending with `path_suffix` (case-insensitive).
    pub fn count_requests(&self, method: &str, path_suffix: &str) -> usize {
        let suffix = path_suffix.to_ascii_lowercase();
        self.shared
            .state()
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.to_ascii_lowercase().ends_with(&suffix))
            .count()
    }

    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }
}
