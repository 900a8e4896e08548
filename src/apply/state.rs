//! The state file `state.json`: what migprep changed and has not put back ([`Recorded`]), read and written
//! here. `restore` plans from it.
//!
//! It is rewritten atomically after every finished step, before the journal's `done` record, so it always
//! holds at least what the journal says is done (and can be rebuilt from it, see
//! [`super::journal::History::replay`]). File only.

use crate::plan::file::write_atomically;
use crate::plan::recorded::{FORMAT_VERSION, Recorded};
use serde::Deserialize;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Failures reading or writing the state file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("cannot read the state file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the state file {path} is damaged: {source}")]
    Damaged { path: PathBuf, source: serde_json::Error },
    #[error(
        "the state file {path} has format {found}, written by {}; this migprep reads format {FORMAT_VERSION}",
        if *.found < FORMAT_VERSION { "an earlier migprep" } else { "a newer migprep" }
    )]
    Version { path: PathBuf, found: u32 },
    #[error("cannot write the state file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("there is no record of what migprep changed: {path} does not exist")]
    Missing { path: PathBuf },
}

impl StateError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            StateError::Version { found, .. } if *found < FORMAT_VERSION => {
                "run `migprep restore` with the migprep version that made the changes, or, if nothing needs \
                 restoring, move the file away"
            }
            StateError::Version { .. } => "use the migprep version that wrote the file (or a newer one)",
            StateError::Damaged { .. } => {
                "the journal beside it records every change; restore the file from a backup or move it away \
                 and re-apply"
            }
            StateError::Read { .. } | StateError::Write { .. } => "check the state folder's permissions",
            StateError::Missing { .. } => {
                "restore needs the state folder of the apply it undoes: run it where that apply ran, copy the \
                 folder here, or point MIGPREP_STATE_DIR at it; if nothing was applied, there is nothing to \
                 restore"
            }
        }
    }
}

/// Reads the state file; a missing file is an empty record. A file of another format is refused rather
/// than guessed at: its originals are what `restore` relies on.
pub fn load(path: &Path) -> Result<Recorded, StateError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Recorded::default()),
        Err(source) => return Err(StateError::Read { path: path.to_path_buf(), source }),
    };
    #[derive(Deserialize)]
    struct Version {
        format_version: u32,
    }
    let damaged = |source| StateError::Damaged { path: path.to_path_buf(), source };
    let Version { format_version } = serde_json::from_slice(&bytes).map_err(damaged)?;
    if format_version != FORMAT_VERSION {
        return Err(StateError::Version { path: path.to_path_buf(), found: format_version });
    }
    serde_json::from_slice(&bytes).map_err(damaged)
}

/// Reads the state file for `restore`, which must not mistake a missing record (another machine, a fresh
/// CI runner, a wrong folder) for "nothing to put back".
pub fn load_existing(path: &Path) -> Result<Recorded, StateError> {
    if !path.exists() {
        return Err(StateError::Missing { path: path.to_path_buf() });
    }
    load(path)
}

/// Writes the state file atomically (mode 0600).
pub fn save(recorded: &Recorded, path: &Path) -> Result<(), StateError> {
    let mut bytes = serde_json::to_vec_pretty(recorded).expect("the state always serializes");
    bytes.push(b'\n');
    write_atomically(path, &bytes).map_err(|source| StateError::Write { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_file_of_the_first_format_is_refused_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let v1 = r#"{"format_version":1,"changed":{"azure.server/pg/high_availability":
            {"original":"ZoneRedundant (standby zone 2)","new":"Disabled","temporary":true,"rule":"T2"}}}"#;
        fs::write(&path, v1).unwrap();
        let error = load(&path).unwrap_err();
        assert!(error.to_string().contains("format 1, written by an earlier migprep"), "{error}");
        assert!(error.hint().contains("migprep restore"));
        assert_eq!(load(&dir.path().join("missing.json")).unwrap(), Recorded::default());
    }
}
