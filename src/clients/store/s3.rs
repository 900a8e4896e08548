//! An S3 bucket, spoken to with SigV4-signed requests over the run's HTTPS client: the credentials,
//! region and endpoint overrides come from the same AWS configuration as the RDS client
//! (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else AWS's regional endpoint). A custom endpoint is
//! addressed path-style (`<endpoint>/<bucket>/<key>`), as emulators and gateways expect; AWS itself
//! virtual-hosted style.
//!
//! A conditional create is a PUT with `If-None-Match: *`, which S3 refuses with 412 when the key exists.

use super::{Created, StoreError, refused, unreachable};
use crate::clients::rds::Rds;
use crate::tls::Trust;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::service_config::ServiceConfigKey;
use reqwest::{Method, StatusCode};
use std::time::{Duration, SystemTime};

/// One bucket.
#[derive(Debug)]
pub struct Bucket {
    http: reqwest::Client,
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
    region: String,
    bucket: String,
    /// `https://host[:port]/bucket` or `https://bucket.s3.region.amazonaws.com`, no trailing slash.
    base: String,
}

impl Bucket {
    /// The bucket `bucket` in `region`, with the AWS configuration of `rds`. Sends nothing.
    pub fn connect(rds: &Rds, bucket: &str, region: &str, trust: &Trust) -> Result<Self, StoreError> {
        let setup = |detail: String| StoreError {
            operation: "connect",
            location: format!("s3://{bucket}"),
            status: None,
            code: None,
            detail,
        };
        let sdk = rds.sdk_config();
        let credentials =
            sdk.credentials_provider().ok_or_else(|| setup("no AWS credentials are configured".into()))?;
        let key = ServiceConfigKey::builder()
            .service_id("S3")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("every field is set");
        let custom = sdk
            .service_config()
            .and_then(|config| config.load_config(key))
            .or_else(|| sdk.endpoint_url().map(str::to_string));
        let base = match custom {
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        let http = trust
            .http_client_builder()
            .map_err(|e| setup(e.message))?
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| setup(format!("cannot build the HTTPS client: {e}")))?;
        Ok(Self { http, credentials, region: region.to_string(), bucket: bucket.to_string(), base })
    }

    /// `s3://bucket/key`, for messages.
    pub fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The object's bytes; `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let response = self.send(Method::GET, key, &[], Vec::new(), "GET").await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => {
                let bytes = response.bytes().await.map_err(|e| unreachable("GET", &self.location(key), &e))?;
                Ok(Some(bytes.to_vec()))
            }
            _ => Err(refused("GET", &self.location(key), response).await),
        }
    }

    /// Writes the object, replacing what is there.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let response = self.send(Method::PUT, key, &[], bytes, "PUT").await?;
        if response.status().is_success() { Ok(()) } else { Err(refused("PUT", &self.location(key), response).await) }
    }

    /// Writes the object only if there is none (`If-None-Match: *`).
    pub async fn create(&self, key: &str, bytes: Vec<u8>) -> Result<Created, StoreError> {
        let response = self.send(Method::PUT, key, &[("if-none-match", "*")], bytes, "conditional PUT").await?;
        match response.status() {
            // 409: a concurrent conditional write to the same key is still in flight.
            StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => Ok(Created::Exists),
            status if status.is_success() => Ok(Created::Created),
            _ => Err(refused("conditional PUT", &self.location(key), response).await),
        }
    }

    /// Deletes the object (nothing there is no error).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let response = self.send(Method::DELETE, key, &[], Vec::new(), "DELETE").await?;
        match response.status() {
            status if status.is_success() || status == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(refused("DELETE", &self.location(key), response).await),
        }
    }

    async fn send(
        &self,
        method: Method,
        key: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        operation: &'static str,
    ) -> Result<reqwest::Response, StoreError> {
        let location = self.location(key);
        let failed =
            |detail: String| StoreError { operation, location: location.clone(), status: None, code: None, detail };
        let credentials =
            self.credentials.provide_credentials().await.map_err(|e| failed(format!("no AWS credentials: {e}")))?;
        let identity: Identity = credentials.into();
        let url = format!("{}/{}", self.base, encode_key(key));
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| failed(format!("cannot sign the request: {e}")))?;
        let signable =
            SignableRequest::new(method.as_str(), url.as_str(), headers.iter().copied(), SignableBody::Bytes(&body))
                .map_err(|e| failed(format!("cannot sign the request: {e}")))?;
        let (instructions, _) =
            sign(signable, &params.into()).map_err(|e| failed(format!("cannot sign the request: {e}")))?.into_parts();
        let mut request = self.http.request(method, &url).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        request.send().await.map_err(|e| unreachable(operation, &location, &e))
    }
}

/// A key as a URL path: each segment percent-encoded, the slashes kept.
fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|byte| match byte {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
                    _ => format!("%{byte:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_encoded_by_segment() {
        assert_eq!(super::encode_key("team a/orders/state.json"), "team%20a/orders/state.json");
    }
}
