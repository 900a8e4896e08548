//! Long-running operations: registering one for an accepted write (202 with `Azure-AsyncOperation` and
//! `Location`), polling either URL, completing an operation after its polls or its duration (applying the
//! change, or its planned failure, to the server), running the restart hook outside the state lock, and
//! the status and result bodies ARM answers polls with.

use super::json::{empty_response, json_response};
use super::{Answer, Refusal, ServerPath};
use crate::arm::model::{Change, Operation, PROVIDER, Phase, STORAGE_SIZES, Server, ServerChange, State, now_rfc3339};
use crate::arm::timing::OperationKind;
use crate::arm::{LINK_API_VERSION, Shared};
use axum::body::Body;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// Registers an operation and answers 202 with the URLs to poll.
pub(super) fn start_operation(
    shared: &Shared,
    state: &mut State,
    at: ServerPath,
    change: Change,
    ha_state_before: String,
) -> Response<Body> {
    let id = uuid::Uuid::new_v4().to_string();
    let server = state.servers.get(&at.key()).expect("callers found the server");
    let base = format!(
        "{}/subscriptions/{}/providers/{PROVIDER}/locations/{}",
        shared.endpoint, server.subscription, server.location
    );
    // With a timing profile an operation ends when its time is up, however often it is polled.
    let timed = state.timing.as_ref().map(|timing| timing.duration(OperationKind::of(&change)));
    let due = timed.or(state.operation_duration).map(|duration| Instant::now() + duration);
    let polls_left = if timed.is_some() { u32::MAX } else { state.polls_until_done };
    let operation = Operation {
        subscription: server.subscription.clone(),
        server: at.key(),
        change,
        phase: Phase::Running { polls_left },
        start_time: now_rfc3339(),
        end_time: None,
        planned_failure: state.fail_next_operation.take(),
        ha_state_before,
        due,
    };
    state.operations.insert(id.clone(), operation);
    let mut response = empty_response(StatusCode::ACCEPTED);
    let headers = response.headers_mut();
    for (name, url) in [
        ("azure-asyncoperation", format!("{base}/azureAsyncOperation/{id}?api-version={LINK_API_VERSION}")),
        ("location", format!("{base}/operationResults/{id}?api-version={LINK_API_VERSION}")),
        ("retry-after", shared.retry_after_secs.to_string()),
    ] {
        headers.insert(name, HeaderValue::from_str(&url).expect("URLs and numbers are valid header values"));
    }
    retry_after_ms(state, headers);
    response
}

/// With a timing profile, the finer `retry-after-ms` (which clients read before `Retry-After`).
fn retry_after_ms(state: &State, headers: &mut hyper::HeaderMap) {
    if let Some(timing) = &state.timing {
        let ms = timing.retry_after.as_millis().to_string();
        headers.insert("retry-after-ms", HeaderValue::from_str(&ms).expect("a number is a valid header value"));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PollKind {
    /// `Azure-AsyncOperation`: 200 with `{name, status, startTime, …}`.
    AsyncOperation,
    /// `Location`: 202 while running, then the result (200 with the resource, 204 for a restart).
    Location,
}

/// What completing an operation left to do outside the state lock.
enum Completion {
    Done,
    RunRestartHook(BTreeMap<String, String>),
}

pub(super) async fn poll(shared: &Shared, subscription: &str, id: &str, kind: PollKind) -> Answer {
    let completion = {
        let mut state = shared.state();
        let operation =
            state.operations.get_mut(id).filter(|op| op.subscription.eq_ignore_ascii_case(subscription)).ok_or_else(
                || {
                    Refusal::new(
                        StatusCode::NOT_FOUND,
                        "OperationNotFound",
                        format!("The operation '{id}' could not be found."),
                    )
                },
            )?;
        match &mut operation.phase {
            Phase::Running { polls_left } if *polls_left > 0 => {
                *polls_left -= 1;
                Completion::Done
            }
            Phase::Running { .. } => complete(&mut state, id),
            _ => Completion::Done,
        }
    };
    if let Completion::RunRestartHook(settings) = completion {
        finish_restart(shared, id, settings).await;
    }
    let state = shared.state();
    let operation = state.operations.get(id).expect("operations are never removed");
    match kind {
        PollKind::AsyncOperation => {
            let mut response = json_response(StatusCode::OK, &status_body(id, operation));
            if operation.is_active() {
                retry_after_ms(&state, response.headers_mut());
            }
            Ok(response)
        }
        PollKind::Location => {
            let mut response = location_result(shared, &state, id, operation)?;
            if operation.is_active() {
                retry_after_ms(&state, response.headers_mut());
            }
            Ok(response)
        }
    }
}

/// Runs the restart hook of a restart whose completion has started, then ends the operation with the
/// hook's outcome. Outside the state lock: the hook restarts a PostgreSQL stand-in.
async fn finish_restart(shared: &Shared, id: &str, settings: BTreeMap<String, String>) {
    let outcome = match shared.restart_hook() {
        Some(hook) => hook(settings).await,
        None => Ok(()),
    };
    let mut state = shared.state();
    let State { operations, servers, .. } = &mut *state;
    if let Some(operation) = operations.get_mut(id) {
        operation.phase = match outcome {
            Ok(()) => Phase::Succeeded,
            Err(error) => Phase::Failed {
                code: "InternalServerError".into(),
                message: format!("The server could not be restarted: {error:#}"),
            },
        };
        operation.end_time = Some(now_rfc3339());
        if let Some(server) = servers.get_mut(&operation.server) {
            server.state = "Ready".into();
        }
    }
}

/// Completes every running operation whose time is up, as ARM would have by now whether or not its client
/// is still polling (it may have been killed). Restart hooks run outside the lock, one after another.
pub(super) async fn finish_due_operations(shared: &Shared) {
    let restarts: Vec<(String, BTreeMap<String, String>)> = {
        let mut state = shared.state();
        let now = Instant::now();
        let due: Vec<String> = state
            .operations
            .iter()
            .filter(|(_, op)| matches!(op.phase, Phase::Running { .. }) && op.due.is_some_and(|due| due <= now))
            .map(|(id, _)| id.clone())
            .collect();
        due.into_iter()
            .filter_map(|id| match complete(&mut state, &id) {
                Completion::RunRestartHook(settings) => Some((id, settings)),
                Completion::Done => None,
            })
            .collect()
    };
    for (id, settings) in restarts {
        finish_restart(shared, &id, settings).await;
    }
}

/// Applies a finished operation's change (or its planned failure) to the server.
fn complete(state: &mut State, id: &str) -> Completion {
    let State { operations, servers, .. } = state;
    let operation = operations.get_mut(id).expect("the caller found the operation");
    let Some(server) = servers.get_mut(&operation.server) else {
        operation.phase =
            Phase::Failed { code: "ResourceNotFound".into(), message: "The server no longer exists.".into() };
        return Completion::Done;
    };
    operation.end_time = Some(now_rfc3339());
    if let Some((code, message)) = operation.planned_failure.take() {
        operation.phase = Phase::Failed { code, message };
        if matches!(operation.change, Change::CreateReplica) {
            // A creation that failed leaves no server behind.
            servers.remove(&operation.server);
            return Completion::Done;
        }
        server.state = "Ready".into();
        server.ha_state = operation.ha_state_before.clone();
        return Completion::Done;
    }
    match &operation.change {
        Change::Delete => {
            servers.remove(&operation.server);
            operation.phase = Phase::Succeeded;
            return Completion::Done;
        }
        Change::CreateReplica => {}
        Change::Configuration { name, value } => {
            if let Some(setting) = server.setting_mut(name) {
                setting.value = value.clone();
                setting.source = "user-override".into();
                if setting.parameter.is_dynamic_config {
                    setting.running = value.clone();
                }
            }
        }
        Change::Server(change) => apply_server_change(server, change),
        Change::Restart { with_failover } => {
            for setting in &mut server.settings {
                setting.running = setting.value.clone();
            }
            if *with_failover {
                // The standby becomes the primary: the zones swap.
                std::mem::swap(&mut server.availability_zone, &mut server.ha_standby_zone);
                server.ha_state = "Healthy".into();
            }
            operation.phase = Phase::Finishing;
            operation.end_time = None;
            return Completion::RunRestartHook(server.static_settings());
        }
    }
    operation.phase = Phase::Succeeded;
    server.state = "Ready".into();
    Completion::Done
}

fn apply_server_change(server: &mut Server, change: &ServerChange) {
    if let Some((name, tier)) = &change.sku {
        server.sku_name = name.clone();
        server.sku_tier = tier.clone();
    }
    if let Some(size) = change.storage_size_gb {
        let (_, tier, iops) = STORAGE_SIZES.iter().find(|(gb, _, _)| *gb == size).expect("validated when accepted");
        server.storage_size_gb = size;
        server.storage_tier = (*tier).into();
        server.storage_iops = *iops;
    }
    if let Some(tier) = &change.storage_tier {
        server.storage_tier = tier.clone();
    }
    if let Some(auto_grow) = &change.storage_auto_grow {
        server.storage_auto_grow = auto_grow.clone();
    }
    if let Some((mode, zone)) = &change.high_availability {
        server.ha_mode = mode.clone();
        server.ha_standby_zone = zone.clone();
        server.ha_state = if mode == "Disabled" { "NotEnabled" } else { "Healthy" }.into();
    }
    if let Some(days) = change.backup_retention_days {
        server.backup_retention_days = days;
    }
    if let Some(access) = &change.public_network_access {
        server.public_network_access = access.clone();
    }
    if let Some(tags) = &change.tags {
        server.tags = tags.clone();
    }
    if change.promote.is_some() {
        server.source_server_resource_id = None;
    }
}

fn status_body(id: &str, operation: &Operation) -> Value {
    let status = match &operation.phase {
        Phase::Running { .. } | Phase::Finishing => "InProgress",
        Phase::Succeeded => "Succeeded",
        Phase::Failed { .. } => "Failed",
    };
    let mut body = json!({ "name": id, "status": status, "startTime": operation.start_time });
    if let Some(end) = &operation.end_time {
        body["endTime"] = json!(end);
    }
    if let Phase::Failed { code, message } = &operation.phase {
        body["error"] = json!({ "code": code, "message": message });
    }
    body
}

fn location_result(shared: &Shared, state: &State, id: &str, operation: &Operation) -> Answer {
    match &operation.phase {
        Phase::Running { .. } | Phase::Finishing => {
            let server = state.servers.get(&operation.server);
            let location = server.map_or("eastus", |s| s.location.as_str());
            let url = format!(
                "{}/subscriptions/{}/providers/{PROVIDER}/locations/{location}/operationResults/{id}?api-version={LINK_API_VERSION}",
                shared.endpoint, operation.subscription
            );
            let mut response = empty_response(StatusCode::ACCEPTED);
            let headers = response.headers_mut();
            headers.insert(header::LOCATION, HeaderValue::from_str(&url).expect("a URL is a valid header value"));
            headers.insert(header::RETRY_AFTER, HeaderValue::from(shared.retry_after_secs));
            Ok(response)
        }
        Phase::Failed { code, message } => Err(Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, code, message.clone())),
        Phase::Succeeded => {
            let Some(server) = state.servers.get(&operation.server) else {
                return Ok(empty_response(StatusCode::NO_CONTENT));
            };
            match &operation.change {
                Change::Restart { .. } | Change::Delete => Ok(empty_response(StatusCode::NO_CONTENT)),
                Change::Server(_) | Change::CreateReplica => Ok(json_response(StatusCode::OK, &server.render())),
                Change::Configuration { name, .. } => match server.setting(name) {
                    Some(setting) => Ok(json_response(StatusCode::OK, &server.render_setting(setting))),
                    None => Ok(empty_response(StatusCode::NO_CONTENT)),
                },
            }
        }
    }
}
