//! Aurora PostgreSQL DB instance classes → vCPU and memory, for T9 (the target should be at least as
//! large as the writer). The RDS API reports only the class name, so the sizes are a built-in table.
//!
//! Source: AWS, *Amazon Aurora User Guide*, "Hardware specifications for DB instance classes for
//! Aurora" (docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.DBInstanceClass.Summary.html).
//! The memory-optimized families there follow their EC2 instance types: `large` is 2 vCPU, `xlarge` 4,
//! `Nxlarge` 4·N, with a fixed memory per vCPU (8 GiB for db.r*, 16 GiB for db.x2g). The burstable classes
//! Aurora PostgreSQL offers are `medium` (2 vCPU, 4 GiB) and `large` (2 vCPU, 8 GiB).
//!
//! `db.serverless` (Aurora Serverless v2) has no fixed size: its capacity is a range of ACUs set on the
//! cluster (about 2 GiB of memory per ACU), which migprep does not read, so it is not in the table.

/// The compute of one DB instance class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassSize {
    pub vcpus: u32,
    pub memory_gib: u32,
}

/// A family, its memory per vCPU and the sizes Aurora PostgreSQL offers in it.
struct Family {
    prefix: &'static str,
    memory_per_vcpu_gib: u32,
    sizes: &'static [&'static str],
}

const R5: &[&str] = &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"];
const GRAVITON: &[&str] = &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"];
const R6I: &[&str] =
    &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"];
const R8G: &[&str] =
    &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"];

const FAMILIES: &[Family] = &[
    Family { prefix: "db.r5", memory_per_vcpu_gib: 8, sizes: R5 },
    Family { prefix: "db.r6g", memory_per_vcpu_gib: 8, sizes: GRAVITON },
    Family { prefix: "db.r6i", memory_per_vcpu_gib: 8, sizes: R6I },
    Family { prefix: "db.r7g", memory_per_vcpu_gib: 8, sizes: GRAVITON },
    Family { prefix: "db.r7i", memory_per_vcpu_gib: 8, sizes: R8G },
    Family { prefix: "db.r8g", memory_per_vcpu_gib: 8, sizes: R8G },
    Family { prefix: "db.x2g", memory_per_vcpu_gib: 16, sizes: GRAVITON },
];

/// The burstable classes, listed one by one: their memory is not proportional to their vCPUs.
const BURSTABLE: &[(&str, ClassSize)] = &[
    ("db.t3.medium", ClassSize { vcpus: 2, memory_gib: 4 }),
    ("db.t3.large", ClassSize { vcpus: 2, memory_gib: 8 }),
    ("db.t4g.medium", ClassSize { vcpus: 2, memory_gib: 4 }),
    ("db.t4g.large", ClassSize { vcpus: 2, memory_gib: 8 }),
];

/// Aurora Serverless v2's class name.
pub const SERVERLESS: &str = "db.serverless";

/// The vCPUs and memory of `class`, or `None` for a class the table does not know (or `db.serverless`).
pub fn size(class: &str) -> Option<ClassSize> {
    let class = class.trim().to_ascii_lowercase();
    if let Some((_, size)) = BURSTABLE.iter().find(|(name, _)| *name == class) {
        return Some(*size);
    }
    let (prefix, size) = class.rsplit_once('.')?;
    let family = FAMILIES.iter().find(|f| f.prefix == prefix)?;
    if !family.sizes.contains(&size) {
        return None;
    }
    let vcpus = match size {
        "large" => 2,
        "xlarge" => 4,
        n => 4 * n.strip_suffix("xlarge")?.parse::<u32>().ok()?,
    };
    Some(ClassSize { vcpus, memory_gib: vcpus * family.memory_per_vcpu_gib })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_classes_have_their_published_sizes() {
        let cases = [
            ("db.r6g.large", 2, 16),
            ("db.r6g.4xlarge", 16, 128),
            ("db.r5.24xlarge", 96, 768),
            ("db.r6i.32xlarge", 128, 1024),
            ("db.r7g.16xlarge", 64, 512),
            ("db.r8g.48xlarge", 192, 1536),
            ("db.x2g.2xlarge", 8, 128),
            ("db.t3.medium", 2, 4),
            ("db.t4g.large", 2, 8),
            ("DB.R6G.XLARGE", 4, 32),
        ];
        for (class, vcpus, memory_gib) in cases {
            assert_eq!(size(class), Some(ClassSize { vcpus, memory_gib }), "{class}");
        }
    }

    #[test]
    fn unknown_and_serverless_classes_have_no_size() {
        for class in [SERVERLESS, "db.r6g.32xlarge", "db.m5.large", "db.t3.micro", "r6g.large", ""] {
            assert_eq!(size(class), None, "{class}");
        }
    }
}
