//! A throwaway certificate authority for the stand-ins.
//!
//! rustls (and so azure_identity and migprep) refuses a self-signed CA used as a server certificate, so the
//! stand-ins get what a real deployment has: a CA certificate that clients trust (`ca_pem`, written to a
//! file and handed to migprep as `ca_file`) and a leaf certificate for `localhost` / `127.0.0.1` signed by
//! it, which the servers present. The leaf also names one more loopback address, [`CertAuthority::own_loopback`],
//! drawn at random in 127.0.0.0/8, where a stand-in can listen on a well-known port (5432, as a flexible
//! server at its FQDN) without colliding with another run. Nothing here touches the network.

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};

/// A generated CA with one server certificate for the loopback names.
pub struct CertAuthority {
    /// The CA certificate, PEM. Clients trust this.
    pub ca_pem: String,
    /// The server's certificate, PEM, signed by the CA.
    pub leaf_cert_pem: String,
    /// The server's private key, PEM (PKCS#8).
    pub leaf_key_pem: String,
    /// A loopback address of this CA's own (never 127.0.0.1) that the leaf is valid for.
    pub own_loopback: std::net::Ipv4Addr,
}

/// Where [`CertAuthority::write_to`] put the files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertAuthority {
    /// Generates a fresh CA and a leaf for `localhost`, `127.0.0.1`, `::1` and [`Self::own_loopback`].
    pub fn generate() -> Result<Self> {
        let ca_key = KeyPair::generate().context("generating the CA key")?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(DnType::CommonName, "migprep stand-in CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).context("self-signing the CA")?;
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().context("generating the server key")?;
        let random = uuid::Uuid::new_v4().into_bytes();
        let own_loopback = std::net::Ipv4Addr::new(127, 1 + random[0] % 254, random[1], 1 + random[2] % 254);
        let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into(), own_loopback.to_string()];
        let mut leaf_params = CertificateParams::new(names)?;
        leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).context("signing the server certificate")?;

        Ok(Self {
            ca_pem: ca_cert.pem(),
            leaf_cert_pem: leaf_cert.pem(),
            leaf_key_pem: leaf_key.serialize_pem(),
            own_loopback,
        })
    }

    /// Writes `ca.pem`, `server.crt` and `server.key` (mode 0600) into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<CertFiles> {
        use std::os::unix::fs::PermissionsExt;
        let files = CertFiles { ca: dir.join("ca.pem"), cert: dir.join("server.crt"), key: dir.join("server.key") };
        std::fs::write(&files.ca, &self.ca_pem)?;
        std::fs::write(&files.cert, &self.leaf_cert_pem)?;
        std::fs::write(&files.key, &self.leaf_key_pem)?;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))?;
        Ok(files)
    }
}
