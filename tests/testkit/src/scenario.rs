//! A ready-made scene for end-to-end runs: the stand-ins started together, sharing one CA, and a
//! migration spec that points migprep at them (passwords in files beside it, never in the spec).
//!
//! Tests start a [`Scenario`], adjust the spec as a TOML table, write it, and run the real binary.

use crate::postgres::PgServer;
use crate::tls::CertAuthority;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

pub const CLUSTER: &str = "orders-prod";
pub const REGION: &str = "us-east-1";
pub const SUBSCRIPTION: &str = "6f1d3c1e-2b5a-4c7e-9f3d-1a2b3c4d5e6f";
pub const RESOURCE_GROUP: &str = "rg-orders";
pub const SERVER: &str = "pg-orders";

/// The PostgreSQL stand-ins and a folder for the spec, its CA bundle and password files.
pub struct Scenario {
    pub ca: CertAuthority,
    pub source: PgServer,
    pub target: PgServer,
    dir: TempDir,
}

impl Scenario {
    /// Starts both PostgreSQL stand-ins (concurrently) and writes the CA and password files.
    pub async fn start() -> Result<Self> {
        let ca = CertAuthority::generate()?;
        let (source, target) = tokio::try_join!(PgServer::start_aurora(&ca), PgServer::start_flexible(&ca))?;
        let dir = tempfile::Builder::new().prefix("migprep-scenario-").tempdir()?;
        std::fs::write(dir.path().join("ca.pem"), &ca.ca_pem)?;
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets)?;
        write_secret(&secrets.join("source-password"), &source.admin().password)?;
        write_secret(&secrets.join("target-password"), &target.admin().password)?;
        Ok(Self { ca, source, target, dir })
    }

    /// The folder holding the spec and its files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the folder after the scenario ends (for the demo, which prints paths).
    pub fn into_parts(self) -> (CertAuthority, PgServer, PgServer, TempDir) {
        (self.ca, self.source, self.target, self.dir)
    }

    /// The spec for these stand-ins, as a TOML table the caller may change before writing it.
    pub fn spec(&self) -> toml::Table {
        let text = format!(
            r#"
name = "orders"
ca_file = "ca.pem"

[source]
cluster = "{CLUSTER}"
region = "{REGION}"
databases = {databases:?}
migration_user = "{migrator}"

[source.connection]
host = "127.0.0.1"
port = {source_port}
user = "{source_user}"
password = {{ file = "secrets/source-password" }}
sslmode = "verify-full"

[target]
subscription = "{SUBSCRIPTION}"
resource_group = "{RESOURCE_GROUP}"
server = "{SERVER}"

[target.connection]
host = "127.0.0.1"
port = {target_port}
user = "{target_user}"
password = {{ file = "secrets/target-password" }}
sslmode = "verify-full"
"#,
            databases = self.source.databases(),
            migrator = self.source.migration_user().user,
            source_port = self.source.port(),
            source_user = self.source.admin().user,
            target_port = self.target.port(),
            target_user = self.target.admin().user,
        );
        text.parse().expect("the scenario's spec is valid TOML")
    }

    /// Writes `spec` as `migprep.toml` in the scenario's folder and returns its path.
    pub fn write_spec(&self, spec: &toml::Table) -> Result<PathBuf> {
        let path = self.dir.path().join("migprep.toml");
        std::fs::write(&path, toml::to_string(spec)?).context("writing the spec")?;
        Ok(path)
    }
}

fn write_secret(path: &Path, secret: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{secret}\n"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}
