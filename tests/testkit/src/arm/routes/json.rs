//! The small JSON helpers every answer uses: a JSON or empty response, and reading a request body as a JSON
//! object with optional nested objects and strings, refusing anything else as ARM's `InvalidRequestContent`.

use super::Refusal;
use axum::body::{Body, Bytes};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Map, Value};

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

pub(super) fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// The request body as a JSON object, or ARM's `InvalidRequestContent`.
pub(super) fn json_object(body: &Bytes) -> Result<Map<String, Value>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::invalid_content("the request body is required"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Refusal::invalid_content("the request body must be a JSON object")),
        Err(error) => Err(Refusal::invalid_content(error)),
    }
}

pub(super) fn optional_object<'v>(
    object: &'v Map<String, Value>,
    key: &str,
) -> Result<Option<&'v Map<String, Value>>, Refusal> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(Refusal::invalid_content(format!("'{key}' must be an object"))),
    }
}

pub(super) fn optional_string<'v>(
    object: &'v Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<&'v str>, Refusal> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal::invalid_content(format!("'{path}' must be a string"))),
    }
}
