//! The Linux isolation engine.
//!
//! ```text
//! caller (`run`, stage0)          init (PID 1; new pid, mount, uts, ipc [, net] namespaces)
//!  plan: C strings, files open
//!  fork ───────────────────────▶  close inherited fds, setsid, namespaces, hostname
//!  on_init(pid) hook                clone(NEWNS) per app ───────▶ app (stage2): bind rootfs,
//!    (meanwhile the pod builds)     network namespace, lo up        pivot_root, /proc /sys /dev,
//!  "go" ───────────────────────▶  release the apps ─────────────▶  volumes, read-only root;
//!  forward signals to the init      poll loop: relay output,        join the pod network,
//!  [relay the pod terminal]           reap, forward signals,        pre-start, credentials,
//!  waitpid(init)             ◀──      write exit files              exec
//!  PodExit from the exit files      post-stop: setns into each app's mount namespace
//! ```
//!
//! The pid namespace comes from `unshare(CLONE_NEWPID)` on the calling thread, a glibc
//! `fork()` (whose child is the namespace's PID 1) and a `setns` back to the caller's own
//! namespace: no raw `clone` in a possibly multi-threaded caller, and no re-exec.
//!
//! The init gets `PR_SET_PDEATHSIG(SIGKILL)`: if the caller dies, the init dies, the kernel
//! kills every process of the pid namespace, and the pod's mount namespaces (the only place its
//! mounts ever existed) go with them. The signal follows the *thread* that forked the init, so
//! that thread must stay alive while the pod runs (`run` blocks in it).
//!
//! Costs on the start path (a one-app `/bin/true` pod): the fork of the caller (page tables
//! proportional to its memory), creating the network namespace (about 0.4 ms here, overlapped
//! with the apps' filesystem setup and the caller's hook), one mount-namespace copy per app, the
//! detach of the host tree after `pivot_root`, six mounts and a few mknods per app, and the
//! final exec. Nothing sleeps or polls with a delay: every wait is on a pipe, a signalfd or
//! `waitpid`. With resource limits add the pod's cgroups (made before the fork, removed after
//! the init; about 0.2 ms per hierarchy) and each app's join (see `AppCgroups` in [`cgroups`] for
//! how it avoids the kernel's 10 ms migration lock); the security isolators are a handful of
//! system calls per app, the seccomp filter being compiled before the fork.

mod app;
pub mod cgroups;
mod dev;
pub mod devices;
mod enter;
mod exits;
mod init;
mod masks;
mod mkdir;
mod mounts;
pub mod netns;
mod plan;
mod process;
mod relay;
mod report;
pub mod seccomp;
mod signals;
mod stdin;
mod sys;
mod tty;
pub mod userns;

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::fs::{Mode, OFlags};

pub use enter::{EnterContext, enter};
use process::check_pod_init;
pub use signals::FORWARDED_SIGNALS;

use crate::error::{Error, Result};
use crate::exit::{AppExit, AppStart, PodExit, decode_wait_status};
use crate::spec::PodSpec;

type OnInit<'a> = Box<dyn FnOnce(i32) -> std::result::Result<(), String> + 'a>;

/// How `run` talks to its caller. `RunHooks::default()` uses the caller's stdio and forwards
/// signals.
pub struct RunHooks<'a> {
    on_init: Option<OnInit<'a>>,
    on_ready: Option<exits::OnReady>,
    stdin: Option<BorrowedFd<'a>>,
    stdout: Option<BorrowedFd<'a>>,
    stderr: Option<BorrowedFd<'a>>,
    keep: Vec<BorrowedFd<'a>>,
    forward_signals: bool,
}

impl Default for RunHooks<'_> {
    fn default() -> Self {
        RunHooks {
            on_init: None,
            on_ready: None,
            stdin: None,
            stdout: None,
            stderr: None,
            keep: Vec::new(),
            forward_signals: true,
        }
    }
}

impl<'a> RunHooks<'a> {
    /// Called with the init's host pid as soon as it exists, before any app starts (record it
    /// so `stop`, `enter` and `status` find the pod). An error kills the pod before its apps
    /// start and `run` returns [`Error::Hook`].
    pub fn on_init(mut self, f: impl FnOnce(i32) -> std::result::Result<(), String> + 'a) -> Self {
        self.on_init = Some(Box::new(f));
        self
    }

    /// Called once, from another thread, when every app has exec'd its main command or ended
    /// (never if the pod fails before its apps are released): how each app's start went, in
    /// the spec's order. A detached start reports here; a service manager hears "ready".
    pub fn on_ready(mut self, f: impl FnOnce(Vec<AppStart>) + Send + 'static) -> Self {
        self.on_ready = Some(Box::new(f));
        self
    }

    /// Where the apps' live output goes (default: the caller's fds 1 and 2). The logs get it
    /// anyway.
    pub fn output(mut self, stdout: BorrowedFd<'a>, stderr: BorrowedFd<'a>) -> Self {
        self.stdout = Some(stdout);
        self.stderr = Some(stderr);
        self
    }

    /// The input relayed to a pod with `tty` or `interactive` (default: fd 0). Otherwise apps
    /// read /dev/null.
    pub fn stdin(mut self, stdin: BorrowedFd<'a>) -> Self {
        self.stdin = Some(stdin);
        self
    }

    /// A descriptor the init keeps open while the pod runs, e.g. the pod's lock, so that it is
    /// held exactly as long as the pod lives. Every other descriptor is closed in the init.
    pub fn keep_fd(mut self, fd: BorrowedFd<'a>) -> Self {
        self.keep.push(fd);
        self
    }

    /// Whether SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to the caller while
    /// `run` waits go to the pod (default: yes). The caller's handlers are restored after.
    pub fn forward_signals(mut self, yes: bool) -> Self {
        self.forward_signals = yes;
        self
    }
}

/// Runs a pod to its end and returns how it ended. Blocks. Apps that fail to start (setup,
/// pre-start or exec) are not errors of `run`: they are in [`PodExit`], with a reason
/// ([`PodExit::errors`]). Errors are failures to create or set up the pod itself.
///
/// The caller must not hold Rust's stdout/stderr locks across this call in another thread
/// while the init starts (see the `init` module).
///
/// ```no_run
/// # fn spec() -> jetpack_runtime::PodSpec { unimplemented!() }
/// use jetpack_runtime::linux::{self, RunHooks};
///
/// let spec = spec();
/// let exit = linux::run(
///     &spec,
///     RunHooks::default().on_init(|pid| {
///         // Record the init's pid in the pod's state, so `stop` and `enter` find it.
///         std::fs::write(spec.dir.join("pid"), pid.to_string()).map_err(|e| e.to_string())
///     }),
/// )?;
/// for e in exit.errors() {
///     eprintln!("jetpack: {e}");
/// }
/// std::process::exit(exit.code);
/// # Ok::<(), jetpack_runtime::Error>(())
/// ```
pub fn run(spec: &PodSpec, hooks: RunHooks) -> Result<PodExit> {
    let mut plan = plan::build(spec)?;
    let fd_or = |fd: Option<BorrowedFd>, n: RawFd| fd.map_or(n, |f| f.as_raw_fd());
    let stdin = fd_or(hooks.stdin, 0);
    let stdout = fd_or(hooks.stdout, 1);
    // SAFETY: `stdin` is the caller's (default fd 0), open for the duration of `run`.
    let stdin_fd = unsafe { BorrowedFd::borrow_raw(stdin) };
    let pty = spec.tty.then(|| tty::Pty::open(stdin_fd)).transpose()?;
    plan.console = pty.as_ref().map(|p| p.path.clone());
    let (go_r, go_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let (exits_r, exits_w) = pipe()?;
    let caller = sys::pidfd_open(std::process::id() as libc::pid_t)
        .map_err(|e| Error::os("pidfd_open", e))?;
    let own_pid_ns = rustix::fs::open(
        "/proc/thread-self/ns/pid",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::os("opening /proc/thread-self/ns/pid", e.into()))?;

    // The forwarded signals stay blocked in this thread from before the fork (the init starts
    // with them blocked, as it wants them) until the forwarding handlers are in place.
    let forwarded = sys::sigset(&FORWARDED_SIGNALS);
    let old_mask = sys::sigmask(libc::SIG_BLOCK, &forwarded);
    let restore_mask = || sys::sigmask(libc::SIG_SETMASK, &old_mask);
    if let Err(e) = sys::unshare(libc::CLONE_NEWPID) {
        restore_mask();
        return Err(Error::os("creating the pod's pid namespace", e));
    }
    // SAFETY: the child runs only `init::main`, which never returns and keeps to what is safe
    // after a fork (see the `init` module).
    let forked = unsafe { sys::fork() };
    if let Ok(0) = forked {
        process::in_child(|| {
            init::main(init::InitArgs {
                plan: &plan,
                go: go_r,
                status: status_w,
                exits: exits_w,
                caller,
                stdout,
                stderr: fd_or(hooks.stderr, 2),
                keep: hooks.keep.iter().map(|f| f.as_raw_fd()).collect(),
                tty: pty.map(|p| p.slave),
                stdin: plan.interactive.then_some(stdin),
            })
        });
    }
    // Back to this thread's own pid namespace for later children.
    let restored = sys::setns(own_pid_ns.as_raw_fd(), libc::CLONE_NEWPID);
    let pid = match forked {
        Ok(pid) => pid,
        Err(e) => {
            restore_mask();
            return Err(Error::os("forking the pod's init", e));
        }
    };
    tracing::debug!(pid, uuid = %spec.uuid, "pod init started");
    let mut init = InitGuard { pid, reaped: false };
    let _forwarding = hooks
        .forward_signals
        .then(|| signals::Forwarding::start(pid));
    restore_mask();
    restored.map_err(|e| Error::os("returning to the caller's pid namespace", e))?;
    drop(go_r);
    drop(status_w);
    drop(exits_w);
    drop(caller);
    let app_dirs = plan.apps.iter().map(|a| a.dir.clone()).collect();
    let recorder = exits::Recorder::start(exits_r, app_dirs, hooks.on_ready)
        .map_err(|e| Error::os("starting a thread", e))?;
    let master = pty.map(|p| p.master);

    if let Some(f) = hooks.on_init {
        f(pid).map_err(Error::Hook)?;
    }
    // If this fails the init is gone; its status pipe says why.
    let go = sys::write_all(go_w.as_raw_fd(), b"g");
    drop(go_w);
    let status = match &master {
        Some(master) => {
            let pidfd = sys::pidfd_open(pid).map_err(|e| Error::os("pidfd_open", e))?;
            let log = plan.apps[plan.attached].log.as_raw_fd();
            tty::relay(master, stdin_fd, stdout, Some(log), &pidfd);
            init.wait()?
        }
        None => init.wait()?,
    };
    // Every process of the pod ended with its init: the records are all in the pipe.
    recorder.finish();
    // The pod's processes all ended with its init: its cgroups go now (on an early return,
    // when the plan is dropped).
    if let Some(mut cgroups) = plan.cgroups.take()
        && let Err(e) = cgroups.remove()
    {
        tracing::warn!(uuid = %spec.uuid, "cannot remove the pod's cgroups ({e}); `jetpack gc` will retry");
    }
    let mut message = String::new();
    use std::io::Read;
    let _ = std::fs::File::from(status_r).read_to_string(&mut message);
    if !message.is_empty() {
        return Err(Error::Init(message));
    }
    go.map_err(|e| Error::os("starting the pod", e))?;
    let (code, _) = decode_wait_status(status);
    let apps = spec
        .apps
        .iter()
        .map(|a| {
            let exit = AppExit::read(&spec.dir.join("apps").join(&a.name)).unwrap_or(None);
            (a.name.clone(), exit)
        })
        .collect();
    Ok(PodExit { code, apps })
}

/// Kills and reaps the init on every early way out of `run`, so no pod outlives a failed run.
struct InitGuard {
    pid: libc::pid_t,
    reaped: bool,
}

impl InitGuard {
    fn wait(&mut self) -> Result<i32> {
        let (_, status) =
            sys::waitpid(self.pid, 0).map_err(|e| Error::os("waiting for the pod's init", e))?;
        self.reaped = true;
        Ok(status)
    }
}

impl Drop for InitGuard {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::waitpid(self.pid, 0);
        }
    }
}

/// Sends `sig` to the pod's init, which forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and
/// SIGUSR2 to the apps; SIGKILL ends the whole pod at once. `stop` (SIGTERM, then SIGKILL after
/// a timeout) is for the caller to compose.
pub fn signal_pod(init_pid: i32, sig: i32) -> Result<()> {
    check_pod_init(init_pid)?;
    sys::kill(init_pid, sig).map_err(|e| match e.raw_os_error() {
        Some(libc::ESRCH) => Error::NotRunning { pid: init_pid },
        _ => Error::os(
            format!("sending signal {sig} to the pod init {init_pid}"),
            e,
        ),
    })
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::os("pipe", e.into()))
}

/// Gives up root for good: the groups, gid and uid of `user` in the host's `/etc/passwd`
/// (for services such as the metadata service once their sockets are open). `Ok(None)` when
/// no such user exists.
pub fn drop_privileges(user: &str) -> Result<Option<(u32, u32)>> {
    let uid = match crate::resolve::resolve_user(std::path::Path::new("/"), user) {
        Ok(u) => u,
        Err(_) => return Ok(None),
    };
    let gid = crate::resolve::passwd_entry(std::path::Path::new("/"), uid)?
        .map(|e| e.gid)
        .unwrap_or(uid);
    // No capability survives a setuid away from 0 without PR_SET_KEEPCAPS, which is not set.
    sys::set_credentials(uid, gid, &[gid])
        .map_err(|e| Error::os(format!("becoming user {user} ({uid}:{gid})"), e))?;
    Ok(Some((uid, gid)))
}
