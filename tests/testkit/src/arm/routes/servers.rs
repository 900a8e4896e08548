//! Flexible servers as resources: reading one or a resource group's list, its read replicas and the
//! capabilities of a location; updating one (SKU, storage, HA, backup, network, promotion, tags); restarting,
//! deleting and creating read replicas. Writes are validated as Azure would, then handed to
//! `operations::start_operation`. Also the lookups and refusals the other resources share (server not
//! found, resource group not found, server busy) and the name and HA rules seeding uses too.

use super::json::{empty_response, json_object, json_response, optional_object, optional_string};
use super::operations::start_operation;
use super::{Answer, Refusal, ServerPath};
use crate::arm::Shared;
use crate::arm::model::{
    Change, LOCATIONS, SERVER_TYPE, STORAGE_SIZES, Server, ServerChange, State, capabilities, now_rfc3339, skus,
};
use axum::body::Bytes;
use hyper::StatusCode;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const HA_MODES: [&str; 3] = ["Disabled", "ZoneRedundant", "SameZone"];
const ZONES: [&str; 3] = ["1", "2", "3"];

/// Flexible server names: 3–63 letters, digits and single inner hyphens (the spec's `serverName` pattern).
pub(crate) fn valid_server_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.split('-').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}
pub(super) fn find_server<'s>(state: &'s State, at: ServerPath) -> Result<&'s Server, Refusal> {
    state.servers.get(&at.key()).ok_or_else(|| not_found(state, at))
}

pub(super) fn find_server_mut<'s>(state: &'s mut State, at: ServerPath) -> Result<&'s mut Server, Refusal> {
    if !state.servers.contains_key(&at.key()) {
        return Err(not_found(state, at));
    }
    Ok(state.servers.get_mut(&at.key()).expect("checked above"))
}

fn not_found(state: &State, at: ServerPath) -> Refusal {
    if !state.knows_resource_group(at.subscription, at.resource_group) {
        return resource_group_not_found(at.resource_group);
    }
    Refusal::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The Resource '{SERVER_TYPE}/{}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            at.server, at.resource_group
        ),
    )
}

fn resource_group_not_found(resource_group: &str) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "ResourceGroupNotFound",
        format!("Resource group '{resource_group}' could not be found."),
    )
}

pub(super) fn get_server(shared: &Shared, at: ServerPath) -> Answer {
    let state = shared.state();
    Ok(json_response(StatusCode::OK, &find_server(&state, at)?.render()))
}

pub(super) fn list_servers(shared: &Shared, subscription: &str, resource_group: &str) -> Answer {
    let state = shared.state();
    if !state.knows_resource_group(subscription, resource_group) {
        return Err(resource_group_not_found(resource_group));
    }
    let servers: Vec<Value> = state
        .servers
        .iter()
        .filter(|((s, g, _), _)| s.eq_ignore_ascii_case(subscription) && g.eq_ignore_ascii_case(resource_group))
        .map(|(_, server)| server.render())
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "value": servers })))
}

pub(super) fn list_replicas(shared: &Shared, at: ServerPath) -> Answer {
    let state = shared.state();
    let primary = find_server(&state, at)?;
    let replicas: Vec<Value> = state.replicas_of(&primary.id()).into_iter().map(Server::render).collect();
    Ok(json_response(StatusCode::OK, &json!({ "value": replicas })))
}

pub(super) fn location_capabilities(shared: &Shared, location: &str) -> Answer {
    let known = LOCATIONS.iter().any(|l| l.eq_ignore_ascii_case(location))
        || shared.state().servers.values().any(|s| s.location.eq_ignore_ascii_case(location));
    if !known {
        return Err(Refusal::bad_request(
            "LocationNotAvailableForResourceType",
            format!(
                "The provided location '{location}' is not available for resource type '{SERVER_TYPE}'. List of available regions for the resource type is '{}'.",
                LOCATIONS.join(",")
            ),
        ));
    }
    Ok(json_response(StatusCode::OK, &capabilities()))
}

/// The HA mode and standby zone a request (or seed) asks for, in canonical spelling, or why Azure would
/// refuse it. Burstable compute has no HA; `ZoneRedundant` needs a standby zone other than the primary's
/// (one is picked when none is given); `SameZone` uses the primary's zone.
pub(crate) fn resolve_high_availability(
    mode: &str,
    standby_zone: &str,
    primary_zone: &str,
    sku_tier: &str,
) -> Result<(String, String), Refusal> {
    let mode = HA_MODES.iter().find(|m| m.eq_ignore_ascii_case(mode)).ok_or_else(|| {
        Refusal::invalid_parameter("highAvailability.mode", format!("'{mode}' is not one of {HA_MODES:?}."))
    })?;
    if *mode == "Disabled" {
        return Ok(((*mode).into(), String::new()));
    }
    if sku_tier == "Burstable" {
        return Err(Refusal::invalid_parameter(
            "highAvailability.mode",
            "High availability is not supported for the Burstable compute tier.",
        ));
    }
    if !standby_zone.is_empty() && !ZONES.contains(&standby_zone) {
        return Err(Refusal::invalid_parameter(
            "highAvailability.standbyAvailabilityZone",
            format!("'{standby_zone}' is not an availability zone of this region."),
        ));
    }
    let zone = match (*mode, standby_zone) {
        ("ZoneRedundant", "") => ZONES.iter().find(|z| **z != primary_zone).copied().unwrap_or("2").to_owned(),
        ("ZoneRedundant", zone) if zone == primary_zone => {
            return Err(Refusal::invalid_parameter(
                "highAvailability.standbyAvailabilityZone",
                format!(
                    "ZoneRedundant high availability needs a standby zone other than the server's zone '{primary_zone}'."
                ),
            ));
        }
        ("SameZone", zone) if !zone.is_empty() && zone != primary_zone => {
            return Err(Refusal::invalid_parameter(
                "highAvailability.standbyAvailabilityZone",
                format!("SameZone high availability puts the standby in the server's zone '{primary_zone}'."),
            ));
        }
        ("SameZone", _) => primary_zone.to_owned(),
        (_, zone) => zone.to_owned(),
    };
    Ok(((*mode).into(), zone))
}

pub(super) fn update_server(shared: &Shared, at: ServerPath, body: &Bytes) -> Answer {
    let patch = json_object(body)?;
    let mut state = shared.state();
    let server = find_server(&state, at)?;
    let mut change = ServerChange::default();

    let mut tier = server.sku_tier.clone();
    if let Some(sku) = optional_object(&patch, "sku")? {
        let name = optional_string(sku, "sku.name", "name")?.unwrap_or(&server.sku_name);
        let known = skus().into_iter().find(|s| s.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
            Refusal::invalid_parameter(
                "sku.name",
                format!("'{name}' is not a compute size offered in {}.", server.location),
            )
        })?;
        if let Some(requested_tier) = optional_string(sku, "sku.tier", "tier")?
            && !requested_tier.eq_ignore_ascii_case(known.tier)
        {
            return Err(Refusal::invalid_parameter(
                "sku.tier",
                format!("'{}' belongs to the {} tier, not '{requested_tier}'.", known.name, known.tier),
            ));
        }
        tier = known.tier.to_owned();
        change.sku = Some((known.name, known.tier.to_owned()));
    }

    let empty = Map::new();
    let properties = optional_object(&patch, "properties")?.unwrap_or(&empty);
    if let Some(storage) = optional_object(properties, "storage")? {
        if let Some(size) = storage.get("storageSizeGB") {
            let size = size
                .as_i64()
                .and_then(|s| i32::try_from(s).ok())
                .ok_or_else(|| Refusal::invalid_content("properties.storage.storageSizeGB must be an integer"))?;
            if !STORAGE_SIZES.iter().any(|(gb, _, _)| *gb == size) {
                return Err(Refusal::invalid_parameter(
                    "StorageSizeGB",
                    format!("{size} GB is not an offered storage size."),
                ));
            }
            if size < server.storage_size_gb {
                return Err(Refusal::invalid_parameter(
                    "StorageSizeGB",
                    format!("Storage can't be decreased from {} GB to {size} GB.", server.storage_size_gb),
                ));
            }
            change.storage_size_gb = Some(size);
        }
        if let Some(disk_tier) = optional_string(storage, "properties.storage.tier", "tier")? {
            if !STORAGE_SIZES.iter().any(|(_, t, _)| *t == disk_tier) && !["P1", "P2", "P3"].contains(&disk_tier) {
                return Err(Refusal::invalid_parameter(
                    "storage.tier",
                    format!("'{disk_tier}' is not a disk performance tier."),
                ));
            }
            change.storage_tier = Some(disk_tier.to_owned());
        }
        if let Some(auto_grow) = optional_string(storage, "properties.storage.autoGrow", "autoGrow")? {
            change.storage_auto_grow = Some(enabled_or_disabled("storage.autoGrow", auto_grow)?);
        }
    }
    if let Some(ha) = optional_object(properties, "highAvailability")? {
        let mode = optional_string(ha, "properties.highAvailability.mode", "mode")?.unwrap_or(&server.ha_mode);
        let standby =
            optional_string(ha, "properties.highAvailability.standbyAvailabilityZone", "standbyAvailabilityZone")?
                .unwrap_or_default();
        if server.is_replica() && !mode.eq_ignore_ascii_case("Disabled") {
            return Err(Refusal::invalid_parameter(
                "highAvailability.mode",
                "High availability is not supported on read replicas.",
            ));
        }
        change.high_availability = Some(resolve_high_availability(mode, standby, &server.availability_zone, &tier)?);
    } else if tier == "Burstable" && server.ha_mode != "Disabled" {
        return Err(Refusal::invalid_parameter(
            "sku.tier",
            "A server with high availability can't move to the Burstable tier; disable high availability first.",
        ));
    }
    if let Some(backup) = optional_object(properties, "backup")?
        && let Some(days) = backup.get("backupRetentionDays")
    {
        let days = days.as_i64().filter(|d| (7..=35).contains(d)).ok_or_else(|| {
            Refusal::invalid_parameter("backupRetentionDays", "Backup retention must be between 7 and 35 days.")
        })?;
        change.backup_retention_days = Some(days as i32);
    }
    if let Some(network) = optional_object(properties, "network")?
        && let Some(access) = optional_string(network, "properties.network.publicNetworkAccess", "publicNetworkAccess")?
    {
        change.public_network_access = Some(enabled_or_disabled("network.publicNetworkAccess", access)?);
    }
    if let Some(replica) = optional_object(properties, "replica")?
        && let Some(mode) = optional_string(replica, "properties.replica.promoteMode", "promoteMode")?
    {
        if !["Standalone", "Switchover"].contains(&mode) {
            return Err(Refusal::invalid_parameter("replica.promoteMode", format!("'{mode}' is not a promote mode.")));
        }
        if let Some(option) = optional_string(replica, "properties.replica.promoteOption", "promoteOption")?
            && !["Planned", "Forced"].contains(&option)
        {
            return Err(Refusal::invalid_parameter(
                "replica.promoteOption",
                format!("'{option}' is not a promote option."),
            ));
        }
        if !server.is_replica() {
            return Err(Refusal::bad_request(
                "ServerIsNotReplica",
                format!("Server '{}' is not a read replica and can't be promoted.", server.name),
            ));
        }
        if mode == "Switchover" {
            // Swapping roles with the primary is not modelled; refuse rather than pretend.
            return Err(Refusal::bad_request(
                "NotSupported",
                "The fake ARM models promotion to a standalone server only.",
            ));
        }
        change.promote = Some(mode.to_owned());
    }
    if let Some(tags) = optional_object(&patch, "tags")? {
        let tags = tags
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect::<Option<BTreeMap<_, _>>>()
            .ok_or_else(|| Refusal::invalid_content("tags must map names to strings"))?;
        change.tags = Some(tags);
    }

    refuse_if_busy(&state, at)?;
    let server = find_server_mut(&mut state, at)?;
    let ha_state_before = server.ha_state.clone();
    if let Some((mode, zone)) = &change.high_availability {
        let turning_off = mode == "Disabled" && server.ha_mode != "Disabled";
        let turning_on_or_moving = mode != "Disabled" && (server.ha_mode != *mode || server.ha_standby_zone != *zone);
        if turning_off {
            server.ha_state = "RemovingStandby".into();
        } else if turning_on_or_moving {
            server.ha_state = "CreatingStandby".into();
        }
    }
    server.state = "Updating".into();
    Ok(start_operation(shared, &mut state, at, Change::Server(change), ha_state_before))
}

fn enabled_or_disabled(parameter: &str, value: &str) -> Result<String, Refusal> {
    ["Enabled", "Disabled"]
        .iter()
        .find(|v| v.eq_ignore_ascii_case(value))
        .map(|v| (*v).to_owned())
        .ok_or_else(|| Refusal::invalid_parameter(parameter, format!("'{value}' is neither Enabled nor Disabled.")))
}

pub(super) fn restart(shared: &Shared, at: ServerPath, body: &Bytes) -> Answer {
    // The body (RestartParameter) is optional; an empty one is a plain restart.
    let parameters = if body.iter().all(u8::is_ascii_whitespace) { Map::new() } else { json_object(body)? };
    let with_failover = match parameters.get("restartWithFailover") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(Refusal::invalid_content("restartWithFailover must be a boolean"));
        }
    };
    if let Some(mode) = optional_string(&parameters, "failoverMode", "failoverMode")?
        && !["PlannedFailover", "ForcedFailover", "PlannedSwitchover", "ForcedSwitchover"].contains(&mode)
    {
        return Err(Refusal::invalid_parameter("failoverMode", format!("'{mode}' is not a failover mode.")));
    }
    let mut state = shared.state();
    let server = find_server(&state, at)?;
    if with_failover && server.ha_mode == "Disabled" {
        return Err(Refusal::invalid_parameter(
            "restartWithFailover",
            "Restart with failover only works on a server with high availability enabled.",
        ));
    }
    refuse_if_busy(&state, at)?;
    let server = find_server_mut(&mut state, at)?;
    let ha_state_before = server.ha_state.clone();
    server.state = "Restarting".into();
    if with_failover {
        server.ha_state = "FailingOver".into();
    }
    Ok(start_operation(shared, &mut state, at, Change::Restart { with_failover }, ha_state_before))
}

pub(super) fn refuse_if_busy(state: &State, at: ServerPath) -> Result<(), Refusal> {
    if state.server_busy(&at.key()) {
        let name = state.servers.get(&at.key()).map_or(at.server, |s| s.name.as_str());
        return Err(server_busy(name));
    }
    Ok(())
}

pub(super) fn server_busy(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::CONFLICT,
        "ServerBusy",
        format!("Server '{name}' is busy with another operation. Please try again later."),
    )
}

/// `Servers_Delete`: 202 and an operation that removes the server; 204 when there is no such server (in a
/// resource group that exists), as the spec says. Deleting a primary that still has read replicas is not
/// modelled (what Azure does to the replicas then was not verified), so it is refused rather than guessed.
pub(super) fn delete_server(shared: &Shared, at: ServerPath) -> Answer {
    let mut state = shared.state();
    let Some(server) = state.servers.get(&at.key()) else {
        if !state.knows_resource_group(at.subscription, at.resource_group) {
            return Err(resource_group_not_found(at.resource_group));
        }
        return Ok(empty_response(StatusCode::NO_CONTENT));
    };
    if !state.replicas_of(&server.id()).is_empty() {
        return Err(Refusal::bad_request(
            "NotSupported",
            format!("The fake ARM does not model deleting '{}' while it has read replicas.", server.name),
        ));
    }
    refuse_if_busy(&state, at)?;
    let server = find_server_mut(&mut state, at)?;
    let ha_state_before = server.ha_state.clone();
    server.state = "Dropping".into();
    Ok(start_operation(shared, &mut state, at, Change::Delete, ha_state_before))
}

/// `Servers_CreateOrUpdate`, for the one use migprep has: creating a read replica (`createMode: Replica`)
/// of a primary in the same subscription. The replica takes the primary's version, zone, network
/// and backup settings, with the parameters of a new server; `location`, `sku` and `storage.storageSizeGB` may be given (the
/// storage not below the primary's). Anything else (other create modes, updating an existing server by
/// PUT) is refused as not modelled.
pub(super) fn create_server(shared: &Shared, at: ServerPath, body: &Bytes) -> Answer {
    let request = json_object(body)?;
    let empty = Map::new();
    let properties = optional_object(&request, "properties")?.unwrap_or(&empty);
    let create_mode = optional_string(properties, "properties.createMode", "createMode")?.unwrap_or("Default");
    if !create_mode.eq_ignore_ascii_case("Replica") {
        return Err(Refusal::bad_request(
            "NotSupported",
            format!("The fake ARM models PUT only with createMode 'Replica', not '{create_mode}'."),
        ));
    }
    if !valid_server_name(at.server) {
        return Err(Refusal::invalid_parameter(
            "serverName",
            format!("'{}' is not a valid flexible server name.", at.server),
        ));
    }
    let source_id = optional_string(properties, "properties.sourceServerResourceId", "sourceServerResourceId")?
        .ok_or_else(|| {
            Refusal::invalid_parameter("sourceServerResourceId", "A replica needs sourceServerResourceId.")
        })?;
    let mut state = shared.state();
    if state.servers.contains_key(&at.key()) {
        return Err(Refusal::bad_request(
            "NotSupported",
            format!("Server '{}' exists; the fake ARM models PUT only to create read replicas.", at.server),
        ));
    }
    if !state.knows_resource_group(at.subscription, at.resource_group) {
        return Err(resource_group_not_found(at.resource_group));
    }
    let source = state.servers.values().find(|s| s.id().eq_ignore_ascii_case(source_id)).ok_or_else(|| {
        Refusal::invalid_parameter("sourceServerResourceId", format!("The source server '{source_id}' was not found."))
    })?;
    if source.is_replica() {
        return Err(Refusal::invalid_parameter(
            "sourceServerResourceId",
            format!("'{}' is a read replica itself; replicas are created from a primary.", source.name),
        ));
    }
    if !source.state.eq_ignore_ascii_case("Ready") {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "ServerBusy",
            format!("Server '{}' is busy with another operation. Please try again later.", source.name),
        ));
    }
    let location = optional_string(&request, "location", "location")?.unwrap_or(&source.location).to_owned();
    if !LOCATIONS.iter().any(|l| l.eq_ignore_ascii_case(&location)) && !location.eq_ignore_ascii_case(&source.location)
    {
        return Err(Refusal::bad_request(
            "LocationNotAvailableForResourceType",
            format!("The provided location '{location}' is not available for resource type '{SERVER_TYPE}'."),
        ));
    }
    let (sku_name, sku_tier) = match optional_object(&request, "sku")? {
        None => (source.sku_name.clone(), source.sku_tier.clone()),
        Some(sku) => {
            let name = optional_string(sku, "sku.name", "name")?.unwrap_or(&source.sku_name);
            let known = skus().into_iter().find(|s| s.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
                Refusal::invalid_parameter("sku.name", format!("'{name}' is not a compute size offered in {location}."))
            })?;
            if let Some(tier) = optional_string(sku, "sku.tier", "tier")?
                && !tier.eq_ignore_ascii_case(known.tier)
            {
                return Err(Refusal::invalid_parameter(
                    "sku.tier",
                    format!("'{}' belongs to the {} tier, not '{tier}'.", known.name, known.tier),
                ));
            }
            (known.name, known.tier.to_owned())
        }
    };
    let mut storage_size_gb = source.storage_size_gb;
    if let Some(storage) = optional_object(properties, "storage")?
        && let Some(size) = storage.get("storageSizeGB")
    {
        let size = size
            .as_i64()
            .and_then(|s| i32::try_from(s).ok())
            .ok_or_else(|| Refusal::invalid_content("properties.storage.storageSizeGB must be an integer"))?;
        if !STORAGE_SIZES.iter().any(|(gb, _, _)| *gb == size) || size < source.storage_size_gb {
            return Err(Refusal::invalid_parameter(
                "StorageSizeGB",
                format!(
                    "A replica needs an offered storage size of at least the primary's {} GB.",
                    source.storage_size_gb
                ),
            ));
        }
        storage_size_gb = size;
    }
    let (_, storage_tier, storage_iops) =
        *STORAGE_SIZES.iter().find(|(gb, _, _)| *gb == storage_size_gb).expect("checked above");
    let replica = Server {
        subscription: source.subscription.clone(),
        resource_group: at.resource_group.to_owned(),
        name: at.server.to_owned(),
        location,
        version: source.version.clone(),
        sku_name,
        sku_tier,
        storage_size_gb,
        storage_tier: storage_tier.into(),
        storage_iops,
        storage_auto_grow: source.storage_auto_grow.clone(),
        availability_zone: source.availability_zone.clone(),
        ha_mode: "Disabled".into(),
        ha_standby_zone: String::new(),
        ha_state: "NotEnabled".into(),
        state: "Provisioning".into(),
        public_network_access: source.public_network_access.clone(),
        delegated_subnet_resource_id: source.delegated_subnet_resource_id.clone(),
        private_dns_zone_resource_id: source.private_dns_zone_resource_id.clone(),
        source_server_resource_id: Some(source.id()),
        backup_retention_days: source.backup_retention_days,
        administrator_login: source.administrator_login.clone(),
        tags: BTreeMap::new(),
        created_at: now_rfc3339(),
        settings: Server::fresh_settings(),
        fqdn: None,
    };
    state.servers.insert(at.key(), replica);
    Ok(start_operation(shared, &mut state, at, Change::CreateReplica, "NotEnabled".into()))
}
