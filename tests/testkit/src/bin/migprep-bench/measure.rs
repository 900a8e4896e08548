//! What one child process costs: wall time, CPU time and peak RSS from `wait4` for exactly that child,
//! and a run's requests per system; the median of several runs.

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

/// Runs a child to its end, its stdout discarded (unless set) and stderr to `log`; CPU time and peak
/// RSS come from `wait4` for exactly this child.
pub(crate) fn run_child(mut command: Command, log: &Path) -> Result<Cost> {
    let stderr = std::fs::File::create(log)?;
    command.stdin(Stdio::null()).stderr(Stdio::from(stderr));
    if command.get_program() != "curl" {
        command.stdout(Stdio::null());
    }
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("starting {:?}", command.get_program()))?;
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
    Ok(Cost { wall, cpu: time(usage.ru_utime) + time(usage.ru_stime), max_rss_kb: usage.ru_maxrss, code })
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
