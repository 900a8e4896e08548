//! Real PostgreSQL servers standing in for the Aurora writer and the Azure flexible server.
//!
//! Each server gets its own `initdb` in a temporary folder, listens on a free loopback port, and accepts
//! only TLS connections with a password over TCP (`hostssl … scram-sha-256`, no plain `host` line), so a
//! client that tries plain text is turned away the way a managed service would. The bootstrap superuser
//! (`rdsadmin` / `azuresu`, as on the real services) is reachable only through the server's private Unix
//! socket; everything migprep sees goes through non-superuser logins.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the server runs as the `postgres`
//! user (`runuser`), with its folders owned by it. Dropping a [`PgServer`] stops it (also while a test
//! panics), and the folder goes with it.

use crate::tls::CertAuthority;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use tempfile::TempDir;

/// Which managed service a server imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// An Aurora PostgreSQL writer: `rds_superuser`, `rds_replication`, master user `postgres`.
    Aurora,
    /// An Azure flexible server: `azure_pg_admin`, admin user `azureadmin`.
    Flexible,
}

/// A login on a stand-in server.
#[derive(Clone, Debug)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// A running PostgreSQL stand-in.
pub struct PgServer {
    flavor: Flavor,
    port: u16,
    bindir: PathBuf,
    run_as_postgres: bool,
    // Field order matters for Drop: the server stops before the folder is removed.
    dir: TempDir,
    /// The settings written to the server's include file; `restart_with` merges into them.
    settings: Mutex<BTreeMap<String, String>>,
    stopped: std::sync::atomic::AtomicBool,
    admin: Login,
    migration: Login,
    databases: Vec<String>,
}

const BOOTSTRAP_AURORA: &str = "rdsadmin";
const BOOTSTRAP_FLEXIBLE: &str = "azuresu";
const INCLUDE_FILE: &str = "standin.conf";

impl PgServer {
    /// Starts a source set up like an Aurora writer: `wal_level=replica` until "rebooted",
    /// `max_replication_slots=20`, `max_wal_senders=10`, `timezone=UTC`, two application databases with contrib
    /// extensions, a master user that is not a superuser, and a migration user outside `rds_replication`.
    pub async fn start_aurora(ca: &CertAuthority) -> Result<Self> {
        let mut settings = base_settings();
        settings.insert("wal_level".into(), "replica".into());
        settings.insert("max_replication_slots".into(), "20".into());
        settings.insert("max_wal_senders".into(), "10".into());
        settings.insert("shared_preload_libraries".into(), "'pg_stat_statements'".into());
        // Aurora's default time zone (the family's engine default), not the host's zone initdb writes.
        settings.insert("timezone".into(), "UTC".into());
        // Aurora exposes this as a setting of its own; a placeholder GUC lets `SHOW` answer the same way.
        settings.insert("rds.logical_replication".into(), "off".into());
        let mut server = Self::init(Flavor::Aurora, ca, settings).await?;
        server.setup_aurora().await?;
        server.databases = vec!["billing".to_string(), "orders".to_string()];
        Ok(server)
    }

    /// Starts a target set up like an Azure flexible server: `azure_pg_admin` and a non-superuser admin.
    pub async fn start_flexible(ca: &CertAuthority) -> Result<Self> {
        let mut settings = base_settings();
        settings.insert("wal_level".into(), "replica".into());
        let server = Self::init(Flavor::Flexible, ca, settings).await?;
        server.setup_flexible().await?;
        Ok(server)
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The service's administrator: Aurora's master user or the flexible server's admin.
    pub fn admin(&self) -> &Login {
        &self.admin
    }

    /// A login without special roles, meant to run the migration.
    pub fn migration_user(&self) -> &Login {
        &self.migration
    }

    /// The application databases (empty on the target).
    pub fn databases(&self) -> &[String] {
        &self.databases
    }

    /// The server's data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs SQL as the bootstrap superuser through the private socket: for tests that arrange a
    /// situation the service's own operators could (e.g. a role that exists, a slot in use).
    pub async fn superuser(&self, database: &str) -> Result<tokio_postgres::Client> {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(self.socket_dir())
            .port(self.port)
            .user(self.bootstrap_user())
            .dbname(database)
            .application_name("migprep-testkit");
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connecting to the stand-in on port {} as superuser", self.port))?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Restarts the server with `settings` merged into its configuration, the way a reboot applies
    /// pending static parameters. Values are written verbatim into `postgresql.conf` syntax.
    pub async fn restart_with(&self, settings: &BTreeMap<String, String>) -> Result<()> {
        self.refuse_if_stopped()?;
        let merged = self.merge_settings(settings);
        write_settings(&self.data_dir().join(INCLUDE_FILE), &merged)?;
        self.pg_ctl(&["restart", "-m", "fast", "-w", "-t", "60", "-l", &self.log_file()])
            .await
            .context("restarting the stand-in")?;
        Ok(())
    }

    /// Stops the server for good: later restarts and reloads are refused. Hooks of the cloud stand-ins
    /// hold the server too, so a process that ends while one is in flight stops it here rather than
    /// waiting for the last owner to let go.
    pub fn stop(&self) {
        if self.port == 0 || self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let data = self.data_dir();
        let pg_ctl = self.bindir.join("pg_ctl");
        let mut command = command(self.run_as_postgres, &pg_ctl);
        command.args(["-D".as_ref(), data.as_os_str(), "stop".as_ref(), "-m".as_ref(), "immediate".as_ref()]);
        let _ = command.output();
    }

    fn refuse_if_stopped(&self) -> Result<()> {
        if self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            bail!("the stand-in on port {} has been stopped", self.port);
        }
        Ok(())
    }

    /// Applies dynamic settings without a restart (`pg_ctl reload`), as a parameter change with
    /// `ApplyMethod=immediate` does on Aurora.
    pub async fn reload_with(&self, settings: &BTreeMap<String, String>) -> Result<()> {
        self.refuse_if_stopped()?;
        let merged = self.merge_settings(settings);
        write_settings(&self.data_dir().join(INCLUDE_FILE), &merged)?;
        self.pg_ctl(&["reload"]).await.context("reloading the stand-in")
    }

    fn merge_settings(&self, settings: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut current = self.settings.lock().expect("settings lock");
        for (name, value) in settings {
            current.insert(name.clone(), quote_setting(value));
        }
        current.clone()
    }

    async fn init(flavor: Flavor, ca: &CertAuthority, mut settings: BTreeMap<String, String>) -> Result<Self> {
        let bindir = find_bindir()?;
        let run_as_postgres = is_root();
        let dir = tempfile::Builder::new().prefix("migprep-pg-").tempdir()?;
        let data = dir.path().join("data");
        let sockets = dir.path().join("sock");
        std::fs::create_dir(&sockets)?;
        let certs = ca.write_to(dir.path())?;
        if run_as_postgres {
            chown_postgres(dir.path())?;
        }

        let bootstrap = match flavor {
            Flavor::Aurora => BOOTSTRAP_AURORA,
            Flavor::Flexible => BOOTSTRAP_FLEXIBLE,
        };
        let initdb = bindir.join("initdb");
        let data_arg = data.to_string_lossy().into_owned();
        let output = run(
            run_as_postgres,
            &initdb,
            &[
                "-D",
                &data_arg,
                "-U",
                bootstrap,
                "--auth-local=trust",
                "--auth-host=reject",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )
        .await?;
        check(&output, "initdb")?;

        std::fs::write(
            data.join("pg_hba.conf"),
            "# Only the bootstrap superuser, over the private socket; everyone else over TLS with a password.\n\
             local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl all all ::1/128 scram-sha-256\n",
        )?;
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf"))?;
        conf.push_str(&format!("\ninclude_if_exists = '{INCLUDE_FILE}'\n"));
        std::fs::write(data.join("postgresql.conf"), conf)?;

        settings.insert("unix_socket_directories".into(), quote_setting(&sockets.to_string_lossy()));
        settings.insert("ssl_cert_file".into(), quote_setting(&certs.cert.to_string_lossy()));
        settings.insert("ssl_key_file".into(), quote_setting(&certs.key.to_string_lossy()));
        if run_as_postgres {
            chown_postgres(dir.path())?;
        }

        let admin = Login {
            user: match flavor {
                Flavor::Aurora => "postgres".into(),
                Flavor::Flexible => "azureadmin".into(),
            },
            password: random_password(),
        };
        let migration = Login { user: "migrator".into(), password: random_password() };
        let mut server = Self {
            flavor,
            port: 0,
            bindir,
            run_as_postgres,
            dir,
            settings: Mutex::new(BTreeMap::new()),
            stopped: std::sync::atomic::AtomicBool::new(false),
            admin,
            migration,
            databases: Vec::new(),
        };

        // A free port can be taken between choosing and binding; try a few.
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            settings.insert("port".into(), port.to_string());
            write_settings(&data.join(INCLUDE_FILE), &settings)?;
            server.port = port;
            // `-l` also keeps the server from inheriting our output pipes, which would never close.
            match server.pg_ctl(&["start", "-w", "-t", "60", "-l", &server.log_file()]).await {
                Ok(()) => {
                    *server.settings.lock().expect("settings lock") = settings;
                    return Ok(server);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one attempt").context("starting the PostgreSQL stand-in"))
    }

    async fn setup_aurora(&self) -> Result<()> {
        let admin = &self.admin;
        let migration = &self.migration;
        let client = self.superuser("postgres").await?;
        client
            .batch_execute(&format!(
                "CREATE ROLE rds_superuser NOLOGIN;
                 GRANT pg_monitor, pg_signal_backend, pg_checkpoint TO rds_superuser;
                 CREATE ROLE rds_replication NOLOGIN;
                 CREATE ROLE rds_password NOLOGIN;
                 GRANT rds_replication, rds_password TO rds_superuser WITH ADMIN OPTION;
                 CREATE ROLE {user} LOGIN CREATEROLE CREATEDB NOSUPERUSER PASSWORD {pw} IN ROLE rds_superuser;
                 GRANT rds_superuser TO {user} WITH ADMIN OPTION;
                 -- On Aurora rds_superuser may use replication once rds.logical_replication is on; a
                 -- local server needs the attribute for the master user to create a logical slot.
                 ALTER ROLE {user} REPLICATION;
                 CREATE ROLE {mig} LOGIN NOSUPERUSER PASSWORD {mig_pw};",
                user = ident(&admin.user),
                pw = literal(&admin.password),
                mig = ident(&migration.user),
                mig_pw = literal(&migration.password),
            ))
            .await
            .context("creating the Aurora roles")?;
        for database in ["orders", "billing"] {
            // CREATE DATABASE refuses to run inside the implicit transaction of a multi-statement batch.
            client
                .batch_execute(&format!("CREATE DATABASE {} OWNER {}", ident(database), ident(&admin.user)))
                .await
                .with_context(|| format!("creating database {database}"))?;
        }
        for (database, extensions) in
            [("orders", ["pg_stat_statements", "hstore"]), ("billing", ["pgcrypto", "hstore"])]
        {
            let db = self.superuser(database).await?;
            for extension in extensions {
                db.batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {}", ident(extension)))
                    .await
                    .with_context(|| format!("creating extension {extension} in {database}"))?;
            }
            db.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, body text);
                 ALTER TABLE items OWNER TO {user};
                 GRANT SELECT ON ALL TABLES IN SCHEMA public TO {mig};",
                user = ident(&admin.user),
                mig = ident(&migration.user),
            ))
            .await?;
        }
        Ok(())
    }

    async fn setup_flexible(&self) -> Result<()> {
        let client = self.superuser("postgres").await?;
        client
            .batch_execute(&format!(
                "CREATE ROLE azure_pg_admin NOLOGIN;
                 GRANT pg_monitor, pg_signal_backend, pg_read_all_data TO azure_pg_admin;
                 CREATE ROLE {user} LOGIN CREATEROLE CREATEDB NOSUPERUSER PASSWORD {pw} IN ROLE azure_pg_admin;
                 CREATE ROLE {mig} LOGIN NOSUPERUSER PASSWORD {mig_pw};",
                user = ident(&self.admin.user),
                pw = literal(&self.admin.password),
                mig = ident(&self.migration.user),
                mig_pw = literal(&self.migration.password),
            ))
            .await
            .context("creating the flexible server's roles")?;
        Ok(())
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn bootstrap_user(&self) -> &'static str {
        match self.flavor {
            Flavor::Aurora => BOOTSTRAP_AURORA,
            Flavor::Flexible => BOOTSTRAP_FLEXIBLE,
        }
    }

    async fn pg_ctl(&self, args: &[&str]) -> Result<()> {
        let data = self.data_dir().to_string_lossy().into_owned();
        let mut full = vec!["-D", data.as_str()];
        full.extend_from_slice(args);
        let output = run(self.run_as_postgres, &self.bindir.join("pg_ctl"), &full).await?;
        check(&output, "pg_ctl").with_context(|| self.log_tail())
    }

    fn log_file(&self) -> String {
        self.dir.path().join("server.log").to_string_lossy().into_owned()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        format!("server log (last lines):\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn base_settings() -> BTreeMap<String, String> {
    [
        ("listen_addresses", "'127.0.0.1'"),
        ("ssl", "on"),
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("shared_buffers", "32MB"),
        ("max_connections", "50"),
        ("log_min_messages", "warning"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn write_settings(path: &Path, settings: &BTreeMap<String, String>) -> Result<()> {
    let body: String = settings.iter().map(|(name, value)| format!("{name} = {value}\n")).collect();
    std::fs::write(path, body).with_context(|| format!("writing {}", path.display()))
}

/// Quotes a value for postgresql.conf unless it is already quoted or a plain word/number.
fn quote_setting(value: &str) -> String {
    let plain = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    if plain || (value.starts_with('\'') && value.ends_with('\'') && value.len() >= 2) {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// The folder holding `initdb` and `pg_ctl`: `pg_config --bindir` if it has them, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian's layout), else `PATH`.
pub fn find_bindir() -> Result<PathBuf> {
    if let Ok(output) = std::process::Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return Ok(dir);
        }
    }
    bail!(
        "PostgreSQL server binaries (initdb, pg_ctl) not found\nhint: run scripts/test, which installs them, or apt-get install postgresql"
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn chown_postgres(path: &Path) -> Result<()> {
    let status =
        Command::new("chown").arg("-R").arg("postgres:postgres").arg(path).status().context("running chown")?;
    if !status.success() {
        bail!("chown postgres {} failed", path.display());
    }
    Ok(())
}

fn command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

async fn run(as_postgres: bool, program: &Path, args: &[&str]) -> Result<Output> {
    let mut command = tokio::process::Command::from(command(as_postgres, program));
    command.args(args).stdin(std::process::Stdio::null());
    command.output().await.with_context(|| format!("running {}", program.display()))
}

fn check(output: &Output, what: &str) -> Result<()> {
    if output.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A free TCP port on loopback, chosen by the kernel.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn random_password() -> String {
    format!("pw-{}", uuid::Uuid::new_v4().simple())
}

/// Quotes an SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal (setup only; the product binds values instead).
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
