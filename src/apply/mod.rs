//! Applying a plan, safely: the state folder `.migprep/<name>/` (or its copy in shared storage,
//! [`remote`]) and what lives in it — the journal ([`journal`]), the record of what migprep changed
//! ([`state`]), the lock ([`lock`]) — and the executor that walks a plan's changes through a
//! [`executor::Provider`] ([`executor`]).
//!
//! Only the state is touched here; every change to a live system goes through the provider the caller
//! passes in. Time comes in as a [`Clock`] so that tests are deterministic.

pub mod executor;
pub mod journal;
pub mod lock;
pub mod perform;
pub mod progress;
pub mod remote;
mod schedule;
pub mod state;

use crate::error::UserError;
use crate::plan::Recorded;
use journal::{Journal, JournalError};
use remote::Remote;
use state::StateError;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Where the current time comes from: `SystemTime::now` in the binary, a fixed instant in tests.
pub type Clock = fn() -> SystemTime;

/// The state folder of one spec: `<root>/<name>/`, or a local working copy of the state kept in shared
/// storage.
#[derive(Clone, Debug)]
pub struct StateDir {
    path: PathBuf,
    remote: Option<Arc<Remote>>,
    /// The working copy of a remote state, removed when the last clone goes.
    _copy: Option<Arc<tempfile::TempDir>>,
}

impl PartialEq for StateDir {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for StateDir {}

/// The name becomes a folder or object name; refuse anything that would escape the root.
fn check_name(name: &str) -> Result<(), UserError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err(UserError::new(format!("the spec name {name:?} cannot be used as a state folder name"))
            .hint("use letters, digits, '-' and '_' in `name`"));
    }
    Ok(())
}

impl StateDir {
    /// Opens (creating it, mode 0700) the state folder for the spec named `name` under `root`.
    pub fn open(root: &Path, name: &str) -> Result<Self, UserError> {
        check_name(name)?;
        let path = root.join(name);
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path).map_err(|e| {
            UserError::new(format!("cannot create the state folder {}: {e}", path.display()))
                .hint("set MIGPREP_STATE_DIR to a writable folder")
        })?;
        Ok(Self { path, remote: None, _copy: None })
    }

    /// Opens the state kept in shared storage for the spec named `name`, fetching its journal and state
    /// file into a private working copy.
    pub fn open_remote(remote: Remote, name: &str) -> Result<Self, UserError> {
        check_name(name)?;
        let copy = tempfile::Builder::new()
            .prefix("migprep-state-")
            .tempdir()
            .map_err(|e| UserError::new(format!("cannot create a working folder for the state: {e}")))?;
        let dir = Self { path: copy.path().to_path_buf(), remote: Some(Arc::new(remote)), _copy: Some(Arc::new(copy)) };
        dir.fetch()?;
        Ok(dir)
    }

    /// Fetches the journal and the state file of a remote state into the working copy again (a no-op for
    /// a local folder): once the lock is held, what another machine wrote before is seen.
    pub fn fetch(&self) -> Result<(), UserError> {
        let Some(remote) = &self.remote else { return Ok(()) };
        for (file, local) in [(JOURNAL, self.journal()), (STATE, self.state())] {
            let bytes = remote.get(file).map_err(|e| UserError::new(e.to_string()).hint(e.hint()))?;
            let written = match bytes {
                Some(bytes) => crate::plan::file::write_atomically(&local, &bytes),
                None => match fs::remove_file(&local) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                },
            };
            written.map_err(|e| UserError::new(format!("cannot write the working copy {}: {e}", local.display())))?;
        }
        Ok(())
    }

    /// The local folder: the state folder itself, or the working copy of a remote state.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the state lives, for people: the folder, or the remote location.
    pub fn location(&self) -> String {
        match &self.remote {
            Some(remote) => remote.location(),
            None => self.path.display().to_string(),
        }
    }

    /// The shared storage the state lives in, if it is not a local folder.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_deref()
    }

    /// The journal, open for appending; with a remote state every record is sent before it returns.
    pub fn open_journal(&self) -> Result<Journal, JournalError> {
        let journal = Journal::open(&self.journal())?;
        Ok(match &self.remote {
            Some(remote) => journal.sending_to(remote.clone()),
            None => journal,
        })
    }

    /// Writes the state file (and sends it, for a remote state).
    pub fn save_state(&self, recorded: &Recorded) -> Result<(), StateError> {
        state::save(recorded, &self.state())?;
        if let Some(remote) = &self.remote {
            let bytes = fs::read(self.state()).map_err(|source| StateError::Write { path: self.state(), source })?;
            remote.put(STATE, bytes).map_err(|e| StateError::Write {
                path: PathBuf::from(remote.location_of(STATE)),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
        Ok(())
    }

    /// Reads the state file for `restore`, which refuses a missing record, naming where it looked.
    pub fn load_existing_state(&self) -> Result<Recorded, StateError> {
        match &self.remote {
            Some(remote) if !self.state().exists() => {
                Err(StateError::Missing { path: PathBuf::from(remote.location_of(STATE)) })
            }
            _ => state::load_existing(&self.state()),
        }
    }

    /// The append-only journal of every step (JSON lines).
    pub fn journal(&self) -> PathBuf {
        self.path.join(JOURNAL)
    }

    /// What migprep changed and the originals to restore.
    pub fn state(&self) -> PathBuf {
        self.path.join(STATE)
    }

    /// The lock held while an apply or restore runs (a local folder's; a remote state's is an object).
    pub fn lock(&self) -> PathBuf {
        self.path.join(LOCK)
    }
}

const JOURNAL: &str = "journal.jsonl";
const STATE: &str = "state.json";
const LOCK: &str = "lock.json";

/// An instant as RFC 3339 in UTC to the second, e.g. `2025-03-01T12:00:00Z`.
pub fn timestamp(at: SystemTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(at).format(&format).expect("a UTC instant always formats")
}

/// A random identifier (32 hex digits) for a lock or a run.
pub fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(1_740_830_400 + 3_723)), "2025-03-01T13:02:03Z");
    }

    #[test]
    fn random_ids_differ() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn state_folder_names_cannot_escape_the_root() {
        let root = std::env::temp_dir();
        for name in ["", "..", "a/b", "."] {
            assert!(StateDir::open(&root, name).is_err(), "{name:?}");
        }
    }
}
