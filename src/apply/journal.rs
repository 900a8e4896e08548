//! The journal: an append-only file of JSON lines, one record per phase of each step (`intent` before
//! the step runs, then `done` or `failed`), each flushed and synced to disk before the step moves on.
//!
//! Reading it back answers three questions after a crash or a failure: which steps of an interrupted
//! attempt at the same plan are already done (skip them), which were started but not finished (their
//! effect is unknown: re-observe or re-run them), and what each address held before migprep first changed
//! it (what `restore` puts back). This module only reads and appends this one file; it never decides what
//! to run.

use super::{Clock, timestamp};
use crate::plan::recorded::Step;
use crate::plan::{Address, Change, Kind, Original, Recorded, RuleId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where a step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// About to run; written (and synced) before the provider is called.
    Intent,
    /// Ran; `after` holds the value the provider reported.
    Done,
    /// Ran and failed; `error` says why. The run stopped.
    Failed,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The change's position in its plan, from 1.
    pub step: usize,
    pub address: Address,
    pub phase: Phase,
    /// The value before the step, as the plan saw it.
    pub before: Option<String>,
    /// For `intent` and `failed`, the planned value; for `done`, the value the provider reported after.
    pub after: Option<String>,
    /// When the record was written (RFC 3339, UTC).
    pub at: String,
    /// The rule that planned the change.
    pub rule: RuleId,
    /// Whether `restore` puts the original back.
    pub temporary: bool,
    /// For a temporary change: what `restore` puts back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Original>,
    /// Whether the run was an apply or a restore.
    pub kind: Kind,
    /// The digest of the plan the step belongs to ([`crate::plan::Plan::digest`]).
    pub plan: String,
    /// The run that wrote the record (one per `apply`/`restore` invocation).
    pub run: String,
    /// Why the step failed (`failed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Record {
    /// The step this record finished, for the state file.
    pub fn step(&self) -> Step<'_> {
        Step {
            kind: self.kind,
            address: &self.address,
            before: self.before.as_deref(),
            after: self.after.as_deref(),
            temporary: self.temporary,
            rule: self.rule,
            original: self.original.as_ref(),
        }
    }
}

/// One `apply` or `restore` invocation: what every record it writes has in common.
#[derive(Clone, Debug)]
pub struct Run {
    /// A random id for this invocation.
    pub id: String,
    /// The digest of the plan being run.
    pub plan: String,
    pub kind: Kind,
    pub clock: Clock,
}

impl Run {
    /// A record for step `step` (from 1) of the plan, at the clock's current time.
    pub fn record(&self, step: usize, change: &Change, phase: Phase) -> Record {
        Record {
            step,
            address: change.address.clone(),
            phase,
            before: change.before.clone(),
            after: change.after.clone(),
            at: timestamp((self.clock)()),
            rule: change.rule,
            temporary: change.temporary,
            original: change.original.clone(),
            kind: self.kind,
            plan: self.plan.clone(),
            run: self.id.clone(),
            error: None,
        }
    }
}

/// Failures reading or writing the journal.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error("cannot read the journal {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write the journal {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("the journal {path} is damaged at line {line}: {source}")]
    Damaged { path: PathBuf, line: usize, source: serde_json::Error },
}

impl JournalError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            JournalError::Damaged { .. } => {
                "the journal is what makes a resumed run safe: restore the file from a backup, or check the \
                 systems by hand (`migprep plan`) and move the journal away before running again"
            }
            JournalError::Read { .. } | JournalError::Write { .. } => {
                "check the state folder's permissions and free space"
            }
        }
    }
}

/// The journal open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Shared storage the whole journal is sent to after each record, for a remote state.
    remote: Option<std::sync::Arc<super::remote::Remote>>,
}

impl Journal {
    /// Opens (creating it, mode 0600) the journal for appending. A final line without its newline is the
    /// remains of a write cut off by a crash, never a complete record, so it is cut away first; otherwise
    /// the next record would be glued to it.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let failed = |source| JournalError::Write { path: path.to_path_buf(), source };
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(failed)?;
        let mut content = Vec::new();
        file.read_to_end(&mut content).map_err(failed)?;
        if !content.is_empty() && !content.ends_with(b"\n") {
            let complete = content.iter().rposition(|&byte| byte == b'\n').map_or(0, |newline| newline + 1);
            file.set_len(complete as u64).map_err(failed)?;
            file.seek(SeekFrom::End(0)).map_err(failed)?;
            file.sync_all().map_err(failed)?;
        }
        Ok(Self { path: path.to_path_buf(), file, remote: None })
    }

    /// This journal, sending itself whole to `remote` after each record.
    pub fn sending_to(self, remote: std::sync::Arc<super::remote::Remote>) -> Self {
        Self { remote: Some(remote), ..self }
    }

    /// Appends one record as one line and waits until it is on disk.
    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(record).expect("a journal record always serializes");
        line.push(b'\n');
        // One write call per line, so that a crash leaves at most one partial final line.
        let written = self.file.write_all(&line).and_then(|()| self.file.flush()).and_then(|()| self.file.sync_data());
        written.map_err(|source| JournalError::Write { path: self.path.clone(), source })?;
        if let Some(remote) = &self.remote {
            // The whole journal in one object write: the stored journal is always complete.
            let bytes =
                fs::read(&self.path).map_err(|source| JournalError::Read { path: self.path.clone(), source })?;
            remote.put(super::JOURNAL, bytes).map_err(|e| JournalError::Write {
                path: PathBuf::from(remote.location_of(super::JOURNAL)),
                source: io::Error::other(e.to_string()),
            })?;
        }
        Ok(())
    }
}

/// Where an earlier, unfinished attempt at the same plan left off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// Steps that attempt finished: not run again. Their `done` records, by address.
    pub done: BTreeMap<Address, Record>,
    /// Steps it started but did not finish (an `intent` is the last word): their effect is unknown.
    pub unfinished: Vec<Record>,
}

/// The journal read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    records: Vec<Record>,
}

impl History {
    /// Reads the journal; a missing file is an empty history. A final line without its newline (a write cut
    /// off by a crash) is ignored; any other unreadable line is an error, since guessing could repeat or
    /// skip a step.
    pub fn read(path: &Path) -> Result<Self, JournalError> {
        // Bytes, not text: a write cut off inside a multi-byte character must not make the whole file
        // unreadable, only its (ignored) last line.
        let content = match fs::read(path) {
            Ok(content) => content,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(JournalError::Read { path: path.to_path_buf(), source });
            }
        };
        let complete = match content.iter().rposition(|&byte| byte == b'\n') {
            Some(newline) => &content[..newline],
            None => &[][..],
        };
        let mut records = Vec::new();
        for (index, line) in complete.split(|&byte| byte == b'\n').enumerate() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            let record = serde_json::from_slice(line).map_err(|source| JournalError::Damaged {
                path: path.to_path_buf(),
                line: index + 1,
                source,
            })?;
            records.push(record);
        }
        Ok(Self { records })
    }

    pub fn from_records(records: Vec<Record>) -> Self {
        Self { records }
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Steps whose last record, over the whole journal, is an `intent`: started and never finished. Their
    /// effect is unknown until the address is observed again.
    pub fn unfinished(&self) -> Vec<&Record> {
        let mut last: BTreeMap<&Address, &Record> = BTreeMap::new();
        for record in &self.records {
            last.insert(&record.address, record);
        }
        let mut unfinished: Vec<&Record> = last.into_values().filter(|r| r.phase == Phase::Intent).collect();
        unfinished.sort_by_key(|record| (record.step, record.address.clone()));
        unfinished
    }

    /// What the state file holds if every finished step is recorded: the `done` records replayed in
    /// order, as the executor records them.
    pub fn replay(&self) -> Recorded {
        let mut recorded = Recorded::default();
        for record in self.records.iter().filter(|r| r.phase == Phase::Done) {
            recorded.record(record.step());
        }
        recorded
    }

    /// Where the latest attempt at the plan with digest `plan` left off, if it did not finish. `steps` are
    /// the addresses the plan would run. Only the attempts at the end of the journal count: once another
    /// plan ran, or an attempt finished every step, the next run starts afresh (the same plan made again
    /// later means the systems drifted back, and the steps must run again).
    pub fn resume(&self, plan: &str, steps: &BTreeSet<Address>) -> Resume {
        let trailing = self.records.iter().rev().take_while(|record| record.plan == plan).count();
        let mut last: BTreeMap<&Address, &Record> = BTreeMap::new();
        for record in &self.records[self.records.len() - trailing..] {
            last.insert(&record.address, record);
        }
        let done: BTreeMap<Address, Record> = last
            .values()
            .filter(|record| record.phase == Phase::Done && steps.contains(&record.address))
            .map(|record| (record.address.clone(), (*record).clone()))
            .collect();
        if steps.iter().all(|address| done.contains_key(address)) {
            return Resume::default();
        }
        let mut unfinished: Vec<Record> =
            last.values().filter(|record| record.phase == Phase::Intent).map(|record| (*record).clone()).collect();
        unfinished.sort_by_key(|record| record.step);
        Resume { done, unfinished }
    }
}
