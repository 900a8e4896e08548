//! The `moto_server` child process: found on `PATH` (or `$MOTO_SERVER`), started on a free loopback port
//! with its log in a temporary folder, waited for until it answers HTTP, and killed with its whole process
//! group when the handle is dropped.
//!
//! The child is spawned and waited for by a dedicated thread that lives exactly as long as the child, with
//! `PR_SET_PDEATHSIG` set to `SIGKILL`: if the test process dies without unwinding (abort, SIGKILL), the
//! kernel kills moto too. (The signal follows the *thread* that spawned the child, which is why it is not
//! spawned from a tokio worker.)

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;

/// The moto release the stand-in is written against (gaps G1–G12 of aws.md §3 are for this one).
pub const MOTO_VERSION: &str = "5.2.1";

/// The `moto_server` executable: `$MOTO_SERVER` if set, else the first on `PATH`.
pub fn moto_server_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("moto_server")).find(|p| p.is_file())
}

pub(crate) struct MotoProcess {
    pid: i32,
    port: u16,
    _dir: TempDir,
}

impl MotoProcess {
    pub async fn start(exe: &Path) -> Result<MotoProcess> {
        crate::listener::start_with_retries(|| Self::start_once(exe)).await
    }

    async fn start_once(exe: &Path) -> Result<MotoProcess> {
        let port = free_port()?;
        let dir = tempfile::Builder::new().prefix("migprep-moto-").tempdir()?;
        let log_path = dir.path().join("moto_server.log");
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new(exe);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so that drop can kill whatever the pyenv shim or moto start.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and only affects the child between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (pid_tx, pid_rx) = mpsc::channel::<std::io::Result<u32>>();
        let (exit_tx, exit_rx) = mpsc::channel::<ExitStatus>();
        std::thread::Builder::new().name("moto-server-reaper".into()).spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = pid_tx.send(Ok(child.id()));
                if let Ok(status) = child.wait() {
                    let _ = exit_tx.send(status);
                }
            }
            Err(e) => {
                let _ = pid_tx.send(Err(e));
            }
        })?;
        let pid = pid_rx
            .recv()
            .context("moto reaper thread ended")?
            .with_context(|| format!("starting {}", exe.display()))?;
        let process = MotoProcess { pid: pid as i32, port, _dir: dir };

        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build()?;
        let url = format!("http://127.0.0.1:{port}/moto-api/");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(status) = exit_rx.try_recv() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("moto_server exited with {status} before answering; its log:\n{log}");
            }
            // Any HTTP answer means a server is up; it is ours when our process group holds the socket
            // (another test's moto may have taken the port, and answers until ours gives up on it).
            if client.get(&url).send().await.is_ok() && crate::listener::listened_on_by_group(process.pid, port) {
                return Ok(process);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(anyhow!("moto_server did not answer on port {port} within 60 s; its log:\n{log}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The moto process, the leader of its process group.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for MotoProcess {
    fn drop(&mut self) {
        // SAFETY: plain syscall; the group id is the child's pid because of `process_group(0)`.
        unsafe {
            libc::kill(-self.pid, libc::SIGKILL);
        }
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
