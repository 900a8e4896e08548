//! The Entra ID token endpoint (`POST /{tenant}/oauth2/v2.0/token`): the client-credentials flow that
//! hands out signed bearer tokens ([`crate::entra_token`]) for the scope's audience, with a client secret
//! or a client assertion (a certificate's signed JWT or a federated token, checked in `assertion`), and
//! the AAD-shaped errors (`AADSTS…`) it answers with for a wrong tenant, client, secret, assertion, grant
//! type or scope. Checking the tokens on ARM requests is
//! the dispatcher's job (`authenticate` in the parent module).

use super::assertion;
use super::json::json_response;
use crate::arm::Shared;
use crate::arm::identities::{Grant, issue};
use crate::arm::model::TOKEN_LIFETIME;
use crate::entra_token::Claims;
use axum::body::{Body, Bytes};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
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
    let missing = ["grant_type", "client_id", "scope"].into_iter().find(|name| field(name).is_empty());

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
    let kind = if !field("client_assertion").is_empty() {
        if field("client_assertion_type") != JWT_BEARER {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                7000219,
                "'client_assertion_type' must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
            );
        }
        let token_endpoint = format!("{}/{tenant}/oauth2/v2.0/token", shared.endpoint);
        match assertion::verify(shared, field("client_assertion"), &token_endpoint) {
            Ok(kind) => kind,
            Err(refusal) => {
                return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", refusal.code, &refusal.message);
            }
        }
    } else if field("client_secret").is_empty() {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    } else if field("client_secret") != shared.client_secret {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                shared.client_id
            ),
        );
    } else {
        "client_secret"
    };
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
    let grant = Grant { kind, principal: shared.client_id.clone(), audience: audience.trim_end_matches('/').into() };
    let token = issue(shared, audience, claims, grant);
    token_response(&token)
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Entra ID's answer with a token.
pub(super) fn token_response(token: &str) -> Response<Body> {
    let lifetime = TOKEN_LIFETIME.as_secs();
    let mut response = json_response(
        StatusCode::OK,
        &json!({ "token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token }),
    );
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    response
}

/// An Entra ID (AAD) OAuth error: `{"error","error_description","error_codes",…}`.
pub(super) fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response<Body> {
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
