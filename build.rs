//! Records what `migprep --version` tells besides the version: the git commit the binary was built from,
//! when the source is a git checkout with git at hand, and the build date (UTC; `SOURCE_DATE_EPOCH` when
//! set, for reproducible builds). Nothing here may fail the build: a source tarball, a shallow clone
//! without git, or a missing git all build as usual, with the commit left out.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    if commit.is_some() {
        // A new commit or a branch switch changes HEAD or the ref it points to; nothing else needs a rerun.
        for file in ["HEAD", "packed-refs"] {
            if let Some(path) = git(&["rev-parse", "--git-path", file]) {
                println!("cargo:rerun-if-changed={path}");
            }
        }
        if let Some(path) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let mut build = Vec::new();
    if let Some(commit) = commit {
        build.push(format!("commit {commit}"));
    }
    if let Some(date) = build_date() {
        build.push(format!("built {date}"));
    }
    let details = if build.is_empty() { String::new() } else { format!(" ({})", build.join(", ")) };
    println!("cargo:rustc-env=MIGPREP_BUILD_DETAILS={details}");
}

/// One line of git's output, or `None` when git is missing, fails, or this is not a git checkout.
fn git(args: &[&str]) -> Option<String> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let output = Command::new("git").args(args).current_dir(manifest_dir).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let line = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!line.is_empty()).then_some(line)
}

/// The build's date as `YYYY-MM-DD` in UTC.
fn build_date() -> Option<String> {
    let at = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(seconds) => UNIX_EPOCH + Duration::from_secs(seconds.trim().parse().ok()?),
        Err(_) => SystemTime::now(),
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from(at).format(&format).ok()
}
