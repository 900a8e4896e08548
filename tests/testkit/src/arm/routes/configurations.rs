//! Server parameters (ARM's `configurations`): the paged list with a `nextLink` shaped like the service's,
//! reading one, and updating one, which validates the value against the catalog, refuses read-only
//! parameters and starts an operation that stores it (and applies it at once if it is dynamic).

use super::json::{json_object, json_response, optional_object, optional_string};
use super::operations::start_operation;
use super::servers::{find_server, find_server_mut, refuse_if_busy};
use super::{Answer, Query, Refusal, ServerPath};
use crate::arm::model::{Change, PROVIDER, Server};
use crate::arm::{LINK_API_VERSION, Shared, catalog};
use axum::body::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};

pub(super) fn list_configurations(shared: &Shared, at: ServerPath, query: &Query) -> Answer {
    let state = shared.state();
    let server = find_server(&state, at)?;
    let total = server.settings.len();
    let skip = match query.skip_token.as_deref() {
        None => 0,
        Some(token) => token.parse::<usize>().ok().filter(|skip| *skip < total).ok_or_else(|| {
            Refusal::bad_request("InvalidSkipToken", format!("The skip token '{token}' is not valid for this list."))
        })?,
    };
    let page: Vec<Value> = server
        .settings
        .iter()
        .skip(skip)
        .take(shared.page_size)
        .map(|setting| server.render_setting(setting))
        .collect();
    let mut body = json!({ "value": page });
    if skip + shared.page_size < total {
        // Shaped like the official example's nextLink: a `//` after the subscription and the service's
        // own api-version, so only a client that follows the link verbatim gets page two.
        body["nextLink"] = json!(format!(
            "{}/subscriptions/{}//resourceGroups/{}/providers/{PROVIDER}/flexibleServers/{}/configurations?api-version={LINK_API_VERSION}&$skiptoken={}",
            shared.endpoint,
            server.subscription,
            server.resource_group,
            server.name,
            skip + shared.page_size
        ));
    }
    Ok(json_response(StatusCode::OK, &body))
}

fn configuration_not_found(server: &Server, name: &str) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "ConfigurationNotExists",
        format!("The configuration '{name}' does not exist for {} server version {}.", server.name, server.version),
    )
}

pub(super) fn get_configuration(shared: &Shared, at: ServerPath, name: &str) -> Answer {
    let state = shared.state();
    let server = find_server(&state, at)?;
    let setting = server.setting(name).ok_or_else(|| configuration_not_found(server, name))?;
    Ok(json_response(StatusCode::OK, &server.render_setting(setting)))
}

pub(super) fn update_configuration(shared: &Shared, at: ServerPath, name: &str, body: &Bytes) -> Answer {
    let request = json_object(body)?;
    let properties = optional_object(&request, "properties")?
        .ok_or_else(|| Refusal::invalid_content("the required property 'properties' is missing"))?;
    let value = optional_string(properties, "properties.value", "value")?
        .ok_or_else(|| Refusal::invalid_content("the required property 'properties.value' is missing"))?;
    if let Some(source) = optional_string(properties, "properties.source", "source")?
        && !["user-override", "system-default"].iter().any(|s| s.eq_ignore_ascii_case(source))
    {
        return Err(Refusal::invalid_parameter(
            "source",
            format!("'{source}' is neither user-override nor system-default."),
        ));
    }
    let mut state = shared.state();
    let server = find_server(&state, at)?;
    let setting = server.setting(name).ok_or_else(|| configuration_not_found(server, name))?;
    let parameter = setting.parameter;
    if parameter.is_read_only {
        return Err(Refusal::bad_request(
            "ReadOnlyParameter",
            format!("The configuration '{}' is read-only and its value can't be changed.", parameter.name),
        ));
    }
    let value = catalog::normalize_value(parameter, value)
        .map_err(|why| Refusal::invalid_parameter(&parameter.name, format!("The value {why}.")))?;
    refuse_if_busy(&state, at)?;
    let server = find_server_mut(&mut state, at)?;
    let ha_state_before = server.ha_state.clone();
    server.state = "Updating".into();
    let change = Change::Configuration { name: parameter.name.clone(), value };
    Ok(start_operation(shared, &mut state, at, change, ha_state_before))
}
