//! Where the managed identity's requests go. On an Azure VM the instance metadata service (IMDS) answers at
//! `http://169.254.169.254`, the address azure_identity 1.0 hard-codes; App Service and Container Apps
//! name their endpoint in `IDENTITY_ENDPOINT` (with `IDENTITY_HEADER`), which azure_identity reads itself.
//!
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST` moves IMDS elsewhere, as the other Azure SDKs allow (AAD Pod
//! Identity, a sidecar, a local stand-in): this transport rewrites the scheme, host and port of requests
//! for `169.254.169.254` to that base URL and leaves the path and query alone. Other requests pass
//! through untouched.

use std::sync::Arc;

use azure_core::http::{AsyncRawResponse, HttpClient, Request, Url};

use super::super::AzureError;

/// IMDS's fixed address.
const IMDS_HOST: &str = "169.254.169.254";

/// The managed identity's transport: our HTTP client, with IMDS moved where the environment says.
#[derive(Debug)]
pub(super) struct ImdsTransport {
    http: Arc<dyn HttpClient>,
    authority: Option<Url>,
}

impl ImdsTransport {
    /// `authority` is `AZURE_POD_IDENTITY_AUTHORITY_HOST`, checked here.
    pub(super) fn new(http: Arc<dyn HttpClient>, authority: Option<&str>) -> Result<Self, AzureError> {
        let authority = authority.map(parse_authority).transpose()?;
        Ok(Self { http, authority })
    }

    /// Where IMDS is asked, for the identity's name.
    pub(super) fn imds_base(&self) -> String {
        match &self.authority {
            Some(url) => format!("{} (AZURE_POD_IDENTITY_AUTHORITY_HOST)", url.as_str().trim_end_matches('/')),
            None => format!("http://{IMDS_HOST}"),
        }
    }
}

fn parse_authority(raw: &str) -> Result<Url, AzureError> {
    let shown = crate::text::inert(raw, false).into_owned();
    let bad = |problem: &str| AzureError::Configuration {
        message: format!("AZURE_POD_IDENTITY_AUTHORITY_HOST '{shown}' {problem}"),
        hint: "set it to the base URL of the instance metadata endpoint, e.g. http://127.0.0.1:2377, or unset it \
               to use Azure's (http://169.254.169.254)"
            .into(),
    };
    let url = Url::parse(raw.trim()).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("must be an http or https URL with a host"));
    }
    if !url.path().trim_matches('/').is_empty() || url.query().is_some() {
        return Err(bad("must be a base URL without a path or query"));
    }
    Ok(url)
}

/// `url` moved to `authority` when it is IMDS's.
fn redirect(url: &Url, authority: &Url) -> Option<Url> {
    if url.host_str() != Some(IMDS_HOST) {
        return None;
    }
    let mut moved = authority.clone();
    moved.set_path(url.path());
    moved.set_query(url.query());
    Some(moved)
}

#[async_trait::async_trait]
impl HttpClient for ImdsTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        match self.authority.as_ref().and_then(|authority| redirect(request.url(), authority)) {
            Some(url) => {
                let mut moved = request.clone();
                *moved.url_mut() = url;
                self.http.execute_request(&moved).await
            }
            None => self.http.execute_request(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_imds_requests_move_and_keep_their_path_and_query() {
        let authority = parse_authority("https://127.0.0.1:8443/").unwrap();
        let imds = Url::parse(
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2019-08-01&resource=x&client_id=c",
        )
        .unwrap();
        let moved = redirect(&imds, &authority).unwrap();
        assert_eq!(
            moved.as_str(),
            "https://127.0.0.1:8443/metadata/identity/oauth2/token?api-version=2019-08-01&resource=x&client_id=c"
        );
        let app_service = Url::parse("http://127.0.0.1:41000/msi/token?api-version=2019-08-01").unwrap();
        assert_eq!(redirect(&app_service, &authority), None);
    }

    #[test]
    fn a_bad_override_is_named() {
        for raw in ["not a url", "ftp://host", "http://host/some/path"] {
            let error = parse_authority(raw).unwrap_err();
            assert!(error.to_string().starts_with("AZURE_POD_IDENTITY_AUTHORITY_HOST"), "{error}");
            assert!(error.hint().is_some());
        }
        assert!(parse_authority("http://10.0.0.4:2579").is_ok());
    }
}
