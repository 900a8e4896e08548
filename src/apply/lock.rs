//! The lock: one `apply` or `restore` per spec at a time. `lock.json` in the state folder is created
//! with `create_new` (in shared storage: created only if absent, or leased, see [`super::remote`]), so
//! exactly one of two racing runs wins; it names its holder so that the loser can
//! say who holds it, and carries a random id that `--force-unlock` must quote, so that a stale lock is
//! broken deliberately and never someone else's newer one. The lock is released when dropped.
//!
//! File only; the holder's user, host and process id are read from the environment by [`Holder::current`]
//! and passed in, so tests choose them.

use super::remote::Taken;
use super::{StateDir, random_id, timestamp};
use crate::error::UserError;
use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

/// Who takes the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub user: String,
    pub host: String,
    pub pid: u32,
}

impl Holder {
    /// This process: the login name from `USER`/`LOGNAME`/`USERNAME`, the host name from the kernel (or
    /// `HOSTNAME`), and the process id. Unknown parts read `unknown`; they are for people, not decisions.
    pub fn current(settings: &Settings) -> Self {
        let user = settings.user.clone();
        let host = Self::host_name().or_else(|| settings.hostname.clone());
        Self {
            user: user.unwrap_or_else(|| "unknown".into()),
            host: host.unwrap_or_else(|| "unknown".into()),
            pid: std::process::id(),
        }
    }
}

impl Holder {
    /// This machine's name from the kernel, if it says.
    fn host_name() -> Option<String> {
        fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| fs::read_to_string("/etc/hostname"))
            .ok()
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
    }
}

/// What `lock.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The nonce `--force-unlock` must quote.
    pub id: String,
    pub holder: String,
    pub pid: u32,
    pub host: String,
    /// `apply` or `restore`.
    pub operation: String,
    /// RFC 3339, UTC.
    pub started: String,
}

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct Lock {
    dir: StateDir,
    info: LockInfo,
    /// The lease that holds a lock blob (Azure).
    lease: Option<String>,
}

impl Lock {
    /// Takes the lock for `operation` or fails at once, naming who holds it.
    pub fn acquire(dir: &StateDir, holder: &Holder, operation: &str, now: SystemTime) -> Result<Self, UserError> {
        let path = dir.lock();
        let info = LockInfo {
            id: random_id(),
            holder: holder.user.clone(),
            pid: holder.pid,
            host: holder.host.clone(),
            operation: operation.to_string(),
            started: timestamp(now),
        };
        if let Some(remote) = dir.remote() {
            let bytes = serde_json::to_vec_pretty(&info).expect("lock info always serializes");
            let unreachable = |e: crate::clients::store::StoreError| {
                UserError::new(format!("cannot take the lock {}: {e}", remote.location_of(LOCK))).hint(e.hint())
            };
            return match remote.take(LOCK, bytes).map_err(unreachable)? {
                Taken::Ours(lease) => {
                    let lock = Self { dir: dir.clone(), info, lease };
                    // What another machine wrote before the lock was ours is what this run builds on.
                    dir.fetch()?;
                    Ok(lock)
                }
                Taken::Held(bytes) => Err(held_by(bytes.as_deref().map(parse).transpose(), dir)),
            };
        }
        let cannot = |e: io::Error| {
            UserError::new(format!("cannot create the lock file {}: {e}", path.display()))
                .hint("set MIGPREP_STATE_DIR to a writable folder")
        };
        // Written in full beside the lock, then linked into place only if no lock is there: a racing run
        // sees either no lock or a complete one, never a half-written file.
        let mut file =
            tempfile::Builder::new().prefix(".lock.").suffix(".tmp").tempfile_in(dir.path()).map_err(cannot)?;
        let bytes = serde_json::to_vec_pretty(&info).expect("lock info always serializes");
        file.write_all(&bytes).and_then(|()| file.as_file().sync_all()).map_err(cannot)?;
        match file.persist_noclobber(&path) {
            Ok(_) => Ok(Self { dir: dir.clone(), info, lease: None }),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Err(held(&path, dir)),
            Err(e) => Err(cannot(e.error)),
        }
    }

    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The state folder this lock guards.
    pub fn dir(&self) -> &StateDir {
        &self.dir
    }

    /// Releases the lock now (dropping it does the same).
    pub fn release(self) {}
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Only remove our own lock: if it was forced away and someone else took it, theirs stays.
        if let Some(remote) = self.dir.remote() {
            let ours = remote.held(LOCK).ok().flatten().and_then(|bytes| parse(&bytes).ok());
            if ours.is_some_and(|info| info.id == self.info.id)
                && let Err(e) = remote.release(LOCK, self.lease.as_deref())
            {
                eprintln!("migprep: warning: cannot release the lock {}: {e}", remote.location_of(LOCK));
            }
            return;
        }
        let path = self.dir.lock();
        if read(&path).ok().flatten().is_some_and(|info| info.id == self.info.id) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Breaks a lock deliberately; `id` must be the id of the lock that is there now. Returns what it held.
pub fn force_unlock(dir: &StateDir, id: &str) -> Result<LockInfo, UserError> {
    let path = dir.lock();
    let info = match current(dir) {
        Ok(Some(info)) => info,
        Ok(None) => {
            return Err(UserError::new(format!("there is no lock to break in {}", dir.location())));
        }
        Err(damaged) => return Err(damaged),
    };
    if info.id != id {
        return Err(UserError::new(format!(
            "the lock in {} has id {}, not {id}; it was not broken",
            dir.location(),
            info.id
        ))
        .hint(format!(
            "check that the run of {} (pid {} on {}) is gone, then pass its id",
            info.holder, info.pid, info.host
        )));
    }
    if let Some(remote) = dir.remote() {
        remote.release(LOCK, None).map_err(|e| {
            UserError::new(format!("cannot remove the lock {}: {e}", remote.location_of(LOCK))).hint(e.hint())
        })?;
        return Ok(info);
    }
    fs::remove_file(&path)
        .map_err(|e| UserError::new(format!("cannot remove the lock file {}: {e}", path.display())))?;
    Ok(info)
}

/// The lock there now, if any.
pub fn current(dir: &StateDir) -> Result<Option<LockInfo>, UserError> {
    match dir.remote() {
        Some(remote) => {
            let bytes = remote.held(LOCK).map_err(|e| {
                UserError::new(format!("cannot read the lock {}: {e}", remote.location_of(LOCK))).hint(e.hint())
            })?;
            bytes.as_deref().map(parse).transpose().map_err(|()| damaged(&remote.location_of(LOCK)))
        }
        None => read(&dir.lock()),
    }
}

/// The lock object's name in a state folder.
const LOCK: &str = "lock.json";

fn parse(bytes: &[u8]) -> Result<LockInfo, ()> {
    serde_json::from_slice(bytes).map_err(|_| ())
}

fn damaged(location: &str) -> UserError {
    UserError::new(format!("the lock {location} cannot be read"))
        .hint(format!("if no migprep run is active for this spec, delete {location}"))
}

fn read(path: &Path) -> Result<Option<LockInfo>, UserError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(UserError::new(format!("cannot read the lock file {}: {e}", path.display())));
        }
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|_| {
        UserError::new(format!("the lock file {} cannot be read", path.display()))
            .hint(format!("if no migprep run is active for this spec, delete {}", path.display()))
    })
}

/// Whether the process that took a lock is gone: only knowable for a lock taken on this host, where the
/// process table can be asked (`/proc/<pid>` on Linux). Elsewhere a lock is presumed alive.
fn holder_is_gone(info: &LockInfo) -> bool {
    let this_host = Holder::host_name();
    let proc = Path::new("/proc");
    this_host.as_deref() == Some(info.host.as_str())
        && proc.join("self").exists()
        && !proc.join(info.pid.to_string()).exists()
}

/// The error for a lock someone else holds.
fn held(path: &Path, dir: &StateDir) -> UserError {
    match read(path) {
        Ok(found) => held_by(Ok(found), dir),
        Err(damaged) => damaged,
    }
}

/// The error for a lock someone else holds, from what the lock says (`Err`: it cannot be read).
fn held_by(found: Result<Option<LockInfo>, ()>, dir: &StateDir) -> UserError {
    let found = found.map_err(|()| damaged(&format!("{}/{LOCK}", dir.location().trim_end_matches('/'))));
    match found {
        Ok(Some(info)) if holder_is_gone(&info) => UserError::new(format!(
            "the state in {} is locked by a run that is gone: pid {} on {} ({}, {} since {}) no longer runs",
            dir.location(),
            info.pid,
            info.host,
            info.holder,
            info.operation,
            info.started
        ))
        .hint(format!(
            "the lock is stale; break it with `migprep force-unlock <spec> {}` (or `--force-unlock {}`), then run \
             again: finished steps are not repeated",
            info.id, info.id
        )),
        Ok(Some(info)) => UserError::new(format!(
            "the state in {} is locked by {} (pid {} on {}, running {} since {})",
            dir.location(),
            info.holder,
            info.pid,
            info.host,
            info.operation,
            info.started
        ))
        .hint(format!(
            "wait for that run to finish; if it is no longer running, break the lock with `--force-unlock {}`",
            info.id
        )),
        // Released between our attempt and this read: say so rather than invent a holder.
        Ok(None) => UserError::new(format!("the state in {} was locked a moment ago", dir.location()))
            .hint("run the command again"),
        Err(damaged) => damaged,
    }
}
