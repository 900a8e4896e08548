//! `migprep validate`: Azure's own premigration validation for the spec's pair. It creates a validate-only
//! migration on the target server (`migrationOption: Validate`), follows its `currentStatus` to a final
//! state with progress on stderr, and hands the service's items with the plan to
//! [`crate::rules::premigration`], which maps them to the rules. It also writes the body for
//! `az postgres flexible-server migration create --properties FILE`, with placeholders for the passwords.
//!
//! The passwords go into the create request and nowhere else: not into messages, logs or files.

use crate::clients::arm::migrations::{self, migration_resource};
use crate::clients::postgres::Password;
use crate::clients::{Clients, Databases};
use crate::error::UserError;
use crate::model::Observed;
use crate::model::migration::{Migration, MigrationMode, MigrationOption, MigrationRequest, MigrationSslMode};
use crate::plan::Plan;
use crate::plan::verdict::Verdict;
use crate::rules::premigration;
use crate::secret::Secret;
use crate::spec::{PasswordSource, Spec, SslMode};
use crate::text::inert;
use std::path::Path;
use std::time::{Duration, Instant};

/// The migration service takes at most this many databases in one migration (`dbsToMigrate` maxItems).
pub const MAX_DATABASES: usize = 50;
/// The service's name for an Aurora source.
const SOURCE_TYPE: &str = "AWS_AURORA";

/// How to run one validation.
#[derive(Clone, Debug)]
pub struct Options {
    /// Give up (and cancel the migration) after this long.
    pub deadline: Duration,
    /// Pause between two reads of the migration's status.
    pub poll_interval: Duration,
}

/// What can be refused before anything is observed: more databases than the service takes in one
/// migration, and a spec without the migration user's password.
pub fn preflight(spec: &Spec) -> Result<(), UserError> {
    check_database_count(spec)?;
    migration_password(spec).map(drop)
}

fn check_database_count(spec: &Spec) -> Result<(), UserError> {
    let count = spec.source.databases.len();
    if count > MAX_DATABASES {
        return Err(UserError::new(format!(
            "source.databases lists {count} databases; the migration service takes at most {MAX_DATABASES} in one migration"
        ))
        .hint(format!(
            "split the databases over several specs of at most {MAX_DATABASES} databases each (one migration per target server runs at a time)"
        )));
    }
    Ok(())
}

/// The request for the spec's pair, with the given passwords. Refuses more databases than the service
/// takes.
pub fn request(
    spec: &Spec,
    observed: &Observed,
    databases: &Databases,
    option: MigrationOption,
    source_password: Secret,
    target_password: Secret,
) -> Result<MigrationRequest, UserError> {
    check_database_count(spec)?;
    let source = &databases.source;
    Ok(MigrationRequest {
        location: observed.server.location.clone(),
        mode: MigrationMode::Online,
        option,
        source_type: SOURCE_TYPE.into(),
        source_server: format!("{}:{}@{}", source.host, source.port, spec.source.migration_user),
        ssl_mode: match spec.source.connection.sslmode {
            SslMode::VerifyFull => MigrationSslMode::VerifyFull,
            SslMode::Require => MigrationSslMode::Require,
            // Plain text is only allowed to a loopback host; the service's weakest choice is Prefer.
            SslMode::Disable => MigrationSslMode::Prefer,
        },
        databases: spec.source.databases.clone(),
        runtime_server: spec.target.migration_runtime_server.clone(),
        source_user: spec.source.migration_user.clone(),
        target_user: databases.target.user.clone(),
        source_password,
        target_password,
    })
}

/// `--migration-properties FILE`: the body for `az postgres flexible-server migration create
/// --properties FILE`, a full migration (`ValidateAndMigrate`) with placeholders for the passwords.
pub fn write_properties(path: &Path, spec: &Spec, observed: &Observed, databases: &Databases) -> Result<(), UserError> {
    let request = request(
        spec,
        observed,
        databases,
        MigrationOption::ValidateAndMigrate,
        Secret::new(String::new()),
        Secret::new(String::new()),
    )?;
    std::fs::write(path, migrations::properties_file(&request)).map_err(|e| {
        UserError::new(format!("cannot write the migration properties to {}: {e}", path.display()))
            .hint("check that the folder exists and is writable")
    })?;
    eprintln!(
        "migprep: wrote the migration properties to {} (replace the two password placeholders before using it)",
        path.display()
    );
    Ok(())
}

/// The migration user's password, which the service logs in with.
fn migration_password(spec: &Spec) -> Result<Secret, UserError> {
    let key = "source.migration_password";
    match &spec.source.migration_password {
        None => Err(UserError::new(format!(
            "{key} is not set: the migration service logs in to the source as {} and needs its password",
            spec.source.migration_user
        ))
        .hint("add migration_password = { env = \"VAR\" } or { file = \"path\" } to [source]")),
        Some(source @ (PasswordSource::Env(_) | PasswordSource::File(_))) => source
            .resolve(key)?
            .ok_or_else(|| UserError::new(format!("{key}: no password could be read")).hint("check the source")),
        Some(_) => Err(UserError::new(format!("{key}: the migration service logs in with a password, not a token"))
            .hint("use migration_password = { env = \"VAR\" } or { file = \"path\" }")),
    }
}

/// Runs the validation and compares it with the plan.
pub async fn run(
    spec: &Spec,
    clients: &Clients,
    observed: &Observed,
    databases: &Databases,
    plan: &Plan,
    options: &Options,
) -> Result<Verdict, UserError> {
    let source_password = migration_password(spec)?;
    let target_password = match &databases.target.password {
        Password::Fixed(secret) => secret.clone(),
        Password::Minted(_) => {
            return Err(UserError::new(
                "target.connection.password is a token: the migration service logs in to the target with the \
                 admin's password, which it keeps for the whole migration, and a token would expire",
            )
            .hint("give target.connection.password as { env = \"VAR\" } or { file = \"path\" } for validate"));
        }
    };
    let request = request(spec, observed, databases, MigrationOption::Validate, source_password, target_password)?;
    let arm = &clients.arm;
    let server = &clients.server;
    let active = arm.active_migrations(server).await?;
    if let Some(first) = active.first() {
        let names: Vec<String> = active
            .iter()
            .map(|m| {
                format!(
                    "{} ({}{})",
                    inert(&m.name, false),
                    inert(m.state.as_str(), false),
                    m.sub_state.as_deref().map(|s| format!(" / {}", inert(s, false))).unwrap_or_default()
                )
            })
            .collect();
        return Err(UserError::new(format!(
            "another migration is active on {server}: {}; the migration service runs one at a time per target server",
            names.join(", ")
        ))
        .hint(format!(
            "wait until it ends, or cancel it: az postgres flexible-server migration update --cancel -g {} -n {} --migration-name {}",
            server.resource_group,
            server.name,
            inert(&first.name, false)
        )));
    }
    let name = free_name(clients).await?;
    let resource = migration_resource(server, &name);
    eprintln!("migprep: asking Azure's migration service to validate ({resource})");
    let created = arm.create_migration(server, &name, &request).await?;
    drop(request);
    let started = Instant::now();
    let followed = tokio::time::timeout(options.deadline, follow(clients, &name, created, started, options)).await;
    let migration = match followed {
        Ok(result) => result?,
        Err(_) => {
            let cancelled = match arm.cancel_migration(server, &name).await {
                Ok(()) => "it was cancelled".to_string(),
                Err(e) => format!("cancelling it failed too: {e}"),
            };
            return Err(UserError::new(format!(
                "gave up after {}s (--deadline) waiting for the validation {resource} to finish; {cancelled}",
                options.deadline.as_secs()
            ))
            .hint(format!(
                "look at it with `az postgres flexible-server migration show -g {} -n {} --migration-name {name}`, \
                 or run validate again with a longer --deadline",
                server.resource_group, server.name
            )));
        }
    };
    Ok(premigration::compare(&spec.name, plan, &migration))
}

/// A migration name the service accepts and has not seen: `migprepvalidate` and twelve hex digits.
async fn free_name(clients: &Clients) -> Result<String, UserError> {
    for _ in 0..3 {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("migprepvalidate{}", &suffix[..12]);
        let availability = clients.arm.migration_name_availability(&clients.server, &name).await?;
        if availability.available {
            return Ok(name);
        }
        tracing::debug!(name = %name, reason = ?availability.reason, "migration name not available");
    }
    Err(UserError::new(format!("the migration service refused three fresh migration names on {}", clients.server))
        .hint("run validate again; if it keeps failing, check the server's migrations in the portal"))
}

/// Reads the migration until it reaches a final state, with a progress line on stderr whenever the state
/// changes and every half minute.
async fn follow(
    clients: &Clients,
    name: &str,
    mut migration: Migration,
    started: Instant,
    options: &Options,
) -> Result<Migration, UserError> {
    let mut shown: Option<(String, Option<String>)> = None;
    let mut last_line = Instant::now();
    loop {
        let seen = (migration.state.as_str().to_string(), migration.sub_state.clone());
        if shown.as_ref() != Some(&seen) || last_line.elapsed() >= Duration::from_secs(30) {
            eprintln!(
                "migprep: validation {}: {}{} ({}s)",
                inert(name, false),
                inert(&seen.0, false),
                seen.1.as_deref().map(|s| format!(" / {}", inert(s, false))).unwrap_or_default(),
                started.elapsed().as_secs()
            );
            shown = Some(seen);
            last_line = Instant::now();
        }
        if migration.state.is_final() {
            return Ok(migration);
        }
        tokio::time::sleep(options.poll_interval).await;
        migration = clients.arm.migration(&clients.server, name).await?;
    }
}
