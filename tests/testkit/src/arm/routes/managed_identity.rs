//! The managed identity endpoints, on loopback: IMDS's `GET /metadata/identity/oauth2/token` (a client
//! reaches it through `AZURE_POD_IDENTITY_AUTHORITY_HOST`, never at 169.254.169.254) and App Service's
//! `GET /msi/token` (`IDENTITY_ENDPOINT`, with the `X-IDENTITY-HEADER` secret). Tokens go only to a
//! registered identity: the user-assigned one whose `client_id` is asked for, or the system-assigned one
//! when none is; anything else is refused as IMDS refuses it (400, identity not found).

use super::json::json_response;
use crate::arm::Shared;
use crate::arm::identities::{Grant, issue};
use crate::arm::model::TOKEN_LIFETIME;
use crate::entra_token::Claims;
use axum::body::Body;
use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};
use serde_json::json;

/// Whether `path` is one of the managed identity endpoints.
pub(super) fn serves(path: &str) -> bool {
    path == "/metadata/identity/oauth2/token" || path == "/msi/token"
}

pub(super) fn issue_token(shared: &Shared, path: &str, query: Option<&str>, headers: &HeaderMap) -> Response<Body> {
    let refuse = |status: StatusCode, error: &str, description: &str| {
        json_response(status, &json!({ "error": error, "error_description": description }))
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    if path == "/msi/token" {
        let expected = shared.state().identities.identity_header.clone();
        if expected.is_none() || header("x-identity-header") != expected {
            return refuse(StatusCode::UNAUTHORIZED, "unauthorized", "The X-IDENTITY-HEADER is missing or wrong.");
        }
    } else if !header("metadata").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "Required metadata header not specified");
    }
    let query: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(resource) = param("resource").filter(|r| !r.is_empty()) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "Required query variable 'resource' is missing");
    };
    let client_id = param("client_id");
    let registered = shared.state().identities.managed_identities.clone();
    let Some((_, object_id)) = registered.iter().find(|(id, _)| id.as_deref() == client_id.as_deref()) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "Identity not found");
    };
    // A managed identity's application id is its client id; the system-assigned one gets one per server.
    let app_id = client_id.clone().unwrap_or_else(|| format!("system-{object_id}"));
    let audience = resource.trim_end_matches('/').to_string();
    let claims = Claims::new(&audience, &shared.tenant_id, object_id, &app_id, TOKEN_LIFETIME);
    let expires_on = claims.exp;
    let grant = Grant { kind: "managed_identity", principal: app_id, audience: audience.clone() };
    let token = issue(shared, &audience, claims, grant);
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "expires_on": expires_on.to_string(),
            "expires_in": TOKEN_LIFETIME.as_secs().to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id.unwrap_or_default(),
        }),
    )
}
