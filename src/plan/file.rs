//! Saved plans: what `plan --out FILE` writes and `apply FILE` / `show FILE` read back.
//!
//! The file is a JSON envelope around the plan that carries what apply needs to trust it: the digest of
//! the spec it was made for, a **fingerprint** (every observed value the plan's changes depend on, so a
//! stale plan is refused by comparing against a fresh observation, see [`stale`]), and an integrity digest
//! over the rest, so an edited or truncated file is refused rather than applied. This module only reads
//! and writes files; it never observes anything, and it never decides what a drift means.
//!
//! ```text
//! {
//!   "format_version": 1,
//!   "kind": "migprep-plan",
//!   "spec_digest": "sha256:…",           // digest of the spec file's bytes
//!   "plan": { … },                       // the plan, as in `render::json` without the summary
//!   "fingerprint": [ { "address": "…", "value": "…" }, … ],   // sorted by address
//!   "integrity": "sha256:…"              // over the compact JSON of the fields above, in this order
//! }
//! ```

use super::{Action, Address, Change, FORMAT_VERSION, Plan};
use crate::error::UserError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The `kind` that marks a file as a saved migprep plan.
pub const KIND: &str = "migprep-plan";

/// One observed value a plan depends on, e.g. `aws.cluster/orders-prod/parameter/max_wal_senders` = `10`.
/// The rules choose the address and how the value is written; two observations are equal only if both are.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Observation {
    pub address: Address,
    pub value: String,
}

impl Observation {
    pub fn new(address: Address, value: impl Into<String>) -> Self {
        Self { address, value: value.into() }
    }
}

/// A difference between what the saved plan saw and what is there now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    pub address: Address,
    /// The value when the plan was made; `None` if the plan did not see this address at all.
    pub planned: Option<String>,
    /// The value now; `None` if it is no longer observed (it vanished).
    pub now: Option<String>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.planned, &self.now) {
            (Some(planned), Some(now)) => {
                write!(f, "{}: planned with {planned:?}, now {now:?}", self.address)
            }
            (Some(planned), None) => {
                write!(f, "{}: planned with {planned:?}, now gone", self.address)
            }
            (None, Some(now)) => write!(f, "{}: not there when planned, now {now:?}", self.address),
            (None, None) => write!(f, "{}: unchanged", self.address),
        }
    }
}

/// A saved plan as read back, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    pub plan: Plan,
    /// The spec the plan was made from (absolute), so `apply PLANFILE` can reach the same systems.
    pub spec_file: PathBuf,
    pub spec_digest: String,
    /// Sorted by address.
    pub observations: Vec<Observation>,
}

/// The fields covered by the integrity digest, in file order.
#[derive(Serialize, Deserialize)]
struct Body {
    format_version: u32,
    kind: String,
    spec_file: PathBuf,
    spec_digest: String,
    plan: Plan,
    fingerprint: Vec<Observation>,
}

/// The whole file: the body and its digest.
#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(flatten)]
    body: Body,
    integrity: String,
}

/// `sha256:<hex>` of some bytes; used for the spec digest and the integrity digest.
pub use crate::digest::sha256 as digest;

impl Body {
    /// The digest of the body's compact JSON. Typed structs serialize their fields in declaration order
    /// and the plan holds no maps, so the same body always gives the same bytes, however the file was
    /// laid out.
    fn integrity(&self) -> String {
        digest(&serde_json::to_vec(self).expect("a plan body always serializes"))
    }
}

impl Plan {
    /// A digest identifying this plan's content; the journal uses it to recognise a second attempt at the
    /// same plan.
    pub fn digest(&self) -> String {
        digest(&serde_json::to_vec(self).expect("a plan always serializes"))
    }
}

/// Writes a saved plan to `path` atomically with mode 0600 (plans name servers and users).
pub fn save(
    path: &Path,
    plan: &Plan,
    spec_file: &Path,
    spec_digest: &str,
    observations: &[Observation],
) -> Result<(), UserError> {
    let mut fingerprint = observations.to_vec();
    fingerprint.sort();
    fingerprint.dedup();
    let body = Body {
        format_version: FORMAT_VERSION,
        kind: KIND.to_string(),
        spec_file: relative_to_plan(spec_file, path),
        spec_digest: spec_digest.to_string(),
        plan: plan.clone(),
        fingerprint,
    };
    let integrity = body.integrity();
    let mut bytes = serde_json::to_vec_pretty(&Envelope { body, integrity }).expect("a plan file always serializes");
    bytes.push(b'\n');
    write_atomically(path, &bytes)
        .map_err(|e| UserError::new(format!("cannot write the plan file {}: {e}", path.display())))
}

/// The spec's path as the plan file records it: relative to the plan file's folder when both are given as
/// absolute paths (so the pair can move together), else as given.
fn relative_to_plan(spec_file: &Path, plan_file: &Path) -> PathBuf {
    use std::path::Component;
    let (Some(folder), true) = (plan_file.parent(), spec_file.is_absolute()) else {
        return spec_file.to_path_buf();
    };
    let folder = if folder.as_os_str().is_empty() { Path::new(".") } else { folder };
    // Both exist when a plan is saved: resolve `..` and symbolic links, or the relative path would lie.
    let (Ok(folder), Ok(spec_file)) = (fs::canonicalize(folder), fs::canonicalize(spec_file)) else {
        return spec_file.to_path_buf();
    };
    let (from, to): (Vec<Component>, Vec<Component>) =
        (folder.components().collect(), spec_file.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return spec_file.to_path_buf();
    }
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for component in &to[common..] {
        relative.push(component);
    }
    relative
}

/// Reads and checks a saved plan. With `expected_spec_digest`, a plan made for another spec (or an older
/// version of this one) is refused; `show` passes `None` because it only displays.
pub fn load(path: &Path, expected_spec_digest: Option<&str>) -> Result<Saved, UserError> {
    let shown = path.display();
    let remake = format!("make the plan again with `migprep plan --out {shown}`");
    let bytes = fs::read(path).map_err(|e| UserError::new(format!("cannot read the plan file {shown}: {e}")))?;

    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        let what = if e.is_eof() { "it is truncated" } else { "it is not valid JSON" };
        UserError::new(format!("{shown} is not a usable plan file: {what} ({e})")).hint(remake.clone())
    })?;

    match value.get("kind").and_then(|kind| kind.as_str()) {
        Some(KIND) => {}
        // The JSON rendering carries a plan's kind; it is for reading, not for applying.
        Some("apply" | "restore") => {
            return Err(UserError::new(format!("{shown} is the JSON rendering of a plan, not a saved plan"))
                .hint("save a plan to apply with `migprep plan --out FILE`"));
        }
        _ => {
            return Err(UserError::new(format!("{shown} is not a migprep plan file"))
                .hint("pass a file written by `migprep plan --out FILE`"));
        }
    }
    match value.get("format_version").and_then(|version| version.as_u64()) {
        Some(version) if version == u64::from(FORMAT_VERSION) => {}
        Some(version) => {
            return Err(UserError::new(format!(
                "{shown} uses plan format {version}; this migprep reads format {FORMAT_VERSION}"
            ))
            .hint(format!("make the plan again with this migprep: `migprep plan --out {shown}`")));
        }
        None => {
            return Err(UserError::new(format!("{shown} has no plan format version")).hint(remake));
        }
    }

    let edited = || {
        UserError::new(format!("{shown} was changed after migprep wrote it"))
            .hint(format!("a saved plan is applied exactly as reviewed; {remake}"))
    };
    let envelope: Envelope = serde_json::from_value(value).map_err(|_| edited())?;
    if envelope.body.integrity() != envelope.integrity {
        return Err(edited());
    }

    let Body { spec_file, spec_digest, plan, fingerprint, .. } = envelope.body;
    // A relative spec path is the plan file's neighbour: the two travel together (another CI job, another
    // checkout), and the spec's digest below says whether it is still the same spec.
    let spec_file = match path.parent() {
        Some(folder) if spec_file.is_relative() => folder.join(spec_file),
        _ => spec_file,
    };
    if let Some(expected) = expected_spec_digest
        && expected != spec_digest
    {
        return Err(UserError::new(format!("{shown} was made for a different spec, or the spec has changed since"))
            .hint(format!("make the plan again from the current spec: `migprep plan SPEC --out {shown}`")));
    }
    Ok(Saved { plan, spec_file, spec_digest, observations: fingerprint })
}

/// Every difference between the observations a saved plan depends on and a fresh observation of the same
/// things, sorted by address: changed values, observations that vanished, and new ones. The caller passes
/// the fresh observations the rules produce for the same spec, so a new one means the plan would differ.
pub fn stale(saved: &[Observation], fresh: &[Observation]) -> Vec<Drift> {
    use std::collections::BTreeMap;
    let saved: BTreeMap<&Address, &str> = saved.iter().map(|o| (&o.address, o.value.as_str())).collect();
    let fresh: BTreeMap<&Address, &str> = fresh.iter().map(|o| (&o.address, o.value.as_str())).collect();
    let mut addresses: Vec<&Address> = saved.keys().chain(fresh.keys()).copied().collect();
    addresses.sort();
    addresses.dedup();
    addresses
        .into_iter()
        .filter_map(|address| {
            let (planned, now) = (saved.get(address).copied(), fresh.get(address).copied());
            (planned != now).then(|| Drift {
                address: address.clone(),
                planned: planned.map(str::to_string),
                now: now.map(str::to_string),
            })
        })
        .collect()
}

/// The changes of a saved plan that would not run as migprep would run them now: a change whose
/// operation, temporary flag or recorded original differs from the fresh plan's change at the same
/// address, or that the fresh plan does not have at all. The file's integrity digest is not a secret, so
/// anyone who can write the file can make it consistent; what runs must therefore be what migprep itself
/// derives from a fresh observation. `done` are addresses an earlier attempt at this very plan already
/// changed (the fresh plan no longer has them). Pending changes and blockers never run and are skipped.
pub fn unreviewed(saved: &Plan, fresh: &Plan, done: &BTreeSet<Address>) -> Vec<String> {
    let runs = |c: &&Change| c.operation.is_some() && c.pending.is_none() && c.action != Action::Blocker;
    saved
        .changes
        .iter()
        .filter(runs)
        .filter(|c| !done.contains(&c.address))
        .filter_map(|c| {
            let now = fresh.changes.iter().filter(runs).find(|f| f.address == c.address);
            match now {
                None => Some(format!("{}: migprep would not change it now", c.address)),
                Some(f) if f.operation != c.operation => Some(format!(
                    "{}: the file would run {}, migprep would run {}",
                    c.address,
                    operation_json(c.operation.as_ref()),
                    operation_json(f.operation.as_ref())
                )),
                Some(f) if f.original != c.original || f.temporary != c.temporary => {
                    Some(format!("{}: the file records a different original to restore", c.address))
                }
                Some(f)
                    if f.action != c.action
                        || f.disruptive != c.disruptive
                        || f.depends_on.iter().collect::<BTreeSet<_>>() != c.depends_on.iter().collect() =>
                {
                    Some(format!("{}: the file orders or flags the change differently", c.address))
                }
                Some(_) => None,
            }
        })
        .collect()
}

fn operation_json(operation: Option<&crate::plan::Operation>) -> String {
    let text = serde_json::to_string(&operation).expect("an operation always serializes");
    // Whatever the file says is shown, but never at any length.
    if text.chars().count() > 300 { format!("{}…", text.chars().take(300).collect::<String>()) } else { text }
}

/// The error for a saved plan whose operations are not the ones migprep would run.
pub fn unreviewed_error(path: &Path, differences: &[String]) -> UserError {
    let lines: Vec<String> = differences.iter().map(|d| format!("  {d}")).collect();
    UserError::new(format!(
        "the saved plan {} does not run what migprep would run now ({} differ); nothing was changed\n{}",
        path.display(),
        crate::text::count(differences.len() as u64, "change", "changes"),
        lines.join("\n")
    ))
    .hint(format!("review a fresh plan: `migprep plan --out {}`", path.display()))
}

/// The error for a stale plan: every drift on its own line, and what to do.
pub fn stale_error(path: &Path, drifts: &[Drift]) -> UserError {
    let lines: Vec<String> = drifts.iter().map(|drift| format!("  {drift}")).collect();
    UserError::new(format!(
        "the saved plan {} is stale: {} changed since it was made\n{}",
        path.display(),
        crate::text::count(drifts.len() as u64, "value", "values"),
        lines.join("\n")
    ))
    .hint(format!("review a fresh plan: `migprep plan --out {}`", path.display()))
}

/// Writes a file so that readers see the old content or the new, never a mix: a temporary file beside it
/// (same file system, so the rename is atomic), flushed to disk, renamed over, and the folder synced so
/// the rename itself survives a crash. The file is created with mode 0600.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    // A uniquely named temporary file (mode 0600), synced, then renamed over the target.
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    // Not every platform can open a folder to sync it; the data itself is already on disk.
    if let Ok(folder) = File::open(folder) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_is_recorded_beside_the_plan() {
        let root = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(root.path()).unwrap();
        for folder in ["job/sub", "specs"] {
            fs::create_dir_all(root.join(folder)).unwrap();
        }
        for spec in ["job/migprep.toml", "specs/migprep.toml"] {
            fs::write(root.join(spec), "").unwrap();
        }
        let relative = |spec: &str, plan: &str| relative_to_plan(&root.join(spec), &root.join(plan));
        assert_eq!(relative("job/migprep.toml", "job/orders.plan"), Path::new("migprep.toml"));
        assert_eq!(relative("specs/migprep.toml", "job/sub/orders.plan"), Path::new("../../specs/migprep.toml"));
        // `..` in the plan's path is resolved, not counted as a folder.
        assert_eq!(relative("job/migprep.toml", "job/sub/../orders.plan"), Path::new("migprep.toml"));
        assert_eq!(
            relative_to_plan(Path::new("specs/migprep.toml"), Path::new("/ci/o.plan")),
            Path::new("specs/migprep.toml")
        );
    }
}
