//! What rule tests build their inputs from: a valid spec, a flexible server, a server parameter. Tests
//! change what their case is about (`Server { sku: …, ..server() }`) and keep the rest.

use crate::model::server::{
    Configuration, Configurations, HighAvailability, Network, Replica, ReplicationRole, Server, ServerState, Sku,
};
use crate::spec::Spec;

/// A spec for the cluster `orders-prod` and the server `pg-orders`, selecting `databases`, with `extra`
/// TOML appended (tables such as `[allow]` or `[desired]`).
pub fn spec_with(databases: &[&str], extra: &str) -> Spec {
    let databases: Vec<String> = databases.iter().map(|d| format!("{d:?}")).collect();
    let text = format!(
        r#"
name = "orders"
[source]
cluster = "orders-prod"
region = "us-east-1"
databases = [{}]
migration_user = "migrator"
[source.connection]
user = "postgres"
password = {{ env = "SOURCE_PGPASSWORD" }}
[target]
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg"
server = "pg-orders"
[target.connection]
user = "azureadmin"
password = {{ env = "TARGET_PGPASSWORD" }}
{extra}
"#,
        databases.join(", ")
    );
    Spec::parse(std::path::Path::new("migprep.toml"), &text).expect("the test spec is valid")
}

/// A spec with one database (`orders`) and the given `[allow]` lines.
pub fn spec(allow: &str) -> Spec {
    spec_with(&["orders"], &format!("[allow]\n{allow}"))
}

/// `pg-orders`: ready, a primary, General Purpose D4ds_v5 with 128 GB, high availability disabled.
pub fn server() -> Server {
    Server {
        id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-orders".into(),
        name: "pg-orders".into(),
        location: "eastus".into(),
        state: ServerState::Ready,
        version: "16".into(),
        minor_version: None,
        sku: Sku { name: "Standard_D4ds_v5".into(), tier: "GeneralPurpose".into() },
        storage_size_gb: Some(128),
        storage_auto_grow: None,
        high_availability: HighAvailability { mode: "Disabled".into(), state: None, standby_zone: None },
        network: Network { public_network_access: None, delegated_subnet: None, private_dns_zone: None },
        fqdn: None,
        availability_zone: Some("1".into()),
        replication_role: Some(ReplicationRole::Primary),
        administrator_login: None,
    }
}

/// [`server`] with high availability in `mode`, the standby in `zone`.
pub fn server_with_ha(mode: &str, zone: Option<&str>) -> Server {
    let high_availability = HighAvailability { mode: mode.into(), state: None, standby_zone: zone.map(Into::into) };
    Server { high_availability, ..server() }
}

/// A ready read replica of [`server`] in resource group `rg`: General Purpose D2ds_v5 with 128 GB.
pub fn replica(name: &str) -> Replica {
    Replica {
        id: format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/{name}"),
        name: name.into(),
        resource_group: Some("rg".into()),
        location: "eastus".into(),
        sku: Sku { name: "Standard_D2ds_v5".into(), tier: "GeneralPurpose".into() },
        storage_size_gb: Some(128),
        role: ReplicationRole::AsyncReplica,
        state: ServerState::Ready,
    }
}

/// A server parameter with a value, dynamic or static, waiting for a restart or not.
pub fn configuration(name: &str, value: &str, dynamic: bool, pending: bool) -> Configuration {
    Configuration {
        name: name.into(),
        value: Some(value.into()),
        default_value: None,
        data_type: None,
        allowed_values: None,
        is_dynamic: dynamic,
        is_read_only: false,
        is_pending_restart: pending,
        source: None,
        unit: None,
    }
}

/// The server's parameters, by name.
pub fn configurations(list: &[Configuration]) -> Configurations {
    Configurations { by_name: list.iter().map(|c| (c.name.clone(), c.clone())).collect() }
}
