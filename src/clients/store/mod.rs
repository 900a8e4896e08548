//! Object storage for the shared state backends: an S3 bucket ([`s3`]) or an Azure Blob container
//! ([`blob`]). Each reads, writes and deletes whole objects, creates one only if it is absent, and (Azure)
//! leases a blob. Objects are written in one request each, which both services store atomically: a reader
//! sees the old object or the new one, never a part. No decisions here: what the objects mean is the
//! state layer's business.

pub mod blob;
pub mod s3;

use thiserror::Error;

/// How a conditional create ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The object was absent and now holds the bytes.
    Created,
    /// An object of that name was there already; nothing was written.
    Exists,
}

/// A request the storage service refused or that did not reach it.
#[derive(Clone, Debug, Error)]
#[error("{operation} {location}: {detail}")]
pub struct StoreError {
    /// e.g. `PUT`, `lease`.
    pub operation: &'static str,
    /// `s3://bucket/key` or the blob's URL.
    pub location: String,
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
    /// The service's error code (`AccessDenied`, `LeaseAlreadyPresent`, …), when it sent one.
    pub code: Option<String>,
    pub detail: String,
}

impl StoreError {
    /// What to check, by status.
    pub fn hint(&self) -> &'static str {
        match self.status {
            Some(401 | 403) => "check the credentials and that they may read and write the bucket or container",
            Some(404) => "check that the bucket or container in [state] exists",
            Some(_) => "run the command again; if it fails the same way, check the storage service",
            None => "check the network path to the storage endpoint (and its CA with ca_file)",
        }
    }
}

/// The error code in an S3 or Azure Storage XML error body (`<Code>…</Code>`).
fn xml_code(body: &str) -> Option<String> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(body[start..end].trim().to_string()).filter(|code| !code.is_empty())
}

/// The error a response with a failure status stands for.
async fn refused(operation: &'static str, location: &str, response: reqwest::Response) -> StoreError {
    let status = response.status();
    let code = response.headers().get("x-ms-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = response.text().await.unwrap_or_default();
    let code = code.or_else(|| xml_code(&body));
    StoreError {
        operation,
        location: location.to_string(),
        status: Some(status.as_u16()),
        detail: match &code {
            Some(code) => format!("{} ({code})", status.as_u16()),
            None => status.as_u16().to_string(),
        },
        code,
    }
}

/// The error for a request that got no answer.
fn unreachable(operation: &'static str, location: &str, error: &reqwest::Error) -> StoreError {
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    StoreError { operation, location: location.to_string(), status: None, code: None, detail }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_codes_are_read_from_xml_bodies() {
        let body = "<?xml version=\"1.0\"?><Error><Code>PreconditionFailed</Code><Message>…</Message></Error>";
        assert_eq!(super::xml_code(body).as_deref(), Some("PreconditionFailed"));
        assert_eq!(super::xml_code("no xml"), None);
    }
}
