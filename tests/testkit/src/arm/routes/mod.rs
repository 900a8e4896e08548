//! How the fake ARM answers a request: the Entra ID token endpoint, then, for ARM paths, injected faults,
//! the bearer token, the route, the api-version, the subscription, and finally the operation itself.
//! This module owns that order: the dispatch, route and query parsing, the checks every ARM request goes
//! through (bearer token, api-version, subscription, injected faults) and the [`Refusal`] they answer with.
//! The operations live in the submodules: `token` (Entra ID), `servers`, `configurations`, `operations`
//! (long-running operations and their polling) and `json` (the small body helpers they share).
//!
//! Routing is by path segments, case-insensitive for the fixed words and ignoring empty segments, because
//! ARM accepts `resourcegroups` as well as `resourceGroups` and hands out `nextLink`s with a `//` in them.
//! Error codes and messages are the ones ARM and Entra ID send where they were seen in public reports
//! (`ServerBusy`, `ConfigurationNotExists`, `InvalidParameterValue`, `AADSTS7000215`, …); where no real
//! example was found the code follows ARM's naming (`ReadOnlyParameter`).

mod assertion;
mod configurations;
mod json;
mod managed_identity;
mod migrations;
mod operations;
mod servers;
mod token;

pub(crate) use servers::{resolve_high_availability, valid_server_name};

use super::model::{PROVIDER, RecordedRequest, ServerKey, TOKEN_LIFETIME, capabilities, server_key};
use super::{API_VERSION, LINK_API_VERSION, Shared};
use axum::body::{Body, Bytes};
use configurations::{get_configuration, list_configurations, update_configuration};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use json::json_response;
use operations::{PollKind, finish_due_operations, poll};
use serde_json::json;
use servers::{
    create_server, delete_server, find_server, get_server, list_replicas, list_servers, location_capabilities, restart,
    server_busy, update_server,
};
use std::sync::Arc;
use std::time::Duration;
use token::issue_token;

const MAX_BODY_BYTES: usize = 1 << 20;
const ARM_AUDIENCES: [&str; 2] = ["https://management.azure.com", "https://management.core.windows.net"];

/// An error answer in ARM's shape, `{"error":{"code","message"}}`, plus any extra headers it needs.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    headers: Vec<(HeaderName, String)>,
}

impl Refusal {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into(), headers: Vec::new() }
    }

    fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn invalid_parameter(parameter: &str, detail: impl std::fmt::Display) -> Self {
        Self::bad_request(
            "InvalidParameterValue",
            format!("Invalid value given for parameter {parameter}. Specify a valid parameter value. {detail}"),
        )
    }

    fn invalid_content(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{detail}'."),
        )
    }

    fn with_header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    fn into_response(self) -> Response<Body> {
        let mut response =
            json_response(self.status, &json!({ "error": { "code": self.code, "message": self.message } }));
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

type Answer = Result<Response<Body>, Refusal>;

/// Answers one request and records it in the request log.
pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let latency = {
        let state = shared.state();
        let read = state.read_latency.as_ref().filter(|(part, _)| parts.method == Method::GET && path.contains(part));
        state.latency + read.map_or(Duration::ZERO, |(_, extra)| *extra)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let query = parts.uri.query().map(str::to_owned);
    let mut sent = None;
    let mut response = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(body) => {
            if parts.method == Method::PATCH || parts.method == Method::PUT {
                sent = Some(without_passwords(&String::from_utf8_lossy(&body)));
            }
            answer(&shared, &parts.method, &path, query.as_deref(), &parts.headers, &body)
                .await
                .unwrap_or_else(Refusal::into_response)
        }
        Err(error) => Refusal::invalid_content(error).into_response(),
    };
    for name in ["x-ms-request-id", "x-ms-correlation-request-id"] {
        let id = uuid::Uuid::new_v4().to_string();
        response.headers_mut().insert(name, HeaderValue::from_str(&id).expect("a UUID is a valid header value"));
    }
    shared.state().requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path,
        query,
        status: response.status().as_u16(),
        body: sent,
    });
    response
}

/// A body for the request log, with the passwords of `secretParameters` replaced: the log is test data
/// that assertions print, and a migration's passwords must not reach any output.
fn without_passwords(body: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_string();
    };
    let Some(credentials) =
        value.pointer_mut("/properties/secretParameters/adminCredentials").and_then(|c| c.as_object_mut())
    else {
        return body.to_string();
    };
    for password in credentials.values_mut() {
        *password = json!("***");
    }
    value.to_string()
}

async fn answer(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Answer {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let [tenant, oauth2, version, token] = segments.as_slice()
        && oauth2.eq_ignore_ascii_case("oauth2")
        && version.eq_ignore_ascii_case("v2.0")
        && token.eq_ignore_ascii_case("token")
    {
        return if method == Method::POST {
            Ok(issue_token(shared, tenant, headers, body))
        } else {
            Err(method_not_allowed(method))
        };
    }
    if managed_identity::serves(path) {
        return if method == Method::GET {
            Ok(managed_identity::issue_token(shared, path, query, headers))
        } else {
            Err(method_not_allowed(method))
        };
    }
    injected_fault(shared)?;
    authenticate(shared, headers)?;
    let route = Route::parse(&segments).ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!("The fake ARM does not serve '{path}': it models flexible servers, their configurations, replicas, restart and capabilities."),
        )
    })?;
    let query = Query::parse(query);
    check_api_version(&route, &query)?;
    check_subscription(shared, route.subscription())?;
    // Time has passed since the last request: operations that are due have finished, whoever looks.
    finish_due_operations(shared).await;
    injected_busy(shared, &route, method)?;

    match (route, method) {
        (Route::Server(at), &Method::GET) => get_server(shared, at),
        (Route::Server(at), &Method::PATCH) => update_server(shared, at, body),
        (Route::Server(at), &Method::PUT) => create_server(shared, at, body),
        (Route::Server(at), &Method::DELETE) => delete_server(shared, at),
        (Route::ServersInGroup { subscription, resource_group }, &Method::GET) => {
            list_servers(shared, subscription, resource_group)
        }
        (Route::Configurations(at), &Method::GET) => list_configurations(shared, at, &query),
        (Route::Configuration(at, name), &Method::GET) => get_configuration(shared, at, name),
        (Route::Configuration(at, name), &Method::PATCH | &Method::PUT) => update_configuration(shared, at, name, body),
        (Route::Replicas(at), &Method::GET) => list_replicas(shared, at),
        (Route::Restart(at), &Method::POST) => restart(shared, at, body),
        (Route::ServerCapabilities(at), &Method::GET) => {
            find_server(&shared.state(), at)?;
            Ok(json_response(StatusCode::OK, &capabilities()))
        }
        (Route::LocationCapabilities { location, .. }, &Method::GET) => location_capabilities(shared, location),
        (Route::Migrations(at), &Method::GET) => {
            migrations::list_migrations(shared, at, query.migration_filter.as_deref())
        }
        (Route::Migration(at, name), &Method::PUT) => migrations::create_migration(shared, at, name, body),
        (Route::Migration(at, name), &Method::GET) => migrations::get_migration(shared, at, name),
        (Route::Migration(at, name), &Method::PATCH) => migrations::update_migration(shared, at, name, body),
        (Route::Migration(at, name), &Method::DELETE) => migrations::delete_migration(shared, at, name),
        (Route::MigrationNameCheck(at), &Method::POST) => migrations::check_name(shared, at, body),
        (Route::OperationStatus { subscription, id }, &Method::GET) => {
            poll(shared, subscription, id, PollKind::AsyncOperation).await
        }
        (Route::OperationResult { subscription, id }, &Method::GET) => {
            poll(shared, subscription, id, PollKind::Location).await
        }
        (_, method) => Err(method_not_allowed(method)),
    }
}

// ---------------------------------------------------------------------------------------------------
// Routing

#[derive(Clone, Copy)]
struct ServerPath<'a> {
    subscription: &'a str,
    resource_group: &'a str,
    server: &'a str,
}

impl ServerPath<'_> {
    fn key(&self) -> ServerKey {
        server_key(self.subscription, self.resource_group, self.server)
    }
}

enum Route<'a> {
    LocationCapabilities { subscription: &'a str, location: &'a str },
    OperationStatus { subscription: &'a str, id: &'a str },
    OperationResult { subscription: &'a str, id: &'a str },
    ServersInGroup { subscription: &'a str, resource_group: &'a str },
    Server(ServerPath<'a>),
    Configurations(ServerPath<'a>),
    Configuration(ServerPath<'a>, &'a str),
    Replicas(ServerPath<'a>),
    Restart(ServerPath<'a>),
    ServerCapabilities(ServerPath<'a>),
    Migrations(ServerPath<'a>),
    Migration(ServerPath<'a>, &'a str),
    MigrationNameCheck(ServerPath<'a>),
}

impl<'a> Route<'a> {
    fn parse(segments: &[&'a str]) -> Option<Self> {
        let is = |index: usize, word: &str| segments.get(index).is_some_and(|s| s.eq_ignore_ascii_case(word));
        if !is(0, "subscriptions") || segments.len() < 2 {
            return None;
        }
        let subscription = segments[1];
        if is(2, "providers") && is(3, PROVIDER) && is(4, "locations") {
            return match segments.len() {
                7 if is(6, "capabilities") => Some(Self::LocationCapabilities { subscription, location: segments[5] }),
                8 if is(6, "azureAsyncOperation") => Some(Self::OperationStatus { subscription, id: segments[7] }),
                8 if is(6, "operationResults") => Some(Self::OperationResult { subscription, id: segments[7] }),
                _ => None,
            };
        }
        if !(is(2, "resourceGroups") && is(4, "providers") && is(5, PROVIDER) && is(6, "flexibleServers")) {
            return None;
        }
        let resource_group = segments[3];
        if segments.len() == 7 {
            return Some(Self::ServersInGroup { subscription, resource_group });
        }
        let at = ServerPath { subscription, resource_group, server: segments[7] };
        match segments.len() {
            8 => Some(Self::Server(at)),
            9 if is(8, "configurations") => Some(Self::Configurations(at)),
            9 if is(8, "replicas") => Some(Self::Replicas(at)),
            9 if is(8, "restart") => Some(Self::Restart(at)),
            9 if is(8, "capabilities") => Some(Self::ServerCapabilities(at)),
            9 if is(8, "migrations") => Some(Self::Migrations(at)),
            9 if is(8, "checkMigrationNameAvailability") => Some(Self::MigrationNameCheck(at)),
            10 if is(8, "migrations") => Some(Self::Migration(at, segments[9])),
            10 if is(8, "configurations") => Some(Self::Configuration(at, segments[9])),
            _ => None,
        }
    }

    fn subscription(&self) -> &'a str {
        match self {
            Self::LocationCapabilities { subscription, .. }
            | Self::OperationStatus { subscription, .. }
            | Self::OperationResult { subscription, .. }
            | Self::ServersInGroup { subscription, .. } => subscription,
            Self::Server(at)
            | Self::Configurations(at)
            | Self::Configuration(at, _)
            | Self::Replicas(at)
            | Self::Restart(at)
            | Self::ServerCapabilities(at)
            | Self::Migrations(at)
            | Self::Migration(at, _)
            | Self::MigrationNameCheck(at) => at.subscription,
        }
    }
}

struct Query {
    api_version: Option<String>,
    skip_token: Option<String>,
    migration_filter: Option<String>,
}

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let mut query = Self { api_version: None, skip_token: None, migration_filter: None };
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if key.eq_ignore_ascii_case("api-version") && query.api_version.is_none() {
                query.api_version = Some(value.into_owned());
            } else if key.eq_ignore_ascii_case("$skiptoken") {
                query.skip_token = Some(value.into_owned());
            } else if key == "migrationListFilter" {
                query.migration_filter = Some(value.into_owned());
            }
        }
        query
    }
}

fn check_api_version(route: &Route, query: &Query) -> Result<(), Refusal> {
    let Some(version) = query.api_version.as_deref() else {
        return Err(Refusal::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    if version == API_VERSION {
        return Ok(());
    }
    let link_the_fake_issued = matches!(route, Route::OperationStatus { .. } | Route::OperationResult { .. })
        || (matches!(route, Route::Configurations(_)) && query.skip_token.is_some());
    if version == LINK_API_VERSION && link_the_fake_issued {
        return Ok(());
    }
    if looks_like_api_version(version) {
        // What ARM says for a well-formed version the resource provider doesn't register.
        Err(Refusal::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for API version '{version}' and type 'flexibleServers'. The supported api-versions are '{API_VERSION}'."
            ),
        ))
    } else {
        Err(Refusal::bad_request(
            "InvalidApiVersionParameter",
            format!("The api-version '{version}' is invalid. The supported versions are '{API_VERSION}'."),
        ))
    }
}

/// `yyyy-mm-dd` with an optional `-preview` / `-beta` style suffix.
fn looks_like_api_version(version: &str) -> bool {
    let (date, suffix) = version.split_at(version.len().min(10));
    let digits_at =
        |range: std::ops::Range<usize>| date.get(range).is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()));
    date.len() == 10
        && digits_at(0..4)
        && &date[4..5] == "-"
        && digits_at(5..7)
        && &date[7..8] == "-"
        && digits_at(8..10)
        && (suffix.is_empty() || (suffix.starts_with('-') && suffix[1..].bytes().all(|b| b.is_ascii_alphanumeric())))
}

fn check_subscription(shared: &Shared, subscription: &str) -> Result<(), Refusal> {
    if subscription.len() != 36 || uuid::Uuid::parse_str(subscription).is_err() {
        return Err(Refusal::bad_request(
            "InvalidSubscriptionId",
            format!("The provided subscription identifier '{subscription}' is malformed or invalid."),
        ));
    }
    if !shared.state().knows_subscription(subscription) {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("The subscription '{subscription}' could not be found."),
        ));
    }
    Ok(())
}

fn method_not_allowed(method: &Method) -> Refusal {
    Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("The requested resource does not support http method '{method}'."),
    )
}

// ---------------------------------------------------------------------------------------------------
// Authentication and injected faults

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(), Refusal> {
    let refuse = |code: &str, message: String| {
        let challenge = format!(
            "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"{message}\"",
            shared.endpoint, shared.tenant_id
        );
        Refusal::new(StatusCode::UNAUTHORIZED, code, message).with_header(header::WWW_AUTHENTICATE, challenge)
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(refuse(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".into(),
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("Bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim().to_owned())
        .ok_or_else(|| {
            refuse(
                "AuthenticationFailedInvalidHeader",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.".into(),
            )
        })?;
    let state = shared.state();
    let Some(issued) = state.tokens.get(&token) else {
        return Err(refuse("InvalidAuthenticationToken", "The access token is invalid.".into()));
    };
    if issued.issued.elapsed() > TOKEN_LIFETIME {
        return Err(refuse(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.".into(),
        ));
    }
    if !ARM_AUDIENCES.iter().any(|audience| audience.eq_ignore_ascii_case(&issued.audience)) {
        return Err(refuse(
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.azure.com/'.",
                issued.audience
            ),
        ));
    }
    Ok(())
}

/// A write to a server while a test says the server is busy: ARM's 409 for a server held by another
/// operation (see [`servers::refuse_if_busy`]), counted down per write.
fn injected_busy(shared: &Shared, route: &Route, method: &Method) -> Result<(), Refusal> {
    let is_write = [Method::PATCH, Method::PUT, Method::POST, Method::DELETE].contains(method);
    let server = match route {
        Route::Server(at) | Route::Configuration(at, _) | Route::Restart(at) => at.server,
        _ => return Ok(()),
    };
    let mut state = shared.state();
    if !is_write || state.busy_writes_left == 0 {
        return Ok(());
    }
    state.busy_writes_left -= 1;
    Err(server_busy(server))
}

fn injected_fault(shared: &Shared) -> Result<(), Refusal> {
    let mut state = shared.state();
    if state.throttled_requests_left > 0 {
        state.throttled_requests_left -= 1;
        let seconds = state.throttle_retry_after_secs;
        return Err(Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "SubscriptionRequestsThrottled",
            format!("Number of requests for the subscription exceeded the limit. Please try again after '{seconds}' seconds."),
        )
        .with_header(header::RETRY_AFTER, seconds.to_string()));
    }
    if state.failing_requests_left > 0 {
        state.failing_requests_left -= 1;
        let status = StatusCode::from_u16(state.failing_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = match status {
            StatusCode::BAD_GATEWAY => "BadGateway",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
            StatusCode::GATEWAY_TIMEOUT => "GatewayTimeout",
            _ => "InternalServerError",
        };
        return Err(Refusal::new(
            status,
            code,
            format!(
                "An unexpected error occured while processing the request. Tracking ID: '{}'",
                uuid::Uuid::new_v4()
            ),
        ));
    }
    Ok(())
}
