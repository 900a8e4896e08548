//! Trust for every TLS connection migprep makes: the platform's roots plus an optional extra CA bundle
//! (`ca_file` in the spec or `MIGPREP_CA_FILE`), for users behind TLS-inspecting proxies, private CAs
//! and the local stand-ins. One [`Trust`] feeds both the PostgreSQL connections and the HTTPS clients.

use crate::error::UserError;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// TLS for a PostgreSQL connection. The default is `verify-full`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain text; allowed only for loopback hosts.
    Disable,
    /// TLS without verifying the server's certificate, an explicit opt-in. Whoever answers may be anyone,
    /// so no cleartext password or MD5 hash is sent, only SCRAM bound to this TLS session
    /// (`SCRAM-SHA-256-PLUS`), which a server in the middle cannot relay to the real one. A server that
    /// offers it still gets a SCRAM proof, enough to guess a weak password offline; `VerifyFull` is the
    /// protection against that.
    Require,
    /// TLS, verifying the chain (platform roots plus `ca_file`) and the host name. The default.
    VerifyFull,
}

impl SslMode {
    /// The spec's spelling, e.g. `verify-full`.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Whether `host` is a loopback address: `localhost`, 127.0.0.0/8 or `::1` (bracketed or not). Only
/// these may be reached with `sslmode = "disable"`.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The platform's roots, loaded once per process.
static PLATFORM_ROOTS: std::sync::OnceLock<Vec<rustls::pki_types::CertificateDer<'static>>> =
    std::sync::OnceLock::new();

fn platform_roots() -> &'static [rustls::pki_types::CertificateDer<'static>] {
    PLATFORM_ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// Starts, on a thread of its own, what every run needs before its first TLS handshake and costs CPU
/// once: reading the platform's roots (hundreds of files). It then overlaps with reading the spec and the
/// first cloud requests instead of delaying the first handshake. A caller that needs the roots before
/// they are ready waits for them; nothing is read twice.
pub fn warm_up() {
    std::thread::spawn(|| {
        let _ = platform_roots();
    });
}

/// The certificates migprep trusts.
#[derive(Clone, Debug)]
pub struct Trust {
    extra_path: Option<PathBuf>,
    roots: Arc<rustls::RootCertStore>,
    /// The certificates of `roots`, for the clients that take PEM (the AWS SDK's).
    certs: Arc<Vec<rustls::pki_types::CertificateDer<'static>>>,
}

impl Trust {
    /// Loads the platform's roots and, if given, the PEM bundle at `extra`.
    pub fn load(extra: Option<&Path>) -> Result<Self, UserError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut kept = Vec::new();
        // Missing or unreadable platform roots are not fatal: the extra bundle may be all that is needed.
        for cert in platform_roots() {
            if roots.add(cert.clone()).is_ok() {
                kept.push(cert.clone());
            }
        }
        if let Some(path) = extra {
            let pem = std::fs::read(path).map_err(|e| {
                UserError::new(format!("cannot read the CA bundle {}: {e}", path.display()))
                    .hint("set ca_file (or MIGPREP_CA_FILE) to a readable PEM file")
            })?;
            let certs = parse_pem(&pem).map_err(|e| {
                UserError::new(format!("the CA bundle {} is not valid PEM: {e}", path.display()))
                    .hint("the file must hold one or more -----BEGIN CERTIFICATE----- blocks")
            })?;
            if certs.is_empty() {
                return Err(UserError::new(format!("the CA bundle {} holds no certificate", path.display()))
                    .hint("the file must hold one or more -----BEGIN CERTIFICATE----- blocks"));
            }
            for cert in certs {
                roots.add(cert.clone()).map_err(|e| {
                    UserError::new(format!("the CA bundle {} has a certificate rustls rejects: {e}", path.display()))
                })?;
                kept.push(cert);
            }
        }
        Ok(Self { extra_path: extra.map(Path::to_path_buf), roots: Arc::new(roots), certs: Arc::new(kept) })
    }

    /// Every trusted certificate (the platform's and the extra bundle's) as one PEM bundle.
    pub fn roots_pem(&self) -> Vec<u8> {
        use base64::Engine as _;
        let mut pem = Vec::new();
        for cert in self.certs.iter() {
            let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            for line in body.as_bytes().chunks(64) {
                pem.extend_from_slice(line);
                pem.push(b'\n');
            }
            pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
        }
        pem
    }

    /// The extra bundle's path, for messages.
    pub fn extra_path(&self) -> Option<&Path> {
        self.extra_path.as_deref()
    }

    /// A rustls client configuration that verifies the server's certificate chain and name.
    pub fn verifying_config(&self) -> rustls::ClientConfig {
        self.verifying_config_with(provider())
    }

    /// [`Self::verifying_config`] with another provider (see [`postgres_provider`]).
    pub fn verifying_config_with(&self, provider: Arc<rustls::crypto::CryptoProvider>) -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the default provider supports the default protocol versions")
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth()
    }

    /// A reqwest client builder that trusts these roots (the platform's and the extra bundle): the same
    /// verification as the PostgreSQL connections, from the store loaded once, where reqwest's own
    /// verifier would read the platform's certificates again for every client built.
    pub fn http_client_builder(&self) -> Result<reqwest::ClientBuilder, UserError> {
        Ok(reqwest::Client::builder().tls_backend_preconfigured(self.verifying_config()))
    }
}

/// The crypto provider, chosen explicitly: several dependencies enable rustls features, and rustls
/// refuses to guess between providers.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The provider for PostgreSQL connections: the same, with P-256 first among the key exchange groups.
/// PostgreSQL up to 17 accepts one group, `ssl_ecdh_curve` (`prime256v1` unless changed), so a client
/// whose first key share is X25519 (rustls's default) is sent a HelloRetryRequest: one round trip more on
/// every connection. The other groups stay offered, for a server set to another curve.
pub fn postgres_provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups.sort_by_key(|group| group.name() != rustls::NamedGroup::secp256r1);
    Arc::new(provider)
}

fn parse_pem(pem: &[u8]) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "nothing here\n").unwrap();
        let error = Trust::load(Some(&path)).unwrap_err();
        assert!(error.message.contains("holds no certificate"), "{error}");
        assert!(error.hint.is_some());
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.1.2.3"));
        assert!(is_loopback_host("::1"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("db.example.com"));
        assert!(!is_loopback_host("localhost.example.com"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("0.0.0.0"));
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let error = Trust::load(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(error.message.contains("/nonexistent/ca.pem"), "{error}");
    }
}
