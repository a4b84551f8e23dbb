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
    /// `PROC_NO_NEW_PRIVS_CTL` (FreeBSD 14): setuid and setgid bits give nothing on exec, as
    /// Linux's `PR_SET_NO_NEW_PRIVS` (`os/linux/no-new-privileges`).
    pub no_new_privileges: bool,
}

/// Starts the process with `stdin`, `stdout` and `stderr`.
pub fn spawn(p: &JailProcess<'_>, stdio: [Stdio; 3]) -> io::Result<Child> {
    let (jid, no_new_privileges) = (p.jid, p.no_new_privileges);
    let rooted = RootedProcess {
        root: Path::new(p.root),
        working_dir: p.working_dir,
        uid: p.uid,
        gid: p.gid,
        groups: p.groups,
        argv: p.argv,
        env: p.env,
    };
    let step = |ret: libc::c_int| {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    let first = move || {
        // SAFETY: system calls only, async-signal-safe, as `rooted::spawn` requires of
        // `first`; `enable` lives on this stack frame for the call that reads it.
        unsafe {
            step(libc::jail_attach(jid))?;
            if no_new_privileges {
                let mut enable: libc::c_int = libc::PROC_NO_NEW_PRIVS_ENABLE;
                let data = (&raw mut enable).cast::<libc::c_void>();
                step(libc::procctl(
                    libc::P_PID,
                    0,
                    libc::PROC_NO_NEW_PRIVS_CTL,
                    data,
                ))?;
            }
        }
        Ok(())
    };
    crate::rooted::spawn(&rooted, first, stdio)
}
