//! What one child process costs: wall time, CPU time from `wait4` for exactly that child, peak RSS from
//! GNU `time` between the two, and a run's requests per system; the median of several runs.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one child process cost.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cost {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    pub(crate) max_rss_kb: i64,
    pub(crate) code: i32,
}

/// One measured run: the child's cost and the requests it made per system.
#[derive(Clone, Debug, Default)]
pub(crate) struct Run {
    pub(crate) cost: Cost,
    pub(crate) rds: usize,
    pub(crate) arm: usize,
    pub(crate) pg: usize,
    pub(crate) children: usize,
    /// CPU the source's PostgreSQL server spent meanwhile (its backends included).
    pub(crate) source_server_cpu: Duration,
    /// CPU the harness spent meanwhile: the delay proxies and the in-process stand-ins.
    pub(crate) harness_cpu: Duration,
}

/// Runs the child through GNU `time`, for its peak RSS. The harness spawns with vfork, and Linux carries
/// the spawning process's high-water mark over `exec` into the child's `ru_maxrss`: `wait4` on a direct
/// child would report the harness's peak whenever it is the larger. `time` is a small process, so the
/// figure it reads for the child it forks is the child's own.
const TIME: &str = "/usr/bin/time";

/// Runs a child to its end, its stdout discarded and stderr to `log`; CPU time from
/// `wait4` (through `time`, which adds next to nothing), peak RSS as `time` reports it for the child.
pub(crate) fn run_child(command: Command, log: &Path) -> Result<Cost> {
    let report = tempfile::NamedTempFile::new()?;
    let mut wrapped = Command::new(TIME);
    wrapped.args(["--quiet", "--format", "%M", "--output"]).arg(report.path());
    wrapped.arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    let stderr = std::fs::File::create(log)?;
    wrapped.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(stderr));
    let started = Instant::now();
    let child = wrapped.spawn().with_context(|| format!("starting {TIME} (scripts/setup installs it)"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; `pid` is our own, not yet reaped, child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break reaped;
    };
    let wall = started.elapsed();
    if reaped != pid {
        bail!("waiting for {:?}: {}", command.get_program(), std::io::Error::last_os_error());
    }
    // Reaped already: dropping the handle must not wait again (std's drop never does).
    drop(child);
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    let text = std::fs::read_to_string(report.path())?;
    let max_rss_kb = text
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .with_context(|| format!("{TIME} reported no peak RSS for {:?}: {text:?}", command.get_program()))?;
    Ok(Cost { wall, cpu: time(usage.ru_utime) + time(usage.ru_stime), max_rss_kb, code })
}

pub(crate) fn run_checked(command: Command, log: &Path) -> Result<Cost> {
    let program = format!("{:?} {:?}", command.get_program(), command.get_args().take(3).collect::<Vec<_>>());
    let cost = run_child(command, log)?;
    if cost.code != 0 {
        let stderr = std::fs::read_to_string(log).unwrap_or_default();
        bail!("{program} exited with {}:\n{stderr}", cost.code);
    }
    Ok(cost)
}

pub(crate) fn add(total: &mut Cost, cost: &Cost) {
    total.wall += cost.wall;
    total.cpu += cost.cpu;
    total.max_rss_kb = total.max_rss_kb.max(cost.max_rss_kb);
}

/// The run with the median wall time (its CPU, memory and counts come with it).
pub(crate) fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.cost.wall);
    runs.swap_remove(runs.len() / 2)
}
