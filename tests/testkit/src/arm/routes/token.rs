//! The Entra ID token endpoint (`POST /{tenant}/oauth2/v2.0/token`): the client-credentials flow that
//! hands out signed bearer tokens ([`crate::entra_token`]) for the scope's audience, and the AAD-shaped errors (`AADSTS…`) it answers
//! with for a wrong tenant, client, secret, grant type or scope. Checking the tokens on ARM requests is
//! the dispatcher's job (`authenticate` in the parent module).

use super::json::json_response;
use crate::arm::Shared;
use crate::arm::model::{IssuedToken, TOKEN_LIFETIME};
use crate::entra_token::Claims;
use axum::body::{Body, Bytes};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use time::OffsetDateTime;
use time::macros::format_description;

pub(super) fn issue_token(shared: &Shared, tenant: &str, headers: &HeaderMap, body: &Bytes) -> Response<Body> {
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
    let claims = Claims::new(audience, &shared.tenant_id, &shared.object_id, &shared.client_id, TOKEN_LIFETIME);
    let token = shared.token_key.sign(&claims);
    shared.state().tokens.insert(
        token.clone(),
        IssuedToken { issued: Instant::now(), audience: audience.trim_end_matches('/').to_owned() },
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
    let timestamp = aad_timestamp();
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

/// Now the way Entra ID writes the time in its errors: UTC to the second, `2025-01-31 23:59:59Z`.
fn aad_timestamp() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z"))
        .expect("a UTC date-time has every component the format names")
}

#[cfg(test)]
mod tests {
    #[test]
    fn aad_timestamps_are_utc_to_the_second() {
        let shape = regex_lite::Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$").unwrap();
        let timestamp = super::aad_timestamp();
        assert!(shape.is_match(&timestamp), "{timestamp}");
    }
}
