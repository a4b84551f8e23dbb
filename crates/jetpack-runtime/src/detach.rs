//! Starting a process that outlives its starter (a detached pod's supervisor) and handing it
//! one descriptor: plain POSIX (`setsid`, `dup2`, `fcntl`), for every engine.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// Spawns `cmd` in a session of its own (no controlling terminal: a terminal's hangup or ^C
/// never reaches it) with `pass` open as its descriptor `at`. Every other descriptor of the
/// caller is close-on-exec, as Rust opens them.
pub fn spawn_detached(cmd: &mut Command, pass: BorrowedFd<'_>, at: RawFd) -> io::Result<Child> {
    let from = pass.as_raw_fd();
    // SAFETY: the closure runs in the forked child before its exec and makes only
    // async-signal-safe system calls (setsid, dup2, fcntl) on plain integers.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if from == at {
                // dup2 onto itself would leave close-on-exec set.
                let flags = libc::fcntl(at, libc::F_GETFD);
                if flags < 0 || libc::fcntl(at, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(from, at) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    };
    cmd.spawn()
}

/// Takes descriptor `fd`, passed by [`spawn_detached`], as this process's own; it is
/// close-on-exec from now on, so nothing this process starts inherits it. An `fd` that is not
/// open is an error, never someone else's descriptor taken.
pub fn take_passed_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd <= 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is standard I/O"),
        ));
    }
    // SAFETY: fcntl on an integer descriptor; it fails with EBADF if none is open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open (checked above), was inherited across exec for this purpose, and
    // nothing else in this process owns it: only this function takes it, once at start-up.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    #[test]
    fn the_child_gets_the_descriptor_and_a_session_of_its_own() {
        let (mut r, w) = std::io::pipe().unwrap();
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "ps -o sid= -p $$ >&5; echo $$ >&5"]);
        let mut child = spawn_detached(&mut c, w.as_fd(), 5).unwrap();
        drop(w);
        drop(c);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        child.wait().unwrap();
        let mut lines = out.lines().map(|l| l.trim().to_string());
        let (sid, pid) = (lines.next().unwrap(), lines.next().unwrap());
        assert_eq!(sid, pid, "the child leads its own session");
    }

    #[test]
    fn a_closed_descriptor_is_refused() {
        assert!(take_passed_fd(987).is_err());
        assert!(take_passed_fd(1).is_err());
    }
}
