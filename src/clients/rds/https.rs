//! The HTTPS client of the AWS clients when a CA bundle is given (`ca_file`, `AWS_CA_BUNDLE`).

use super::AwsError;
use crate::tls::Trust;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// An HTTPS client trusting the extra CA, or `None` to keep the SDK's default client (which trusts
/// the platform roots only). The client's trust store is the run's [`Trust`] (the platform roots as
/// loaded once, and `ca_file`) plus `AWS_CA_BUNDLE`, so the SDK does not read the platform's
/// certificates a second time.
pub(super) fn https_client(
    trust: &Trust,
    ca_bundle: Option<&std::path::Path>,
) -> Result<Option<aws_sdk_rds::config::SharedHttpClient>, AwsError> {
    let bundles: Vec<&std::path::Path> = trust.extra_path().into_iter().chain(ca_bundle).collect();
    if bundles.is_empty() {
        return Ok(None);
    }
    let mut store = TrustStore::empty().with_native_roots(false).with_pem_certificate(trust.roots_pem());
    // `ca_file` is in the run's trust already; AWS_CA_BUNDLE is added here.
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            AwsError::Setup(format!("cannot read the CA bundle {}: {e} (ca_file or AWS_CA_BUNDLE)", path.display()))
        })?;
        store = store.with_pem_certificate(pem);
    }
    let context = TlsContext::builder().with_trust_store(store).build().map_err(|e| {
        AwsError::Setup(format!(
            "cannot use the CA bundles {}: {e}",
            bundles.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))
    })?;
    // The SDK's own builder leaves the proxy off for a client with a custom trust store, so the
    // connector is assembled here, with the proxy the environment names (HTTPS_PROXY, HTTP_PROXY,
    // NO_PROXY), as the default client has it.
    Ok(Some(aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        let mut builder = aws_smithy_http_client::Connector::builder();
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder
            .proxy_config(aws_smithy_http_client::proxy::ProxyConfig::from_env())
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone())
            .build()
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_ca_bundle_is_read_even_without_ca_file() {
        let trust = Trust::load(None).unwrap();
        assert!(https_client(&trust, None).unwrap().is_none(), "no bundle: the SDK's own client");
        let missing = std::path::Path::new("/nonexistent/aws-ca.pem");
        let error = https_client(&trust, Some(missing)).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/aws-ca.pem") && error.contains("AWS_CA_BUNDLE"), "{error}");
    }
}
