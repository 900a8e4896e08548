//! An Azure Blob Storage container, spoken to over REST (service version 2021-12-02). Requests are
//! authorized with a Microsoft Entra token from the ARM client's credential (scope
//! `https://storage.azure.com/.default`), or, when the caller passes an account key (`AZURE_STORAGE_KEY`,
//! as the az CLI reads it; Azurite's well-known key for the local stand-in), with a Shared Key signature:
//! the key itself never leaves the machine.
//!
//! Blobs are written whole with one Put Blob each (atomic); a conditional create is a Put Blob with
//! `If-None-Match: *`; a lease is infinite and acquired, used and broken by id.

use super::{Created, StoreError, refused, unreachable};
use crate::clients::arm::Arm;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode, Url};
use std::sync::Arc;
use std::time::Duration;

/// The REST API version every request names.
const VERSION: &str = "2021-12-02";

/// How requests are authorized.
#[derive(Clone)]
pub enum Auth {
    /// Entra tokens from the ARM client's credential chain.
    Entra(Arc<Arm>),
    /// A storage account key (base64, as the portal shows it): Shared Key signatures.
    SharedKey { account: String, key: crate::secret::Secret },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Entra(_) => f.write_str("Entra"),
            Auth::SharedKey { account, .. } => write!(f, "SharedKey({account})"),
        }
    }
}

/// One container.
#[derive(Debug)]
pub struct Container {
    http: reqwest::Client,
    auth: Auth,
    /// `https://account.blob.core.windows.net/container`, no trailing slash.
    base: Url,
}

/// The state of a blob's lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// No blob of that name.
    Missing,
    /// There, and nobody holds a lease on it.
    Free,
    /// There, and leased.
    Held,
}

impl Container {
    /// The container at `endpoint` (the account's blob endpoint, e.g. `https://acct.blob.core.windows.net`).
    /// Sends nothing.
    pub fn connect(http: reqwest::Client, endpoint: &str, container: &str, auth: Auth) -> Result<Self, StoreError> {
        let base = Url::parse(&format!("{}/{container}", endpoint.trim_end_matches('/'))).map_err(|e| StoreError {
            operation: "connect",
            location: endpoint.to_string(),
            status: None,
            code: None,
            detail: format!("not a URL: {e}"),
        })?;
        Ok(Self { http, auth, base })
    }

    /// The blob's URL, for messages.
    pub fn location(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// The blob's bytes; `None` when there is none.
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let response = self.send(Method::GET, name, None, &[], Vec::new(), "GET").await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => {
                let bytes = response.bytes().await.map_err(|e| unreachable("GET", &self.location(name), &e))?;
                Ok(Some(bytes.to_vec()))
            }
            _ => Err(refused("GET", &self.location(name), response).await),
        }
    }

    /// Writes the blob, replacing what is there; `lease` must be the blob's lease id when it is leased.
    pub async fn put(&self, name: &str, bytes: Vec<u8>, lease: Option<&str>) -> Result<(), StoreError> {
        let mut headers = vec![("x-ms-blob-type", "BlockBlob")];
        headers.extend(lease.map(|id| ("x-ms-lease-id", id)));
        let response = self.send(Method::PUT, name, None, &headers, bytes, "PUT").await?;
        if response.status().is_success() { Ok(()) } else { Err(refused("PUT", &self.location(name), response).await) }
    }

    /// Writes the blob only if there is none.
    pub async fn create(&self, name: &str, bytes: Vec<u8>) -> Result<Created, StoreError> {
        let headers = [("x-ms-blob-type", "BlockBlob"), ("if-none-match", "*")];
        let response = self.send(Method::PUT, name, None, &headers, bytes, "conditional PUT").await?;
        match response.status() {
            StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => Ok(Created::Exists),
            status if status.is_success() => Ok(Created::Created),
            _ => Err(refused("conditional PUT", &self.location(name), response).await),
        }
    }

    /// Deletes the blob (nothing there is no error); `lease` must be its lease id when it is leased.
    pub async fn delete(&self, name: &str, lease: Option<&str>) -> Result<(), StoreError> {
        let headers: Vec<(&str, &str)> = lease.map(|id| ("x-ms-lease-id", id)).into_iter().collect();
        let response = self.send(Method::DELETE, name, None, &headers, Vec::new(), "DELETE").await?;
        match response.status() {
            status if status.is_success() || status == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(refused("DELETE", &self.location(name), response).await),
        }
    }

    /// Takes an infinite lease on the blob; `None` when someone holds one already.
    pub async fn acquire_lease(&self, name: &str) -> Result<Option<String>, StoreError> {
        let headers = [("x-ms-lease-action", "acquire"), ("x-ms-lease-duration", "-1")];
        let response = self.send(Method::PUT, name, Some("lease"), &headers, Vec::new(), "lease").await?;
        match response.status() {
            StatusCode::CONFLICT => Ok(None),
            status if status.is_success() => {
                let id = response.headers().get("x-ms-lease-id").and_then(|v| v.to_str().ok()).map(str::to_string);
                match id {
                    Some(id) => Ok(Some(id)),
                    None => Err(StoreError {
                        operation: "lease",
                        location: self.location(name),
                        status: Some(status.as_u16()),
                        code: None,
                        detail: "the answer carries no lease id".into(),
                    }),
                }
            }
            _ => Err(refused("lease", &self.location(name), response).await),
        }
    }

    /// Breaks the blob's lease at once, whoever holds it.
    pub async fn break_lease(&self, name: &str) -> Result<(), StoreError> {
        let headers = [("x-ms-lease-action", "break"), ("x-ms-lease-break-period", "0")];
        let response = self.send(Method::PUT, name, Some("lease"), &headers, Vec::new(), "break lease").await?;
        match response.status() {
            status if status.is_success() || status == StatusCode::NOT_FOUND => Ok(()),
            // No lease to break.
            StatusCode::CONFLICT => Ok(()),
            _ => Err(refused("break lease", &self.location(name), response).await),
        }
    }

    /// Whether the blob is there and leased.
    pub async fn lease(&self, name: &str) -> Result<Lease, StoreError> {
        let response = self.send(Method::HEAD, name, None, &[], Vec::new(), "HEAD").await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(Lease::Missing),
            status if status.is_success() => {
                let state = response.headers().get("x-ms-lease-state").and_then(|v| v.to_str().ok()).unwrap_or("");
                Ok(if state == "leased" { Lease::Held } else { Lease::Free })
            }
            _ => Err(refused("HEAD", &self.location(name), response).await),
        }
    }

    async fn send(
        &self,
        method: Method,
        name: &str,
        comp: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        operation: &'static str,
    ) -> Result<reqwest::Response, StoreError> {
        let location = self.location(name);
        let failed =
            |detail: String| StoreError { operation, location: location.clone(), status: None, code: None, detail };
        let mut url = self.base.clone();
        url.path_segments_mut().map_err(|()| failed("the endpoint cannot take a path".into()))?.extend(name.split('/'));
        if let Some(comp) = comp {
            url.query_pairs_mut().append_pair("comp", comp);
        }
        let date = httpdate(time::OffsetDateTime::now_utc());
        let mut all: Vec<(String, String)> =
            headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_string())).collect();
        all.push(("x-ms-date".into(), date));
        all.push(("x-ms-version".into(), VERSION.into()));
        let authorization = match &self.auth {
            Auth::Entra(arm) => {
                let token = arm.storage_token().await.map_err(|e| failed(e.to_string()))?;
                format!("Bearer {}", token.expose())
            }
            Auth::SharedKey { account, key } => {
                let key =
                    STANDARD.decode(key.expose().trim()).map_err(|_| failed("the account key is not base64".into()))?;
                let signed = string_to_sign(method.as_str(), &url, account, &all, body.len());
                format!("SharedKey {account}:{}", STANDARD.encode(hmac_sha256(&key, signed.as_bytes())))
            }
        };
        // Every PUT names its length, 0 included, as the service requires (an empty body alone sends none).
        let length = body.len().to_string();
        let mut request = self.http.request(method.clone(), url).header("authorization", authorization);
        if method == Method::PUT {
            request = request.header("content-length", length);
        }
        let mut request = request.body(body);
        for (name, value) in &all {
            request = request.header(name.as_str(), value.as_str());
        }
        request.timeout(Duration::from_secs(60)).send().await.map_err(|e| unreachable(operation, &location, &e))
    }
}

/// HMAC-SHA256, as SigV4 computes it (the same primitive Shared Key signs with).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hex::decode(aws_sigv4::sign::v4::calculate_signature(key, message)).expect("the signature is hex")
}

/// The Shared Key string to sign (Blob service, version 2015-02-21 and later): the standard headers
/// migprep sends (only `If-None-Match` and the length), the `x-ms-*` headers sorted, and the resource.
fn string_to_sign(method: &str, url: &Url, account: &str, headers: &[(String, String)], length: usize) -> String {
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or("");
    let length = if length == 0 { String::new() } else { length.to_string() };
    let mut canonical: Vec<&(String, String)> = headers.iter().filter(|(name, _)| name.starts_with("x-ms-")).collect();
    canonical.sort();
    let canonical: String = canonical.iter().map(|(name, value)| format!("{name}:{}\n", value.trim())).collect();
    let mut resource = format!("/{account}{}", url.path());
    let mut query: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.to_lowercase(), v.into_owned())).collect();
    query.sort();
    for (name, value) in query {
        resource.push_str(&format!("\n{name}:{value}"));
    }
    format!("{method}\n\n\n{length}\n\n\n\n\n\n{}\n\n\n{canonical}{resource}", header("if-none-match"))
}

/// An instant as HTTP dates are written: `Tue, 01 Dec 2026 14:00:00 GMT`.
fn httpdate(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.format(&format).expect("a UTC instant always formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_to_sign_has_every_line_and_the_resource() {
        let url = Url::parse("http://127.0.0.1:10000/devstoreaccount1/state/orders/lock.json?comp=lease").unwrap();
        let headers = vec![
            ("x-ms-version".to_string(), VERSION.to_string()),
            ("x-ms-date".to_string(), "Tue, 01 Dec 2026 14:00:00 GMT".to_string()),
            ("if-none-match".to_string(), "*".to_string()),
        ];
        let signed = string_to_sign("PUT", &url, "devstoreaccount1", &headers, 3);
        assert_eq!(
            signed,
            "PUT\n\n\n3\n\n\n\n\n\n*\n\n\nx-ms-date:Tue, 01 Dec 2026 14:00:00 GMT\nx-ms-version:2021-12-02\n\
             /devstoreaccount1/devstoreaccount1/state/orders/lock.json\ncomp:lease"
        );
        assert_eq!(httpdate(time::macros::datetime!(2026-12-01 14:00 UTC)), "Tue, 01 Dec 2026 14:00:00 GMT");
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
