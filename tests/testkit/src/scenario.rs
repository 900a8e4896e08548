//! A ready-made scene for end-to-end runs: all four stand-ins started together and wired to each other,
//! sharing one CA, and a migration spec that points migprep at them (passwords in files beside it,
//! never in the spec; cloud credentials in the environment the scenario hands out).
//!
//! The wiring is what makes the loop real: rebooting the Aurora writer through the RDS stand-in restarts
//! the source PostgreSQL with the parameter group's static values, and restarting the flexible server
//! through the fake ARM restarts the target PostgreSQL with its pending static parameters.
//!
//! Tests start a [`Scenario`] (optionally from a [`ScenarioConfig`] describing the "before" state),
//! adjust the spec as a TOML table, write it, and run the real binary with [`Scenario::env`].
//!
//! With [`ScenarioConfig::passwordless`], each PostgreSQL stand-in sits behind a token-checking
//! [`Gateway`]: the cluster's writer endpoint and the spec's target port lead to the gateways, and the spec
//! logs in with `password = "iam"` on the source and `"entra"` on the target.
//!
//! On the plain moto backend ([`ScenarioConfig::plain_moto`]) nothing restarts the source on a reboot
//! (the test calls [`RdsStandIn::complete_reboot`]), and moto's cluster endpoint leads nowhere, so the
//! spec names the source's host and port, as a DBA reaching Aurora through a tunnel would.

use crate::arm::{FakeArm, FakeArmConfig, RestartHook, ServerSeed};
use crate::delay::DelayProxy;
use crate::gateway::{Check, EntraCheck, Gateway, GatewayConfig, IamCheck};
use crate::postgres::PgServer;
use crate::rds::{ClusterSeed, RdsBackend, RdsConfig, RdsStandIn, settings_hook};
use crate::tls::CertAuthority;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

pub const CLUSTER: &str = "orders-prod";
pub const REGION: &str = "us-east-1";
pub const SUBSCRIPTION: &str = "6f1d3c1e-2b5a-4c7e-9f3d-1a2b3c4d5e6f";
pub const RESOURCE_GROUP: &str = "rg-orders";
pub const SERVER: &str = "pg-orders";

/// The "before" state of the clouds. The scenario adds the wiring (endpoint port, reboot hooks).
pub struct ScenarioConfig {
    pub cluster: ClusterSeed,
    pub server: ServerSeed,
    pub rds: RdsConfig,
    pub arm: FakeArmConfig,
    /// Token-checking gateways in front of both databases, and a spec with `"iam"` and `"entra"` logins.
    pub passwordless: bool,
}

impl Default for ScenarioConfig {
    /// An Aurora 15.4 cluster on its default parameter group and a flexible server as Azure creates it.
    fn default() -> Self {
        Self {
            cluster: ClusterSeed::new(CLUSTER, "15.4"),
            server: ServerSeed::new(SERVER),
            // Fast polling: the tool waits on these, and tests should not.
            rds: RdsConfig { reboot_describes: 1, ..RdsConfig::default() },
            arm: FakeArmConfig {
                polls_until_done: 1,
                retry_after_secs: 1,
                validation_duration: std::time::Duration::from_secs(2),
                ..FakeArmConfig::default()
            },
            passwordless: false,
        }
    }
}

impl ScenarioConfig {
    /// The demo's and the benchmark's "before" state: Aurora on its default group with a reader; the
    /// flexible server zone-redundant, temp tablespaces on the local SSD, one read replica.
    pub fn demo() -> Self {
        let mut config = Self::default();
        config.cluster.readers = vec![format!("{}-instance-2", config.cluster.id)];
        config.server = ServerSeed::new(SERVER)
            .high_availability("ZoneRedundant", "2")
            .configuration("azure.enable_temp_tablespaces_on_local_ssd", "on")
            .replica(&format!("{SERVER}-replica"));
        config
    }

    /// The default "before" state, with both databases behind token-checking gateways.
    pub fn passwordless() -> Self {
        Self { passwordless: true, ..Self::default() }
    }

    /// The default "before" state with plain `moto_server` answering the RDS API, no fidelity layer.
    pub fn plain_moto() -> Self {
        let mut config = Self::default();
        config.rds.backend = RdsBackend::PlainMoto;
        config
    }
}

/// The stand-ins and a folder for the spec, its CA bundle and password files.
pub struct Scenario {
    /// The Aurora cluster's engine version, as seeded.
    pub engine_version: String,
    pub ca: Arc<CertAuthority>,
    pub source: Arc<PgServer>,
    pub target: Arc<PgServer>,
    pub rds: RdsStandIn,
    pub arm: FakeArm,
    /// The RDS IAM gateway in front of the source, when passwordless.
    pub source_gateway: Option<Arc<Gateway>>,
    /// The Entra gateway in front of the target, when passwordless.
    pub target_gateway: Option<Arc<Gateway>>,
    dir: TempDir,
}

impl Scenario {
    /// Starts everything in its default "before" state.
    pub async fn start() -> Result<Self> {
        Self::start_with(ScenarioConfig::default()).await
    }

    /// Starts the PostgreSQL stand-ins, moto behind the RDS fidelity layer and the fake ARM, seeds the
    /// cluster and the server, and writes the CA and password files.
    pub async fn start_with(config: ScenarioConfig) -> Result<Self> {
        let ca = Arc::new(CertAuthority::generate()?);
        let (source, target) = tokio::try_join!(PgServer::start_aurora(&ca), PgServer::start_flexible(&ca))?;
        let (source, target) = (Arc::new(source), Arc::new(target));

        let arm_config = FakeArmConfig {
            certificate_authority: Some(ca.clone()),
            on_restart: Some(target_restart_hook(target.clone())),
            ..config.arm
        };
        let (rds, arm) = tokio::try_join!(RdsStandIn::start(config.rds), FakeArm::start(arm_config))?;
        let (source_gateway, target_gateway) = if config.passwordless {
            let (source_gateway, target_gateway) =
                tokio::try_join!(iam_gateway(&ca, &source, &rds), entra_gateway(&ca, &target, &arm))?;
            (Some(Arc::new(source_gateway)), Some(Arc::new(target_gateway)))
        } else {
            (None, None)
        };

        let engine_version = config.cluster.engine_version.clone();
        let writer = source.clone();
        let reload = source.clone();
        let cluster = ClusterSeed {
            endpoint_port: Some(source_gateway.as_ref().map_or(source.port(), |g| g.port())),
            master_username: source.admin().user.clone(),
            reboot_hook: Some(settings_hook(move |settings| {
                let writer = writer.clone();
                async move { writer.restart_with(&settings).await }
            })),
            reload_hook: Some(settings_hook(move |settings| {
                let server = reload.clone();
                async move { server.reload_with(&settings).await }
            })),
            ..config.cluster
        };
        rds.seed_cluster(cluster).await.context("seeding the Aurora cluster")?;
        // The server's admin login is the target stand-in's admin role, as in Azure.
        let server = ServerSeed { administrator_login: target.admin().user.clone(), ..config.server };
        arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, server).context("seeding the flexible server")?;
        // The migration service's checks reach the target's PostgreSQL where the stand-in listens.
        arm.set_database_address(SUBSCRIPTION, RESOURCE_GROUP, SERVER, target.host(), target.port());

        let dir = tempfile::Builder::new().prefix("migprep-scenario-").tempdir()?;
        std::fs::write(dir.path().join("ca.pem"), &ca.ca_pem)?;
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets)?;
        write_secret(&secrets.join("source-password"), &source.admin().password)?;
        write_secret(&secrets.join("target-password"), &target.admin().password)?;
        write_secret(&secrets.join("migration-password"), &source.migration_user().password)?;
        Ok(Self { engine_version, ca, source, target, rds, arm, source_gateway, target_gateway, dir })
    }

    /// Makes the flexible server reachable at its FQDN on port 5432, as in Azure: a forwarder on the CA's
    /// own loopback address (which the servers' certificate names), port 5432, leads to the target (its
    /// gateway when passwordless), and ARM reports that address as the server's FQDN. A spec that names no
    /// target host then reaches the target as it would reach Azure. Lasts as long as the forwarder.
    pub async fn serve_target_at_its_fqdn(&self) -> Result<DelayProxy> {
        let address = std::net::SocketAddr::from((self.ca.own_loopback, 5432));
        let upstream = self.target_gateway.as_ref().map_or(self.target.port(), |g| g.port());
        let forwarder = DelayProxy::start_at(address, upstream).await?;
        self.arm.set_fqdn(SUBSCRIPTION, RESOURCE_GROUP, SERVER, &self.ca.own_loopback.to_string())?;
        Ok(forwarder)
    }

    /// The folder holding the spec and its files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment a migprep run needs to reach the stand-ins: the AWS SDK's endpoint override and
    /// static test credentials (no profile or instance metadata from the machine leaks in), the service
    /// principal the fake ARM accepts, the fake in place of Azure's instance metadata endpoint, and short
    /// polling.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.rds.endpoint()),
            // The fidelity layer speaks only RDS; moto answers Secrets Manager and STS itself.
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.rds.moto_endpoint()),
            ("AWS_ENDPOINT_URL_STS", self.rds.moto_endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            ("AZURE_TENANT_ID", self.arm.tenant_id().into()),
            ("AZURE_CLIENT_ID", self.arm.client_id().into()),
            ("AZURE_CLIENT_SECRET", self.arm.client_secret().into()),
            // Should a run ever reach the managed identity, it asks the fake, never 169.254.169.254.
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", self.arm.endpoint()),
            ("MIGPREP_POLL_INTERVAL_MS", "200".into()),
            // The fake ARM and its token endpoint are not Azure's: the stand-ins are trusted by choice.
            ("MIGPREP_ALLOW_CUSTOM_ENDPOINTS", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The spec for these stand-ins, as a TOML table the caller may change before writing it. The source
    /// has no host or port: migprep takes them from the cluster's writer endpoint, as with real Aurora
    /// (except on plain moto, whose endpoint leads nowhere).
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
migration_password = {{ file = "secrets/migration-password" }}

[source.connection]
user = "{source_user}"
password = {{ file = "secrets/source-password" }}
sslmode = "verify-full"

[target]
subscription = "{SUBSCRIPTION}"
resource_group = "{RESOURCE_GROUP}"
server = "{SERVER}"
arm_endpoint = "{arm}"
authority_host = "{arm}"

[target.connection]
host = "127.0.0.1"
port = {target_port}
user = "{target_user}"
password = {{ file = "secrets/target-password" }}
sslmode = "verify-full"
"#,
            databases = self.source.databases(),
            migrator = self.source.migration_user().user,
            source_user = self.source.admin().user,
            arm = self.arm.endpoint(),
            target_port = self.target_gateway.as_ref().map_or(self.target.port(), |g| g.port()),
            target_user = self.target.admin().user,
        );
        let mut spec: toml::Table = text.parse().expect("the scenario's spec is valid TOML");
        if self.rds.backend() == RdsBackend::PlainMoto {
            let mut connection = spec["source"]["connection"].as_table().cloned().unwrap_or_default();
            connection.insert("host".into(), "127.0.0.1".into());
            let port = self.source_gateway.as_ref().map_or(self.source.port(), |g| g.port());
            connection.insert("port".into(), i64::from(port).into());
            spec["source"].as_table_mut().expect("[source]").insert("connection".into(), connection.into());
        }
        if self.source_gateway.is_some() {
            spec["source"]["connection"]
                .as_table_mut()
                .expect("[source.connection]")
                .insert("password".into(), "iam".into());
        }
        if self.target_gateway.is_some() {
            spec["target"]["connection"]
                .as_table_mut()
                .expect("[target.connection]")
                .insert("password".into(), "entra".into());
        }
        spec
    }

    /// Creates a secret in the Secrets Manager of the scenario's moto; returns its ARN.
    pub async fn create_secret(&self, name: &str, value: &str) -> Result<String> {
        crate::secrets::create_secret(&self.rds.moto_endpoint(), REGION, name, value).await
    }

    /// Runs a migprep binary (`env!("CARGO_BIN_EXE_migprep")` in the product's tests) against the
    /// stand-ins, without a terminal and without colour, with `extra_env` on top of [`Scenario::env`].
    pub async fn run(&self, binary: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let output = tokio::process::Command::new(binary)
            .args(args)
            .envs(self.env())
            .envs(extra_env.iter().copied())
            .env("NO_COLOR", "1")
            .env_remove("MIGPREP_STATE_DIR")
            .env_remove("MIGPREP_CA_FILE")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("running migprep");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Writes `spec` as `migprep.toml` in the scenario's folder and returns its path.
    pub fn write_spec(&self, spec: &toml::Table) -> Result<PathBuf> {
        let path = self.dir.path().join("migprep.toml");
        std::fs::write(&path, toml::to_string(spec)?).context("writing the spec")?;
        Ok(path)
    }
}

/// What a run of the binary printed and how it ended.
#[derive(Clone, Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The RDS IAM gateway for the source: tokens signed with the scenario's AWS test credentials for its
/// region, for the gateway's own address.
async fn iam_gateway(ca: &Arc<CertAuthority>, source: &PgServer, rds: &RdsStandIn) -> Result<Gateway> {
    Gateway::start(GatewayConfig {
        check: Check::RdsIam(IamCheck {
            region: rds.region().to_string(),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        }),
        host: source.host().to_string(),
        upstream_port: source.port(),
        ca: ca.clone(),
        logins: vec![source.admin().clone(), source.migration_user().clone()],
    })
    .await
}

/// The Entra gateway for the target: tokens the fake ARM's endpoint signed, with the admin role created
/// for the service principal the scenario's environment names.
async fn entra_gateway(ca: &Arc<CertAuthority>, target: &PgServer, arm: &FakeArm) -> Result<Gateway> {
    let principals = [(target.admin().user.clone(), arm.client_id().to_string())].into_iter().collect();
    Gateway::start(GatewayConfig {
        check: Check::Entra(EntraCheck { key: arm.token_key(), tenant: arm.tenant_id().to_string(), principals }),
        host: target.host().to_string(),
        upstream_port: target.port(),
        ca: ca.clone(),
        logins: vec![target.admin().clone(), target.migration_user().clone()],
    })
    .await
}

/// Settings a restart of the flexible server carries over to the target PostgreSQL. The fake ARM hands
/// over every static parameter; a local server can take only these, and only libraries it has.
const TARGET_STATIC: [&str; 5] =
    ["max_replication_slots", "max_wal_senders", "max_worker_processes", "wal_level", "shared_preload_libraries"];

fn target_restart_hook(target: Arc<PgServer>) -> RestartHook {
    Arc::new(move |settings: BTreeMap<String, String>| {
        let target = target.clone();
        Box::pin(async move {
            let mut applied = BTreeMap::new();
            for (name, value) in settings {
                if !TARGET_STATIC.contains(&name.as_str()) {
                    continue;
                }
                let value = if name == "shared_preload_libraries" { installed_libraries(&value) } else { value };
                applied.insert(name, value);
            }
            target.restart_with(&applied).await
        })
    })
}

/// The libraries of a comma-separated list that this PostgreSQL installation can load.
fn installed_libraries(list: &str) -> String {
    let pkglib = std::process::Command::new("pg_config")
        .arg("--pkglibdir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_default();
    list.split(',')
        .map(str::trim)
        .filter(|lib| !lib.is_empty() && pkglib.join(format!("{lib}.so")).exists())
        .collect::<Vec<_>>()
        .join(",")
}

fn write_secret(path: &Path, secret: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{secret}\n"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}
