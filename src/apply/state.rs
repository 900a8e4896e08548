//! The state file `state.json`: for every address migprep changed and has not put back, the original
//! value, the value migprep set, whether it is temporary (`restore` puts the original back) and the rule
//! that changed it. `restore` plans from it.
//!
//! It is rewritten atomically after every finished step, so it always matches the journal's `done`
//! records (and could be rebuilt from them, see [`super::journal::History::originals`]). File only.

use crate::plan::file::write_atomically;
use crate::plan::{Address, Change, Kind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The version of `state.json`'s shape.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// What migprep did to one address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The value before migprep first changed it.
    pub original: Option<String>,
    /// The value migprep set most recently.
    pub new: Option<String>,
    /// `restore` puts `original` back.
    pub temporary: bool,
    pub rule: String,
}

/// Everything migprep changed and has not put back, by address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    pub changed: BTreeMap<Address, Entry>,
}

impl Default for State {
    fn default() -> Self {
        Self { format_version: STATE_FORMAT_VERSION, changed: BTreeMap::new() }
    }
}

/// Failures reading or writing the state file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("cannot read the state file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the state file {path} is damaged: {source}")]
    Damaged { path: PathBuf, source: serde_json::Error },
    #[error("the state file {path} has format {found}; this migprep reads format {STATE_FORMAT_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("cannot write the state file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

impl State {
    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Self, StateError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(StateError::Read { path: path.to_path_buf(), source });
            }
        };
        let state: Self = serde_json::from_slice(&bytes)
            .map_err(|source| StateError::Damaged { path: path.to_path_buf(), source })?;
        if state.format_version != STATE_FORMAT_VERSION {
            return Err(StateError::Version { path: path.to_path_buf(), found: state.format_version });
        }
        Ok(state)
    }

    /// Writes the state file atomically (mode 0600).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("the state always serializes");
        bytes.push(b'\n');
        write_atomically(path, &bytes).map_err(|source| StateError::Write { path: path.to_path_buf(), source })
    }

    /// Notes a finished step. An apply keeps the first original it saw for the address (a second change
    /// to the same address must not lose the value to restore); a restore forgets the address, since it
    /// is back to its original.
    pub fn record(&mut self, kind: Kind, change: &Change, after: Option<String>) {
        self.record_step(kind, &change.address, change.before.clone(), after, change.temporary, &change.rule);
    }

    /// [`State::record`] from a step's parts (a journal record rather than a planned change).
    pub fn record_step(
        &mut self,
        kind: Kind,
        address: &Address,
        before: Option<String>,
        after: Option<String>,
        temporary: bool,
        rule: &str,
    ) {
        match kind {
            Kind::Apply => {
                let entry = self.changed.entry(address.clone()).or_insert_with(|| Entry {
                    original: before,
                    new: None,
                    temporary,
                    rule: rule.to_string(),
                });
                entry.new = after;
                entry.temporary |= temporary;
            }
            Kind::Restore => {
                self.changed.remove(address);
            }
        }
    }

    /// The entries `restore` puts back, in address order.
    pub fn temporary(&self) -> impl Iterator<Item = (&Address, &Entry)> {
        self.changed.iter().filter(|(_, entry)| entry.temporary)
    }
}
