//! Performs source operations: RDS API calls and SQL on the Aurora writer. Each re-observes first where
//! the step is resumed (or where the observation is needed anyway), so running it again after a crash
//! does nothing if the change is already in place.
//!
//! RDS writes wait for the instances to be `available` before the next mutating call (a member that is
//! `modifying` refuses a reboot with `InvalidDBInstanceState`). SQL identifiers are quoted, values bound.

use super::Attempt;
use crate::clients::postgres::{self, Endpoint};
use crate::clients::rds::{AwsError, ParameterChange, ParameterSource, Rds};
use crate::clients::{Clients, Databases};
use crate::error::UserError;
use crate::model::cluster::{AVAILABLE, ApplyType};
use crate::plan::operation::SourceOp;
use crate::plan::source_ops::ParameterValue;
use crate::poll::{Probe, Wait};
use std::time::Duration;
use tokio_postgres::types::Type;

/// How long a writer reboot may take before migprep gives up waiting (it may still finish; a new
/// `apply` resumes and finds it done).
const REBOOT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How often to try connecting while the writer comes back.
const RECONNECT_INTERVAL: Duration = Duration::from_millis(500);

/// How long the writer may take to accept connections again after it reports `available`.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn perform(
    op: &SourceOp,
    clients: &Clients,
    databases: &Databases,
    attempt: Attempt,
) -> anyhow::Result<Option<String>> {
    let rds = &clients.rds;
    match op {
        SourceOp::CreateParameterGroup { name, family, description, carry_over } => {
            create_group(rds, name, family, description, carry_over, attempt).await
        }
        SourceOp::SetParameters { group, parameters } => set_parameters(rds, group, parameters, attempt).await,
        SourceOp::AttachParameterGroup { cluster, group } => attach(rds, cluster, group).await,
        SourceOp::RebootWriter { cluster, instance, verify } => {
            reboot(rds, &databases.source, clients, cluster, instance, verify).await
        }
        SourceOp::Grant { role, member } => membership(op, &databases.source, clients, role, member, true).await,
        SourceOp::Revoke { role, member } => membership(op, &databases.source, clients, role, member, false).await,
    }
}

fn aws(error: AwsError) -> anyhow::Error {
    error.to_user_error().into()
}

fn changes(parameters: &[ParameterValue]) -> Vec<ParameterChange> {
    parameters
        .iter()
        .map(|p| ParameterChange {
            name: p.name.clone(),
            value: p.value.clone(),
            apply_type: ApplyType::parse(&p.apply_type),
        })
        .collect()
}

/// Creates the group (a fresh step asks at once: the plan saw no such group; a resumed one looks first)
/// and carries the values over that it does not hold yet.
async fn create_group(
    rds: &Rds,
    name: &str,
    family: &str,
    description: &str,
    carry_over: &[ParameterValue],
    attempt: Attempt,
) -> anyhow::Result<Option<String>> {
    let existing = match attempt {
        Attempt::Resumed => rds.parameter_group(name).await.map_err(aws)?,
        Attempt::Fresh => None,
    };
    let mut created = false;
    let existing = match existing {
        Some(group) => Some(group),
        None => match rds.create_parameter_group(name, family, description).await {
            Ok(_) => {
                created = true;
                None
            }
            // A retried create whose first attempt went through, or a group made since the plan.
            Err(e) if e.code() == Some("DBParameterGroupAlreadyExists") => {
                rds.parameter_group(name).await.map_err(aws)?
            }
            Err(e) => return Err(aws(e)),
        },
    };
    if let Some(group) = existing.filter(|g| g.family != family) {
        return Err(UserError::new(format!(
            "DB cluster parameter group {name} exists with family {}, not {family}",
            group.family
        ))
        .hint("set `desired.parameter_group` in the spec to an unused name")
        .into());
    }
    // A group just created holds no user-set value: nothing to read.
    let have = if created || carry_over.is_empty() {
        Vec::new()
    } else {
        rds.parameters(name, Some(ParameterSource::User), &[]).await.map_err(aws)?
    };
    let missing: Vec<ParameterValue> = carry_over
        .iter()
        .filter(|p| !have.iter().any(|h| h.name == p.name && h.value.as_deref() == Some(p.value.as_str())))
        .cloned()
        .collect();
    if !missing.is_empty() {
        rds.modify_parameters(name, &changes(&missing)).await.map_err(aws)?;
    }
    Ok(Some(name.to_string()))
}

/// One request for all of `parameters` (the client splits at the per-call limit). A fresh step sends it
/// straight away: the plan saw the values differ, and setting a value a group holds is harmless. A
/// resumed one first reads the group and sends only what is still missing.
async fn set_parameters(
    rds: &Rds,
    group: &str,
    parameters: &[ParameterValue],
    attempt: Attempt,
) -> anyhow::Result<Option<String>> {
    let todo: Vec<ParameterValue> = match attempt {
        Attempt::Fresh => parameters.to_vec(),
        Attempt::Resumed => {
            let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
            let have = rds.parameters(group, None, &names).await.map_err(aws)?;
            parameters
                .iter()
                .filter(|p| !have.iter().any(|h| h.name == p.name && h.value.as_deref() == Some(p.value.as_str())))
                .cloned()
                .collect()
        }
    };
    if !todo.is_empty() {
        rds.modify_parameters(group, &changes(&todo)).await.map_err(aws)?;
    }
    // Shared by the changes of several parameters: each keeps its own planned value.
    Ok(None)
}

async fn attach(rds: &Rds, cluster: &str, group: &str) -> anyhow::Result<Option<String>> {
    let current = rds.cluster(cluster).await.map_err(aws)?;
    if current.parameter_group != group {
        // The cluster's read shows the writer's status: wait only when it is not available already.
        if let Some(writer) = current.writer().filter(|w| w.status.as_deref() != Some(AVAILABLE)) {
            rds.wait_until_available(&writer.instance_id, REBOOT_TIMEOUT).await.map_err(aws)?;
        }
        rds.attach_parameter_group(cluster, group).await.map_err(aws)?;
        // The members go through `modifying`; the next mutating call (the reboot) must not find them so.
        if let Some(writer) = current.writer() {
            rds.wait_until_available(&writer.instance_id, REBOOT_TIMEOUT).await.map_err(aws)?;
        }
    }
    Ok(Some(group.to_string()))
}

async fn reboot(
    rds: &Rds,
    endpoint: &Endpoint,
    clients: &Clients,
    cluster: &str,
    instance: &str,
    verify: &[(String, String)],
) -> anyhow::Result<Option<String>> {
    let current = rds.cluster(cluster).await.map_err(aws)?;
    let Some(writer) = current.writer() else {
        return Err(UserError::new(format!("DB cluster {cluster} has no writer to reboot"))
            .hint("wait for the cluster's failover to finish, then run `migprep apply` again")
            .into());
    };
    if writer.instance_id != instance {
        return Err(UserError::new(format!(
            "the writer of DB cluster {cluster} is now {}, not {instance} (a failover happened)",
            writer.instance_id
        ))
        .hint("run `migprep plan` again")
        .into());
    }
    let in_sync = writer.parameter_group_status == crate::model::cluster::IN_SYNC;
    if !(in_sync && mismatches(endpoint, clients, verify, Duration::ZERO).await?.is_empty()) {
        if writer.status.as_deref() != Some(AVAILABLE) {
            rds.wait_until_available(instance, REBOOT_TIMEOUT).await.map_err(aws)?;
        }
        rds.reboot_instance(instance).await.map_err(aws)?;
        rds.wait_until_in_sync(cluster, &[instance], REBOOT_TIMEOUT).await.map_err(aws)?;
        let wrong = mismatches(endpoint, clients, verify, RECONNECT_TIMEOUT).await?;
        if !wrong.is_empty() {
            return Err(UserError::new(format!("DB instance {instance} was rebooted but runs {}", wrong.join(", ")))
                .hint("check the cluster's parameter group in the console; values the engine rejects are ignored")
                .into());
        }
    }
    Ok(Some(format!("in-sync; {}", verify.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "))))
}

/// The settings in `verify` that the writer does not run, as `name = running (expected …)`. Connection
/// failures are retried for `patience` (the writer may still be starting).
async fn mismatches(
    endpoint: &Endpoint,
    clients: &Clients,
    verify: &[(String, String)],
    patience: Duration,
) -> anyhow::Result<Vec<String>> {
    // Right after a reboot the writer refuses connections for a while: that is waited out, not reported.
    let wait = Wait::new("the source writer to accept connections", RECONNECT_INTERVAL, patience);
    let last_error = std::sync::Mutex::new(None);
    let connected = wait
        .until(|| async {
            match postgres::connect(endpoint, &clients.trust, postgres::CONNECT_TIMEOUT).await {
                Ok(client) => Ok::<_, ()>(Probe::Done(client)),
                Err(e) => {
                    let seen = e.to_string();
                    *last_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(e);
                    Ok(Probe::pending(seen))
                }
            }
        })
        .await;
    let client = match (connected, last_error.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())) {
        (Ok(client), _) => client,
        (Err(_), Some(e)) => {
            return Err(UserError::new(format!("cannot connect to the source writer to verify: {e}"))
                .hint(e.hint(endpoint.side))
                .into());
        }
        (Err(_), None) => unreachable!("a wait ends early only after a failed attempt"),
    };
    let names: Vec<&str> = verify.iter().map(|(k, _)| k.as_str()).collect();
    // Typed parameters: one round trip, no Prepare first.
    let rows = client
        .query_typed("SELECT name, setting FROM pg_settings WHERE name = ANY($1)", &[(&names, Type::TEXT_ARRAY)])
        .await?;
    Ok(verify
        .iter()
        .filter_map(|(name, expected)| {
            let running = rows.iter().find(|r| r.get::<_, &str>(0) == name).map(|r| r.get::<_, String>(1));
            (running.as_deref() != Some(expected.as_str()))
                .then(|| format!("{name} = {} (expected {expected})", running.as_deref().unwrap_or("unknown")))
        })
        .collect())
}

/// `GRANT role TO member` (or `REVOKE role FROM member`) unless it is already so.
async fn membership(
    op: &SourceOp,
    endpoint: &Endpoint,
    clients: &Clients,
    role: &str,
    member: &str,
    grant: bool,
) -> anyhow::Result<Option<String>> {
    let client = postgres::connect(endpoint, &clients.trust, postgres::CONNECT_TIMEOUT)
        .await
        .map_err(|e| UserError::new(format!("cannot connect to the source writer: {e}")).hint(e.hint(endpoint.side)))?;
    let is_member: bool = client
        .query_one("SELECT pg_has_role($1, $2, 'MEMBER')", &[&member, &role])
        .await
        .map_err(|e| sql(format!("checking whether {member:?} is a member of {role}"), e))?
        .get(0);
    if is_member != grant {
        let statement = op.statement().expect("grants and revokes are statements");
        client.batch_execute(&statement).await.map_err(|e| sql(format!("{statement} on the source"), e))?;
    }
    Ok(Some(if grant { "member" } else { "not a member" }.to_string()))
}

fn sql(what: String, error: tokio_postgres::Error) -> anyhow::Error {
    UserError::new(postgres::sql_error(&format!("{what} failed"), error))
        .hint("the source connection user must be the master user (a member of rds_superuser)")
        .into()
}
