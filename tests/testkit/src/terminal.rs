//! A pseudo-terminal for tests of what migprep does only on a terminal (the confirmation prompt): the
//! child gets the terminal as its stdin and as its controlling terminal, so that a Ctrl-C typed into it
//! reaches the child as SIGINT, the way a person's would.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;

/// The two ends of a pseudo-terminal: the test types into `master`, the child reads from `follower`.
pub struct Terminal {
    master: File,
    follower: OwnedFd,
}

impl Terminal {
    pub fn open() -> Result<Self> {
        Self::open_sized(24, 80)
    }

    /// A terminal of `rows` × `columns`, the size a program asks its terminal for.
    pub fn open_sized(rows: u16, columns: u16) -> Result<Self> {
        let (mut master, mut follower) = (-1, -1);
        let size = libc::winsize { ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two new descriptors into the given places; the name and settings pointers
        // may be null, and the window size is read only.
        let opened =
            unsafe { libc::openpty(&mut master, &mut follower, std::ptr::null_mut(), std::ptr::null(), &size) };
        if opened != 0 {
            bail!("openpty: {}", std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (master, follower) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(follower)) };
        Ok(Self { master, follower })
    }

    /// Makes the terminal the command's stdin and its controlling terminal (in a session of its own, in
    /// the foreground), so the terminal's line discipline turns a typed Ctrl-C into SIGINT for it.
    pub fn attach(&self, command: &mut tokio::process::Command) -> Result<()> {
        let stdin = self.follower.try_clone().context("duplicating the terminal")?;
        command.stdin(Stdio::from(stdin));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(())
    }

    /// Makes the terminal the command's stderr as well, where it draws progress and writes logs; read it
    /// with [`Terminal::screen`].
    pub fn attach_stderr(&self, command: &mut tokio::process::Command) -> Result<()> {
        let stderr = self.follower.try_clone().context("duplicating the terminal")?;
        command.stderr(Stdio::from(stderr));
        Ok(())
    }

    /// Everything the child wrote to the terminal until it closed it (it exited), in the chunks it arrived
    /// in. Gives up after `limit`.
    pub async fn screen(self, limit: std::time::Duration) -> Result<Vec<Vec<u8>>> {
        let Terminal { master, follower } = self;
        // Only the child may hold the terminal now, so that its exit ends the reading.
        drop(follower);
        let read = tokio::task::spawn_blocking(move || {
            let mut master = master;
            let mut chunks = Vec::new();
            loop {
                let mut chunk = vec![0u8; 4096];
                match std::io::Read::read(&mut master, &mut chunk) {
                    // Linux answers EIO once the last holder of the other end closed it.
                    Ok(0) | Err(_) => return chunks,
                    Ok(read) => {
                        chunk.truncate(read);
                        chunks.push(chunk);
                    }
                }
            }
        });
        tokio::time::timeout(limit, read).await.context("the terminal stayed open")?.context("reading the terminal")
    }

    /// Types `keys` as a person at the terminal would (`b"\x03"` is Ctrl-C, `b"yes\n"` an answer).
    pub fn press(&mut self, keys: &[u8]) -> Result<()> {
        self.master.write_all(keys).context("typing into the terminal")?;
        self.master.flush().context("typing into the terminal")
    }
}
