//! The prerequisites by name: every finding says which rule produced it. An enum, so that nothing ever
//! branches on a rule's spelling; its JSON form is the id itself (`"S3"`, `"T11"`, `"N1"`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// One prerequisite of the Aurora → flexible server migration (the rule table in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RuleId {
    /// The source version can be migrated.
    S1,
    /// A DB cluster parameter group migprep may change.
    S2,
    /// `rds.logical_replication` on.
    S3,
    /// Enough replication slots.
    S4,
    /// Enough WAL senders.
    S5,
    /// A WAL sender timeout the migration tolerates.
    S6,
    /// The writer runs with its group's values (reboot).
    S7,
    /// The migration user may replicate.
    S8,
    /// Logical decoding works.
    S9,
    /// The migration user can read every selected database.
    S10,
    /// Temporary tablespaces on the local SSD off.
    T1,
    /// High availability off.
    T2,
    /// No read replicas.
    T3,
    /// Extensions allowed on the target.
    T4,
    /// Libraries preloaded on the target.
    T5,
    /// Parameter parity with the source.
    T6,
    /// The source's roles exist on the target.
    T7,
    /// The target's migration user may create roles.
    T8,
    /// Compute at least the source's.
    T9,
    /// Storage for the selected databases.
    T10,
    /// One restart for static parameters.
    T11,
    /// Both databases reachable, on a supported network pair.
    N1,
    /// Not a prerequisite: what was observed, shown so the user sees which resources were read.
    #[serde(rename = "observe")]
    Observe,
}

impl RuleId {
    /// Every rule, in the order of the rule table.
    pub const ALL: [RuleId; 23] = {
        use RuleId::*;
        [S1, S2, S3, S4, S5, S6, S7, S8, S9, S10, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, N1, Observe]
    };

    pub fn as_str(self) -> &'static str {
        use RuleId::*;
        match self {
            S1 => "S1",
            S2 => "S2",
            S3 => "S3",
            S4 => "S4",
            S5 => "S5",
            S6 => "S6",
            S7 => "S7",
            S8 => "S8",
            S9 => "S9",
            S10 => "S10",
            T1 => "T1",
            T2 => "T2",
            T3 => "T3",
            T4 => "T4",
            T5 => "T5",
            T6 => "T6",
            T7 => "T7",
            T8 => "T8",
            T9 => "T9",
            T10 => "T10",
            T11 => "T11",
            N1 => "N1",
            Observe => "observe",
        }
    }
}

impl std::str::FromStr for RuleId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RuleId::ALL.into_iter().find(|rule| rule.as_str() == text).ok_or_else(|| format!("no rule is called {text:?}"))
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_read_and_write_as_their_names() {
        assert_eq!(RuleId::S10.to_string(), "S10");
        assert_eq!(serde_json::to_string(&RuleId::T11).unwrap(), "\"T11\"");
        assert_eq!(serde_json::from_str::<RuleId>("\"N1\"").unwrap(), RuleId::N1);
        assert!(serde_json::from_str::<RuleId>("\"S11\"").is_err());
        for rule in RuleId::ALL {
            assert_eq!(serde_json::to_string(&rule).unwrap(), format!("\"{rule}\""));
            assert_eq!(rule.as_str().parse::<RuleId>(), Ok(rule));
        }
    }
}
