//! Stage 2 on FreeBSD: a process that enters the pod's jail (`jail_attach(2)`), then does
//! [`crate::rooted::spawn`]'s chroot into its app's root, groups, gid, uid, working directory
//! and exec with exactly the given environment (Jetpack's stage2, without a helper binary).

use std::io;
use std::path::Path;
use std::process::{Child, Stdio};

use crate::rooted::RootedProcess;

/// One app process to start in a jail.
#[derive(Debug, Clone)]
pub struct JailProcess<'a> {
    pub jid: i32,
    /// The app's root inside the jail (`/app/<name>`).
    pub root: &'a str,
    /// Inside the app's root.
    pub working_dir: &'a str,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the gid is added first).
    pub groups: &'a [u32],
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
}

/// Starts the process with `stdout` and `stderr`; stdin is closed.
pub fn spawn(p: &JailProcess<'_>, stdout: Stdio, stderr: Stdio) -> io::Result<Child> {
    let jid = p.jid;
    let rooted = RootedProcess {
        root: Path::new(p.root),
        working_dir: p.working_dir,
        uid: p.uid,
        gid: p.gid,
        groups: p.groups,
        argv: p.argv,
        env: p.env,
    };
    // SAFETY: one system call, async-signal-safe, as `rooted::spawn` requires of `first`.
    let attach = move || match unsafe { libc::jail_attach(jid) } {
        r if r < 0 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    };
    crate::rooted::spawn(&rooted, attach, stdout, stderr)
}
