//! Opening a spec's state where `[state]` says it lives: the folder beside the spec (or under
//! `MIGPREP_STATE_DIR`), an S3 bucket with the source's AWS configuration, or an Azure Blob container with
//! the target's Azure credential (or an account key from `AZURE_STORAGE_KEY`).

use crate::apply::StateDir;
use crate::apply::remote::{Objects, Remote};
use crate::clients::store::{blob, s3};
use crate::clients::{arm, rds};
use crate::error::UserError;
use crate::settings::Settings;
use crate::spec::{Spec, StateBackend};
use std::path::Path;
use std::sync::Arc;

/// The blob endpoints of Azure's clouds: tokens and signatures go there without further ado.
const STORAGE_SUFFIXES: [&str; 3] =
    [".blob.core.windows.net", ".blob.core.usgovcloudapi.net", ".blob.core.chinacloudapi.cn"];

/// Opens the spec's state: a local folder, or a working copy of the state in shared storage.
pub(super) async fn open(spec: &Spec, settings: &Settings) -> Result<StateDir, UserError> {
    match &spec.state {
        StateBackend::Local => {
            let root = match &settings.state_dir {
                Some(dir) => dir.clone(),
                None => spec.file.parent().unwrap_or(Path::new(".")).join(".migprep"),
            };
            StateDir::open(&root, &spec.name)
        }
        StateBackend::S3 { bucket, prefix, region } => {
            let trust = super::trust_for(spec, settings)?;
            let region = region.clone().unwrap_or_else(|| spec.source.region.clone());
            let aws = rds::Rds::connect(&super::rds_settings(spec, settings, &region), &trust)
                .await
                .map_err(|e| e.to_user_error())?;
            let bucket = s3::Bucket::connect(&aws, bucket, &region, &trust)
                .map_err(|e| UserError::new(e.to_string()).hint(e.hint()))?;
            let remote = Remote::new(Objects::S3(bucket), prefix, &spec.name);
            StateDir::open_remote(remote, &spec.name)
        }
        StateBackend::AzBlob { account, container, prefix, endpoint } => {
            let trust = super::trust_for(spec, settings)?;
            let endpoint = endpoint.clone().unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
            check_endpoint(&endpoint, settings.allow_custom_endpoints)?;
            let auth = match &settings.azure_storage_key {
                Some(key) => blob::Auth::SharedKey { account: account.clone(), key: key.clone() },
                None => {
                    let arm = arm::Arm::connect(&super::arm_settings(spec, settings), &trust)
                        .map_err(|e| e.to_user_error())?;
                    blob::Auth::Entra(Arc::new(arm))
                }
            };
            let http = trust
                .http_client_builder()?
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| UserError::new(format!("cannot build the HTTPS client: {e}")))?;
            let container = blob::Container::connect(http, &endpoint, container, auth)
                .map_err(|e| UserError::new(e.to_string()).hint(e.hint()))?;
            let remote = Remote::new(Objects::Blob(container), prefix, &spec.name);
            StateDir::open_remote(remote, &spec.name)
        }
    }
}

/// Credentials go to Azure's blob endpoints over https; anywhere else (a stand-in, a private cloud) only
/// when the user allows custom endpoints, and in the clear only to this machine.
fn check_endpoint(endpoint: &str, allow_custom: bool) -> Result<(), UserError> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| {
        UserError::new(format!("state.endpoint {endpoint:?} is not a URL: {e}"))
            .hint("use the account's blob endpoint, e.g. https://acct.blob.core.windows.net")
    })?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let azure = STORAGE_SUFFIXES.iter().any(|suffix| host.ends_with(suffix));
    if !azure && !allow_custom {
        return Err(UserError::new(format!(
            "the blob endpoint {endpoint} is not one of Azure's; migprep does not send credentials there"
        ))
        .hint("set MIGPREP_ALLOW_CUSTOM_ENDPOINTS=1 if this endpoint is yours (a private cloud, a local emulator)"));
    }
    if url.scheme() != "https" && !crate::tls::is_loopback_host(&host) {
        return Err(UserError::new(format!("the blob endpoint {endpoint} must use https"))
            .hint("credentials are sent in the clear only to this machine (a local emulator)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn credentials_go_only_to_azure_unless_allowed_and_in_the_clear_only_to_loopback() {
        assert!(check_endpoint("https://acct.blob.core.windows.net", false).is_ok());
        assert!(check_endpoint("https://blob.example.com", false).is_err());
        assert!(check_endpoint("https://blob.example.com", true).is_ok());
        assert!(check_endpoint("http://blob.example.com", true).is_err());
        assert!(check_endpoint("http://127.0.0.1:10000/devstoreaccount1", true).is_ok());
    }
}
