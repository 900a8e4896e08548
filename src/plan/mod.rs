//! The plan: what migprep found and what it would do about it, as a plain value.
//!
//! A [`Plan`] is built by the rules from the spec and the observed state (no I/O, no clock), rendered by
//! [`crate::render`], saved to a file, and walked by the executor. Its JSON form is the versioned
//! contract (`format_version`); every rendering is derived from this one value.

pub mod file;
pub mod fleet;
pub mod operation;
pub mod original;
pub mod recorded;
pub mod rule;
pub mod source_ops;
pub mod sql;
pub mod target_ops;
pub mod target_sql_ops;
pub mod verdict;

pub use operation::Operation;
pub use original::{Original, Removal};
pub use recorded::Recorded;
pub use rule::RuleId;

use serde::{Deserialize, Serialize};
use std::fmt;

/// The version of the plan's JSON form. Bump it on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// A stable name for one thing migprep looks at, e.g.
/// `aws.cluster/orders-prod/parameter/max_wal_senders` or `source.pg/role/migrator/grant/rds_replication`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    /// An address from its text, as read back from a file. Code that makes addresses uses the builders
    /// below, which keep every address of one kind spelled the same way.
    pub fn new(address: impl Into<String>) -> Self {
        Self(address.into())
    }

    /// `aws.cluster/<id>`: the Aurora cluster and what hangs off it.
    pub fn cluster(id: &str) -> Self {
        Self(format!("aws.cluster/{id}"))
    }

    /// `aws.parameter_group/<name>`: a DB cluster parameter group on its own.
    pub fn parameter_group(name: &str) -> Self {
        Self(format!("aws.parameter_group/{name}"))
    }

    /// `azure.server/<name>`: the flexible server and what hangs off it.
    pub fn server(name: &str) -> Self {
        Self(format!("azure.server/{name}"))
    }

    /// `source.pg`: SQL on the Aurora writer.
    pub fn source_database() -> Self {
        Self("source.pg".into())
    }

    /// `target.pg`: SQL on the flexible server.
    pub fn target_database() -> Self {
        Self("target.pg".into())
    }

    /// This address with one more segment, e.g. `aws.cluster/orders` → `aws.cluster/orders/writer`.
    pub fn child(&self, segment: &str) -> Self {
        Self(format!("{}/{segment}", self.0))
    }

    /// This address with a kind and a name, e.g. `…/parameter/max_wal_senders`.
    pub fn named(&self, kind: &str, name: &str) -> Self {
        Self(format!("{}/{kind}/{name}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The system the address belongs to, from its first segment.
    pub fn system(&self) -> System {
        let head = self.0.split('/').next().unwrap_or_default();
        match head.split('.').next().unwrap_or_default() {
            "aws" => System::Aws,
            "azure" => System::Azure,
            "source" => System::Source,
            _ => System::Target,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a finding lives; the renderings group by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    /// The AWS RDS API (the Aurora cluster and its parameter group).
    Aws,
    /// SQL on the Aurora writer.
    Source,
    /// The Azure Resource Manager API (the flexible server).
    Azure,
    /// SQL on the flexible server.
    Target,
}

impl System {
    pub fn title(self) -> &'static str {
        match self {
            System::Aws => "Aurora cluster (AWS RDS API)",
            System::Source => "Source database (SQL on the Aurora writer)",
            System::Azure => "Flexible server (Azure Resource Manager)",
            System::Target => "Target database (SQL on the flexible server)",
        }
    }
}

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
    /// A prerequisite migprep cannot fix; the user must act.
    Blocker,
    /// A reboot of the Aurora writer or a restart of the flexible server.
    Restart,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Blocker => "!",
            Action::Restart => "⟳",
        }
    }
}

/// One finding that needs something done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// The rule that produced it.
    pub rule: RuleId,
    /// The current value, if there is one to show.
    pub before: Option<String>,
    /// The desired value, if there is one to show.
    pub after: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// What the user can run or change, for blockers and pending changes.
    pub remedy: Option<String>,
    /// Causes downtime (reboot, restart, promotion, resize).
    pub disruptive: bool,
    /// Only for the migration: `restore` puts the original back.
    pub temporary: bool,
    /// Cannot be undone (e.g. storage growth).
    pub irreversible: bool,
    /// Not included because the spec does not allow it; the reason says which `[allow]` key.
    pub pending: Option<String>,
    /// The Azure premigration error code this change prevents, where one exists.
    pub prevents: Option<u32>,
    /// Changes that must finish before this one starts.
    pub depends_on: Vec<Address>,
    /// What applying it does, exactly; `None` for blockers and changes that are only reported.
    pub operation: Option<Operation>,
    /// For a temporary change: what it replaces, which `restore` puts back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Original>,
}

impl Change {
    /// A change with the required fields; the flags start off.
    pub fn new(address: Address, action: Action, rule: RuleId, reason: impl Into<String>) -> Self {
        Self {
            address,
            action,
            rule,
            before: None,
            after: None,
            reason: reason.into(),
            remedy: None,
            disruptive: false,
            temporary: false,
            irreversible: false,
            pending: None,
            prevents: None,
            depends_on: Vec::new(),
            operation: None,
            original: None,
        }
    }
}

/// A prerequisite that was checked and holds, shown so the user sees what was verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub address: Address,
    pub rule: RuleId,
    pub summary: String,
}

/// Whether a plan prepares the migration or undoes the temporary changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Apply,
    Restore,
}

/// The whole plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub kind: Kind,
    /// The spec's `name`.
    pub name: String,
    pub changes: Vec<Change>,
    pub checks: Vec<Check>,
    /// Findings that do not block and need no change from migprep, but that the user must look at
    /// (e.g. a network scenario the migration service supports only with extra setup).
    #[serde(default)]
    pub warnings: Vec<Check>,
    /// Prerequisites that could not be verified yet (e.g. a logical decoding probe that needs the
    /// writer rebooted first); never shown as passed.
    #[serde(default)]
    pub not_verified: Vec<Check>,
    /// Things left as they are on purpose, with the reason (e.g. the source's master user, which the
    /// target replaces with its own admin); never shown as passed.
    #[serde(default)]
    pub left_out: Vec<Check>,
    /// Where migprep looked and as whom: every endpoint it reached and the identity it used there.
    #[serde(default)]
    pub connections: Vec<Connection>,
}

/// One endpoint migprep used and the identity it presented there, for the plan's header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub system: System,
    /// The endpoint, e.g. `https://management.azure.com` or `migrator@orders.cluster-….rds.amazonaws.com:5432`.
    pub endpoint: String,
    /// Who migprep was there, e.g. `service principal 3c9f… in tenant 72f9…` or `profile prod (us-east-1)`.
    pub identity: String,
}

/// Counts for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub pending: usize,
    pub blockers: usize,
}

impl Plan {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            kind,
            name: name.into(),
            changes: Vec::new(),
            checks: Vec::new(),
            warnings: Vec::new(),
            not_verified: Vec::new(),
            left_out: Vec::new(),
            connections: Vec::new(),
        }
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            if change.pending.is_some() {
                summary.pending += 1;
                continue;
            }
            match change.action {
                Action::Create => summary.add += 1,
                Action::Update | Action::Restart => summary.change += 1,
                Action::Delete => summary.destroy += 1,
                Action::Blocker => summary.blockers += 1,
            }
        }
        summary
    }

    /// True when the plan would change something if applied (pending changes do not count).
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.pending.is_none() && c.action != Action::Blocker)
    }

    pub fn has_blockers(&self) -> bool {
        self.changes.iter().any(|c| c.action == Action::Blocker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_their_system() {
        assert_eq!(Address::new("aws.cluster/orders/parameter/x").system(), System::Aws);
        assert_eq!(Address::new("azure.server/pg/configuration/y").system(), System::Azure);
        assert_eq!(Address::new("source.pg/role/migrator").system(), System::Source);
        assert_eq!(Address::new("target.pg/connection").system(), System::Target);
    }

    #[test]
    fn summary_counts_pending_apart() {
        let mut plan = Plan::new(Kind::Apply, "t");
        plan.changes.push(Change::new(Address::new("aws.cluster/a/parameter_group"), Action::Create, RuleId::S2, "r"));
        plan.changes.push(Change::new(Address::new("aws.cluster/a/parameter/x"), Action::Update, RuleId::S3, "r"));
        let mut reboot = Change::new(Address::new("aws.cluster/a/writer"), Action::Restart, RuleId::S7, "r");
        reboot.pending = Some("not allowed".into());
        plan.changes.push(reboot);
        plan.changes.push(Change::new(Address::new("source.pg/version"), Action::Blocker, RuleId::S1, "r"));
        let summary = plan.summary();
        assert_eq!(summary, Summary { add: 1, change: 1, destroy: 0, pending: 1, blockers: 1 });
        assert!(plan.has_changes() && plan.has_blockers());
    }
}
