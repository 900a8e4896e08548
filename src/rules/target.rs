//! Target prerequisites T1–T3 and T11 (temp tablespaces, high availability, read replicas, one batched
//! restart). Pure: the spec and the observed server in, changes, checks and the observations they depend
//! on out.
//!
//! What `restore` needs travels as data: each temporary change carries its [`Original`] (a parameter's
//! value, the HA mode and standby zone, a replica's definition), which the executor records and
//! [`super::restore`] reads back. The display text (`before`/`after`) is for people only.

use super::Findings;
use crate::model::server::{self, Configurations, HighAvailability, Server};
use crate::plan::file::Observation;
use crate::plan::operation::TargetOp;
use crate::plan::target_ops::{ReplicaDefinition, describe_high_availability};
use crate::plan::{Action, Address, Change, Check, Operation, Original, Removal, RuleId};
use crate::spec::{RemoveReplicas, Spec};
use std::collections::BTreeSet;

/// T1's parameter: temporary tablespaces on the local SSD break the migration's initial copy.
pub const TEMP_TABLESPACES: &str = "azure.enable_temp_tablespaces_on_local_ssd";

const PROMOTED: &str = "promoted to a standalone server";
const DELETED: &str = "deleted";

pub(super) fn server_address(server: &str, rest: &str) -> Address {
    Address::server(server).child(rest)
}

pub fn configuration_address(server: &str, name: &str) -> Address {
    server_address(server, &format!("configuration/{name}"))
}

/// The prerequisites the migration needs on the flexible server. `others` are the parameter changes
/// other rules (T4–T6) plan on this server: the one restart covers their static ones too.
pub fn plan(
    spec: &Spec,
    server: &Server,
    replicas: &[server::Replica],
    state: &Configurations,
    others: &[Change],
) -> Findings {
    let mut findings = Findings::default();
    temp_tablespaces(server, state, &mut findings);
    high_availability(server, &mut findings);
    read_replicas(spec, server, replicas, &mut findings);
    let all: Vec<Change> = others.iter().chain(&findings.changes).cloned().collect();
    if let Some(restart) = restart(spec, server, state, &all) {
        findings.changes.push(restart);
    } else {
        findings.checks.push(Check {
            address: server_address(&server.name, "restart"),
            rule: RuleId::T11,
            summary: "no server parameter waits for a restart".into(),
        });
    }
    observe_restart(server, state, &mut findings);
    findings
}

/// T1: `azure.enable_temp_tablespaces_on_local_ssd` off for the migration, the original recorded.
fn temp_tablespaces(server: &Server, state: &Configurations, findings: &mut Findings) {
    let address = configuration_address(&server.name, TEMP_TABLESPACES);
    // Servers without the parameter (no local SSD) have nothing to turn off.
    let Some(configuration) = state.configuration(TEMP_TABLESPACES) else {
        return;
    };
    let value = configuration.value.clone().unwrap_or_default();
    findings.observations.push(Observation::new(address.clone(), value.clone()));
    if is_off(&value) {
        findings.checks.push(Check { address, rule: RuleId::T1, summary: format!("{TEMP_TABLESPACES} is off") });
        return;
    }
    let mut change = Change::new(
        address,
        Action::Update,
        RuleId::T1,
        "temporary tablespaces on the local SSD must be off while the migration copies data; restore turns them back on",
    );
    change.original = Some(Original::Configuration {
        server: server.name.clone(),
        name: TEMP_TABLESPACES.into(),
        value: value.clone(),
    });
    change.before = Some(value);
    change.after = Some("off".into());
    change.temporary = true;
    change.operation =
        Some(Operation::Target(TargetOp::SetConfiguration { name: TEMP_TABLESPACES.into(), value: "off".into() }));
    findings.changes.push(change);
}

fn is_off(value: &str) -> bool {
    ["off", "false", "0"].iter().any(|off| value.trim().eq_ignore_ascii_case(off))
}

pub(super) fn describe(ha: &HighAvailability) -> String {
    describe_high_availability(&ha.mode, ha.standby_zone.as_deref())
}

/// T2: high availability disabled for the migration; the mode and standby zone recorded for restore.
fn high_availability(server: &Server, findings: &mut Findings) {
    let address = server_address(&server.name, "high_availability");
    let ha = &server.high_availability;
    findings.observations.push(Observation::new(address.clone(), describe(ha)));
    if !ha.is_enabled() {
        findings.checks.push(Check { address, rule: RuleId::T2, summary: "high availability is disabled".into() });
        return;
    }
    let mut change = Change::new(
        address,
        Action::Update,
        RuleId::T2,
        "the migration service needs high availability disabled on the target; removing the standby takes several minutes, and restore re-enables it",
    );
    change.before = Some(describe(ha));
    change.after = Some("Disabled".into());
    change.temporary = true;
    change.original = Some(Original::HighAvailability {
        server: server.name.clone(),
        mode: ha.mode.clone(),
        standby_zone: ha.standby_zone.clone(),
    });
    change.operation =
        Some(Operation::Target(TargetOp::SetHighAvailability { mode: "Disabled".into(), standby_zone: None }));
    findings.changes.push(change);
}

pub(super) fn definition(spec: &Spec, replica: &server::Replica) -> ReplicaDefinition {
    ReplicaDefinition {
        name: replica.name.clone(),
        resource_group: replica.resource_group.clone().unwrap_or_else(|| spec.target.resource_group.clone()),
        location: replica.location.clone(),
        sku: replica.sku.name.clone(),
        tier: replica.sku.tier.clone(),
        storage_size_gb: replica.storage_size_gb,
    }
}

pub(super) fn summary(replica: &ReplicaDefinition) -> String {
    let storage = replica.storage_size_gb.map(|gb| format!(", {gb} GB")).unwrap_or_default();
    format!(
        "{} ({}, {}{storage}, resource group {})",
        replica.name, replica.sku, replica.location, replica.resource_group
    )
}

/// T3: no read replicas. Removing them is opt-in; each one's definition is recorded for restore.
fn read_replicas(spec: &Spec, server: &Server, replicas: &[server::Replica], findings: &mut Findings) {
    let names: Vec<&str> = replicas.iter().map(|r| r.name.as_str()).collect();
    findings.observations.push(Observation::new(server_address(&server.name, "replicas"), names.join(",")));
    if replicas.is_empty() {
        findings.checks.push(Check {
            address: server_address(&server.name, "replicas"),
            rule: RuleId::T3,
            summary: "no read replicas".into(),
        });
        return;
    }
    for replica in replicas {
        let address = server_address(&server.name, &format!("replica/{}", replica.name));
        let definition = definition(spec, replica);
        let change = match spec.allow.remove_replicas {
            RemoveReplicas::No => {
                let mut change = Change::new(
                    address,
                    Action::Blocker,
                    RuleId::T3,
                    format!(
                        "{} is a read replica of {}; the migration service needs a target without read replicas",
                        summary(&definition),
                        server.name
                    ),
                );
                change.remedy = Some(format!(
                    "set [allow] remove_replicas = \"promote\" to make {0} a standalone server, or \"delete\" to delete it \
                     (restore can re-create it with [allow] recreate_replicas = true); or remove {0} yourself",
                    replica.name
                ));
                change
            }
            how @ (RemoveReplicas::Promote | RemoveReplicas::Delete) => {
                let promote = how == RemoveReplicas::Promote;
                let reason = if promote {
                    "the migration service needs a target without read replicas: promoted, it stops replicating and keeps its data as a standalone server"
                } else {
                    "the migration service needs a target without read replicas: deleted, with its data"
                };
                let mut change = Change::new(address, Action::Delete, RuleId::T3, reason);
                change.before = Some(summary(&definition));
                change.after = Some(if promote { PROMOTED } else { DELETED }.into());
                change.disruptive = true;
                change.temporary = true;
                change.original = Some(Original::Replica {
                    server: server.name.clone(),
                    replica: definition.clone(),
                    removed: if promote { Removal::Promoted } else { Removal::Deleted },
                });
                change.operation = Some(Operation::Target(if promote {
                    TargetOp::PromoteReplica { replica: definition }
                } else {
                    TargetOp::DeleteReplica { replica: definition }
                }));
                change
            }
        };
        findings.changes.push(change);
    }
}

/// T11: one restart for every static parameter this plan changes and every one already waiting, after
/// them (and after an HA change, so the standby is not restarted too). Only with `[allow] restart_target`.
pub(super) fn restart(spec: &Spec, server: &Server, state: &Configurations, changes: &[Change]) -> Option<Change> {
    let mut parameters: BTreeSet<String> = state.pending_restart().map(|c| c.name.clone()).collect();
    let mut depends_on = Vec::new();
    // Pending changes and blockers are not applied, so they have nothing for the restart to activate.
    for change in changes.iter().filter(|c| c.pending.is_none() && c.action != Action::Blocker) {
        match &change.operation {
            // Unknown parameters count as static: a restart too many beats a change that never applies.
            Some(Operation::Target(TargetOp::SetConfiguration { name, .. }))
                if state.configuration(name).is_none_or(|c| !c.is_dynamic) =>
            {
                parameters.insert(name.clone());
                depends_on.push(change.address.clone());
            }
            Some(Operation::Target(TargetOp::SetHighAvailability { .. })) => depends_on.push(change.address.clone()),
            _ => {}
        }
    }
    if parameters.is_empty() {
        return None;
    }
    let parameters: Vec<String> = parameters.into_iter().collect();
    let list = parameters.join(", ");
    let mut change = Change::new(
        server_address(&server.name, "restart"),
        Action::Restart,
        RuleId::T11,
        format!("static server parameters take effect only after a restart: {list}; one restart covers them all"),
    );
    change.disruptive = true;
    change.depends_on = depends_on;
    if !spec.allow.restart_target {
        change.pending = Some(format!("[allow] restart_target is false; waiting for a restart: {list}"));
        change.remedy = Some(format!(
            "set [allow] restart_target = true in the spec, or restart the server yourself: \
             az postgres flexible-server restart --resource-group {} --name {}",
            spec.target.resource_group, server.name
        ));
    }
    change.operation = Some(Operation::Target(TargetOp::Restart { parameters }));
    Some(change)
}

pub(super) fn observe_restart(server: &Server, state: &Configurations, findings: &mut Findings) {
    let waiting: Vec<&str> = state.pending_restart().map(|c| c.name.as_str()).collect();
    findings.observations.push(Observation::new(server_address(&server.name, "restart"), waiting.join(",")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::server::Configuration;

    use crate::rules::fixtures::{self, configuration, replica, server_with_ha as server, spec};

    fn state(list: &[Configuration]) -> Configurations {
        fixtures::configurations(list)
    }

    fn addresses(findings: &Findings) -> Vec<(&str, Action, bool)> {
        findings.changes.iter().map(|c| (c.address.as_str(), c.action, c.pending.is_some())).collect()
    }

    #[test]
    fn temp_tablespaces_and_high_availability_are_turned_off_temporarily() {
        let findings = plan(
            &spec(""),
            &server("ZoneRedundant", Some("2")),
            &[],
            &state(&[configuration(TEMP_TABLESPACES, "on", true, false)]),
            &[],
        );
        assert_eq!(
            addresses(&findings),
            [
                (
                    "azure.server/pg-orders/configuration/azure.enable_temp_tablespaces_on_local_ssd",
                    Action::Update,
                    false
                ),
                ("azure.server/pg-orders/high_availability", Action::Update, false),
            ]
        );
        assert!(findings.changes.iter().all(|c| c.temporary && !c.disruptive));
        assert_eq!(findings.changes[1].before.as_deref(), Some("ZoneRedundant (standby zone 2)"));
    }

    #[test]
    fn nothing_to_do_when_off_and_disabled() {
        let findings = plan(
            &spec(""),
            &server("Disabled", None),
            &[],
            &state(&[configuration(TEMP_TABLESPACES, "off", true, false)]),
            &[],
        );
        assert!(findings.changes.is_empty(), "{:?}", findings.changes);
        assert_eq!(findings.checks.len(), 4);
    }

    #[test]
    fn replicas_are_blockers_or_removed_as_allowed() {
        let replicas = [replica("r1"), replica("r2")];
        let cases = [
            ("", Action::Blocker, None),
            ("remove_replicas = \"promote\"", Action::Delete, Some(PROMOTED)),
            ("remove_replicas = \"delete\"", Action::Delete, Some(DELETED)),
        ];
        for (allow, action, after) in cases {
            let findings = plan(&spec(allow), &server("Disabled", None), &replicas, &Configurations::default(), &[]);
            assert_eq!(findings.changes.len(), 2, "{allow}");
            for (change, name) in findings.changes.iter().zip(["r1", "r2"]) {
                assert_eq!(change.address.as_str(), format!("azure.server/pg-orders/replica/{name}"));
                assert_eq!(change.action, action, "{allow}");
                assert_eq!(change.after.as_deref(), after, "{allow}");
                if action == Action::Blocker {
                    let remedy = change.remedy.as_deref().unwrap();
                    assert!(remedy.contains("\"promote\"") && remedy.contains("\"delete\""), "{remedy}");
                } else {
                    let Some(Original::Replica { replica: recorded, removed, .. }) = &change.original else {
                        panic!("no recorded definition: {change:?}");
                    };
                    assert_eq!((recorded.name.as_str(), recorded.sku.as_str()), (name, "Standard_D2ds_v5"));
                    assert_eq!(*removed == Removal::Promoted, after == Some(PROMOTED));
                    assert!(change.before.as_deref().unwrap().starts_with(&format!("{name} (")), "for people");
                    assert!(change.disruptive && change.temporary);
                }
            }
        }
    }

    #[test]
    fn one_restart_for_every_static_parameter_pending_unless_allowed() {
        let target = state(&[
            configuration("max_wal_senders", "20", false, true),
            configuration("shared_preload_libraries", "pg_cron", false, true),
            configuration(TEMP_TABLESPACES, "off", true, false),
        ]);
        for (allow, pending) in [("", true), ("restart_target = true", false)] {
            let findings = plan(&spec(allow), &server("Disabled", None), &[], &target, &[]);
            assert_eq!(addresses(&findings), [("azure.server/pg-orders/restart", Action::Restart, pending)]);
            let restart = &findings.changes[0];
            assert_eq!(
                restart.operation,
                Some(Operation::Target(TargetOp::Restart {
                    parameters: vec!["max_wal_senders".into(), "shared_preload_libraries".into()]
                }))
            );
            assert!(restart.disruptive);
        }
    }

    #[test]
    fn other_rules_static_changes_join_the_one_restart() {
        let target = state(&[
            configuration("max_wal_senders", "20", false, true),
            configuration("shared_preload_libraries", "pg_cron", false, false),
            configuration("work_mem", "4096", true, false),
            configuration(TEMP_TABLESPACES, "off", true, false),
        ]);
        let set = |name: &str, value: &str| {
            let mut change = Change::new(configuration_address("pg-orders", name), Action::Update, RuleId::T5, "r");
            change.operation =
                Some(Operation::Target(TargetOp::SetConfiguration { name: name.into(), value: value.into() }));
            change
        };
        let mut unmatched = set("effective_io_concurrency", "9");
        unmatched.pending = Some("the target cannot take it".into());
        let others =
            [set("shared_preload_libraries", "pg_cron,pg_stat_statements"), set("work_mem", "8192"), unmatched];
        let findings = plan(&spec("restart_target = true"), &server("Disabled", None), &[], &target, &others);
        let restart = findings.changes.iter().find(|c| c.action == Action::Restart).unwrap();
        assert_eq!(
            restart.operation,
            Some(Operation::Target(TargetOp::Restart {
                parameters: vec!["max_wal_senders".into(), "shared_preload_libraries".into()]
            }))
        );
        assert_eq!(restart.depends_on, [configuration_address("pg-orders", "shared_preload_libraries")]);
    }
}
