//! `migprep init`: a spec written from what the clouds say about a cluster and a server — the writer
//! endpoint, the parameter group, the master user, the server's FQDN, admin login and tenant, and the databases
//! when the source admin's password (`SOURCE_PGPASSWORD`) lets it connect. Every key carries a comment;
//! secrets appear only as `{ env = … }` references. An existing file is never overwritten.

use super::Outcome;
use crate::clients::postgres::{self, Endpoint, Password};
use crate::clients::{arm, rds};
use crate::error::UserError;
use crate::model::endpoints::Side;
use crate::model::server::ServerId;
use crate::settings::Settings;
use crate::spec::{Spec, SslMode};
use crate::tls::Trust;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `init` was asked for.
pub(super) struct Request {
    pub cluster: String,
    pub region: String,
    pub profile: Option<String>,
    pub server: String,
    pub resource_group: String,
    pub subscription: String,
    pub ca_file: Option<PathBuf>,
    pub out: PathBuf,
}

/// A value as TOML writes it (quoted and escaped).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

pub(super) async fn init(request: Request, settings: &Settings) -> anyhow::Result<Outcome> {
    if request.out.exists() {
        return Err(UserError::new(format!("{} exists; init never overwrites a spec", request.out.display()))
            .hint("pass --out with another file name, or move the existing file away")
            .into());
    }
    let ca_file = request.ca_file.clone().or_else(|| settings.ca_file.clone());
    let trust = Trust::load(ca_file.as_deref())?;
    let rds_settings = super::session::aws_settings(request.profile.clone(), &request.region, settings);
    let arm_settings = super::session::azure_settings(None, None, None, settings);
    let aws = rds::Rds::connect(&rds_settings, &trust).await.map_err(|e| e.to_user_error())?;
    let azure = arm::Arm::connect(&arm_settings, &trust).map_err(|e| e.to_user_error())?;
    let id = ServerId::new(&request.subscription, &request.resource_group, &request.server);
    let (cluster, server) = tokio::join!(aws.cluster(&request.cluster), azure.server(&id));
    let cluster = cluster.map_err(|e| e.to_user_error())?;
    let server = server.map_err(|e| e.to_user_error())?;
    // ARM read the server with this token, so the subscription is in its tenant.
    let tenant = azure.tenant().await;
    let master = cluster.master_username.clone().unwrap_or_else(|| "postgres".into());
    let admin = server.administrator_login.clone().unwrap_or_else(|| "azureadmin".into());

    let databases = match (&settings.source_password, &cluster.endpoint) {
        (Some(password), Some(host)) => {
            let endpoint = Endpoint {
                side: Side::Source,
                host: host.clone(),
                port: cluster.port.unwrap_or(5432),
                user: master.clone(),
                database: "postgres".into(),
                password: Password::Fixed(password.clone()),
                sslmode: SslMode::VerifyFull,
            };
            match postgres::connect(&endpoint, &trust, postgres::CONNECT_TIMEOUT).await {
                Ok(client) => postgres::user_databases(&client).await.map_err(|problem| problem.to_string()),
                Err(error) => Err(error.to_string()),
            }
        }
        (None, _) => Err("SOURCE_PGPASSWORD is not set".into()),
        (Some(_), None) => Err("the cluster reports no writer endpoint".into()),
    };

    let mut text = String::new();
    let mut line = |l: String| {
        text.push_str(&l);
        text.push('\n');
    };
    line(format!("# A migration spec written by `migprep init` for {} → {}.", request.cluster, request.server));
    line("# Review every value, then run `migprep plan` with this file.".into());
    line(String::new());
    line("# Names the state folder, the lock and the default parameter group.".into());
    line(format!("name = {}", quoted(&request.cluster)));
    if let Some(ca) = &ca_file {
        line("# An extra CA bundle (PEM) for every TLS connection, relative to this file.".into());
        let absolute = std::path::absolute(ca).unwrap_or_else(|_| ca.clone());
        line(format!("ca_file = {}", quoted(&absolute.display().to_string())));
    }
    line(String::new());
    line("[source]".into());
    line("# The Aurora DB cluster, its region and (optional) the AWS profile to read it with.".into());
    line(format!("cluster = {}", quoted(&request.cluster)));
    line(format!("region = {}", quoted(&request.region)));
    match &request.profile {
        Some(profile) => line(format!("profile = {}", quoted(profile))),
        None => line("# profile = \"prod\"".into()),
    }
    line(format!(
        "# The cluster's parameter group now: {} (migprep creates a dedicated one when it is a default or shared group).",
        cluster.parameter_group
    ));
    match &databases {
        Ok(names) if !names.is_empty() => {
            line("# The databases to migrate (found on the writer; remove those that stay).".into());
            let names: Vec<String> = names.iter().map(|name| quoted(name)).collect();
            line(format!("databases = [{}]", names.join(", ")));
        }
        Ok(_) => {
            line("# The databases to migrate: the writer holds none besides the maintenance ones; name them.".into());
            line("databases = [\"CHANGE-ME\"]".into());
        }
        Err(why) => {
            line(format!("# The databases to migrate: not listed ({}); name them.", why.replace('\n', " ")));
            line("databases = [\"CHANGE-ME\"]".into());
        }
    }
    line("# The role Azure's migration service logs in as on the source (here: the master user).".into());
    line(format!("migration_user = {}", quoted(&master)));
    line("# Its password, which `validate` needs: never the password itself.".into());
    line("# migration_password = { env = \"MIGRATOR_PGPASSWORD\" }".into());
    line(String::new());
    line("[source.connection]".into());
    match (&cluster.endpoint, cluster.port) {
        (Some(host), port) => line(format!(
            "# Host and port default to the writer endpoint the cluster reports: {host}:{}.",
            port.unwrap_or(5432)
        )),
        (None, _) => line("# Host and port default to the writer endpoint the cluster reports.".into()),
    }
    line("# The master user, and where its password comes from (an environment variable, a file,".into());
    line("# \"iam\" for an RDS IAM token, or { aws_secret = \"arn:…\" }).".into());
    line(format!("user = {}", quoted(&master)));
    line("password = { env = \"SOURCE_PGPASSWORD\" }".into());
    line("sslmode = \"verify-full\"".into());
    line(String::new());
    line("[target]".into());
    line("# The flexible server.".into());
    line(format!("subscription = {}", quoted(&request.subscription)));
    line(format!("resource_group = {}", quoted(&request.resource_group)));
    line(format!("server = {}", quoted(&request.server)));
    line("# The subscription's Microsoft Entra tenant: the az CLI and azd sign in to it, and a token".into());
    line("# for another tenant is refused before anything reaches the subscription.".into());
    match &tenant {
        Some(tenant) => line(format!("tenant = {}", quoted(tenant))),
        None => line("# tenant = \"00000000-0000-0000-0000-000000000000\"".into()),
    }
    line(String::new());
    line("[target.connection]".into());
    match &server.fqdn {
        Some(fqdn) => line(format!("# Host defaults to the server's FQDN, {fqdn}; port to 5432.")),
        None => line("# Host defaults to the server's FQDN; port to 5432.".into()),
    }
    line("# The server's admin login, and where its password comes from (or \"entra\" for a token).".into());
    line(format!("user = {}", quoted(&admin)));
    line("password = { env = \"TARGET_PGPASSWORD\" }".into());
    line("sslmode = \"verify-full\"".into());
    line(String::new());
    line("[allow]".into());
    line("# Disruptive actions are opt-in; until allowed they stay pending in the plan.".into());
    line("reboot_source_writer = false   # reboot the Aurora writer so static parameters take effect".into());
    line("restart_target = false         # restart the flexible server once for all static parameters".into());
    line("remove_replicas = \"no\"         # \"no\" | \"promote\" | \"delete\": the target's read replicas".into());
    line("resize_target = false          # scale the target's compute up to the source writer's".into());
    line(String::new());
    line("# Where state, journal and lock live; the default is .migprep/ beside this file.".into());
    line("# [state]".into());
    line("# backend = \"s3\"               # \"local\" | \"s3\" | \"azblob\"".into());
    line("# bucket = \"migprep-state\"".into());
    line("# prefix = \"team-a\"".into());

    // What is written must load: a spec init writes and plan refuses would help no one.
    Spec::parse(&request.out, &text).map_err(|e| {
        UserError::new(format!("the spec init would write does not validate: {}", e.message))
            .hint("report this; meanwhile write the spec from plans/example.toml")
    })?;
    write_new(&request.out, text.as_bytes())?;
    match &databases {
        Ok(_) => eprintln!(
            "migprep: wrote {}; review it, then run `migprep plan {}`",
            request.out.display(),
            request.out.display()
        ),
        Err(why) => eprintln!(
            "migprep: wrote {} without the databases ({why}); name them, then run `migprep plan {}`",
            request.out.display(),
            request.out.display()
        ),
    }
    Ok(Outcome::Clean)
}

/// Creates the file, failing if it exists (a file that appeared meanwhile is not overwritten either).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), UserError> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
        UserError::new(format!("cannot create {}: {e}", path.display()))
            .hint("pass --out with a new file name in a writable folder")
    })?;
    file.write_all(bytes).map_err(|e| UserError::new(format!("cannot write {}: {e}", path.display())))
}
