//! What was found on each cloud, shown as checks so the plan says what it looked at: the Aurora
//! cluster (engine, parameter group, members) and the flexible server (state, SKU, HA, replicas).

use super::Findings;
use crate::model::Observed;
use crate::plan::{Address, Check, RuleId};
use crate::text::count;

pub fn clouds(observed: &Observed) -> Findings {
    let cluster = &observed.cluster;
    let writer = cluster
        .writer()
        .map(|w| format!("writer {} ({})", w.instance_id, w.instance_class.as_deref().unwrap_or("class unknown")))
        .unwrap_or_else(|| "no writer".into());
    let readers = cluster.members.iter().filter(|m| !m.is_writer).count();
    let readers = count(readers as u64, "reader", "readers");
    let server = &observed.server;
    let storage = server.storage_size_gb.map(|gb| format!(", {gb} GB")).unwrap_or_default();
    let ha = match &server.high_availability.standby_zone {
        Some(zone) if server.high_availability.is_enabled() => {
            format!("HA {} (standby zone {zone})", server.high_availability.mode)
        }
        _ => format!("HA {}", server.high_availability.mode),
    };
    let checks = vec![
        Check {
            address: Address::cluster(&cluster.id),
            rule: RuleId::Observe,
            summary: format!(
                "{} {}, {}, parameter group {}, {writer}, {readers}",
                cluster.engine, cluster.engine_version, cluster.status, cluster.parameter_group
            ),
        },
        Check {
            address: Address::server(&server.name),
            rule: RuleId::Observe,
            summary: format!(
                "PostgreSQL {}, {}, {} ({}){storage}, {ha}, {}",
                server.version,
                server.state,
                server.sku.name,
                server.sku.tier,
                count(observed.replicas.len() as u64, "read replica", "read replicas")
            ),
        },
    ];
    Findings { checks, ..Findings::default() }
}
