//! The Azure provider: a small Azure Resource Manager client for one kind of resource, the PostgreSQL
//! flexible server (api-version 2025-08-01). It reads the server, its read replicas, its
//! configurations (server parameters) and its capabilities into plain values, and performs the writes
//! the target rules need: set a configuration, change high availability, restart.
//!
//! It owns HTTP, tokens ([`credential`]), paging (`nextLink` followed verbatim), long-running
//! operations (`Azure-AsyncOperation`, else `Location`, polled to a terminal state honouring
//! `Retry-After`, then the resource is read again), waiting out 409/429/5xx with bounded back-off,
//! and turning ARM error bodies into [`AzureError`]. Writes to one server are serialised, because ARM
//! refuses a second operation while one runs. ARM JSON never leaves this module, and it decides
//! nothing about what the target should look like.

mod credential;

pub use credential::Credential;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::UserError;
use crate::tls::Trust;
use credential::Tokens;

/// The api-version of every URL this client builds (URLs ARM hands out are followed as they are).
pub const API_VERSION: &str = "2025-08-01";
/// The public cloud's ARM endpoint.
pub const PUBLIC_ARM_ENDPOINT: &str = "https://management.azure.com";
/// The public cloud's Entra ID authority.
pub const PUBLIC_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

const PROVIDER: &str = "Microsoft.DBforPostgreSQL";
/// A list that pages on past this is broken or looping; stop rather than spin.
const MAX_PAGES: usize = 1000;
/// Poll pause when an operation sends no `Retry-After`.
const DEFAULT_POLL: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------------
// Settings

/// How to reach ARM. Built by the caller from the spec; `None` fields fall back to the environment
/// and then to the public cloud.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `target.arm_endpoint`, else `MIGPREP_ARM_ENDPOINT`, else the public cloud. Must be https.
    pub arm_endpoint: Option<String>,
    /// `target.authority_host`, else `AZURE_AUTHORITY_HOST`, else the public cloud. Must be https.
    pub authority_host: Option<String>,
    /// The token audience; else `MIGPREP_ARM_AUDIENCE`, else the endpoint itself for the known
    /// clouds and the public cloud's audience for any other endpoint (a proxy or a local stand-in
    /// accepts the tokens real ARM would).
    pub audience: Option<String>,
    pub credential: Credential,
    pub backoff: Backoff,
    /// How long one long-running operation may take; `None` is one hour.
    pub operation_timeout: Option<Duration>,
    /// How long to keep retrying while ARM answers 409 (the server is busy with another
    /// operation); `None` is 30 minutes.
    pub busy_timeout: Option<Duration>,
}

/// Retrying 429, 5xx and connection failures: at most `max_attempts` tries per request, with
/// exponential delays from `initial_delay` (409 is waited out by time, see `busy_timeout`). Every delay, `Retry-After` included, is capped at
/// `max_delay`, which also caps the pause between operation polls (tests set it low).
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { max_attempts: 8, initial_delay: Duration::from_secs(1), max_delay: Duration::from_secs(60) }
    }
}

impl Backoff {
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self.initial_delay.saturating_mul(2u32.saturating_pow(attempt.min(16)));
        retry_after.unwrap_or(exponential).min(self.max_delay)
    }
}

/// Which flexible server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

impl ServerId {
    pub fn new(subscription: &str, resource_group: &str, name: &str) -> Self {
        ServerId { subscription: subscription.into(), resource_group: resource_group.into(), name: name.into() }
    }

    /// A replica listed under this server, in the replica's own resource group (from its id).
    fn sibling(&self, replica: &Replica) -> ServerId {
        ServerId {
            subscription: self.subscription.clone(),
            resource_group: replica.resource_group.clone().unwrap_or_else(|| self.resource_group.clone()),
            name: replica.name.clone(),
        }
    }
}

impl std::fmt::Display for ServerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "flexible server {} (resource group {})", self.name, self.resource_group)
    }
}

// ---------------------------------------------------------------------------------------------------
// Observed values

/// A flexible server as `Servers_Get` shows it. Enum-like fields stay strings: ARM's enums are
/// extensible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub location: String,
    /// `Ready`, `Updating`, `Restarting`, …
    pub state: String,
    /// Major version, e.g. `"16"`.
    pub version: String,
    pub minor_version: Option<String>,
    pub sku: Sku,
    pub storage_size_gb: Option<i32>,
    pub storage_auto_grow: Option<String>,
    pub high_availability: HighAvailability,
    pub network: Network,
    pub fqdn: Option<String>,
    pub availability_zone: Option<String>,
    /// `Primary`, `AsyncReplica`, `None`, …
    pub replication_role: Option<String>,
    pub administrator_login: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sku {
    pub name: String,
    /// `Burstable`, `GeneralPurpose`, `MemoryOptimized`.
    pub tier: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HighAvailability {
    /// `Disabled`, `ZoneRedundant`, `SameZone`.
    pub mode: String,
    /// `NotEnabled`, `Healthy`, `RemovingStandby`, …
    pub state: Option<String>,
    pub standby_zone: Option<String>,
}

impl HighAvailability {
    pub fn is_enabled(&self) -> bool {
        !self.mode.eq_ignore_ascii_case("Disabled")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// `Enabled` or `Disabled`.
    pub public_network_access: Option<String>,
    pub delegated_subnet: Option<String>,
    pub private_dns_zone: Option<String>,
}

/// A read replica of the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    pub id: String,
    pub name: String,
    /// From the resource id; replicas can live in another resource group.
    pub resource_group: Option<String>,
    pub location: String,
    pub sku: Sku,
    pub storage_size_gb: Option<i32>,
    /// `AsyncReplica`, `GeoAsyncReplica`, …
    pub role: String,
    pub state: String,
}

/// A server parameter. All values are strings, lists comma-separated, as ARM sends them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configuration {
    pub name: String,
    pub value: Option<String>,
    pub default_value: Option<String>,
    /// `Boolean`, `Integer`, `Enumeration`, `Set`, …
    pub data_type: Option<String>,
    pub allowed_values: Option<String>,
    pub is_dynamic: bool,
    pub is_read_only: bool,
    pub is_pending_restart: bool,
    /// `system-default` or `user-override`.
    pub source: Option<String>,
    pub unit: Option<String>,
}

/// A compute size offered for the server, from its capabilities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkuCapability {
    pub name: String,
    pub tier: String,
    pub vcores: u32,
    pub memory_mb: u64,
    pub ha_modes: Vec<String>,
}

// ---------------------------------------------------------------------------------------------------
// Errors

/// What went wrong talking to Entra ID or ARM. ARM's `error.code` and `message` are kept as data.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("no Azure credentials found; tried {}", .tried.join("; "))]
    NoCredentials { tried: Vec<String> },
    #[error("Microsoft Entra ID refused a token for {source_name}: {detail}")]
    Authentication { source_name: String, detail: String, hint: Option<String> },
    #[error("could not get a token for {source_name} from Microsoft Entra ID: {detail}")]
    TokenUnreachable { source_name: String, detail: String },
    #[error("ARM refused access to {resource} (HTTP {status}): {code}: {message}")]
    Access { resource: String, status: u16, code: String, message: String },
    #[error("{resource} not found: {code}: {message}")]
    NotFound { resource: String, code: String, message: String },
    #[error("{operation} on {resource} failed (HTTP {status}): {code}: {message}")]
    Arm { operation: String, resource: String, status: u16, code: String, message: String },
    #[error("{operation} on {resource} ended {status}: {code}: {message}")]
    OperationFailed { operation: String, resource: String, status: String, code: String, message: String },
    #[error("{operation} on {resource} did not finish within {}s", .waited.as_secs())]
    Timeout { operation: String, resource: String, waited: Duration },
    #[error("{operation} on {resource} could not reach ARM: {detail}")]
    Transport { operation: String, resource: String, detail: String },
    #[error("unexpected answer from ARM for {resource}: {detail}")]
    Decode { resource: String, detail: String },
    #[error("{0}")]
    Setup(String),
}

impl AzureError {
    /// ARM's `error.code` (or the operation's), when ARM answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AzureError::Access { code, .. }
            | AzureError::NotFound { code, .. }
            | AzureError::Arm { code, .. }
            | AzureError::OperationFailed { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            AzureError::Access { message, .. }
            | AzureError::NotFound { message, .. }
            | AzureError::Arm { message, .. }
            | AzureError::OperationFailed { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The HTTP status of ARM's refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            AzureError::Access { status, .. } | AzureError::Arm { status, .. } => Some(*status),
            AzureError::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, AzureError::NotFound { .. })
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            AzureError::NoCredentials { .. } => "sign in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and \
                 AZURE_CLIENT_SECRET for a service principal"
                .into(),
            AzureError::Authentication { hint, .. } => hint.clone()?,
            AzureError::TokenUnreachable { .. } => "check the network path to the authority \
                 host (`target.authority_host`, AZURE_AUTHORITY_HOST) and, behind a TLS-inspecting \
                 proxy, `ca_file`"
                .into(),
            AzureError::Access { .. } => "the identity needs a role with \
                 Microsoft.DBforPostgreSQL/flexibleServers read and write permissions (e.g. \
                 Contributor) on the server; check which identity is used (`az account show`, \
                 AZURE_CLIENT_ID)"
                .into(),
            AzureError::NotFound { code, .. } if code == "ResourceGroupNotFound" => {
                "check `target.subscription` and `target.resource_group`".into()
            }
            AzureError::NotFound { code, .. } if code == "ConfigurationNotExists" => {
                "this parameter does not exist for the server's PostgreSQL version".into()
            }
            AzureError::NotFound { .. } => "check `target.subscription`, \
                 `target.resource_group` and `target.server` (`az postgres flexible-server list \
                 -g <resource group>`)"
                .into(),
            AzureError::Arm { status: 429, .. } => "ARM kept throttling; wait a few minutes and run again".into(),
            AzureError::Arm { status: 409, .. } => {
                "another operation is running on the server; wait until its state is Ready and \
                 run again"
                    .into()
            }
            AzureError::Timeout { .. } => "the operation may still finish: check the server \
                 in the portal and run `migprep apply` again, which resumes"
                .into(),
            AzureError::Transport { .. } => "check the network path to ARM (proxy, \
                 MIGPREP_ARM_ENDPOINT) and, behind a TLS-inspecting proxy, `ca_file`"
                .into(),
            _ => return None,
        })
    }

    /// The error as the user sees it: one line plus a hint.
    pub fn to_user_error(&self) -> UserError {
        let error = UserError::new(self.to_string());
        match self.hint() {
            Some(hint) => error.hint(hint),
            None => error,
        }
    }
}

impl From<AzureError> for UserError {
    fn from(error: AzureError) -> Self {
        error.to_user_error()
    }
}

// ---------------------------------------------------------------------------------------------------
// The client

/// The ARM client, built once and shared.
#[derive(Debug)]
pub struct Arm {
    http: reqwest::Client,
    endpoint: Url,
    tokens: Tokens,
    backoff: Backoff,
    operation_timeout: Duration,
    busy_timeout: Duration,
    /// One lock per server, held for a whole write including its operation.
    writes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// One HTTP answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// What a request is about, for messages.
struct Call<'a> {
    operation: &'a str,
    resource: &'a str,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn https_url(what: &str, raw: &str) -> Result<Url, AzureError> {
    let url = Url::parse(raw.trim_end_matches('/'))
        .map_err(|e| AzureError::Setup(format!("the {what} '{raw}' is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(AzureError::Setup(format!(
            "the {what} '{raw}' must use https: tokens are never sent in the clear"
        )));
    }
    Ok(url)
}

impl Arm {
    /// Builds the client and its credential. Sends nothing.
    pub fn connect(settings: &Settings, trust: &Trust) -> Result<Arm, AzureError> {
        let endpoint_raw = settings
            .arm_endpoint
            .clone()
            .or_else(|| env("MIGPREP_ARM_ENDPOINT"))
            .unwrap_or_else(|| PUBLIC_ARM_ENDPOINT.into());
        let endpoint = https_url("ARM endpoint", &endpoint_raw)?;
        let authority_raw = settings
            .authority_host
            .clone()
            .or_else(|| env("AZURE_AUTHORITY_HOST"))
            .unwrap_or_else(|| PUBLIC_AUTHORITY_HOST.into());
        let authority = https_url("authority host", &authority_raw)?;
        let audience = settings
            .audience
            .clone()
            .or_else(|| env("MIGPREP_ARM_AUDIENCE"))
            .unwrap_or_else(|| default_audience(&endpoint));
        let scope = format!("{}/.default", audience.trim_end_matches('/'));

        let builder = || trust.http_client_builder().map_err(|e| AzureError::Setup(e.to_string()));
        let build = |b: reqwest::ClientBuilder| {
            b.build().map_err(|e| AzureError::Setup(format!("cannot build the HTTPS client: {e}")))
        };
        let http = build(builder()?.connect_timeout(Duration::from_secs(10)).timeout(Duration::from_secs(120)))?;
        let imds_http = build(builder()?.connect_timeout(Duration::from_secs(1)).timeout(Duration::from_secs(10)))?;
        let tokens = Tokens::new(
            &settings.credential,
            authority.as_str().trim_end_matches('/'),
            scope,
            &http,
            &imds_http,
            &settings.backoff,
        )?;
        Ok(Arm {
            http,
            endpoint,
            tokens,
            backoff: settings.backoff,
            operation_timeout: settings.operation_timeout.unwrap_or(Duration::from_secs(3600)),
            busy_timeout: settings.busy_timeout.unwrap_or(Duration::from_secs(1800)),
            writes: Mutex::new(HashMap::new()),
        })
    }

    /// The ARM endpoint in use.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str().trim_end_matches('/')
    }

    /// Gets a token now, so that bad credentials show up before anything else is read.
    pub async fn check_credentials(&self) -> Result<(), AzureError> {
        self.tokens.token().await.map(|_| ())
    }

    /// `…/flexibleServers/{name}` plus `segments`, with the api-version.
    fn server_url(&self, server: &ServerId, segments: &[&str]) -> Url {
        let mut url = self.endpoint.clone();
        {
            let mut path = url.path_segments_mut().expect("an https URL has a path");
            path.pop_if_empty();
            path.extend([
                "subscriptions",
                &server.subscription,
                "resourceGroups",
                &server.resource_group,
                "providers",
                PROVIDER,
                "flexibleServers",
                &server.name,
            ]);
            path.extend(segments);
        }
        url.query_pairs_mut().append_pair("api-version", API_VERSION);
        url
    }

    /// A URL ARM handed out (`nextLink`, operation status), followed verbatim, but only to the ARM
    /// endpoint's own origin: the bearer token must not go anywhere else.
    fn followed_url(&self, raw: &str, resource: &str) -> Result<Url, AzureError> {
        let url = Url::parse(raw).map_err(|e| AzureError::Decode {
            resource: resource.into(),
            detail: format!("ARM handed out an invalid URL '{raw}': {e}"),
        })?;
        if url.origin() != self.endpoint.origin() {
            return Err(AzureError::Decode {
                resource: resource.into(),
                detail: format!(
                    "ARM handed out a URL on another host ({}); refusing to send it the token",
                    url.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    // -- reads --------------------------------------------------------------------------------------

    /// The server; a missing one is [`AzureError::NotFound`].
    pub async fn server(&self, server: &ServerId) -> Result<Server, AzureError> {
        let resource = server.to_string();
        let call = Call { operation: "get", resource: &resource };
        let raw: RawServer = self.get_json(self.server_url(server, &[]), &call).await?;
        Ok(raw.into_server())
    }

    /// The server's read replicas, every page.
    pub async fn replicas(&self, server: &ServerId) -> Result<Vec<Replica>, AzureError> {
        let resource = server.to_string();
        let call = Call { operation: "list replicas", resource: &resource };
        let raw: Vec<RawServer> = self.list(self.server_url(server, &["replicas"]), &call).await?;
        Ok(raw.into_iter().map(RawServer::into_replica).collect())
    }

    /// One configuration (server parameter).
    pub async fn configuration(&self, server: &ServerId, name: &str) -> Result<Configuration, AzureError> {
        let resource = format!("server parameter {name} of {server}");
        let call = Call { operation: "get", resource: &resource };
        let raw: RawConfiguration = self.get_json(self.server_url(server, &["configurations", name]), &call).await?;
        Ok(raw.into_configuration())
    }

    /// Every configuration of the server, following `nextLink` verbatim.
    pub async fn configurations(&self, server: &ServerId) -> Result<Vec<Configuration>, AzureError> {
        let resource = format!("server parameters of {server}");
        let call = Call { operation: "list", resource: &resource };
        let raw: Vec<RawConfiguration> = self.list(self.server_url(server, &["configurations"]), &call).await?;
        Ok(raw.into_iter().map(RawConfiguration::into_configuration).collect())
    }

    /// The compute sizes the server can move to (for comparing with the Aurora writer's class).
    pub async fn capabilities(&self, server: &ServerId) -> Result<Vec<SkuCapability>, AzureError> {
        let resource = format!("capabilities of {server}");
        let call = Call { operation: "list", resource: &resource };
        let raw: Vec<RawCapability> = self.list(self.server_url(server, &["capabilities"]), &call).await?;
        let mut skus: Vec<SkuCapability> = Vec::new();
        for capability in raw {
            for edition in capability.supported_server_editions {
                for sku in edition.supported_server_skus {
                    if skus.iter().any(|s| s.name == sku.name) {
                        continue;
                    }
                    skus.push(SkuCapability {
                        memory_mb: u64::from(sku.v_cores) * sku.supported_memory_per_vcore_mb,
                        name: sku.name,
                        tier: edition.name.clone(),
                        vcores: sku.v_cores,
                        ha_modes: sku.supported_ha_mode,
                    });
                }
            }
        }
        Ok(skus)
    }

    /// The replicas' own addresses, for reading or changing them.
    pub fn replica_id(&self, primary: &ServerId, replica: &Replica) -> ServerId {
        primary.sibling(replica)
    }

    // -- writes -------------------------------------------------------------------------------------

    /// Sets one server parameter (`source: user-override`), waits for the operation, and returns the
    /// parameter as ARM then reports it (`is_pending_restart` tells whether a restart is needed).
    pub async fn set_configuration(
        &self,
        server: &ServerId,
        name: &str,
        value: &str,
    ) -> Result<Configuration, AzureError> {
        let _serialised = self.write_lock(server).await;
        let resource = format!("server parameter {name} of {server}");
        let call = Call { operation: "update", resource: &resource };
        let body = json!({ "properties": { "value": value, "source": "user-override" } });
        let url = self.server_url(server, &["configurations", name]);
        self.run_operation(Method::PATCH, url.clone(), Some(&body), &call).await?;
        let raw: RawConfiguration = self.get_json(url, &call).await?;
        Ok(raw.into_configuration())
    }

    /// Sets the high-availability mode (`Disabled`, `ZoneRedundant`, `SameZone`) and, when given,
    /// the standby zone; waits for the operation and returns the server as it then is.
    pub async fn set_high_availability(
        &self,
        server: &ServerId,
        mode: &str,
        standby_zone: Option<&str>,
    ) -> Result<Server, AzureError> {
        let _serialised = self.write_lock(server).await;
        let resource = server.to_string();
        let call = Call { operation: "high availability update", resource: &resource };
        let mut high_availability = json!({ "mode": mode });
        if let Some(zone) = standby_zone.filter(|z| !z.is_empty()) {
            high_availability["standbyAvailabilityZone"] = json!(zone);
        }
        let body = json!({ "properties": { "highAvailability": high_availability } });
        let url = self.server_url(server, &[]);
        self.run_operation(Method::PATCH, url.clone(), Some(&body), &call).await?;
        let raw: RawServer = self.get_json(url, &call).await?;
        Ok(raw.into_server())
    }

    /// Moves the server to another compute size (`sku.name` and `sku.tier`); ARM restarts it to do so.
    /// Waits for the operation and returns the server as it then is.
    pub async fn set_sku(&self, server: &ServerId, name: &str, tier: &str) -> Result<Server, AzureError> {
        let _serialised = self.write_lock(server).await;
        let resource = server.to_string();
        let call = Call { operation: "compute resize", resource: &resource };
        let body = json!({ "sku": { "name": name, "tier": tier } });
        let url = self.server_url(server, &[]);
        self.run_operation(Method::PATCH, url.clone(), Some(&body), &call).await?;
        let raw: RawServer = self.get_json(url, &call).await?;
        Ok(raw.into_server())
    }

    /// Grows the server's storage to `size_gb` (ARM refuses shrinking). Waits for the operation and
    /// returns the server as it then is.
    pub async fn set_storage(&self, server: &ServerId, size_gb: i32) -> Result<Server, AzureError> {
        let _serialised = self.write_lock(server).await;
        let resource = server.to_string();
        let call = Call { operation: "storage update", resource: &resource };
        let body = json!({ "properties": { "storage": { "storageSizeGB": size_gb } } });
        let url = self.server_url(server, &[]);
        self.run_operation(Method::PATCH, url.clone(), Some(&body), &call).await?;
        let raw: RawServer = self.get_json(url, &call).await?;
        Ok(raw.into_server())
    }

    /// Restarts the server (no failover), waits for the operation, and returns the server.
    pub async fn restart(&self, server: &ServerId) -> Result<Server, AzureError> {
        let _serialised = self.write_lock(server).await;
        let resource = server.to_string();
        let call = Call { operation: "restart", resource: &resource };
        self.run_operation(Method::POST, self.server_url(server, &["restart"]), None, &call).await?;
        let raw: RawServer = self.get_json(self.server_url(server, &[]), &call).await?;
        Ok(raw.into_server())
    }

    /// Promotes a read replica to a standalone server (`promoteMode: Standalone`, planned: it waits
    /// for the replica to catch up), waits for the operation and returns the server.
    pub async fn promote_replica(&self, replica: &ServerId) -> Result<Server, AzureError> {
        let _serialised = self.write_lock(replica).await;
        let resource = replica.to_string();
        let call = Call { operation: "promote", resource: &resource };
        let body = json!({ "properties": { "replica": { "promoteMode": "Standalone", "promoteOption": "Planned" } } });
        let url = self.server_url(replica, &[]);
        self.run_operation(Method::PATCH, url.clone(), Some(&body), &call).await?;
        let raw: RawServer = self.get_json(url, &call).await?;
        Ok(raw.into_server())
    }

    /// Deletes a server (a read replica) and waits for the operation.
    pub async fn delete_server(&self, server: &ServerId) -> Result<(), AzureError> {
        let _serialised = self.write_lock(server).await;
        let resource = server.to_string();
        let call = Call { operation: "delete", resource: &resource };
        self.run_operation(Method::DELETE, self.server_url(server, &[]), None, &call).await
    }

    /// Creates `replica` as a read replica of the server with resource id `source_id`
    /// (`createMode: Replica`), waits for the operation and returns the new server.
    pub async fn create_replica(
        &self,
        replica: &ServerId,
        source_id: &str,
        location: &str,
        sku: &Sku,
        storage_size_gb: Option<i32>,
    ) -> Result<Server, AzureError> {
        let _serialised = self.write_lock(replica).await;
        let resource = replica.to_string();
        let call = Call { operation: "create replica", resource: &resource };
        let mut body = json!({
            "location": location,
            "sku": { "name": sku.name, "tier": sku.tier },
            "properties": { "createMode": "Replica", "sourceServerResourceId": source_id },
        });
        if let Some(size) = storage_size_gb {
            body["properties"]["storage"] = json!({ "storageSizeGB": size });
        }
        let url = self.server_url(replica, &[]);
        self.run_operation(Method::PUT, url.clone(), Some(&body), &call).await?;
        let raw: RawServer = self.get_json(url, &call).await?;
        Ok(raw.into_server())
    }

    async fn write_lock(&self, server: &ServerId) -> tokio::sync::OwnedMutexGuard<()> {
        let key = format!("{}/{}/{}", server.subscription, server.resource_group, server.name).to_ascii_lowercase();
        let lock = self.writes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).entry(key).or_default().clone();
        lock.lock_owned().await
    }

    // -- the HTTP machinery -------------------------------------------------------------------------

    async fn get_json<T: DeserializeOwned>(&self, url: Url, call: &Call<'_>) -> Result<T, AzureError> {
        let answer = self.send(Method::GET, url, None, call).await?;
        decode(&answer.body, call.resource)
    }

    /// Every item of a pageable list.
    async fn list<T: DeserializeOwned>(&self, first: Url, call: &Call<'_>) -> Result<Vec<T>, AzureError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(AzureError::Decode {
                    resource: call.resource.into(),
                    detail: format!("the list did not end after {MAX_PAGES} pages"),
                });
            }
            let page: Page<T> = self.get_json(url, call).await?;
            items.extend(page.value);
            if let Some(link) = page.next_link.filter(|l| !l.is_empty()) {
                next = Some(self.followed_url(&link, call.resource)?);
            }
        }
        Ok(items)
    }

    /// One request, retried while ARM says to wait or the connection fails: 429, 5xx and
    /// connection failures at most `max_attempts` times, 409 for up to `busy_timeout`. A non-success answer after that becomes an [`AzureError`].
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> Result<Answer, AzureError> {
        let mut attempt = 0;
        let mut refreshed_token = false;
        let mut busy_since: Option<Instant> = None;
        let mut busy_polls = 0;
        loop {
            attempt += 1;
            let token = self.tokens.token().await?;
            let mut request = self.http.request(method.clone(), url.clone()).bearer_auth(token.expose());
            request = match body {
                Some(body) => request.json(body),
                // ARM wants a length on body-less POSTs (restart).
                None if method == Method::POST => request.header("content-length", "0"),
                None => request,
            };
            let last = attempt >= self.backoff.max_attempts.max(1);
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Answer { status, headers, body: body.to_vec() },
                        Err(e) if !last => {
                            tracing::debug!(error = %e, "reading an ARM answer failed; retrying");
                            tokio::time::sleep(self.backoff.delay(attempt - 1, None)).await;
                            continue;
                        }
                        Err(e) => return Err(transport(call, &e)),
                    }
                }
                Err(e) if !last && is_retryable_transport(&e) => {
                    tracing::debug!(error = %e, "ARM request failed; retrying");
                    tokio::time::sleep(self.backoff.delay(attempt - 1, None)).await;
                    continue;
                }
                Err(e) => return Err(transport(call, &e)),
            };
            let status = answer.status;
            if status.is_success() {
                return Ok(answer);
            }
            let error = ArmError::parse(&answer.body);
            if status == StatusCode::UNAUTHORIZED && !refreshed_token && error.code == "ExpiredAuthenticationToken" {
                refreshed_token = true;
                self.tokens.invalidate().await;
                continue;
            }
            if status == StatusCode::CONFLICT {
                // A busy server is waited out by time, not attempts: the operation holding it (a
                // restart, an HA change) can take many minutes.
                let since = *busy_since.get_or_insert_with(Instant::now);
                if since.elapsed() < self.busy_timeout {
                    busy_polls += 1;
                    attempt -= 1;
                    let delay = self.backoff.delay(busy_polls.min(8), retry_after(&answer.headers));
                    tracing::debug!(code = %error.code, "the server is busy; waiting");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            let waitable = status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT
                || status.is_server_error();
            if waitable && !last {
                let delay = self.backoff.delay(attempt - 1, retry_after(&answer.headers));
                tracing::debug!(
                    status = status.as_u16(),
                    code = %error.code,
                    delay_ms = delay.as_millis() as u64,
                    "ARM asked to wait; retrying"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            return Err(arm_error(call, status, error));
        }
    }

    /// Starts a long-running operation and follows it to its end.
    async fn run_operation(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> Result<(), AzureError> {
        let started = Instant::now();
        let answer = self.send(method, url, body, call).await?;
        let header = |name: &str| {
            answer.headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).map(str::to_string)
        };
        // Azure-AsyncOperation is preferred; Location only when it is absent (ARM's async guide).
        let (mut poll_url, via_location) = match (header("azure-asyncoperation"), header("location")) {
            (Some(url), _) => (url, false),
            (None, Some(url)) => (url, true),
            // A synchronous answer (200/201/204): done already.
            (None, None) => return Ok(()),
        };
        let mut wait = retry_after(&answer.headers);
        loop {
            if started.elapsed() > self.operation_timeout {
                return Err(AzureError::Timeout {
                    operation: call.operation.into(),
                    resource: call.resource.into(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(wait.unwrap_or(DEFAULT_POLL).min(self.backoff.max_delay)).await;
            let url = self.followed_url(&poll_url, call.resource)?;
            let answer = self.send(Method::GET, url, None, call).await?;
            wait = retry_after(&answer.headers);
            if via_location {
                if answer.status == StatusCode::ACCEPTED {
                    if let Some(next) = answer.headers.get("location").and_then(|v| v.to_str().ok()) {
                        poll_url = next.to_string();
                    }
                    continue;
                }
                return Ok(());
            }
            let status: OperationStatus = decode(&answer.body, call.resource)?;
            match status.status.to_ascii_lowercase().as_str() {
                "succeeded" => return Ok(()),
                "failed" | "canceled" | "cancelled" => {
                    let error = status.error.unwrap_or_default();
                    return Err(AzureError::OperationFailed {
                        operation: call.operation.into(),
                        resource: call.resource.into(),
                        status: status.status,
                        code: error.code,
                        message: error.message,
                    });
                }
                _ => continue,
            }
        }
    }
}

/// The audience for tokens: the endpoint itself for the clouds whose ARM accepts that, the public
/// cloud's otherwise.
fn default_audience(endpoint: &Url) -> String {
    const CLOUDS: [&str; 3] = ["management.azure.com", "management.usgovcloudapi.net", "management.chinacloudapi.cn"];
    match endpoint.host_str() {
        Some(host) if CLOUDS.contains(&host) => format!("https://{host}"),
        _ => PUBLIC_ARM_ENDPOINT.into(),
    }
}

/// `Retry-After` in seconds (ARM does not send dates here).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Connection-level failures worth another try; TLS trust failures are not (they won't heal).
fn is_retryable_transport(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return false;
        }
        source = e.source();
    }
    error.is_connect() || error.is_timeout() || error.is_request()
}

fn transport(call: &Call<'_>, error: &reqwest::Error) -> AzureError {
    // reqwest's Display omits the cause (the useful part: refused, TLS, DNS); the URL may carry a
    // skip token but never a credential.
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        detail.push_str(": ");
        detail.push_str(&e.to_string());
        source = e.source();
    }
    AzureError::Transport { operation: call.operation.into(), resource: call.resource.into(), detail }
}

fn arm_error(call: &Call<'_>, status: StatusCode, error: ArmError) -> AzureError {
    let resource = call.resource.to_string();
    match status {
        StatusCode::NOT_FOUND => AzureError::NotFound { resource, code: error.code, message: error.message },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            AzureError::Access { resource, status: status.as_u16(), code: error.code, message: error.message }
        }
        _ => AzureError::Arm {
            operation: call.operation.into(),
            resource,
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        },
    }
}

fn decode<T: DeserializeOwned>(body: &[u8], resource: &str) -> Result<T, AzureError> {
    serde_json::from_slice(body).map_err(|e| AzureError::Decode { resource: resource.into(), detail: e.to_string() })
}

// ---------------------------------------------------------------------------------------------------
// Wire shapes (private)

#[derive(Deserialize, Default)]
struct ArmError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl ArmError {
    /// `{"error":{"code","message"}}`, or a stand-in for a body that isn't one.
    fn parse(body: &[u8]) -> ArmError {
        #[derive(Deserialize)]
        struct Envelope {
            error: ArmError,
        }
        match serde_json::from_slice::<Envelope>(body) {
            Ok(envelope) => envelope.error,
            Err(_) => {
                ArmError { code: "Unknown".into(), message: String::from_utf8_lossy(body).chars().take(300).collect() }
            }
        }
    }
}

#[derive(Deserialize)]
struct OperationStatus {
    status: String,
    #[serde(default)]
    error: Option<ArmError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(default)]
    next_link: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSku {
    name: String,
    tier: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawServer {
    id: String,
    name: String,
    location: String,
    sku: RawSku,
    properties: RawServerProperties,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawServerProperties {
    state: String,
    version: String,
    minor_version: Option<String>,
    storage: RawStorage,
    high_availability: RawHighAvailability,
    network: RawNetwork,
    fully_qualified_domain_name: Option<String>,
    availability_zone: Option<String>,
    replication_role: Option<String>,
    replica: Option<RawReplicaProperties>,
    administrator_login: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawStorage {
    #[serde(rename = "storageSizeGB")]
    storage_size_gb: Option<i32>,
    auto_grow: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawHighAvailability {
    mode: Option<String>,
    state: Option<String>,
    standby_availability_zone: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawNetwork {
    public_network_access: Option<String>,
    delegated_subnet_resource_id: Option<String>,
    private_dns_zone_arm_resource_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawReplicaProperties {
    role: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

impl RawServer {
    fn into_server(self) -> Server {
        let p = self.properties;
        Server {
            id: self.id,
            name: self.name,
            location: self.location,
            state: p.state,
            version: p.version,
            minor_version: p.minor_version,
            sku: Sku { name: self.sku.name, tier: self.sku.tier },
            storage_size_gb: p.storage.storage_size_gb,
            storage_auto_grow: p.storage.auto_grow,
            high_availability: HighAvailability {
                // ARM's default when the block is absent.
                mode: p.high_availability.mode.unwrap_or_else(|| "Disabled".into()),
                state: p.high_availability.state,
                standby_zone: non_empty(p.high_availability.standby_availability_zone),
            },
            network: Network {
                public_network_access: p.network.public_network_access,
                delegated_subnet: non_empty(p.network.delegated_subnet_resource_id),
                private_dns_zone: non_empty(p.network.private_dns_zone_arm_resource_id),
            },
            fqdn: p.fully_qualified_domain_name,
            availability_zone: non_empty(p.availability_zone),
            replication_role: p.replication_role,
            administrator_login: p.administrator_login,
        }
    }

    fn into_replica(self) -> Replica {
        let resource_group = resource_group_of(&self.id);
        let p = self.properties;
        Replica {
            resource_group,
            id: self.id,
            name: self.name,
            location: self.location,
            sku: Sku { name: self.sku.name, tier: self.sku.tier },
            storage_size_gb: p.storage.storage_size_gb,
            role: p.replication_role.or_else(|| p.replica.and_then(|r| r.role)).unwrap_or_default(),
            state: p.state,
        }
    }
}

/// The resource group segment of an ARM resource id.
fn resource_group_of(id: &str) -> Option<String> {
    let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    segments.windows(2).find(|w| w[0].eq_ignore_ascii_case("resourceGroups")).map(|w| w[1].to_string())
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawConfiguration {
    name: String,
    properties: RawConfigurationProperties,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawConfigurationProperties {
    value: Option<String>,
    default_value: Option<String>,
    data_type: Option<String>,
    allowed_values: Option<String>,
    is_dynamic_config: Option<bool>,
    is_read_only: Option<bool>,
    is_config_pending_restart: Option<bool>,
    source: Option<String>,
    unit: Option<String>,
}

impl RawConfiguration {
    fn into_configuration(self) -> Configuration {
        let p = self.properties;
        Configuration {
            name: self.name,
            value: p.value,
            default_value: p.default_value,
            data_type: p.data_type,
            allowed_values: p.allowed_values,
            // Unknown means "assume the worst": static needs a restart, read-only can't be set.
            is_dynamic: p.is_dynamic_config.unwrap_or(false),
            is_read_only: p.is_read_only.unwrap_or(false),
            is_pending_restart: p.is_config_pending_restart.unwrap_or(false),
            source: p.source,
            unit: p.unit,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawCapability {
    supported_server_editions: Vec<RawEdition>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawEdition {
    name: String,
    supported_server_skus: Vec<RawSkuCapability>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawSkuCapability {
    name: String,
    v_cores: u32,
    supported_memory_per_vcore_mb: u64,
    supported_ha_mode: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_capped_and_backoff_grows() {
        let backoff =
            Backoff { max_attempts: 5, initial_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        assert_eq!(backoff.delay(0, None), Duration::from_millis(100));
        assert_eq!(backoff.delay(2, None), Duration::from_millis(400));
        assert_eq!(backoff.delay(9, None), Duration::from_secs(1));
        assert_eq!(backoff.delay(0, Some(Duration::from_secs(30))), Duration::from_secs(1));
    }

    #[test]
    fn arm_error_bodies_keep_code_and_message() {
        let error = ArmError::parse(br#"{"error":{"code":"ServerBusy","message":"busy"}}"#);
        assert_eq!((error.code.as_str(), error.message.as_str()), ("ServerBusy", "busy"));
        let error = ArmError::parse(b"<html>bad gateway</html>");
        assert_eq!(error.code, "Unknown");
    }

    #[test]
    fn the_audience_is_the_public_cloud_for_unknown_endpoints() {
        let local = Url::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!(default_audience(&local), "https://management.azure.com");
        let gov = Url::parse("https://management.usgovcloudapi.net").unwrap();
        assert_eq!(default_audience(&gov), "https://management.usgovcloudapi.net");
    }

    #[test]
    fn plain_http_endpoints_are_refused() {
        let error = https_url("authority host", "http://127.0.0.1:8080").unwrap_err();
        assert!(error.to_string().contains("must use https"), "{error}");
    }

    #[test]
    fn resource_groups_come_from_ids() {
        let id = "/subscriptions/s/resourceGroups/rg-x/providers/Microsoft.DBforPostgreSQL/flexibleServers/r";
        assert_eq!(resource_group_of(id).as_deref(), Some("rg-x"));
    }
}
