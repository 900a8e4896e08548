//! Azurite's blob service (Azure's official storage emulator, from npm): started on a free loopback port
//! with its data in a temporary folder, waited for until it answers, and killed with its process group
//! when the handle is dropped. The account is Azurite's well-known development account.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Azurite's development account and its well-known key (published in Azurite's documentation).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob service.
pub struct Azurite {
    pid: i32,
    port: u16,
    _dir: TempDir,
}

/// The `azurite-blob` executable: `$AZURITE_BLOB`, else what `scripts/install-azurite` installed (it
/// installs it when missing).
pub fn executable() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("AZURITE_BLOB") {
        return Ok(PathBuf::from(path));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-azurite");
    let output = Command::new("bash").arg(&script).output().with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&output.stderr));
    }
    let path = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().trim().to_owned();
    Ok(PathBuf::from(path))
}

impl Azurite {
    /// Starts Azurite, or `None` (with a note on stderr) when it cannot be installed, except under
    /// `CI=true`, where that is a failure.
    pub async fn start_or_skip() -> Option<Azurite> {
        let exe = match executable() {
            Ok(exe) if exe.is_file() => exe,
            Ok(exe) => return skip(&format!("azurite-blob is not at {}", exe.display())),
            Err(why) => return skip(&format!("{why:#}")),
        };
        Some(Self::start(&exe).await.unwrap_or_else(|e| panic!("starting Azurite: {e:#}")))
    }

    pub async fn start(exe: &Path) -> Result<Azurite> {
        crate::listener::start_with_retries(|| Self::start_once(exe)).await
    }

    async fn start_once(exe: &Path) -> Result<Azurite> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::Builder::new().prefix("migprep-azurite-").tempdir()?;
        let log = std::fs::File::create(dir.path().join("azurite.log"))?;
        let mut command = Command::new(exe);
        command
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--skipApiVersionCheck", "--location"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and only affects the child between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().context("starting azurite-blob")?;
        let azurite = Azurite { pid: child.id() as i32, port, _dir: dir };
        // Reaped by a thread of its own so that it never lingers as a zombie.
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            // Ours only when our process group holds the socket: another test's server may have taken the
            // port in between (see `crate::listener`).
            if client.get(azurite.endpoint()).send().await.is_ok()
                && crate::listener::listened_on_by_group(azurite.pid, port)
            {
                return Ok(azurite);
            }
            let gone = !Path::new(&format!("/proc/{}", azurite.pid)).exists();
            if gone || Instant::now() > deadline {
                let log = std::fs::read_to_string(azurite._dir.path().join("azurite.log")).unwrap_or_default();
                if gone {
                    return Err(anyhow!("Azurite exited before answering on port {port}; its log:\n{log}"));
                }
                return Err(anyhow!("Azurite did not answer on port {port} within 60 s; its log:\n{log}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The account's blob endpoint: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// Creates a blob container.
    pub async fn create_container(&self, name: &str) -> Result<()> {
        let response = self.signed(reqwest::Method::PUT, &format!("{name}?restype=container")).await?;
        if !response.status().is_success() {
            bail!("creating container {name}: {} {}", response.status(), response.text().await.unwrap_or_default());
        }
        Ok(())
    }

    /// A blob's content, if there is one.
    pub async fn blob(&self, container: &str, name: &str) -> Result<Option<Vec<u8>>> {
        let response = self.signed(reqwest::Method::GET, &format!("{container}/{name}")).await?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => Ok(Some(response.bytes().await?.to_vec())),
            status => bail!("reading {container}/{name}: {status}"),
        }
    }

    /// A request with a Shared Key signature and no body; `path` may carry one `restype` parameter.
    async fn signed(&self, method: reqwest::Method, path: &str) -> Result<reqwest::Response> {
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .expect("formats");
        let (resource, query) = path.split_once('?').unwrap_or((path, ""));
        let mut canonical = format!("/{ACCOUNT}/{ACCOUNT}/{resource}");
        if let Some((name, value)) = query.split_once('=') {
            canonical.push_str(&format!("\n{name}:{value}"));
        }
        let to_sign = format!("{method}\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:2021-12-02\n{canonical}");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&STANDARD.decode(KEY)?).expect("any key length");
        mac.update(to_sign.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        Ok(reqwest::Client::new()
            .request(method, format!("{}/{path}", self.endpoint()))
            .header("x-ms-date", date)
            .header("x-ms-version", "2021-12-02")
            .header("authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .send()
            .await?)
    }
}

fn skip(why: &str) -> Option<Azurite> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("Azurite is required under CI=true ({why}); run tests/testkit/scripts/install-azurite");
    }
    eprintln!("skipping: {why}; run tests/testkit/scripts/install-azurite");
    None
}

impl Drop for Azurite {
    fn drop(&mut self) {
        // SAFETY: plain syscall; the group id is the child's pid because of `process_group(0)`.
        unsafe {
            libc::kill(-self.pid, libc::SIGKILL);
        }
    }
}
