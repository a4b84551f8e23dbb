//! `enter`: runs a command in a running app: in the pod's pid, uts, ipc and net namespaces,
//! the app's mount namespace (so in its rootfs) and its cgroups, and — unless privileged — with
//! the app's own security context: its user (or the one asked for), capabilities,
//! no_new_privs and seccomp filter, as if the app had started it. An app that replaced its own
//! `/bin/sh` thus gains nothing when an operator enters it. Until its exec the entering process
//! is not dumpable, so the pod's processes cannot reach the host through its `/proc/<pid>`.
//!
//! The app is found among the init's children by the `AC_APP_NAME` its main process was started
//! with (every app gets it, appc §9.8). The namespaces are joined in one `setns` through a pidfd
//! of that process, in a forked child (a multi-threaded caller could not join a mount
//! namespace), which forks again so that the command is inside the pid namespace.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::plan::{CArgv, Command, SecurityPlan, cstring};
use super::process::check_pod_init;
use super::{app, cgroups, sys, tty};
use crate::errno_text;
use crate::error::{Error, Result};
use crate::exit::decode_wait_status;
use crate::spec::Security;

/// Who an entered command runs as.
#[derive(Debug, Clone)]
pub struct EnterContext {
    /// The pod's UUID, to find the app's cgroups.
    pub uuid: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Absolute, inside the app's rootfs; `/` if it does not exist there, unless
    /// `working_dir_required`.
    pub working_dir: String,
    /// A missing working directory is an error (asked for with `exec -w`).
    pub working_dir_required: bool,
    /// The program to run when it is not `argv[0]` (a login shell's `argv[0]` is `-sh`).
    pub program: Option<String>,
    /// The app's capabilities, no_new_privs and seccomp filter; `None` for every capability
    /// and no filter (`enter --privileged`).
    pub security: Option<Security>,
    /// The pod has a user namespace (`--private-users`): the command joins it too.
    pub userns: bool,
}

/// The PATH used when `env` has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs `argv` (default `/bin/sh`) with exactly `env` in app `app` of the pod whose init is
/// `init_pid`, as `ctx` says, with a terminal if `tty`; waits for it and returns its exit code
/// (`128 + n` if signal `n` ended it). Without `tty` the command uses the caller's stdio.
pub fn enter(
    init_pid: i32,
    app: &str,
    argv: &[String],
    env: &[(String, String)],
    tty: bool,
    ctx: &EnterContext,
) -> Result<i32> {
    check_pod_init(init_pid)?;
    let security = ctx
        .security
        .as_ref()
        .map(SecurityPlan::new)
        .transpose()
        .map_err(Error::Spec)?;
    let identity = Identity {
        uid: ctx.uid,
        gid: ctx.gid,
        groups: ctx.groups.clone(),
        working_dir: cstring("working directory", &ctx.working_dir)?,
        working_dir_required: ctx.working_dir_required,
        security,
        cgroups: cgroups::join_files(&ctx.uuid, app)?,
        userns: ctx.userns,
    };
    let target = find_app(init_pid, app)?;
    let pidfd = sys::pidfd_open(target).map_err(|e| match e.raw_os_error() {
        Some(libc::ESRCH) => Error::AppNotRunning {
            app: app.into(),
            pid: init_pid,
        },
        _ => Error::os("pidfd_open", e),
    })?;
    let envp = CArgv::new(
        "environment variable",
        env.iter().map(|(k, v)| format!("{k}={v}")),
    )?;
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let path_dirs: Vec<String> = path
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| d.trim_end_matches('/').to_string())
        .collect();
    let default_argv = ["/bin/sh".to_string()];
    let argv = Command::new(
        "command",
        if argv.is_empty() { &default_argv } else { argv },
        &path_dirs,
    )?
    .with_program(ctx.program.as_deref())?;
    // SAFETY: fd 0 is the caller's stdin, open for the duration of the call.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    let pty = tty.then(|| tty::Pty::open(stdin)).transpose()?;
    let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::os("pipe", e.into()))?;

    // SAFETY: the child only joins namespaces, forks and execs, with data prepared above.
    let pid = unsafe { sys::fork() }.map_err(|e| Error::os("fork", e))?;
    if pid == 0 {
        let slave = pty.as_ref().map(|p| p.slave.as_raw_fd());
        super::process::in_child(|| {
            join_and_run(
                &pidfd,
                &identity,
                &argv,
                &envp,
                &path_dirs,
                slave,
                err_w.as_raw_fd(),
            )
        });
    }
    drop(err_w);
    let master = pty.map(|p| p.master);
    if let Some(master) = &master
        && let Ok(child) = sys::pidfd_open(pid)
    {
        tty::relay(master, stdin, 1, None, &child);
    }
    let (_, status) = sys::waitpid(pid, 0).map_err(|e| Error::os("waitpid", e))?;
    let mut problem = String::new();
    let _ = std::fs::File::from(err_r).read_to_string(&mut problem);
    if !problem.is_empty() {
        return Err(Error::Enter {
            app: app.into(),
            problem,
        });
    }
    Ok(decode_wait_status(status).0)
}

/// [`EnterContext`] ready for the forked child.
struct Identity {
    uid: u32,
    gid: u32,
    groups: Vec<libc::gid_t>,
    working_dir: std::ffi::CString,
    working_dir_required: bool,
    security: Option<SecurityPlan>,
    /// The files to write `0` to, to join the app's cgroups.
    cgroups: Vec<OwnedFd>,
    userns: bool,
}

/// The forked child: joins the app's cgroups and namespaces, forks the command into the pid
/// namespace, waits for it and exits with its status. Failures go to `err` as text.
fn join_and_run(
    pidfd: &OwnedFd,
    who: &Identity,
    argv: &Command,
    env: &CArgv,
    path_dirs: &[String],
    tty: Option<RawFd>,
    err: RawFd,
) {
    let fail = |msg: String, code: i32| -> ! {
        let _ = sys::write_all(err, msg.as_bytes());
        sys::exit(code)
    };
    if let Err(e) = sys::set_dumpable(false) {
        fail(format!("prctl: {}", errno_text(&e)), app::EXIT_SETUP);
    }
    // Single-threaded: writing 0 moves this whole process (and what it forks).
    for f in &who.cgroups {
        if let Err(e) = sys::write_all(f.as_raw_fd(), b"0") {
            fail(
                format!("joining the app's cgroups: {}", errno_text(&e)),
                app::EXIT_SETUP,
            );
        }
    }
    let ns = libc::CLONE_NEWPID
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWCGROUP;
    if let Err(e) = sys::setns(pidfd.as_raw_fd(), ns) {
        fail(
            format!("joining the app's namespaces: {}", errno_text(&e)),
            app::EXIT_SETUP,
        );
    }
    // SAFETY: this process is single-threaded (a fresh fork).
    let pid = match unsafe { sys::fork() } {
        Ok(pid) => pid,
        Err(e) => fail(format!("fork: {}", errno_text(&e)), app::EXIT_SETUP),
    };
    if pid == 0 {
        sys::reset_signal_dispositions();
        app::unblock_all();
        if let Some(t) = tty {
            let ok = sys::setsid().and_then(|()| sys::set_controlling_tty(t));
            if let Err(e) = ok {
                fail(format!("taking the terminal: {}", errno_text(&e)), 125);
            }
            for fd in 0..3 {
                let _ = sys::dup2(t, fd);
            }
        }
        // Last, as for the apps: the other namespaces are the host's to join.
        let userns = who.userns.then_some(pidfd.as_raw_fd());
        let identity = match &who.security {
            Some(sec) => app::take_credentials(who.uid, who.gid, &who.groups, sec, userns),
            None => userns
                .map_or(Ok(()), super::userns::join)
                .and_then(|()| sys::set_credentials(who.uid, who.gid, &who.groups))
                .map_err(|e| {
                    app::Failure::setup(format!("setting credentials: {}", errno_text(&e)))
                }),
        };
        if let Err(f) = identity {
            fail(f.message, f.code);
        }
        if let Err(e) = sys::chdir(&who.working_dir) {
            if who.working_dir_required {
                fail(
                    format!(
                        "working directory {}: {}",
                        who.working_dir.to_string_lossy(),
                        errno_text(&e)
                    ),
                    app::EXIT_SETUP,
                );
            }
            let _ = sys::chdir(c"/");
        }
        if let Some(sec) = &who.security
            && let Err(f) = app::lock_down_with(sec)
        {
            fail(f.message, f.code);
        }
        let f = app::exec(argv, env, path_dirs);
        fail(f.message, f.code);
    }
    let status = sys::waitpid(pid, 0).map_or(app::EXIT_SETUP << 8, |(_, s)| s);
    sys::exit(decode_wait_status(status).0)
}

/// The host pid of a process of app `app`: a child of the init whose environment names it.
fn find_app(init_pid: i32, app: &str) -> Result<i32> {
    let children = std::fs::read_to_string(format!("/proc/{init_pid}/task/{init_pid}/children"))
        .map_err(|_| Error::NotRunning { pid: init_pid })?;
    let wanted = format!("AC_APP_NAME={app}");
    for pid in children
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        // The last definition is the one the app's environment ends up with.
        let name = environ
            .split(|&b| b == 0)
            .rfind(|v| v.starts_with(b"AC_APP_NAME="));
        if name == Some(wanted.as_bytes()) {
            return Ok(pid);
        }
    }
    Err(Error::AppNotRunning {
        app: app.into(),
        pid: init_pid,
    })
}
