//! The fake ARM's state: flexible servers with their parameters, the long-running operations that change
//! them, issued tokens, the test knobs and the request log, plus how servers, parameters and capabilities
//! are rendered as ARM JSON.
//!
//! Everything is plain data behind one mutex in [`super::Shared`]; nothing here awaits, so the lock is
//! never held across a suspension point.

use super::catalog::{self, Parameter};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::macros::format_description;

pub(crate) const PROVIDER: &str = "Microsoft.DBforPostgreSQL";
pub(crate) const SERVER_TYPE: &str = "Microsoft.DBforPostgreSQL/flexibleServers";

/// Storage sizes a flexible server accepts (Premium_LRS), with the disk tier and IOPS each one gets.
pub(crate) const STORAGE_SIZES: [(i32, &str, i32); 11] = [
    (32, "P4", 120),
    (64, "P6", 240),
    (128, "P10", 500),
    (256, "P15", 1100),
    (512, "P20", 2300),
    (1024, "P30", 5000),
    (2048, "P40", 7500),
    (4096, "P50", 7500),
    (8192, "P60", 16000),
    (16384, "P70", 18000),
    (32767, "P80", 20000),
];

/// Regions the fake knows; capabilities for any other location are refused like ARM does.
pub(crate) const LOCATIONS: [&str; 16] = [
    "eastus",
    "eastus2",
    "centralus",
    "northcentralus",
    "southcentralus",
    "westus",
    "westus2",
    "westus3",
    "canadacentral",
    "northeurope",
    "westeurope",
    "uksouth",
    "francecentral",
    "germanywestcentral",
    "swedencentral",
    "australiaeast",
];

/// Servers are keyed by (subscription, resource group, name), lower-cased: ARM names are case-insensitive.
pub(crate) type ServerKey = (String, String, String);

pub(crate) fn server_key(subscription: &str, resource_group: &str, name: &str) -> ServerKey {
    (subscription.to_ascii_lowercase(), resource_group.to_ascii_lowercase(), name.to_ascii_lowercase())
}

pub(crate) fn server_id(subscription: &str, resource_group: &str, name: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{PROVIDER}/flexibleServers/{name}")
}

/// One server parameter on one server.
pub(crate) struct Setting {
    pub parameter: &'static Parameter,
    /// What ARM reports as `value`: the last value written.
    pub value: String,
    /// What the running PostgreSQL uses. Differs from `value` only for a static parameter written since
    /// the last restart, which is exactly when `isConfigPendingRestart` is true.
    pub running: String,
    pub source: String,
}

impl Setting {
    pub fn pending_restart(&self) -> bool {
        !self.parameter.is_dynamic_config && self.value != self.running
    }
}

pub(crate) struct Server {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub version: String,
    pub sku_name: String,
    pub sku_tier: String,
    pub storage_size_gb: i32,
    pub storage_tier: String,
    pub storage_iops: i32,
    pub storage_auto_grow: String,
    pub availability_zone: String,
    pub ha_mode: String,
    pub ha_standby_zone: String,
    pub ha_state: String,
    /// `Ready`, or `Updating` / `Restarting` while an operation runs.
    pub state: String,
    pub public_network_access: String,
    pub delegated_subnet_resource_id: Option<String>,
    pub private_dns_zone_resource_id: Option<String>,
    /// Set on read replicas: the primary's resource id.
    pub source_server_resource_id: Option<String>,
    pub backup_retention_days: i32,
    pub administrator_login: String,
    pub tags: BTreeMap<String, String>,
    pub created_at: String,
    pub settings: Vec<Setting>,
    /// The FQDN reported instead of Azure's `<name>.postgres.database.azure.com` (see
    /// [`super::FakeArm::set_fqdn`]).
    pub fqdn: Option<String>,
}

impl Server {
    pub fn id(&self) -> String {
        server_id(&self.subscription, &self.resource_group, &self.name)
    }

    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.parameter.name.eq_ignore_ascii_case(name))
    }

    pub fn setting_mut(&mut self, name: &str) -> Option<&mut Setting> {
        self.settings.iter_mut().find(|s| s.parameter.name.eq_ignore_ascii_case(name))
    }

    pub fn is_replica(&self) -> bool {
        self.source_server_resource_id.is_some()
    }

    /// The running values of every static, writable parameter: what a PostgreSQL restart has to apply.
    pub fn static_settings(&self) -> BTreeMap<String, String> {
        self.settings
            .iter()
            .filter(|s| !s.parameter.is_dynamic_config && !s.parameter.is_read_only)
            .map(|s| (s.parameter.name.clone(), s.running.clone()))
            .collect()
    }

    pub fn fresh_settings() -> Vec<Setting> {
        catalog::parameters()
            .iter()
            .map(|parameter| Setting {
                parameter,
                value: parameter.value.clone(),
                running: parameter.value.clone(),
                source: parameter.source.clone(),
            })
            .collect()
    }

    pub fn render(&self) -> Value {
        let mut high_availability = json!({ "mode": self.ha_mode, "state": self.ha_state });
        if self.ha_mode != "Disabled" {
            high_availability["standbyAvailabilityZone"] = json!(self.ha_standby_zone);
        }
        let mut network = json!({ "publicNetworkAccess": self.public_network_access });
        if let Some(subnet) = &self.delegated_subnet_resource_id {
            network["delegatedSubnetResourceId"] = json!(subnet);
        }
        if let Some(zone) = &self.private_dns_zone_resource_id {
            network["privateDnsZoneArmResourceId"] = json!(zone);
        }
        let (role, capacity, replica) = if self.is_replica() {
            ("AsyncReplica", 0, json!({ "role": "AsyncReplica", "capacity": 0, "replicationState": "Active" }))
        } else {
            // ARM reports a primary's capacity (how many replicas it may have), not how many it has.
            ("Primary", 5, json!({ "role": "Primary", "capacity": 5 }))
        };
        let mut properties = json!({
            "administratorLogin": self.administrator_login,
            "authConfig": { "activeDirectoryAuth": "Disabled", "passwordAuth": "Enabled" },
            "availabilityZone": self.availability_zone,
            "backup": {
                "backupRetentionDays": self.backup_retention_days,
                "earliestRestoreDate": self.created_at,
                "geoRedundantBackup": "Disabled"
            },
            "dataEncryption": { "type": "SystemManaged" },
            "fullyQualifiedDomainName":
                self.fqdn.clone().unwrap_or_else(|| format!("{}.postgres.database.azure.com", self.name)),
            "highAvailability": high_availability,
            "maintenanceWindow": { "customWindow": "Disabled", "dayOfWeek": 0, "startHour": 0, "startMinute": 0 },
            "minorVersion": minor_version(&self.version),
            "network": network,
            "privateEndpointConnections": [],
            "replica": replica,
            "replicaCapacity": capacity,
            "replicationRole": role,
            "state": self.state,
            "storage": {
                "type": "Premium_LRS",
                "autoGrow": self.storage_auto_grow,
                "iops": self.storage_iops,
                "storageSizeGB": self.storage_size_gb,
                "tier": self.storage_tier
            },
            "version": self.version
        });
        if let Some(source) = &self.source_server_resource_id {
            properties["sourceServerResourceId"] = json!(source);
        }
        json!({
            "id": self.id(),
            "name": self.name,
            "type": SERVER_TYPE,
            "location": self.location,
            "tags": self.tags,
            "sku": { "name": self.sku_name, "tier": self.sku_tier },
            "systemData": { "createdAt": self.created_at },
            "properties": properties
        })
    }

    pub fn render_setting(&self, setting: &Setting) -> Value {
        let parameter = setting.parameter;
        let mut properties = json!({
            "value": setting.value,
            "description": parameter.description,
            "defaultValue": parameter.default_value,
            "dataType": parameter.data_type,
            "allowedValues": parameter.allowed_values,
            "source": setting.source,
            "isDynamicConfig": parameter.is_dynamic_config,
            "isReadOnly": parameter.is_read_only,
            "isConfigPendingRestart": setting.pending_restart()
        });
        if let Some(unit) = &parameter.unit {
            properties["unit"] = json!(unit);
        }
        if let Some(link) = &parameter.documentation_link {
            properties["documentationLink"] = json!(link);
        }
        json!({
            "id": format!("{}/configurations/{}", self.id(), parameter.name),
            "name": parameter.name,
            "type": format!("{SERVER_TYPE}/configurations"),
            "properties": properties
        })
    }
}

fn minor_version(major: &str) -> &'static str {
    match major {
        "11" => "22",
        "12" => "22",
        "13" => "16",
        "14" => "13",
        "15" => "8",
        "16" => "4",
        "17" => "2",
        _ => "0",
    }
}

/// What a long-running operation will do when it completes.
pub(crate) enum Change {
    Configuration {
        name: String,
        value: String,
    },
    Server(ServerChange),
    Restart {
        with_failover: bool,
    },
    /// `Servers_Delete`: the server is gone when the operation succeeds.
    Delete,
    /// `Servers_CreateOrUpdate` with `createMode: Replica`: the server exists (`Provisioning`) from the
    /// request on and is `Ready` when the operation succeeds; a failed creation removes it again.
    CreateReplica,
}

/// The parts of a server PATCH the fake applies; everything else in the body is accepted and ignored.
#[derive(Default)]
pub(crate) struct ServerChange {
    pub sku: Option<(String, String)>,
    pub storage_size_gb: Option<i32>,
    pub storage_tier: Option<String>,
    pub storage_auto_grow: Option<String>,
    /// New HA mode and standby zone (`""` when disabled).
    pub high_availability: Option<(String, String)>,
    pub backup_retention_days: Option<i32>,
    pub public_network_access: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    /// `properties.replica.promoteMode` on a read replica: it leaves the replication set.
    pub promote: Option<String>,
}

pub(crate) enum Phase {
    Running {
        polls_left: u32,
    },
    /// Completion has started (a restart hook is running); polls still see `InProgress`.
    Finishing,
    Succeeded,
    Failed {
        code: String,
        message: String,
    },
}

pub(crate) struct Operation {
    pub subscription: String,
    pub server: ServerKey,
    pub change: Change,
    pub phase: Phase,
    pub start_time: String,
    pub end_time: Option<String>,
    /// Set when a test asked for the next operation to fail: it ends `Failed` with this error.
    pub planned_failure: Option<(String, String)>,
    /// The server's HA state before the operation, restored if it fails.
    pub ha_state_before: String,
    /// When the operation completes on its own, polled or not (real ARM operations do not wait for a
    /// client to look); `None` leaves completion to the status polls alone.
    pub due: Option<Instant>,
}

impl Operation {
    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Running { .. } | Phase::Finishing)
    }
}

/// A request as the fake saw it, for tests to assert on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path as sent, e.g. `/subscriptions/…/flexibleServers/srv/restart`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    pub status: u16,
    /// The body as sent, for the writes that carry one (PATCH, PUT).
    pub body: Option<String>,
}

/// A migration of the migration service. The passwords of its `secretParameters` are never kept: the
/// checks get them directly and drop them when done.
pub(crate) struct Migration {
    pub server: ServerKey,
    pub server_id: String,
    pub name: String,
    pub migration_id: String,
    pub location: String,
    /// The request's properties as given, minus `secretParameters`, echoed by GET.
    pub properties: serde_json::Map<String, Value>,
    pub created_at: String,
    pub started: Instant,
    pub state: String,
    pub sub_state: String,
    pub error: Option<String>,
    /// The checks' verdict once they ran: failed or not, and the `ValidationDetails`.
    pub verdict: Option<(bool, Value)>,
}

impl Migration {
    pub fn id(&self) -> String {
        format!("{}/migrations/{}", self.server_id, self.name)
    }

    pub fn is_active(&self) -> bool {
        !matches!(self.state.as_str(), "Succeeded" | "ValidationFailed" | "Failed" | "Canceled")
    }

    /// Moves a validate-only run to its end once its checks are in and its minimum duration has passed.
    pub fn settle(&mut self, minimum: Duration) {
        if self.state != "InProgress" || self.started.elapsed() < minimum {
            return;
        }
        if let Some((failed, _)) = &self.verdict {
            self.state = if *failed { "ValidationFailed" } else { "Succeeded" }.into();
            self.sub_state = "Completed".into();
        }
    }

    pub fn render(&self) -> Value {
        let mut properties = self.properties.clone();
        let mut details = json!({ "currentSubState": self.sub_state });
        if self.state != "InProgress"
            && let Some((_, validation)) = &self.verdict
        {
            details["validationDetails"] = validation.clone();
        }
        let mut status = json!({ "state": self.state, "currentSubStateDetails": details });
        if let Some(error) = &self.error {
            status["error"] = json!(error);
        }
        properties.insert("migrationId".into(), json!(self.migration_id));
        properties.insert("currentStatus".into(), status);
        properties.insert("targetDbServerResourceId".into(), json!(self.server_id));
        properties.entry("migrationWindowStartTimeInUtc").or_insert_with(|| json!(self.created_at));
        for flag in [
            "setupLogicalReplicationOnSourceDbIfNeeded",
            "overwriteDbsInTarget",
            "migrateRoles",
            "startDataMigration",
            "triggerCutover",
            "cancel",
        ] {
            properties.entry(flag).or_insert_with(|| json!("False"));
        }
        json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.DBforPostgreSQL/flexibleServers/migrations",
            "location": self.location,
            "tags": {},
            "properties": properties,
        })
    }
}

pub(crate) struct IssuedToken {
    pub issued: Instant,
    pub audience: String,
}

pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

#[derive(Default)]
pub(crate) struct State {
    pub servers: BTreeMap<ServerKey, Server>,
    pub operations: HashMap<String, Operation>,
    pub tokens: HashMap<String, IssuedToken>,
    pub polls_until_done: u32,
    pub throttled_requests_left: u32,
    pub throttle_retry_after_secs: u32,
    pub failing_requests_left: u32,
    pub failing_status: u16,
    pub latency: Duration,
    /// GETs whose path contains the first part are answered the second's time later still.
    pub read_latency: Option<(String, Duration)>,
    pub fail_next_operation: Option<(String, String)>,
    /// How long operations started from now on take at most (see [`Operation::due`]).
    pub operation_duration: Option<Duration>,
    /// Durations per kind of operation: when set, operations end by time alone (see [`super::Timing`]).
    pub timing: Option<super::timing::Timing>,
    /// Write requests still to be answered 409 `ServerBusy`, as if someone else's operation held the server.
    pub busy_writes_left: u32,
    pub requests: Vec<RecordedRequest>,
    /// Migrations of the migration service, by (server, lower-cased name).
    pub migrations: BTreeMap<(ServerKey, String), Migration>,
    /// How long a validate-only migration stays `ValidationInProgress` at least.
    pub validation_duration: Duration,
    /// Where each server's PostgreSQL listens, for the premigration checks (real Azure uses the FQDN).
    pub database_addresses: HashMap<ServerKey, (String, u16)>,
    /// Who may get tokens other than with the client secret (see [`super::identities`]).
    pub identities: super::identities::Registered,
    /// Every token handed out, by what was shown for it, in order.
    pub grants: Vec<super::identities::Grant>,
    /// Servers held by an operation that is not the client's (see [`super::FakeArm::hold_server`]).
    pub held: std::collections::HashSet<ServerKey>,
}

impl State {
    pub fn knows_subscription(&self, subscription: &str) -> bool {
        self.servers.keys().any(|(s, _, _)| s.eq_ignore_ascii_case(subscription))
    }

    pub fn knows_resource_group(&self, subscription: &str, resource_group: &str) -> bool {
        self.servers
            .keys()
            .any(|(s, g, _)| s.eq_ignore_ascii_case(subscription) && g.eq_ignore_ascii_case(resource_group))
    }

    pub fn server_busy(&self, key: &ServerKey) -> bool {
        self.held.contains(key) || self.operations.values().any(|op| &op.server == key && op.is_active())
    }

    /// Read replicas whose `sourceServerResourceId` names `primary_id`.
    pub fn replicas_of(&self, primary_id: &str) -> Vec<&Server> {
        self.servers
            .values()
            .filter(|s| s.source_server_resource_id.as_deref().is_some_and(|id| id.eq_ignore_ascii_case(primary_id)))
            .collect()
    }
}

/// Capabilities of a region (and of every server in it): compute tiers with their SKUs, storage sizes,
/// major versions and features. Burstable SKUs support no HA mode, as in Azure.
pub(crate) fn capabilities() -> Value {
    let storage = json!([{
        "name": "ManagedDisk",
        "defaultStorageSizeMb": 131072,
        "supportedStorageMb": STORAGE_SIZES.iter().map(|(gb, tier, iops)| json!({
            "storageSizeMb": i64::from(*gb) * 1024,
            "supportedIops": iops,
            "defaultIopsTier": tier,
            "supportedIopsTiers": [{ "name": tier, "iops": iops }],
            "status": "Available"
        })).collect::<Vec<_>>(),
        "status": "Available"
    }]);
    let editions: Vec<Value> = [
        ("Burstable", "Standard_B1ms"),
        ("GeneralPurpose", "Standard_D2ds_v5"),
        ("MemoryOptimized", "Standard_E2ds_v5"),
    ]
    .into_iter()
    .map(|(tier, default_sku)| {
        let skus: Vec<Value> = skus()
            .into_iter()
            .filter(|sku| sku.tier == tier)
            .map(|sku| {
                json!({
                    "name": sku.name,
                    "vCores": sku.vcores,
                    "supportedIops": sku.max_iops,
                    "supportedMemoryPerVcoreMb": sku.memory_per_vcore_mb,
                    "supportedZones": ["1", "2", "3"],
                    "supportedHaMode": if tier == "Burstable" { json!([]) } else { json!(["SameZone", "ZoneRedundant"]) },
                    "status": "Available"
                })
            })
            .collect();
        json!({
            "name": tier,
            "defaultSkuName": default_sku,
            "supportedStorageEditions": storage,
            "supportedServerSkus": skus,
            "status": if tier == "GeneralPurpose" { "Default" } else { "Available" }
        })
    })
    .collect();
    let versions: Vec<Value> = ["13", "14", "15", "16", "17"]
        .iter()
        .map(|v| {
            let later: Vec<String> =
                ["14", "15", "16", "17"].iter().filter(|l| *l > v).map(|l| l.to_string()).collect();
            json!({ "name": v, "supportedVersionsToUpgrade": later, "status": "Available" })
        })
        .collect();
    json!({
        "value": [{
            "name": "FlexibleServerCapabilities",
            "supportedServerEditions": editions,
            "supportedServerVersions": versions,
            "supportedFeatures": [
                { "name": "ZoneRedundantHa", "status": "Enabled" },
                { "name": "GeoBackup", "status": "Enabled" },
                { "name": "ZoneRedundantHaAndGeoBackup", "status": "Enabled" },
                { "name": "StorageAutoGrowth", "status": "Enabled" },
                { "name": "OnlineResize", "status": "Enabled" },
                { "name": "FastProvisioning", "status": "Disabled" }
            ],
            "fastProvisioningSupported": "Disabled",
            "geoBackupSupported": "Enabled",
            "zoneRedundantHaSupported": "Enabled",
            "zoneRedundantHaAndGeoBackupSupported": "Enabled",
            "storageAutoGrowthSupported": "Enabled",
            "onlineResizeSupported": "Enabled",
            "restricted": "Disabled"
        }]
    })
}

pub(crate) struct Sku {
    pub name: String,
    pub tier: &'static str,
    pub vcores: i32,
    pub max_iops: i32,
    pub memory_per_vcore_mb: i64,
}

/// The compute sizes the fake accepts: B-series (Burstable), D-series (GeneralPurpose) and E-series
/// (MemoryOptimized) in the generations Azure offers for flexible servers.
pub(crate) fn skus() -> Vec<Sku> {
    let mut all = Vec::new();
    for (suffix, vcores, memory) in [
        ("B1ms", 1, 2048),
        ("B2s", 2, 2048),
        ("B2ms", 2, 4096),
        ("B4ms", 4, 4096),
        ("B8ms", 8, 4096),
        ("B12ms", 12, 4096),
        ("B16ms", 16, 4096),
        ("B20ms", 20, 4096),
    ] {
        all.push(Sku {
            name: format!("Standard_{suffix}"),
            tier: "Burstable",
            vcores,
            max_iops: (vcores * 640).min(4320),
            memory_per_vcore_mb: memory,
        });
    }
    for (family, tier, memory) in [("D", "GeneralPurpose", 4096), ("E", "MemoryOptimized", 8192)] {
        for (generation, sizes) in [
            ("s_v3", &[2, 4, 8, 16, 32, 48, 64][..]),
            ("ds_v4", &[2, 4, 8, 16, 32, 48, 64][..]),
            ("ds_v5", &[2, 4, 8, 16, 32, 48, 64, 96][..]),
            ("ads_v5", &[2, 4, 8, 16, 32, 48, 64, 96][..]),
        ] {
            for &vcores in sizes {
                all.push(Sku {
                    name: format!("Standard_{family}{vcores}{generation}"),
                    tier,
                    vcores,
                    max_iops: (vcores * 1600).min(80000),
                    memory_per_vcore_mb: memory,
                });
            }
        }
    }
    all
}

/// Now as an RFC 3339 UTC timestamp with microseconds, the way ARM writes times.
pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"))
        .expect("a UTC date-time has every component the format names")
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_utc_with_microseconds() {
        let shape = regex_lite::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$").unwrap();
        let now = super::now_rfc3339();
        assert!(shape.is_match(&now), "{now}");
    }
}
