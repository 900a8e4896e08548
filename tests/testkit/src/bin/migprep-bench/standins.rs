//! What the stand-ins cost while migprep runs: CPU time of the harness itself (the fake ARM, the RDS
//! fidelity layer and the delay proxies run in this process), of moto, and of each PostgreSQL server
//! (the postmaster and its backends, finished ones included). With migprep's own CPU beside them, a run's
//! total CPU against the cores × its wall time says whether the machine, rather than latency, set the
//! pace: on 2 cores the stand-ins' work competes with migprep's.

use std::path::Path;
use std::time::Duration;

/// CPU time used so far, per part.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StandInCpu {
    pub(crate) harness: Duration,
    pub(crate) moto: Duration,
    pub(crate) postgres: Duration,
}

impl StandInCpu {
    /// Reads the counters now. `moto` is moto's process (group leader); `data_dirs` the PostgreSQL
    /// servers' data folders (their `postmaster.pid` names the postmaster).
    pub(crate) fn now(moto: i32, data_dirs: &[&Path]) -> Self {
        Self {
            harness: own_cpu(),
            moto: group_cpu(moto),
            postgres: data_dirs.iter().filter_map(|dir| postmaster(dir)).map(tree_cpu).sum(),
        }
    }

    /// What was used between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Self) -> Self {
        Self {
            harness: self.harness.saturating_sub(earlier.harness),
            moto: self.moto.saturating_sub(earlier.moto),
            postgres: self.postgres.saturating_sub(earlier.postgres),
        }
    }

    /// Each part divided by `runs`.
    pub(crate) fn per_run(self, runs: usize) -> Self {
        let runs = u32::try_from(runs.max(1)).unwrap_or(1);
        Self { harness: self.harness / runs, moto: self.moto / runs, postgres: self.postgres / runs }
    }
}

/// This process's CPU time, every thread.
fn own_cpu() -> Duration {
    // SAFETY: `rusage` is plain data that getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// `(pid, ppid, pgrp, utime + stime, cutime + cstime)` of every process, in clock ticks.
fn processes() -> Vec<(i32, i32, i32, u64, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After the command's parentheses: state ppid pgrp session tty tpgid flags minflt cminflt
            // majflt cmajflt utime stime cutime cstime …
            let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
            let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            let (ppid, pgrp) = (number(1)? as i32, number(2)? as i32);
            Some((pid, ppid, pgrp, number(11)? + number(12)?, number(13)? + number(14)?))
        })
        .collect()
}

fn ticks(ticks: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// A process group's CPU: its live members and the children they reaped.
fn group_cpu(group: i32) -> Duration {
    ticks(processes().iter().filter(|p| p.2 == group).map(|p| p.3 + p.4).sum())
}

/// A process and its live children, and what it reaped: a postmaster and its backends.
fn tree_cpu(parent: i32) -> Duration {
    ticks(
        processes()
            .iter()
            .filter(|p| p.0 == parent || p.1 == parent)
            .map(|p| if p.0 == parent { p.3 + p.4 } else { p.3 })
            .sum(),
    )
}

/// The postmaster of the server with data in `dir`: the first line of its `postmaster.pid`.
fn postmaster(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
}
