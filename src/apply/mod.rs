//! Applying a plan, safely: the state folder `.migprep/<name>/` and what lives in it — the journal
//! ([`journal`]), the record of what migprep changed ([`state`]), the lock ([`lock`]) — and the executor
//! that walks a plan's changes through a [`executor::Provider`] ([`executor`]).
//!
//! Only files are touched here; every change to a live system goes through the provider the caller passes
//! in. Time comes in as a [`Clock`] so that tests are deterministic.

pub mod executor;
pub mod journal;
pub mod lock;
pub mod perform;
pub mod progress;
mod schedule;
pub mod state;

use crate::error::UserError;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where the current time comes from: `SystemTime::now` in the binary, a fixed instant in tests.
pub type Clock = fn() -> SystemTime;

/// The state folder of one spec: `<root>/<name>/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Opens (creating it, mode 0700) the state folder for the spec named `name` under `root`.
    pub fn open(root: &Path, name: &str) -> Result<Self, UserError> {
        // The name becomes a folder name; refuse anything that would escape `root`.
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
            return Err(UserError::new(format!("the spec name {name:?} cannot be used as a state folder name"))
                .hint("use letters, digits, '-' and '_' in `name`"));
        }
        let path = root.join(name);
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path).map_err(|e| {
            UserError::new(format!("cannot create the state folder {}: {e}", path.display()))
                .hint("set MIGPREP_STATE_DIR to a writable folder")
        })?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The append-only journal of every step (JSON lines).
    pub fn journal(&self) -> PathBuf {
        self.path.join("journal.jsonl")
    }

    /// What migprep changed and the originals to restore.
    pub fn state(&self) -> PathBuf {
        self.path.join("state.json")
    }

    /// The lock held while an apply or restore runs.
    pub fn lock(&self) -> PathBuf {
        self.path.join("lock.json")
    }
}

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
