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
        let (mut master, mut follower) = (-1, -1);
        // SAFETY: openpty writes two new descriptors into the given places; the name, settings and window
        // size pointers may be null.
        let opened = unsafe {
            libc::openpty(&mut master, &mut follower, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
        };
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

    /// Types `keys` as a person at the terminal would (`b"\x03"` is Ctrl-C, `b"yes\n"` an answer).
    pub fn press(&mut self, keys: &[u8]) -> Result<()> {
        self.master.write_all(keys).context("typing into the terminal")?;
        self.master.flush().context("typing into the terminal")
    }
}
