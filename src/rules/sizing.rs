//! T9 (the target's compute is at least the writer's), T10 (the target's storage holds the selected
//! databases with room to spare) and, since it reads the same two resources, N1's network scenario.
//! Pure: the spec and the observed cluster, server and sizes in; changes, checks and the observations the
//! changes depend on out.
//!
//! Neither has an Azure premigration error code: the migration service does not validate sizes, it just
//! runs slowly (T9) or fails when the disk fills during the initial copy (T10). That is why these are
//! worth checking before migration day.

mod aurora_classes;

use super::Findings;
use super::network;
use crate::model::Observed;
use crate::model::server::{Server, SkuCapability};
use crate::model::sizing::DatabaseSize;
use crate::plan::file::Observation;
use crate::plan::operation::TargetOp;
use crate::plan::{Action, Address, Change, Check, Operation, RuleId};
use crate::spec::Spec;
use aurora_classes::ClassSize;

/// The storage sizes a flexible server offers (Premium SSD), in GB: storage only grows to one of these.
pub const STORAGE_SIZES_GB: [i32; 11] = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32767];

/// Headroom over the databases' size: the initial copy also writes WAL and indexes while it runs.
const HEADROOM_NUMERATOR: u64 = 5;
const HEADROOM_DENOMINATOR: u64 = 4;

/// Tiers from small to large: a resize looks in the server's tier first, then in the larger ones.
const TIERS: [&str; 3] = ["Burstable", "GeneralPurpose", "MemoryOptimized"];

const GIB: u64 = 1024 * 1024 * 1024;

pub fn plan(spec: &Spec, observed: &Observed) -> Findings {
    let mut findings = Findings::default();
    let writer = observed.cluster.writer();
    let class = writer.and_then(|w| w.instance_class.as_deref());
    compute(spec, &observed.server, class, &observed.sizing.capabilities, &mut findings);
    storage(&observed.server, &observed.sizing.database_sizes, &mut findings);
    let network =
        network::scenario(&observed.server.name, writer.and_then(|w| w.publicly_accessible), &observed.server.network);
    if network.supported {
        findings.checks.push(network.check)
    } else {
        findings.warnings.push(network.check)
    }
    findings
}

fn address(server: &str, what: &str) -> Address {
    Address::server(server).child(what)
}

fn describe_sku(sku: &SkuCapability) -> String {
    format!("{} ({}, {} vCores, {} GiB)", sku.name, sku.tier, sku.vcores, sku.memory_mb / 1024)
}

fn describe_class(class: &str, size: ClassSize) -> String {
    format!("{class} ({} vCPU, {} GiB)", size.vcpus, size.memory_gib)
}

fn fits(sku: &SkuCapability, size: ClassSize) -> bool {
    sku.vcores >= size.vcpus && sku.memory_mb >= u64::from(size.memory_gib) * 1024
}

/// The series of a SKU name (`ds_v5` of `Standard_D4ds_v5`): a resize prefers staying in it.
fn series(name: &str) -> &str {
    name.trim_start_matches("Standard_")
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .trim_start_matches(|c: char| c.is_ascii_digit())
}

/// The smallest offered SKU at least as large as `size`: in the server's tier if one is, else in the next
/// larger tier; when sizes tie, the current SKU's series, else the latest name (`ds_v5` before `ds_v4`).
fn smallest_fit<'a>(
    skus: &'a [SkuCapability],
    current: &str,
    tier: &str,
    size: ClassSize,
) -> Option<&'a SkuCapability> {
    let from = TIERS.iter().position(|t| t.eq_ignore_ascii_case(tier)).unwrap_or(0);
    let current_series = series(current);
    TIERS[from..].iter().find_map(|tier| {
        skus.iter().filter(|s| s.tier.eq_ignore_ascii_case(tier) && fits(s, size)).min_by_key(|s| {
            (s.vcores, s.memory_mb, series(&s.name) != current_series, std::cmp::Reverse(s.name.clone()))
        })
    })
}

/// T9: the target's vCores and memory are at least the writer's; with `[allow] resize_target`, resize.
fn compute(
    spec: &Spec,
    server: &Server,
    class: Option<&str>,
    capabilities: &Result<Vec<SkuCapability>, String>,
    findings: &mut Findings,
) {
    let at = address(&server.name, "sku");
    findings.observations.push(Observation::new(at.clone(), server.sku.name.clone()));
    let check = |summary: String| Check { address: at.clone(), rule: RuleId::T9, summary };
    let Some(class) = class else {
        findings.checks.push(check("the writer's instance class is unknown; compare the compute sizes by hand".into()));
        return;
    };
    let Some(size) = aurora_classes::size(class) else {
        let why = if class == aurora_classes::SERVERLESS {
            "Aurora Serverless v2 scales between the cluster's ACU limits (about 2 GiB per ACU)"
        } else {
            "it is not in migprep's table of Aurora instance classes"
        };
        findings.checks.push(check(format!(
            "{class} has no fixed size to compare with {} ({why}); compare by hand",
            server.sku.name
        )));
        return;
    };
    let skus = match capabilities {
        Ok(skus) => skus,
        Err(problem) => {
            findings.checks.push(check(format!(
                "the compute sizes of {} could not be read ({problem}); compare {} with it by hand",
                server.name,
                describe_class(class, size)
            )));
            return;
        }
    };
    let Some(current) = skus.iter().find(|s| s.name.eq_ignore_ascii_case(&server.sku.name)) else {
        findings.checks.push(check(format!(
            "{} is not among the server's offered compute sizes; compare {} with it by hand",
            server.sku.name,
            describe_class(class, size)
        )));
        return;
    };
    if fits(current, size) {
        findings.checks.push(check(format!("{} ≥ writer {}", describe_sku(current), describe_class(class, size))));
        return;
    }

    let smaller = format!(
        "the target {} is smaller than the writer {}: the initial copy and catching up run slower, and the \
         application may not keep up after the cutover",
        describe_sku(current),
        describe_class(class, size)
    );
    let Some(fit) = smallest_fit(skus, &current.name, &current.tier, size) else {
        findings
            .warnings
            .push(check(format!("{smaller}; no offered compute size is as large, so migprep cannot resize it")));
        return;
    };
    let mut change = Change::new(
        at,
        Action::Update,
        RuleId::T9,
        format!(
            "{smaller}; {} is the smallest offered size that is not; the server restarts to resize",
            describe_sku(fit)
        ),
    );
    change.before = Some(format!("{} ({})", current.name, current.tier));
    change.after = Some(format!("{} ({})", fit.name, fit.tier));
    change.disruptive = true;
    if !spec.allow.resize_target {
        change.pending = Some("[allow] resize_target is false; the target stays smaller than the writer".into());
        change.remedy = Some(format!(
            "set [allow] resize_target = true in the spec, or resize it yourself: az postgres flexible-server \
             update --resource-group {} --name {} --tier {} --sku-name {}",
            spec.target.resource_group, server.name, fit.tier, fit.name
        ));
    }
    change.operation = Some(Operation::Target(TargetOp::Resize { sku: fit.name.clone(), tier: fit.tier.clone() }));
    findings.changes.push(change);
}

/// The storage the databases need: 1.25 × their size, in whole GB (rounded up).
pub fn needed_gb(total_bytes: u64) -> u64 {
    (total_bytes * HEADROOM_NUMERATOR).div_ceil(HEADROOM_DENOMINATOR * GIB)
}

/// The smallest offered storage size that holds `needed` GB and is not below `current`.
fn next_size(needed: u64, current: i32) -> Option<i32> {
    STORAGE_SIZES_GB.iter().copied().find(|&gb| u64::try_from(gb).is_ok_and(|gb| gb >= needed) && gb >= current)
}

/// T10: storage ≥ 1.25 × the selected databases' size; grow to the next offered size (never shrink).
fn storage(server: &Server, sizes: &Result<Vec<DatabaseSize>, String>, findings: &mut Findings) {
    let at = address(&server.name, "storage");
    let check = |summary: String| Check { address: at.clone(), rule: RuleId::T10, summary };
    let sizes = match sizes {
        Ok(sizes) => sizes,
        Err(problem) => {
            findings.checks.push(check(format!(
                "the selected databases' sizes could not be read ({problem}); the target needs 1.25 × their size"
            )));
            return;
        }
    };
    let Some(current) = server.storage_size_gb else {
        findings.checks.push(check(format!("{} reports no storage size; compare by hand", server.name)));
        return;
    };
    findings.observations.push(Observation::new(at.clone(), current.to_string()));
    let total: u64 = sizes.iter().map(|s| s.bytes).sum();
    let needed = needed_gb(total);
    let listed: Vec<String> = sizes.iter().map(|s| format!("{} {}", s.name, human(s.bytes))).collect();
    let databases = if listed.is_empty() { "no selected database found".to_string() } else { listed.join(", ") };
    if u64::try_from(current).is_ok_and(|gb| gb >= needed) {
        findings
            .checks
            .push(check(format!("{current} GB ≥ 1.25 × the selected databases' size ({needed} GB; {databases})")));
        return;
    }
    let Some(size) = next_size(needed, current) else {
        let mut change = Change::new(
            at,
            Action::Blocker,
            RuleId::T10,
            format!(
                "the selected databases need {needed} GB (1.25 × {databases}), more than the largest storage a \
                 flexible server offers ({} GB)",
                STORAGE_SIZES_GB[STORAGE_SIZES_GB.len() - 1]
            ),
        );
        change.before = Some(format!("{current} GB"));
        change.after = Some(format!("{needed} GB"));
        change.remedy = Some("migrate the databases in several migrations, or to several servers".into());
        findings.changes.push(change);
        return;
    };
    let mut change = Change::new(
        at,
        Action::Update,
        RuleId::T10,
        format!(
            "the initial copy needs 1.25 × the selected databases' size, {needed} GB ({databases}); storage grows \
             to the next offered size and can never shrink again: restore leaves it at {size} GB"
        ),
    );
    change.before = Some(format!("{current} GB"));
    change.after = Some(format!("{size} GB"));
    change.irreversible = true;
    change.operation = Some(Operation::Target(TargetOp::GrowStorage { size_gb: size }));
    findings.changes.push(change);
}

/// Bytes for people: MB below a GiB, GB with one decimal above.
fn human(bytes: u64) -> String {
    if bytes < GIB {
        format!("{} MB", bytes.div_ceil(1024 * 1024))
    } else {
        format!("{:.1} GB", bytes as f64 / GIB as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::server::{Network, Sku};

    use crate::rules::fixtures::{self, spec};

    fn server(sku: &str, tier: &str, storage: i32) -> Server {
        let network = Network { public_network_access: Some("Enabled".into()), ..fixtures::server().network };
        Server {
            sku: Sku { name: sku.into(), tier: tier.into() },
            storage_size_gb: Some(storage),
            network,
            ..fixtures::server()
        }
    }

    fn sku(name: &str, tier: &str, vcores: u32, memory_per_vcore_gib: u64) -> SkuCapability {
        SkuCapability {
            name: name.into(),
            tier: tier.into(),
            vcores,
            memory_mb: u64::from(vcores) * memory_per_vcore_gib * 1024,
            ha_modes: Vec::new(),
        }
    }

    /// A slice of the real offer: B-series, D ds_v5 and ds_v4 (4 GiB per vCore), E ds_v5 (8 GiB per vCore).
    fn offered() -> Vec<SkuCapability> {
        let mut all = vec![sku("Standard_B2ms", "Burstable", 2, 4), sku("Standard_B8ms", "Burstable", 8, 4)];
        for vcores in [2, 4, 8, 16, 32, 64] {
            all.push(sku(&format!("Standard_D{vcores}ds_v4"), "GeneralPurpose", vcores, 4));
            all.push(sku(&format!("Standard_D{vcores}ds_v5"), "GeneralPurpose", vcores, 4));
            all.push(sku(&format!("Standard_E{vcores}ds_v5"), "MemoryOptimized", vcores, 8));
        }
        all
    }

    fn compute_findings(allow: &str, server: &Server, class: &str) -> Findings {
        let mut findings = Findings::default();
        compute(&spec(allow), server, Some(class), &Ok(offered()), &mut findings);
        findings
    }

    #[test]
    fn a_target_as_large_as_the_writer_is_a_check() {
        let findings = compute_findings("", &server("Standard_D4ds_v5", "GeneralPurpose", 128), "db.r6g.large");
        assert!(findings.changes.is_empty());
        assert_eq!(
            findings.checks[0].summary,
            "Standard_D4ds_v5 (GeneralPurpose, 4 vCores, 16 GiB) ≥ writer db.r6g.large (2 vCPU, 16 GiB)"
        );
    }

    #[test]
    fn a_smaller_target_is_resized_to_the_smallest_fit_in_its_tier_only_when_allowed() {
        let target = server("Standard_D2ds_v5", "GeneralPurpose", 128);
        for (allow, pending) in [("", true), ("resize_target = true", false)] {
            let findings = compute_findings(allow, &target, "db.r6g.4xlarge");
            let change = &findings.changes[0];
            assert_eq!(change.address.as_str(), "azure.server/pg-orders/sku");
            // 16 vCPU and 128 GiB: D16ds_v5 has only 64 GiB, D32ds_v5 has 128.
            assert_eq!(
                change.operation,
                Some(Operation::Target(TargetOp::Resize {
                    sku: "Standard_D32ds_v5".into(),
                    tier: "GeneralPurpose".into()
                }))
            );
            assert_eq!(change.after.as_deref(), Some("Standard_D32ds_v5 (GeneralPurpose)"));
            assert!(change.disruptive && !change.irreversible && change.prevents.is_none());
            assert_eq!(change.pending.is_some(), pending, "{allow}");
            assert_eq!(change.remedy.is_some(), pending, "{allow}");
        }
    }

    #[test]
    fn a_resize_moves_to_the_next_tier_when_its_own_has_no_fit() {
        // 8 vCPU and 64 GiB: Standard_B8ms has the vCores but only 32 GiB.
        let findings = compute_findings("", &server("Standard_B2ms", "Burstable", 128), "db.r6g.2xlarge");
        assert_eq!(findings.changes[0].after.as_deref(), Some("Standard_D16ds_v5 (GeneralPurpose)"));
        let findings = compute_findings("", &server("Standard_D64ds_v5", "GeneralPurpose", 128), "db.x2g.16xlarge");
        // 64 vCPU and 1024 GiB: more than any offered size here.
        assert!(findings.changes.is_empty());
        assert!(findings.checks.is_empty() && findings.warnings.len() == 1, "{findings:?}");
    }

    #[test]
    fn a_resize_prefers_the_current_series() {
        let findings = compute_findings("", &server("Standard_D2ds_v4", "GeneralPurpose", 128), "db.r6g.xlarge");
        assert_eq!(findings.changes[0].after.as_deref(), Some("Standard_D8ds_v4 (GeneralPurpose)"));
    }

    #[test]
    fn classes_without_a_size_are_compared_by_hand() {
        let findings = compute_findings("", &server("Standard_D2ds_v5", "GeneralPurpose", 128), "db.serverless");
        assert!(findings.changes.is_empty());
        assert!(findings.checks[0].summary.contains("ACU"), "{}", findings.checks[0].summary);
    }

    fn storage_findings(current: i32, gib: &[f64]) -> Findings {
        let sizes = gib
            .iter()
            .enumerate()
            .map(|(i, g)| DatabaseSize { name: format!("db{i}"), bytes: (g * GIB as f64) as u64 })
            .collect();
        let mut findings = Findings::default();
        storage(&server("Standard_D4ds_v5", "GeneralPurpose", current), &Ok(sizes), &mut findings);
        findings
    }

    #[test]
    fn storage_needs_a_quarter_more_than_the_databases() {
        assert_eq!(needed_gb(0), 0);
        assert_eq!(needed_gb(100 * GIB), 125);
        assert_eq!(needed_gb(100 * GIB + 1), 126);
        let findings = storage_findings(128, &[60.0, 42.0]);
        assert!(findings.changes.is_empty());
        assert!(findings.checks[0].summary.starts_with("128 GB ≥ 1.25 × the selected databases' size (128 GB;"));
    }

    #[test]
    fn storage_grows_to_the_next_offered_size_irreversibly() {
        let findings = storage_findings(128, &[80.0, 30.0]);
        let change = &findings.changes[0];
        assert_eq!(change.address.as_str(), "azure.server/pg-orders/storage");
        assert_eq!((change.before.as_deref(), change.after.as_deref()), (Some("128 GB"), Some("256 GB")));
        assert_eq!(change.operation, Some(Operation::Target(TargetOp::GrowStorage { size_gb: 256 })));
        assert!(change.irreversible && !change.temporary && change.pending.is_none());
        assert!(change.reason.contains("restore leaves it"), "{}", change.reason);
        // 1.25 × 3000 GiB = 3750 GB → 4096.
        assert_eq!(storage_findings(32, &[3000.0]).changes[0].after.as_deref(), Some("4096 GB"));
    }

    #[test]
    fn storage_never_shrinks_and_has_a_ceiling() {
        // A server already larger than needed is left alone, whatever its size.
        assert!(storage_findings(32767, &[1.0]).changes.is_empty());
        assert_eq!(next_size(100, 512), Some(512));
        let too_big = storage_findings(32767, &[30000.0]);
        assert_eq!(too_big.changes[0].action, Action::Blocker);
    }
}
