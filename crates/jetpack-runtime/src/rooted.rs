//! A process started inside a root directory as an app's user: chroot into the root, the
//! app's groups, gid and uid, its working directory, exactly its environment, exec. This is
//! stage 2 of the jail engine after `jail_attach(2)` ([`crate::freebsd::spawn`]). It is plain
//! POSIX, so it also runs and is tested on Linux, whose own engine pivots into a mount
//! namespace instead.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// One process to start in `root`.
#[derive(Debug, Clone)]
pub struct RootedProcess<'a> {
    /// The directory that becomes `/` (as the caller sees it: inside a jail, the jail's path).
    pub root: &'a Path,
    /// Inside `root`.
    pub working_dir: &'a str,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the gid is added first).
    pub groups: &'a [u32],
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
}

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// A system call's return as a result (negative: `errno`).
pub(crate) fn step(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Starts the process with `stdin`, `stdout` and `stderr`. `first` runs in the child before
/// anything else (the jail engine's `jail_attach`); it must be async-signal-safe.
pub fn spawn(
    p: &RootedProcess<'_>,
    first: impl Fn() -> io::Result<()> + Send + Sync + 'static,
    [stdin, stdout, stderr]: [Stdio; 3],
) -> io::Result<Child> {
    let (program, args) = p
        .argv
        .split_first()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // Everything the child needs is made here: between fork and exec it only makes calls.
    let root = cstr(p.root.as_os_str().as_bytes())?;
    let dot = cstr(b".")?;
    let cwd = cstr(p.working_dir.as_bytes())?;
    let mut groups: Vec<libc::gid_t> = vec![p.gid];
    groups.extend(p.groups.iter().copied().filter(|g| *g != p.gid));
    let (uid, gid) = (p.uid, p.gid);
    let mut cmd = Command::new(OsStr::from_bytes(program.as_bytes()));
    cmd.args(args)
        .env_clear()
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr);
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe system calls on buffers made before the fork (no allocation, no
    // locks); `first` is async-signal-safe by contract. A failure is the spawn's error.
    unsafe {
        cmd.pre_exec(move || {
            first()?;
            step(libc::chdir(root.as_ptr()))?;
            step(libc::chroot(dot.as_ptr()))?;
            step(libc::chdir(cwd.as_ptr()))?;
            // The count is a size_t on Linux and an int on FreeBSD.
            step(libc::setgroups(groups.len() as _, groups.as_ptr()))?;
            step(libc::setgid(gid))?;
            step(libc::setuid(uid))
        });
    }
    cmd.spawn()
}
