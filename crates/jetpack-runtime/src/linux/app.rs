//! Stage2: one app's process, forked by the init into its own mount namespace. It joins the
//! app's cgroups, builds the app's filesystem, sets up stdio, runs the pre-start handler, takes
//! the app's credentials, capabilities and working directory, locks itself down
//! (no_new_privs, seccomp) and execs the main command. Any failure is reported to the init with
//! a message before the process exits, so the pod records *why* and not just a code.
//!
//! The order of the security steps, for the command and for each event handler:
//!
//! 1. first thing after the fork (the init cloned it into its v2 cgroup): move itself into the
//!    app's v1 cgroups, set `oom_score_adj` (lowering it needs CAP_SYS_RESOURCE, which is
//!    still there);
//! 2. drop every capability outside the app's set from the bounding set (needs CAP_SETPCAP);
//! 3. `PR_SET_KEEPCAPS`, setgroups, setgid, setuid: the permitted set survives a non-zero uid;
//! 4. permitted = effective = the app's set (plus CAP_SYS_ADMIN when a seccomp filter must go
//!    in without no_new_privs), inheritable = the app's set, ambient emptied; working
//!    directory;
//! 5. no_new_privs, then the seccomp filter (compiled in stage0), then exec, which is the only
//!    call left: the kernel recomputes the app's sets from the bounding and inheritable ones.

use std::convert::Infallible;
use std::os::fd::RawFd;

use super::plan::{AppPlan, CArgv, Command, PodPlan, SecurityPlan};
pub(super) use super::process::{EXIT_SETUP, Failure};
use super::report::{Kind, Reporter};
use super::{mounts, sys};
use crate::errno_text;
use crate::exit::decode_wait_status;
use crate::spec::NetMode;

/// Exit code when the command exists but cannot be executed.
const EXIT_CANNOT_EXEC: i32 = 126;
/// Exit code when the command does not exist.
const EXIT_NOT_FOUND: i32 = 127;

/// The descriptors an app's processes use for stdio (already open in this process).
#[derive(Clone, Copy)]
pub(super) struct Stdio {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// The pod terminal's slave, when the app has one: it becomes stdio and the controlling
    /// terminal.
    pub tty: Option<RawFd>,
}

/// The body of the app's process; never returns. `release` is the read end of the init's
/// release pipe.
pub(super) fn main(
    pod: &PodPlan,
    app: &AppPlan,
    stdio: Stdio,
    report: Reporter,
    release: RawFd,
) -> ! {
    let Err(f) = start(pod, app, stdio, report, release);
    report.send(Kind::Main, &f.message);
    sys::exit(f.code)
}

fn start(
    pod: &PodPlan,
    app: &AppPlan,
    stdio: Stdio,
    report: Reporter,
    release: RawFd,
) -> Result<Infallible, Failure> {
    // Signals stay blocked (as in the init) until just before exec, so a SIGTERM forwarded
    // during setup or pre-start takes effect then; the handlers inherited from stage0 go now.
    sys::reset_signal_dispositions();
    join_app_context(app, true)?;
    let umask = sys::umask(0);
    mounts::setup(app, pod.net, pod.console.as_deref())?;
    sys::umask(umask);
    set_stdio(stdio)?;
    // Wait for the init's release: the pod's network exists and the caller said go.
    let mut byte = [0u8];
    if !matches!(sys::read(release, &mut byte), Ok(Some(1))) {
        // The init is gone; the pod is being torn down.
        sys::exit(EXIT_SETUP);
    }
    if pod.net == NetMode::Loopback {
        mounts::join_pod_network(app)?;
    }
    if let Some(handler) = &app.pre_start {
        run_pre_start(app, handler, report)?;
    }
    take_identity(app)?;
    unblock_all();
    lock_down(app)?;
    Err(exec(&app.exec, &app.env, &app.path_dirs))
}

/// The app's cgroups and `oom_score_adj`, for its process and every process it starts (and,
/// joined separately, its post-stop handler). `cloned_in`: the init cloned this process into
/// the app's v2 cgroup already.
pub(super) fn join_app_context(app: &AppPlan, cloned_in: bool) -> Result<(), Failure> {
    use std::os::fd::AsRawFd;
    let fail =
        |what: &str, e: std::io::Error| Failure::setup(format!("{what}: {}", errno_text(&e)));
    // This process is single-threaded: moving the thread (`tasks`) moves the process.
    for fd in &app.cgroups.tasks {
        sys::write_all(fd.as_raw_fd(), b"0").map_err(|e| fail("joining the app's cgroup", e))?;
    }
    if let Some(procs) = app.cgroups.v2_procs.as_ref().filter(|_| !cloned_in) {
        sys::write_all(procs.as_raw_fd(), b"0").map_err(|e| fail("joining the app's cgroup", e))?;
    }
    if let Some(adj) = &app.security.oom_score_adj {
        let f = sys::open(c"/proc/self/oom_score_adj", libc::O_WRONLY, 0)
            .map_err(|e| fail("opening /proc/self/oom_score_adj", e))?;
        sys::write_all(f.as_raw_fd(), adj).map_err(|e| fail("setting oom_score_adj", e))?;
    }
    // A cgroup namespace rooted where the app now is: it sees its own cgroups as `/` and
    // nothing of the host's tree.
    sys::unshare(libc::CLONE_NEWCGROUP).map_err(|e| fail("creating a cgroup namespace", e))
}

/// no_new_privs and the seccomp filter: the last steps before the exec.
pub(super) fn lock_down(app: &AppPlan) -> Result<(), Failure> {
    lock_down_with(&app.security)
}

pub(super) fn lock_down_with(sec: &SecurityPlan) -> Result<(), Failure> {
    let fail =
        |what: &str, e: std::io::Error| Failure::setup(format!("{what}: {}", errno_text(&e)));
    if sec.no_new_privs {
        sys::set_no_new_privs().map_err(|e| fail("setting no_new_privs", e))?;
    }
    if let Some(filter) = &sec.filter {
        sys::seccomp_set_filter(filter).map_err(|e| fail("installing the seccomp filter", e))?;
    }
    Ok(())
}

fn set_stdio(stdio: Stdio) -> Result<(), Failure> {
    let fail =
        |what: &str, e: std::io::Error| Failure::setup(format!("{what}: {}", errno_text(&e)));
    match stdio.tty {
        Some(tty) => {
            sys::setsid().map_err(|e| fail("starting a session", e))?;
            sys::set_controlling_tty(tty).map_err(|e| fail("taking the pod terminal", e))?;
            for fd in 0..3 {
                sys::dup2(tty, fd).map_err(|e| fail("connecting the terminal", e))?;
            }
        }
        None => {
            for (from, to) in [(stdio.stdin, 0), (stdio.stdout, 1), (stdio.stderr, 2)] {
                sys::dup2(from, to).map_err(|e| fail("connecting stdio", e))?;
            }
        }
    }
    Ok(())
}

/// The app's capabilities, credentials (setgroups → setgid → setuid) and working directory, as
/// its main command and its handlers get them.
pub(super) fn take_identity(app: &AppPlan) -> Result<(), Failure> {
    take_credentials(app.uid, app.gid, &app.groups, &app.security, app.userns)?;
    sys::chdir(&app.working_dir).map_err(|e| {
        Failure::setup(format!(
            "working directory {}: {}",
            app.working_dir.to_string_lossy(),
            errno_text(&e)
        ))
    })
}

/// The pod's user namespace if it has one (a namespace descriptor or a pidfd of a process in
/// it), then capabilities (bounding set first), groups, gid and uid, and the capability sets.
pub(super) fn take_credentials(
    uid: u32,
    gid: u32,
    groups: &[libc::gid_t],
    sec: &SecurityPlan,
    userns: Option<RawFd>,
) -> Result<(), Failure> {
    let fail =
        |what: &str, e: std::io::Error| Failure::setup(format!("{what}: {}", errno_text(&e)));
    if let Some(ns) = userns {
        super::userns::join(ns).map_err(|e| fail("joining the pod's user namespace", e))?;
    }
    sys::limit_bounding_set(sec.capabilities)
        .map_err(|e| fail("limiting the capability bounding set", e))?;
    sys::set_keep_capabilities(true).map_err(|e| fail("keeping capabilities", e))?;
    sys::set_credentials(uid, gid, groups).map_err(|e| {
        Failure::setup(format!(
            "setting credentials (uid {uid}, gid {gid}, groups {groups:?}): {}",
            errno_text(&e)
        ))
    })?;
    // Capabilities this process does not have (a caller without them, or a kernel that does
    // not know them) cannot be kept.
    let (_, permitted, _) = sys::capget().map_err(|e| fail("reading capabilities", e))?;
    let keep = sec.capabilities & permitted;
    let before_exec = sec.before_exec & permitted;
    sys::capset(before_exec, before_exec, keep).map_err(|e| fail("setting capabilities", e))?;
    sys::clear_ambient_capabilities().map_err(|e| fail("clearing ambient capabilities", e))
}

/// Runs the pre-start handler to completion; a non-zero status fails the app.
fn run_pre_start(app: &AppPlan, handler: &Command, report: Reporter) -> Result<(), Failure> {
    // SAFETY: this process is single-threaded (forked from the single-threaded init).
    let pid = unsafe { sys::fork() }
        .map_err(|e| Failure::setup(format!("starting pre-start: {}", errno_text(&e))))?;
    if pid == 0 {
        super::process::in_child(|| {
            let f = match take_identity(app) {
                Err(f) => f,
                Ok(()) => {
                    unblock_all();
                    match lock_down(app) {
                        Err(f) => f,
                        Ok(()) => exec(handler, &app.env, &app.path_dirs),
                    }
                }
            };
            report.send(Kind::Main, &format!("pre-start: {}", f.message));
            sys::exit(f.code)
        });
    }
    let (_, status) = sys::waitpid(pid, 0)
        .map_err(|e| Failure::setup(format!("waiting for pre-start: {}", errno_text(&e))))?;
    match decode_wait_status(status) {
        (0, _) => Ok(()),
        (_, Some(sig)) => Err(Failure::setup(format!(
            "pre-start {} was killed by signal {sig}",
            handler.display()
        ))),
        (code, None) => Err(Failure::setup(format!(
            "pre-start {} exited with code {code}",
            handler.display()
        ))),
    }
}

/// An empty signal mask, as a new program expects (the caller's thread may have blocked more
/// than the init did).
pub(super) fn unblock_all() {
    sys::sigmask(libc::SIG_SETMASK, &sys::sigset(&[]));
}

/// Execs `cmd` with exactly `env`, trying its candidate paths like execvp (`path_dirs` only
/// names them in a message). Returns only on failure.
pub(super) fn exec(cmd: &Command, env: &CArgv, path_dirs: &[String]) -> Failure {
    let Some(arg0) = cmd.argv.first() else {
        return Failure::setup("exec is empty".into());
    };
    let search = !arg0.to_bytes().contains(&b'/');
    let mut denied = None;
    for path in &cmd.candidates {
        let e = sys::execve(path, cmd.argv.ptrs(), env.ptrs());
        match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) if search => {}
            // Like execvp: keep looking, and report this only if nothing else is found.
            Some(libc::EACCES) if search => {
                denied.get_or_insert((path, e));
            }
            _ => return exec_failure(&path.to_string_lossy(), &e),
        }
    }
    match denied {
        Some((path, e)) => exec_failure(&path.to_string_lossy(), &e),
        None => Failure {
            code: EXIT_NOT_FOUND,
            message: format!(
                "exec {}: command not found in PATH ({})",
                arg0.to_string_lossy(),
                path_dirs.join(":")
            ),
        },
    }
}

fn exec_failure(path: &str, e: &std::io::Error) -> Failure {
    let code = match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXEC,
    };
    Failure {
        code,
        message: format!("exec {path}: {}", errno_text(e)),
    }
}
