//! ARM's JSON shapes and their translation into the plain model. Private to the client: nothing outside
//! `clients::arm` sees a wire type.

use serde::Deserialize;

use crate::model::server::{
    Configuration, HaState, HighAvailability, Network, Replica, ReplicationRole, Server, ServerState, Sku,
};

#[derive(Deserialize, Default)]
pub(super) struct ArmError {
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) message: String,
}

impl ArmError {
    /// `{"error":{"code","message"}}`, or a stand-in for a body that isn't one.
    pub(super) fn parse(body: &[u8]) -> ArmError {
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
pub(super) struct OperationStatus {
    pub(super) status: String,
    #[serde(default)]
    pub(super) error: Option<ArmError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub(super) value: Vec<T>,
    #[serde(default)]
    pub(super) next_link: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawSku {
    pub(super) name: String,
    pub(super) tier: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawServer {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) location: String,
    pub(super) sku: RawSku,
    pub(super) properties: RawServerProperties,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawServerProperties {
    pub(super) state: String,
    pub(super) version: String,
    pub(super) minor_version: Option<String>,
    pub(super) storage: RawStorage,
    pub(super) high_availability: RawHighAvailability,
    pub(super) network: RawNetwork,
    pub(super) fully_qualified_domain_name: Option<String>,
    pub(super) availability_zone: Option<String>,
    pub(super) replication_role: Option<String>,
    pub(super) replica: Option<RawReplicaProperties>,
    pub(super) administrator_login: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawStorage {
    #[serde(rename = "storageSizeGB")]
    pub(super) storage_size_gb: Option<i32>,
    pub(super) auto_grow: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawHighAvailability {
    pub(super) mode: Option<String>,
    pub(super) state: Option<String>,
    pub(super) standby_availability_zone: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawNetwork {
    pub(super) public_network_access: Option<String>,
    pub(super) delegated_subnet_resource_id: Option<String>,
    pub(super) private_dns_zone_arm_resource_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawReplicaProperties {
    pub(super) role: Option<String>,
}

pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

impl RawServer {
    pub(super) fn into_server(self) -> Server {
        let p = self.properties;
        Server {
            id: self.id,
            name: self.name,
            location: self.location,
            state: ServerState::parse(&p.state),
            version: p.version,
            minor_version: p.minor_version,
            sku: Sku { name: self.sku.name, tier: self.sku.tier },
            storage_size_gb: p.storage.storage_size_gb,
            storage_auto_grow: p.storage.auto_grow,
            high_availability: HighAvailability {
                // ARM's default when the block is absent.
                mode: p.high_availability.mode.unwrap_or_else(|| "Disabled".into()),
                state: p.high_availability.state.as_deref().map(HaState::parse),
                standby_zone: non_empty(p.high_availability.standby_availability_zone),
            },
            network: Network {
                public_network_access: p.network.public_network_access,
                delegated_subnet: non_empty(p.network.delegated_subnet_resource_id),
                private_dns_zone: non_empty(p.network.private_dns_zone_arm_resource_id),
            },
            fqdn: p.fully_qualified_domain_name,
            availability_zone: non_empty(p.availability_zone),
            replication_role: p.replication_role.as_deref().map(ReplicationRole::parse),
            administrator_login: p.administrator_login,
        }
    }

    pub(super) fn into_replica(self) -> Replica {
        let resource_group = resource_group_of(&self.id);
        let p = self.properties;
        Replica {
            resource_group,
            id: self.id,
            name: self.name,
            location: self.location,
            sku: Sku { name: self.sku.name, tier: self.sku.tier },
            storage_size_gb: p.storage.storage_size_gb,
            role: ReplicationRole::parse(
                &p.replication_role.or_else(|| p.replica.and_then(|r| r.role)).unwrap_or_default(),
            ),
            state: ServerState::parse(&p.state),
        }
    }
}

/// The resource group segment of an ARM resource id.
pub(super) fn resource_group_of(id: &str) -> Option<String> {
    let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    segments.windows(2).find(|w| w[0].eq_ignore_ascii_case("resourceGroups")).map(|w| w[1].to_string())
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawConfiguration {
    pub(super) name: String,
    pub(super) properties: RawConfigurationProperties,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawConfigurationProperties {
    pub(super) value: Option<String>,
    pub(super) default_value: Option<String>,
    pub(super) data_type: Option<String>,
    pub(super) allowed_values: Option<String>,
    pub(super) is_dynamic_config: Option<bool>,
    pub(super) is_read_only: Option<bool>,
    pub(super) is_config_pending_restart: Option<bool>,
    pub(super) source: Option<String>,
    pub(super) unit: Option<String>,
}

impl RawConfiguration {
    pub(super) fn into_configuration(self) -> Configuration {
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
pub(super) struct RawCapability {
    pub(super) supported_server_editions: Vec<RawEdition>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawEdition {
    pub(super) name: String,
    pub(super) supported_server_skus: Vec<RawSkuCapability>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawSkuCapability {
    pub(super) name: String,
    pub(super) v_cores: u32,
    pub(super) supported_memory_per_vcore_mb: u64,
    pub(super) supported_ha_mode: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_error_bodies_keep_code_and_message() {
        let error = ArmError::parse(br#"{"error":{"code":"ServerBusy","message":"busy"}}"#);
        assert_eq!((error.code.as_str(), error.message.as_str()), ("ServerBusy", "busy"));
        let error = ArmError::parse(b"<html>bad gateway</html>");
        assert_eq!(error.code, "Unknown");
    }

    #[test]
    fn resource_groups_come_from_ids() {
        let id = "/subscriptions/s/resourceGroups/rg-x/providers/Microsoft.DBforPostgreSQL/flexibleServers/r";
        assert_eq!(resource_group_of(id).as_deref(), Some("rg-x"));
    }
}
