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
mod entra;
mod error;
pub mod migrations;
mod transport;
mod wire;

pub use credential::{ChainEnvironment, Credential};
pub use error::AzureError;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::model::server::{Configuration, Replica, Server, ServerId, Sku, SkuCapability};
use crate::secret::Secret;
use crate::tls::Trust;
use credential::Tokens;
use transport::Call;
use wire::{RawCapability, RawConfiguration, RawServer};

/// The api-version of every URL this client builds (URLs ARM hands out are followed as they are).
pub const API_VERSION: &str = "2025-08-01";
/// The public cloud's ARM endpoint.
pub const PUBLIC_ARM_ENDPOINT: &str = "https://management.azure.com";
/// The public cloud's Entra ID authority.
pub const PUBLIC_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

const PROVIDER: &str = "Microsoft.DBforPostgreSQL";

/// ARM in Azure's clouds: public, US Government, China.
const ARM_HOSTS: [&str; 3] = ["management.azure.com", "management.usgovcloudapi.net", "management.chinacloudapi.cn"];
/// Microsoft Entra ID in the same clouds.
const AUTHORITY_HOSTS: [&str; 4] = [
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
];

/// Refuses an endpoint outside Azure's clouds unless the caller allowed custom endpoints.
fn trusted(
    url: &Url,
    known: &[&str],
    allowed: bool,
    what: &'static str,
    sends: &'static str,
) -> Result<(), AzureError> {
    if allowed || url.host_str().is_some_and(|host| known.contains(&host.to_ascii_lowercase().as_str())) {
        return Ok(());
    }
    Err(AzureError::UnknownEndpoint { what, url: url.as_str().trim_end_matches('/').to_string(), sends })
}
/// The scope of Azure Storage's data plane (every cloud's storage accepts the public audience).
const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
/// A list that pages on past this is broken or looping; stop rather than spin.
const MAX_PAGES: usize = 1000;
/// Poll pause when an operation sends no `Retry-After`.
const DEFAULT_POLL: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------------
// Settings

/// How to reach ARM. Built by the caller from the spec and the environment; `None` fields fall back to
/// the public cloud.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The ARM endpoint; `None` is the public cloud. Must be https.
    pub arm_endpoint: Option<String>,
    /// The Entra ID authority; `None` is the public cloud. Must be https.
    pub authority_host: Option<String>,
    /// The token audience; `None` is the endpoint itself for the known
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
    /// How long one request may take, connecting included (token requests too); `None` is two minutes.
    pub request_timeout: Option<Duration>,
    /// Send credentials to an ARM endpoint or authority that is not one of Azure's clouds (a proxy, a
    /// private cloud, a local stand-in). Off by default: a spec from an untrusted source must not be able
    /// to choose where the client secret and the bearer tokens go.
    pub allow_custom_endpoints: bool,
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

// The client

/// The ARM client, built once and shared.
#[derive(Debug)]
pub struct Arm {
    http: reqwest::Client,
    endpoint: Url,
    tokens: Tokens,
    /// Tokens for the flexible server's PostgreSQL (`password = "entra"`), from the same credential.
    database_tokens: Arc<Tokens>,
    /// Tokens for Azure Blob Storage (`[state] backend = "azblob"`), from the same credential.
    storage_tokens: Tokens,
    backoff: Backoff,
    operation_timeout: Duration,
    busy_timeout: Duration,
    /// One lock per server, held for a whole write including its operation.
    writes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
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
        let endpoint_raw = settings.arm_endpoint.clone().unwrap_or_else(|| PUBLIC_ARM_ENDPOINT.into());
        let endpoint = https_url("ARM endpoint", &endpoint_raw)?;
        trusted(&endpoint, &ARM_HOSTS, settings.allow_custom_endpoints, "the ARM endpoint", "bearer tokens")?;
        let authority_raw = settings.authority_host.clone().unwrap_or_else(|| PUBLIC_AUTHORITY_HOST.into());
        let authority = https_url("authority host", &authority_raw)?;
        trusted(&authority, &AUTHORITY_HOSTS, settings.allow_custom_endpoints, "the authority host", "client secrets")?;
        let audience = settings.audience.clone().unwrap_or_else(|| default_audience(&endpoint));
        let scope = format!("{}/.default", audience.trim_end_matches('/'));

        let builder = || trust.http_client_builder().map_err(|e| AzureError::Setup(e.to_string()));
        let build = |b: reqwest::ClientBuilder| {
            b.build().map_err(|e| AzureError::Setup(format!("cannot build the HTTPS client: {e}")))
        };
        let request_timeout = settings.request_timeout.unwrap_or(Duration::from_secs(120));
        let connect_timeout = request_timeout.min(Duration::from_secs(10));
        let http = build(builder()?.connect_timeout(connect_timeout).timeout(request_timeout))?;
        let imds_http = build(builder()?.connect_timeout(Duration::from_secs(1)).timeout(Duration::from_secs(10)))?;
        let tokens_for = |scope: String| {
            let authority = authority.as_str().trim_end_matches('/');
            Tokens::new(&settings.credential, authority, scope, &http, &imds_http, &settings.backoff)
        };
        let tokens = tokens_for(scope)?;
        let database_tokens = Arc::new(tokens_for(entra::database_scope(&endpoint))?);
        let storage_tokens = tokens_for(STORAGE_SCOPE.into())?;
        Ok(Arm {
            http,
            endpoint,
            tokens,
            database_tokens,
            storage_tokens,
            backoff: settings.backoff,
            operation_timeout: settings.operation_timeout.unwrap_or(Duration::from_secs(3600)),
            busy_timeout: settings.busy_timeout.unwrap_or(Duration::from_secs(1800)),
            writes: Mutex::new(HashMap::new()),
        })
    }

    /// A bearer token for Azure Blob Storage, from the credential ARM uses.
    pub async fn storage_token(&self) -> Result<Secret, AzureError> {
        self.storage_tokens.token().await
    }

    /// The ARM endpoint in use.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str().trim_end_matches('/')
    }

    /// The identity ARM saw, e.g. `service principal … in tenant …`; `None` before the first request.
    pub async fn identity(&self) -> Option<String> {
        self.tokens.identity().await
    }

    /// The tenant of the identity ARM saw (the token's `tid`); `None` before the first request.
    pub async fn tenant(&self) -> Option<String> {
        self.tokens.tenant().await
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
        let serialised = self.write_lock(server).await;
        let resource = format!("server parameter {name} of {server}");
        let call = Call { operation: "update", resource: &resource };
        let body = json!({ "properties": { "value": value, "source": "user-override" } });
        let url = self.server_url(server, &["configurations", name]);
        self.run_operation(Method::PATCH, url.clone(), Some(&body), &call).await?;
        // The server is free once the operation has ended: the next write to it need not wait for this
        // read, and no other write changes this parameter.
        drop(serialised);
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

    /// Restarts the server (no failover) and waits for the operation. Reads nothing back: the caller
    /// looks at what it needs (the server, the parameters that waited for the restart) all at once.
    pub async fn restart(&self, server: &ServerId) -> Result<(), AzureError> {
        let _serialised = self.write_lock(server).await;
        let resource = server.to_string();
        let call = Call { operation: "restart", resource: &resource };
        self.run_operation(Method::POST, self.server_url(server, &["restart"]), None, &call).await
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
}

/// The audience for tokens: the endpoint itself for the clouds whose ARM accepts that, the public
/// cloud's otherwise.
fn default_audience(endpoint: &Url) -> String {
    match endpoint.host_str() {
        Some(host) if ARM_HOSTS.contains(&host) => format!("https://{host}"),
        _ => PUBLIC_ARM_ENDPOINT.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
