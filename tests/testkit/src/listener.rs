//! Whose server answers on a port. A stand-in started on a port picked free a moment earlier can lose it
//! to another test's server started at the same time: the loser exits, but only once its interpreter
//! has loaded, and until then the winner answers in its place. A test that took the winner's answers
//! for its own stand-in's would share another test's state. So a stand-in counts as up only when the
//! socket listening on its port belongs to a process of its own process group.

use std::collections::BTreeSet;
use std::future::Future;

/// Starts a stand-in on a port picked free, up to three times: a port taken between probing and the
/// stand-in binding it makes the stand-in exit, and the next attempt picks another.
pub async fn start_with_retries<T, F, Started>(mut start_once: F) -> anyhow::Result<T>
where
    F: FnMut() -> Started,
    Started: Future<Output = anyhow::Result<T>>,
{
    let mut last = None;
    for _ in 0..3 {
        match start_once().await {
            Ok(started) => return Ok(started),
            Err(error) => last = Some(error),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Whether a process in process group `group` listens on `127.0.0.1:port` (or any address) over TCP.
pub fn listened_on_by_group(group: i32, port: u16) -> bool {
    let sockets = listening_sockets(port);
    if sockets.is_empty() {
        return false;
    }
    let Ok(processes) = std::fs::read_dir("/proc") else { return false };
    processes.filter_map(Result::ok).any(|process| {
        let Some(pid) = process.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
            return false;
        };
        process_group(pid) == Some(group) && holds_any(pid, &sockets)
    })
}

/// The inodes of the TCP sockets listening on `port`, from `/proc/net/tcp` and `/proc/net/tcp6`.
fn listening_sockets(port: u16) -> BTreeSet<u64> {
    let wanted = format!("{port:04X}");
    let mut inodes = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                continue;
            };
            let listening = *state == "0A";
            if listening && local.rsplit(':').next() == Some(wanted.as_str()) {
                inodes.extend(inode.parse::<u64>().ok());
            }
        }
    }
    inodes
}

/// The process group of `pid`, from `/proc/<pid>/stat` (the fifth field, after the command's parentheses).
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_command = &stat[stat.rfind(')')? + 1..];
    after_command.split_whitespace().nth(2)?.parse().ok()
}

/// Whether `pid` has one of `sockets` open.
fn holds_any(pid: i32, sockets: &BTreeSet<u64>) -> bool {
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    descriptors.filter_map(Result::ok).any(|descriptor| {
        std::fs::read_link(descriptor.path())
            .ok()
            .and_then(|target| {
                let target = target.to_str()?.to_owned();
                target.strip_prefix("socket:[")?.strip_suffix(']')?.parse::<u64>().ok()
            })
            .is_some_and(|inode| sockets.contains(&inode))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_of_this_process_is_found_and_one_of_no_group_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // SAFETY: getpgrp has no preconditions.
        let group = unsafe { libc::getpgrp() };
        assert!(listened_on_by_group(group, port));
        assert!(!listened_on_by_group(group + 1_000_000, port), "no such group");
        drop(listener);
        assert!(!listened_on_by_group(group, port), "closed");
    }
}
