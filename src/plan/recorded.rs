//! What migprep changed and has not put back, by address: the content of the state file. Each entry keeps
//! the values for people (`before`, `after`), whether the change is temporary, the rule, and — for a
//! temporary change — the typed [`Original`] that `restore` puts back. Pure data; `apply::state` reads
//! and writes the file.

use super::{Address, Change, Kind, Original, RuleId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the state file's shape. 2: typed originals (1 kept them as display text).
pub const FORMAT_VERSION: u32 = 2;

/// What migprep did to one address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// What the address showed before migprep first changed it, for people.
    pub before: Option<String>,
    /// What migprep set most recently, for people.
    pub after: Option<String>,
    /// `restore` puts the original back.
    pub temporary: bool,
    pub rule: RuleId,
    /// What `restore` puts back; `None` for lasting changes.
    pub original: Option<Original>,
}

/// One finished step, as the executor or the journal knows it.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a> {
    pub kind: Kind,
    pub address: &'a Address,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    pub temporary: bool,
    pub rule: RuleId,
    pub original: Option<&'a Original>,
}

impl<'a> Step<'a> {
    /// A planned change that finished, with the value the system reported after it.
    pub fn of(kind: Kind, change: &'a Change, after: Option<&'a str>) -> Self {
        Self {
            kind,
            address: &change.address,
            before: change.before.as_deref(),
            after,
            temporary: change.temporary,
            rule: change.rule,
            original: change.original.as_ref(),
        }
    }
}

/// Everything migprep changed and has not put back, by address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub format_version: u32,
    pub changed: BTreeMap<Address, Entry>,
}

impl Default for Recorded {
    fn default() -> Self {
        Self { format_version: FORMAT_VERSION, changed: BTreeMap::new() }
    }
}

impl Recorded {
    /// Notes a finished step. An apply keeps the first original it saw for the address (a second change
    /// to the same address must not lose the value to restore); a restore forgets the address, since it
    /// is back to its original.
    pub fn record(&mut self, step: Step<'_>) {
        match step.kind {
            Kind::Apply => {
                let entry = self.changed.entry(step.address.clone()).or_insert_with(|| Entry {
                    before: step.before.map(str::to_string),
                    after: None,
                    temporary: false,
                    rule: step.rule,
                    original: None,
                });
                entry.after = step.after.map(str::to_string);
                if step.temporary && !entry.temporary {
                    entry.temporary = true;
                    entry.original = step.original.cloned();
                }
            }
            Kind::Restore => {
                self.changed.remove(step.address);
            }
        }
    }

    /// The originals `restore` puts back, in address order.
    pub fn originals(&self) -> impl Iterator<Item = (&Address, &Original)> {
        self.changed.iter().filter(|(_, entry)| entry.temporary).filter_map(|(a, e)| Some((a, e.original.as_ref()?)))
    }

    /// The temporary entries, in address order.
    pub fn temporary(&self) -> impl Iterator<Item = (&Address, &Entry)> {
        self.changed.iter().filter(|(_, entry)| entry.temporary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    #[test]
    fn the_first_original_survives_and_restore_forgets() {
        let address = Address::server("pg").named("configuration", "t");
        let mut first = Change::new(address.clone(), Action::Update, RuleId::T1, "r");
        first.before = Some("on".into());
        first.temporary = true;
        first.original = Some(Original::Configuration { server: "pg".into(), name: "t".into(), value: "on".into() });
        let mut second = first.clone();
        second.before = Some("off".into());
        second.original = Some(Original::Configuration { server: "pg".into(), name: "t".into(), value: "off".into() });
        let mut recorded = Recorded::default();
        recorded.record(Step::of(Kind::Apply, &first, Some("off")));
        recorded.record(Step::of(Kind::Apply, &second, Some("off")));
        let originals: Vec<_> = recorded.originals().collect();
        assert_eq!(
            originals,
            [(&address, &Original::Configuration { server: "pg".into(), name: "t".into(), value: "on".into() })]
        );
        recorded.record(Step::of(Kind::Restore, &first, Some("on")));
        assert!(recorded.changed.is_empty());
    }
}
