//! How the fake ARM answers a request: the Entra ID token endpoint, then, for ARM paths, injected faults,
//! the bearer token, the route, the api-version, the subscription, and finally the operation itself.
//!
//! Routing is by path segments, case-insensitive for the fixed words and ignoring empty segments, because
//! ARM accepts `resourcegroups` as well as `resourceGroups` and hands out `nextLink`s with a `//` in them.
//! Error codes and messages are the ones ARM and Entra ID send where they were seen in public reports
//! (`ServerBusy`, `ConfigurationNotExists`, `InvalidParameterValue`, `AADSTS7000215`, …); where no real
//! example was found the code follows ARM's naming (`ReadOnlyParameter`).

use super::catalog;
use super::model::{
    Change, LOCATIONS, Operation, PROVIDER, Phase, RecordedRequest, SERVER_TYPE, STORAGE_SIZES, Server, ServerChange,
    ServerKey, State, TOKEN_LIFETIME, capabilities, now_rfc3339, server_key, skus,
};
use super::{API_VERSION, LINK_API_VERSION, Shared};
use axum::body::{Body, Bytes};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const MAX_BODY_BYTES: usize = 1 << 20;
const HA_MODES: [&str; 3] = ["Disabled", "ZoneRedundant", "SameZone"];
const ZONES: [&str; 3] = ["1", "2", "3"];
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
    let latency = shared.state().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let mut response = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(body) => answer(&shared, &parts.method, &path, query.as_deref(), &parts.headers, &body)
            .await
            .unwrap_or_else(Refusal::into_response),
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
    });
    response
}

async fn answer(
    shared: &Shared,
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
            | Self::ServerCapabilities(at) => at.subscription,
        }
    }
}

struct Query {
    api_version: Option<String>,
    skip_token: Option<String>,
}

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let mut query = Self { api_version: None, skip_token: None };
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if key.eq_ignore_ascii_case("api-version") && query.api_version.is_none() {
                query.api_version = Some(value.into_owned());
            } else if key.eq_ignore_ascii_case("$skiptoken") {
                query.skip_token = Some(value.into_owned());
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

/// Flexible server names: 3–63 letters, digits and single inner hyphens (the spec's `serverName` pattern).
pub(crate) fn valid_server_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.split('-').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

// ---------------------------------------------------------------------------------------------------
// Entra ID, authentication and injected faults

fn issue_token(shared: &Shared, tenant: &str, headers: &HeaderMap, body: &Bytes) -> Response<Body> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let form: BTreeMap<String, String> =
        if is_form { form_urlencoded::parse(body).into_owned().collect() } else { BTreeMap::new() };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let missing = ["grant_type", "client_id", "client_secret", "scope"].into_iter().find(|name| field(name).is_empty());

    if !tenant.eq_ignore_ascii_case(&shared.tenant_id) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if let Some(name) = missing {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
        );
    }
    if field("grant_type") != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{}'.", field("grant_type")),
        );
    }
    if field("client_id") != shared.client_id {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                field("client_id")
            ),
        );
    }
    if field("client_secret") != shared.client_secret {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                shared.client_id
            ),
        );
    }
    let scope = field("scope");
    let Some(audience) = scope.strip_suffix(".default") else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    };
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    shared.state().tokens.insert(
        token.clone(),
        super::model::IssuedToken { issued: Instant::now(), audience: audience.trim_end_matches('/').to_owned() },
    );
    let lifetime = TOKEN_LIFETIME.as_secs();
    let mut response = json_response(
        StatusCode::OK,
        &json!({ "token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token }),
    );
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    response
}

/// An Entra ID (AAD) OAuth error: `{"error","error_description","error_codes",…}`.
fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response<Body> {
    let trace_id = uuid::Uuid::new_v4();
    let correlation_id = uuid::Uuid::new_v4();
    let now = now_rfc3339();
    let timestamp = format!("{} {}Z", &now[..10], &now[11..19]);
    json_response(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id.to_string(),
            "correlation_id": correlation_id.to_string(),
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
        }),
    )
}

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
/// operation (see [`refuse_if_busy`]), counted down per write.
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

// ---------------------------------------------------------------------------------------------------
// Servers, replicas, capabilities

fn find_server<'s>(state: &'s State, at: ServerPath) -> Result<&'s Server, Refusal> {
    state.servers.get(&at.key()).ok_or_else(|| not_found(state, at))
}

fn find_server_mut<'s>(state: &'s mut State, at: ServerPath) -> Result<&'s mut Server, Refusal> {
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

fn get_server(shared: &Shared, at: ServerPath) -> Answer {
    let state = shared.state();
    Ok(json_response(StatusCode::OK, &find_server(&state, at)?.render()))
}

fn list_servers(shared: &Shared, subscription: &str, resource_group: &str) -> Answer {
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

fn list_replicas(shared: &Shared, at: ServerPath) -> Answer {
    let state = shared.state();
    let primary = find_server(&state, at)?;
    let replicas: Vec<Value> = state.replicas_of(&primary.id()).into_iter().map(Server::render).collect();
    Ok(json_response(StatusCode::OK, &json!({ "value": replicas })))
}

fn location_capabilities(shared: &Shared, location: &str) -> Answer {
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

fn update_server(shared: &Shared, at: ServerPath, body: &Bytes) -> Answer {
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

fn restart(shared: &Shared, at: ServerPath, body: &Bytes) -> Answer {
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

fn refuse_if_busy(state: &State, at: ServerPath) -> Result<(), Refusal> {
    if state.server_busy(&at.key()) {
        let name = state.servers.get(&at.key()).map_or(at.server, |s| s.name.as_str());
        return Err(server_busy(name));
    }
    Ok(())
}

fn server_busy(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::CONFLICT,
        "ServerBusy",
        format!("Server '{name}' is busy with another operation. Please try again later."),
    )
}

/// `Servers_Delete`: 202 and an operation that removes the server; 204 when there is no such server (in a
/// resource group that exists), as the spec says. Deleting a primary that still has read replicas is not
/// modelled (what Azure does to the replicas then was not verified), so it is refused rather than guessed.
fn delete_server(shared: &Shared, at: ServerPath) -> Answer {
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
fn create_server(shared: &Shared, at: ServerPath, body: &Bytes) -> Answer {
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
    };
    state.servers.insert(at.key(), replica);
    Ok(start_operation(shared, &mut state, at, Change::CreateReplica, "NotEnabled".into()))
}

// ---------------------------------------------------------------------------------------------------
// Configurations

fn list_configurations(shared: &Shared, at: ServerPath, query: &Query) -> Answer {
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

fn get_configuration(shared: &Shared, at: ServerPath, name: &str) -> Answer {
    let state = shared.state();
    let server = find_server(&state, at)?;
    let setting = server.setting(name).ok_or_else(|| configuration_not_found(server, name))?;
    Ok(json_response(StatusCode::OK, &server.render_setting(setting)))
}

fn update_configuration(shared: &Shared, at: ServerPath, name: &str, body: &Bytes) -> Answer {
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

// ---------------------------------------------------------------------------------------------------
// Long-running operations

/// Registers an operation and answers 202 with the URLs to poll.
fn start_operation(
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
    let operation = Operation {
        subscription: server.subscription.clone(),
        server: at.key(),
        change,
        phase: Phase::Running { polls_left: state.polls_until_done },
        start_time: now_rfc3339(),
        end_time: None,
        planned_failure: state.fail_next_operation.take(),
        ha_state_before,
        due: state.operation_duration.map(|duration| Instant::now() + duration),
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
    response
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PollKind {
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

async fn poll(shared: &Shared, subscription: &str, id: &str, kind: PollKind) -> Answer {
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
        PollKind::AsyncOperation => Ok(json_response(StatusCode::OK, &status_body(id, operation))),
        PollKind::Location => location_result(shared, &state, id, operation),
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
async fn finish_due_operations(shared: &Shared) {
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

// ---------------------------------------------------------------------------------------------------
// Bodies

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// The request body as a JSON object, or ARM's `InvalidRequestContent`.
fn json_object(body: &Bytes) -> Result<Map<String, Value>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::invalid_content("the request body is required"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Refusal::invalid_content("the request body must be a JSON object")),
        Err(error) => Err(Refusal::invalid_content(error)),
    }
}

fn optional_object<'v>(object: &'v Map<String, Value>, key: &str) -> Result<Option<&'v Map<String, Value>>, Refusal> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(Refusal::invalid_content(format!("'{key}' must be an object"))),
    }
}

fn optional_string<'v>(object: &'v Map<String, Value>, path: &str, key: &str) -> Result<Option<&'v str>, Refusal> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal::invalid_content(format!("'{path}' must be a string"))),
    }
}
