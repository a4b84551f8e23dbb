//! Stage 2 on FreeBSD: a process that enters the pod's jail (`jail_attach(2)`), then does
//! [`crate::rooted::spawn`]'s chroot into its app's root, groups, gid, uid, working directory
//! and exec with exactly the given environment (Jetpack's stage2, without a helper binary).

use std::io;
use std::process::{Child, Stdio};

use crate::rooted::{RootedProcess, step};

/// Starts `p` in the jail `jid` (its root a path inside the jail, `/app/<name>`) with
/// `stdin`, `stdout` and `stderr`. With `no_new_privileges`, `PROC_NO_NEW_PRIVS_CTL`
/// (FreeBSD 14): setuid and setgid bits give nothing on exec, as Linux's `PR_SET_NO_NEW_PRIVS`
/// (`os/linux/no-new-privileges`).
pub fn spawn(
    jid: i32,
    no_new_privileges: bool,
    p: &RootedProcess<'_>,
    stdio: [Stdio; 3],
) -> io::Result<Child> {
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
    crate::rooted::spawn(p, first, stdio)
}
