//! Performs target operations: ARM calls on the flexible server and its replicas. A resumed step
//! re-observes first, so running it again after a crash does nothing if the change is already in place,
//! and waits out a change still in flight (an HA change a killed run started) instead of starting it
//! twice. A fresh step trusts the plan's observation and writes at once (a server still busy answers 409,
//! which the client waits out), and looks at the server afterwards only when the operation's read-back
//! does not show it at rest.
//!
//! Writes to one server are serialised by the ARM client; ARM's 409/429/5xx are waited out there.

use super::Attempt;
use crate::clients::Clients;
use crate::clients::arm::AzureError;
use crate::model::server::{HaState, ReplicationRole, Server, ServerId, ServerState, Sku};
use crate::plan::Change;
use crate::plan::operation::TargetOp;
use crate::plan::target_ops::ReplicaDefinition;
use crate::plan::target_ops::describe_high_availability;
use crate::poll::{Ended, Probe, Wait};
use anyhow::{Context, bail};
use std::time::Duration;

/// How long to wait for a server busy with an operation someone else (or a killed run) started.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);

pub async fn perform(
    op: &TargetOp,
    change: &Change,
    clients: &Clients,
    poll_interval: Duration,
    attempt: Attempt,
) -> anyhow::Result<Option<String>> {
    let arm = &clients.arm;
    let server = &clients.server;
    let resumed = attempt == Attempt::Resumed;
    match op {
        TargetOp::SetConfiguration { name, value } => {
            if resumed {
                // An operation a killed run started may be setting this very value: wait for it to end
                // before reading, or the read sees the old value and the change is made twice.
                settle(clients, server, poll_interval).await?;
                let current = arm.configuration(server, name).await?;
                if current.value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(value)) {
                    return Ok(current.value);
                }
            }
            // The operation's status carries no resource: the client reads the parameter back once.
            let set = arm.set_configuration(server, name, value).await?;
            Ok(set.value)
        }
        TargetOp::SetHighAvailability { mode, standby_zone } => {
            let wanted = |s: &Server| {
                s.high_availability.mode.eq_ignore_ascii_case(mode)
                    && (standby_zone.is_none() || s.high_availability.standby_zone == *standby_zone)
            };
            // A run killed during the PATCH leaves the operation running: wait for it, do not start another.
            let current = if resumed { Some(settle(clients, server, poll_interval).await?) } else { None };
            let after = match current {
                Some(current) if wanted(&current) => current,
                _ => {
                    let after = arm.set_high_availability(server, mode, standby_zone.as_deref()).await?;
                    settled_or_wait(clients, after, poll_interval).await?
                }
            };
            if !wanted(&after) {
                bail!(
                    "high availability of {server} is {} after the change, not {}",
                    describe_high_availability(
                        &after.high_availability.mode,
                        after.high_availability.standby_zone.as_deref()
                    ),
                    describe_high_availability(mode, standby_zone.as_deref()),
                );
            }
            Ok(Some(describe_high_availability(
                &after.high_availability.mode,
                after.high_availability.standby_zone.as_deref(),
            )))
        }
        TargetOp::Restart { parameters } => {
            if resumed && pending(clients, parameters).await?.is_empty() {
                return Ok(None);
            }
            arm.restart(server).await?;
            // The server and the parameters, read at once: one round trip when the restart left the
            // server at rest, as it normally does.
            let (after, still) = tokio::join!(arm.server(server), pending(clients, parameters));
            let ha_moving = |s: &Server| s.high_availability.state.as_ref().is_some_and(HaState::is_transition);
            let still = match after? {
                after if after.state == ServerState::Ready && !ha_moving(&after) => still?,
                _ => {
                    settle(clients, server, poll_interval).await?;
                    pending(clients, parameters).await?
                }
            };
            if !still.is_empty() {
                bail!("{server} still waits for a restart for {} after restarting", still.join(", "));
            }
            Ok(None)
        }
        TargetOp::Resize { sku, tier } => {
            let wanted = |s: &Server| s.sku.name.eq_ignore_ascii_case(sku);
            // A run killed during the resize leaves it running: wait for it rather than asking again.
            let current = if resumed { Some(settle(clients, server, poll_interval).await?) } else { None };
            let after = match current {
                Some(current) if wanted(&current) => current,
                _ => settled_or_wait(clients, arm.set_sku(server, sku, tier).await?, poll_interval).await?,
            };
            if !wanted(&after) {
                bail!("{server} has compute size {} after the resize, not {sku}", after.sku.name);
            }
            Ok(Some(format!("{} ({})", after.sku.name, after.sku.tier)))
        }
        TargetOp::GrowStorage { size_gb } => {
            let current = if resumed { Some(settle(clients, server, poll_interval).await?) } else { None };
            // Already as large (or larger, grown by auto-grow meanwhile): storage never shrinks, so done.
            let after = match current {
                Some(current) if current.storage_size_gb.is_some_and(|gb| gb >= *size_gb) => current,
                _ => settled_or_wait(clients, arm.set_storage(server, *size_gb).await?, poll_interval).await?,
            };
            match after.storage_size_gb {
                Some(gb) if gb >= *size_gb => Ok(Some(format!("{gb} GB"))),
                other => bail!(
                    "storage of {server} is {} after growing it, not {size_gb} GB",
                    other.map_or("unknown".to_string(), |gb| format!("{gb} GB"))
                ),
            }
        }
        TargetOp::PromoteReplica { replica } => {
            let id = replica_id(clients, replica);
            // A promotion a killed run started may still be running: asking again would be refused (the
            // server is busy, then no longer a replica). Wait for it to end, then look.
            let current = until_still(clients, &id, poll_interval)
                .await?
                .ok_or_else(|| anyhow::anyhow!("{id} no longer exists; it cannot be promoted"))?;
            if !is_replica(&current) {
                return Ok(change.after.clone());
            }
            arm.promote_replica(&id).await?;
            let after = arm.server(&id).await?;
            if is_replica(&after) {
                bail!("{id} is still a read replica after its promotion");
            }
            Ok(change.after.clone())
        }
        TargetOp::DeleteReplica { replica } => {
            let id = replica_id(clients, replica);
            // A deletion a killed run started ends with the server gone: wait for that rather than
            // deleting twice.
            if until_still(clients, &id, poll_interval).await?.is_none() {
                return Ok(change.after.clone());
            }
            arm.delete_server(&id).await?;
            Ok(change.after.clone())
        }
        TargetOp::CreateReplica { replica } => {
            let id = replica_id(clients, replica);
            let replicas = arm.replicas(server).await?;
            if replicas.iter().any(|r| r.name.eq_ignore_ascii_case(&replica.name)) {
                return Ok(change.after.clone());
            }
            let primary = arm.server(server).await?;
            let sku = Sku { name: replica.sku.clone(), tier: replica.tier.clone() };
            arm.create_replica(&id, &primary.id, &replica.location, &sku, replica.storage_size_gb)
                .await
                .with_context(|| format!("re-creating read replica {} of {}", replica.name, server.name))?;
            Ok(change.after.clone())
        }
    }
}

fn replica_id(clients: &Clients, replica: &ReplicaDefinition) -> ServerId {
    ServerId::new(&clients.server.subscription, &replica.resource_group, &replica.name)
}

fn is_replica(server: &Server) -> bool {
    server.replication_role.as_ref().is_some_and(ReplicationRole::is_replica)
}

/// The parameters of `names` that still wait for a restart (any parameter when `names` is empty). Named
/// parameters are read each on its own, all at once (one round trip, where listing every configuration
/// takes one per page).
async fn pending(clients: &Clients, names: &[String]) -> anyhow::Result<Vec<String>> {
    let configurations = if names.is_empty() {
        clients.arm.configurations(&clients.server).await?
    } else {
        // A parameter the server no longer reports waits for nothing.
        let reads = names.iter().map(|name| async move {
            match clients.arm.configuration(&clients.server, name).await {
                Ok(configuration) => Ok(Some(configuration)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        });
        futures::future::try_join_all(reads).await?.into_iter().flatten().collect()
    };
    Ok(configurations.into_iter().filter(|c| c.is_pending_restart).map(|c| c.name).collect())
}

/// The server as an operation's read-back showed it, if it is settled (`Ready`, no HA transition);
/// otherwise waits until it is. Saves a look when the operation already ended with the server at rest.
async fn settled_or_wait(clients: &Clients, server: Server, interval: Duration) -> anyhow::Result<Server> {
    let ha_moving = server.high_availability.state.as_ref().is_some_and(HaState::is_transition);
    if server.state == ServerState::Ready && !ha_moving {
        return Ok(server);
    }
    settle(clients, &clients.server, interval).await
}

/// Waits until the server is `Ready` with no HA transition under way, and returns it: the state every
/// change to the server itself needs.
async fn settle(clients: &Clients, id: &ServerId, interval: Duration) -> anyhow::Result<Server> {
    wait_for(clients, id, interval, |server| server.state == ServerState::Ready)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{id} no longer exists"))
}

/// Waits while a replica is on its way somewhere (a promotion or deletion a killed run started) and
/// returns it as it then is, or `None` once it is gone. A replica that is stopped or disabled is not
/// waited for: nothing changes that by itself.
async fn until_still(clients: &Clients, id: &ServerId, interval: Duration) -> anyhow::Result<Option<Server>> {
    wait_for(clients, id, interval, |server| !server.state.is_transition()).await
}

/// Looks at the server until `settled` holds and no HA transition is under way, or it is gone (`None`).
async fn wait_for(
    clients: &Clients,
    id: &ServerId,
    interval: Duration,
    settled: impl Fn(&Server) -> bool,
) -> anyhow::Result<Option<Server>> {
    let wait = Wait::new(format!("{id} to be ready"), interval, SETTLE_TIMEOUT);
    let settled = wait
        .until(|| async {
            let server = match clients.arm.server(id).await {
                Ok(server) => server,
                Err(e) if e.is_not_found() => return Ok(Probe::Done(None)),
                Err(e) => return Err(e),
            };
            let ha_moving = server.high_availability.state.as_ref().is_some_and(HaState::is_transition);
            if settled(&server) && !ha_moving {
                return Ok(Probe::Done(Some(server)));
            }
            let seen = format!(
                "{} (high availability {})",
                server.state,
                server.high_availability.state.as_ref().map_or("unknown", HaState::as_str)
            );
            Ok::<_, AzureError>(Probe::pending(seen))
        })
        .await;
    match settled {
        Ok(server) => Ok(server),
        Err(Ended::Failed(error)) => Err(error.into()),
        Err(Ended::TimedOut(timed_out)) => Err(timed_out.into()),
    }
}
