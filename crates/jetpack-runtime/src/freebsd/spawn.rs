//! Stage 2 on FreeBSD: a process that enters the pod's jail, chroots into its app's root,
//! takes the app's groups, gid and uid, changes to its working directory and execs, with
//! exactly the given environment (Jetpack's stage2, without a helper binary).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

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

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Starts the process with `stdout` and `stderr`; stdin is closed.
pub fn spawn(p: &JailProcess<'_>, stdout: Stdio, stderr: Stdio) -> io::Result<Child> {
    let (program, args) = p
        .argv
        .split_first()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // Everything the child needs is made here: between fork and exec it only makes calls.
    let root = cstr(p.root)?;
    let dot = cstr(".")?;
    let cwd = cstr(p.working_dir)?;
    let mut groups: Vec<libc::gid_t> = vec![p.gid];
    groups.extend(p.groups.iter().copied().filter(|g| *g != p.gid));
    let ngroups = libc::c_int::try_from(groups.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let (jid, uid, gid) = (p.jid, p.uid, p.gid);
    let mut cmd = Command::new(std::ffi::OsStr::from_bytes(program.as_bytes()));
    cmd.args(args)
        .env_clear()
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    let step = |ret: libc::c_int| {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe system calls on buffers made before the fork (no allocation, no
    // locks); a failure is returned as the spawn's error.
    unsafe {
        cmd.pre_exec(move || {
            step(libc::jail_attach(jid))?;
            step(libc::chdir(root.as_ptr()))?;
            step(libc::chroot(dot.as_ptr()))?;
            step(libc::chdir(cwd.as_ptr()))?;
            step(libc::setgroups(ngroups, groups.as_ptr()))?;
            step(libc::setgid(gid))?;
            step(libc::setuid(uid))
        });
    }
    cmd.spawn()
}
