//! Stage2: one app's process, forked by the init into its own mount namespace. It builds the
//! app's filesystem, sets up stdio, runs the pre-start handler, takes the app's credentials and
//! working directory, and execs the main command. Any failure is reported to the init with a
//! message before the process exits, so the pod records *why* and not just a code.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::RawFd;

use super::plan::{AppPlan, CArgv, PodPlan};
use super::report::{Kind, Reporter};
use super::{mounts, sys};
use crate::errno_text;
use crate::exit::decode_wait_status;
use crate::spec::NetMode;

/// Exit code of an app process that failed before its exec (other than exec itself).
pub(super) const EXIT_SETUP: i32 = 125;
/// Exit code when the command exists but cannot be executed.
const EXIT_CANNOT_EXEC: i32 = 126;
/// Exit code when the command does not exist.
const EXIT_NOT_FOUND: i32 = 127;

/// Why an app process gives up, and the code it exits with.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn setup(message: String) -> Failure {
        Failure {
            code: EXIT_SETUP,
            message,
        }
    }
}

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
        mounts::join_pod_network()?;
    }
    if let Some(handler) = &app.pre_start {
        run_pre_start(app, handler, report)?;
    }
    take_identity(app)?;
    unblock_all();
    Err(exec(&app.exec, &app.env, &app.path_dirs))
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

/// The app's credentials (setgroups → setgid → setuid) and working directory, as its main
/// command and its handlers get them.
pub(super) fn take_identity(app: &AppPlan) -> Result<(), Failure> {
    sys::set_credentials(app.uid, app.gid, &app.groups).map_err(|e| {
        Failure::setup(format!(
            "setting credentials (uid {}, gid {}, groups {:?}): {}",
            app.uid,
            app.gid,
            app.groups,
            errno_text(&e)
        ))
    })?;
    sys::chdir(&app.working_dir).map_err(|e| {
        Failure::setup(format!(
            "working directory {}: {}",
            app.working_dir.to_string_lossy(),
            errno_text(&e)
        ))
    })
}

/// Runs the pre-start handler to completion; a non-zero status fails the app.
fn run_pre_start(app: &AppPlan, handler: &CArgv, report: Reporter) -> Result<(), Failure> {
    // SAFETY: this process is single-threaded (forked from the single-threaded init).
    let pid = unsafe { sys::fork() }
        .map_err(|e| Failure::setup(format!("starting pre-start: {}", errno_text(&e))))?;
    if pid == 0 {
        super::in_child(|| {
            let f = match take_identity(app) {
                Err(f) => f,
                Ok(()) => {
                    unblock_all();
                    exec(handler, &app.env, &app.path_dirs)
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

/// Execs `argv` with exactly `env`, looking `argv[0]` up in `path_dirs` when it has no `/`,
/// like execvp. Returns only on failure.
pub(super) fn exec(argv: &CArgv, env: &CArgv, path_dirs: &[String]) -> Failure {
    let Some(arg0) = argv.first() else {
        return Failure::setup("exec is empty".into());
    };
    let name = arg0.to_string_lossy();
    if name.contains('/') {
        let e = sys::execve(arg0, argv.ptrs(), env.ptrs());
        return exec_failure(&name, &e);
    }
    let mut denied = None;
    for dir in path_dirs {
        let Ok(path) = CString::new(format!("{dir}/{name}")) else {
            continue;
        };
        let e = sys::execve(&path, argv.ptrs(), env.ptrs());
        match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => {}
            // Like execvp: keep looking, and report this only if nothing else is found.
            Some(libc::EACCES) => {
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
                "exec {name}: command not found in PATH ({})",
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
