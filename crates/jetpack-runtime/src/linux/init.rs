//! Stage1: the pod's init, PID 1 of the pod's pid namespace. It is a fork of the caller (no
//! re-exec). It finishes the pod's namespaces, forks every app (each builds its filesystem at
//! once), and releases them all after the caller's go. Then one poll loop runs until the end:
//! relaying output, reaping every child (orphans included), forwarding signals, recording each
//! app's exit as soon as it happens, and finally running the post-stop handlers.
//!
//! The init was forked from a process that may have other threads (tests do). glibc's fork
//! leaves malloc usable; what the init must avoid are Rust's stdout/stderr and environment
//! locks, which another thread may have held at fork time, so it writes with raw `write(2)` and
//! never reads the environment or logs through `tracing`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use libc::{c_int, pid_t};
use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};

use super::app::{self, EXIT_SETUP, Stdio};
use super::plan::{AppPlan, PodPlan};
use super::relay::Relay;
use super::report::{self, Kind, Reporter};
use super::signals::FORWARDED_SIGNALS;
use super::{exits, mounts, sys};
use crate::caps::CAP_KILL;
use crate::errno_text;
use crate::exit::{AppExit, decode_wait_status, pod_code};
use crate::spec::NetMode;

/// What stage0 hands to the forked init.
pub(super) struct InitArgs<'a> {
    pub plan: &'a PodPlan,
    /// Read end: one byte = start the apps; EOF = the caller is gone.
    pub go: OwnedFd,
    /// Write end: a pod setup failure, as text, before the init exits with [`EXIT_SETUP`].
    pub status: OwnedFd,
    /// Write end: each app's exit record, for the caller to write (see `exits`).
    pub exits: OwnedFd,
    /// A pidfd of the caller, to see whether it died before the parent-death signal was set.
    pub caller: OwnedFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// More descriptors to keep open for the pod's life (the pod lock).
    pub keep: Vec<RawFd>,
    pub tty: Option<OwnedFd>,
}

/// The init's body; never returns.
///
/// The start is staged for parallelism: the apps are forked early and build their filesystems
/// while the init creates the network namespace (the costliest step) and the caller runs its
/// `on_init` hook; they run nothing of the app's before the init releases them, after the go.
pub(super) fn main(args: InitArgs) -> ! {
    let fail = |message: String| -> ! {
        let _ = sys::write_all(args.status.as_raw_fd(), message.as_bytes());
        sys::exit(EXIT_SETUP)
    };
    let mut init = Init::setup(&args).unwrap_or_else(|m| fail(m));
    init.start_apps();
    if let Err(m) = init.setup_network().and_then(|()| init.hold_nothing()) {
        fail(m);
    }
    let mut byte = [0u8];
    if !matches!(sys::read(args.go.as_raw_fd(), &mut byte), Ok(Some(1))) {
        // The caller died or gave up before the go: no app command has run.
        sys::exit(EXIT_SETUP);
    }
    init.release_apps();
    sys::exit(init.run())
}

struct AppState {
    /// The main process (stage2, then the app's command), while it runs.
    pid: Option<pid_t>,
    exit: Option<AppExit>,
    /// The first failure message from the app's processes.
    error: Option<String>,
    post_stop_error: Option<String>,
    /// Keeps the app's mount namespace (and its mounts) alive for the post-stop handler.
    mount_ns: Option<OwnedFd>,
    post_stop_pid: Option<pid_t>,
    /// Write ends of the app's stdout and stderr pipes: kept for the post-stop handler.
    out_w: Option<OwnedFd>,
    err_w: Option<OwnedFd>,
}

struct Init<'a> {
    plan: &'a PodPlan,
    apps: Vec<AppState>,
    relays: Vec<Relay>,
    signals: OwnedFd,
    report_r: OwnedFd,
    report_w: OwnedFd,
    report_pending: Vec<u8>,
    /// One byte per app, written once the pod may run: each app waits for its byte after
    /// building its filesystem and before running anything of its own.
    release_r: OwnedFd,
    release_w: Option<OwnedFd>,
    null: OwnedFd,
    /// App codes in the order the apps ended.
    codes: Vec<i32>,
    post_stop_started: bool,
    /// The pod terminal's slave, in terminal mode.
    tty: Option<RawFd>,
    exits: RawFd,
    /// The host's `/` (device, inode), seen before the init left it: an app whose mount
    /// namespace still has it as root never got its filesystem.
    host_root: Option<(u64, u64)>,
}

impl<'a> Init<'a> {
    fn setup(args: &InitArgs<'a>) -> Result<Init<'a>, String> {
        let plan = args.plan;
        let err = |what: &str, e: std::io::Error| format!("{what}: {}", errno_text(&e));
        // First: no process of the pod may look into this one through /proc (its root, its
        // descriptors, its memory) while it still holds anything of the host. The apps inherit
        // this until their exec.
        sys::set_dumpable(false).map_err(|e| err("prctl(PR_SET_DUMPABLE)", e))?;
        // Into the pod's v1 device cgroup before any app is forked: the apps inherit it.
        for fd in plan.cgroups.iter().flat_map(|c| &c.init_tasks) {
            sys::write_all(fd.as_raw_fd(), b"0").map_err(|e| err("joining the pod's cgroup", e))?;
        }
        // SIGKILL when the caller dies; the go pipe covers a caller that died before this.
        sys::set_parent_death_signal(libc::SIGKILL).map_err(|e| err("prctl", e))?;
        let mut caller = [PollFd::new(&args.caller, PollFlags::IN)];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if rustix::event::poll(&mut caller, Some(&zero)).unwrap_or(0) > 0 {
            sys::exit(EXIT_SETUP);
        }
        let mut keep: Vec<RawFd> = [
            args.go.as_raw_fd(),
            args.status.as_raw_fd(),
            args.exits.as_raw_fd(),
        ]
        .into_iter()
        .chain([args.stdout, args.stderr])
        .chain(args.keep.iter().copied())
        .chain(args.tty.iter().map(|t| t.as_raw_fd()))
        .chain(plan.fds())
        .collect();
        // Descriptors of the caller (its database, locks, other pods' pipes) are not the pod's.
        sys::close_fds_except(&mut keep);
        // Out of the caller's session: terminal signals reach the pod only through the caller.
        sys::setsid().map_err(|e| err("setsid", e))?;
        sys::ignore_signal(libc::SIGPIPE);
        let ns = libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
        sys::unshare(ns).map_err(|e| err("creating the pod's namespaces", e))?;
        sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
            .map_err(|e| err("making the pod's mounts private", e))?;
        sys::sethostname(&plan.hostname).map_err(|e| err("setting the hostname", e))?;
        if plan.any_post_stop() {
            // The pod's own procfs, to open /proc/<app pid>/ns/mnt by the pod's pids.
            let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            sys::mount(Some(c"proc"), c"/proc", Some(c"proc"), flags, None)
                .map_err(|e| err("mounting the pod's /proc", e))?;
        }
        let mut wanted = FORWARDED_SIGNALS.to_vec();
        wanted.push(libc::SIGCHLD);
        let blocked = sys::sigset(&wanted);
        sys::sigmask(libc::SIG_BLOCK, &blocked);
        let signals = sys::signalfd(&blocked).map_err(|e| err("signalfd", e))?;
        let (report_r, report_w) = nonblocking_pipe().map_err(|e| err("pipe", e))?;
        let (release_r, release_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| err("pipe", e.into()))?;
        let null = sys::open(c"/dev/null", libc::O_RDWR, 0).map_err(|e| err("/dev/null", e))?;
        let several = plan.apps.len() > 1;
        let mut apps = Vec::with_capacity(plan.apps.len());
        let mut relays = Vec::new();
        for a in &plan.apps {
            let mut st = AppState {
                pid: None,
                exit: None,
                error: None,
                post_stop_error: None,
                mount_ns: None,
                post_stop_pid: None,
                out_w: None,
                err_w: None,
            };
            if !plan.tty {
                let prefix = several.then_some(a.name.as_str());
                let (r, w) = nonblocking_pipe().map_err(|e| err("pipe", e))?;
                relays.push(Relay::new(r, a.log.as_raw_fd(), args.stdout, prefix));
                st.out_w = Some(w);
                let (r, w) = nonblocking_pipe().map_err(|e| err("pipe", e))?;
                relays.push(Relay::new(r, a.log.as_raw_fd(), args.stderr, prefix));
                st.err_w = Some(w);
            }
            apps.push(st);
        }
        Ok(Init {
            plan,
            apps,
            relays,
            signals,
            report_r,
            report_w,
            report_pending: Vec::new(),
            release_r,
            release_w: Some(release_w),
            null,
            codes: Vec::new(),
            post_stop_started: false,
            tty: args.tty.as_ref().map(|t| t.as_raw_fd()),
            exits: args.exits.as_raw_fd(),
            host_root: sys::file_id(c"/").ok(),
        })
    }

    fn stdio(&self, i: usize, tty: Option<RawFd>) -> Stdio {
        let st = &self.apps[i];
        let fd = |w: &Option<OwnedFd>| w.as_ref().map_or(self.null.as_raw_fd(), |w| w.as_raw_fd());
        Stdio {
            stdin: self.null.as_raw_fd(),
            stdout: fd(&st.out_w),
            stderr: fd(&st.err_w),
            tty,
        }
    }

    fn reporter(&self, i: usize) -> Reporter {
        Reporter {
            fd: self.report_w.as_raw_fd(),
            app: i as u16,
        }
    }

    /// The pod's network namespace with loopback up (apps join it when released).
    fn setup_network(&self) -> Result<(), String> {
        let err = |what: &str, e: std::io::Error| format!("{what}: {}", errno_text(&e));
        if let Some(ns) = &self.plan.netns {
            // Made and configured by the caller (CNI); loopback is up already.
            sys::setns(ns.as_raw_fd(), libc::CLONE_NEWNET)
                .map_err(|e| err("joining the pod's network namespace", e))?;
        } else if self.plan.net == NetMode::Loopback {
            sys::unshare(libc::CLONE_NEWNET)
                .map_err(|e| err("creating the pod's network namespace", e))?;
            sys::loopback_up().map_err(|e| err("setting the loopback interface up", e))?;
        }
        if self.plan.userns.is_some() && self.plan.net == NetMode::Loopback {
            // The network namespace belongs to the host's user namespace, so the pod's root
            // has no CAP_NET_BIND_SERVICE or CAP_NET_RAW over it: let every user of this
            // namespace bind low ports and ping, as a root in its own would.
            for (path, value) in [
                (c"/proc/sys/net/ipv4/ip_unprivileged_port_start", &b"0"[..]),
                (c"/proc/sys/net/ipv4/ping_group_range", b"0 2147483647"),
            ] {
                let set = sys::open(path, libc::O_WRONLY, 0)
                    .and_then(|f| sys::write_all(f.as_raw_fd(), value));
                set.map_err(|e| err(&format!("writing {}", path.to_string_lossy()), e))?;
            }
        }
        Ok(())
    }

    /// Leaves the host behind once the apps are forked (each took its own copy of the mount
    /// namespace): the init pivots into an empty read-only tmpfs and detaches the host's tree,
    /// so `/proc/1/root` leads nowhere even for a process allowed to look. Without post-stop
    /// handlers, which need the init's privileges to enter the apps' namespaces, it keeps only
    /// CAP_KILL, to forward signals to apps of any user.
    fn hold_nothing(&self) -> Result<(), String> {
        let err = |what: &str, e: std::io::Error| format!("{what}: {}", errno_text(&e));
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        // Any directory of the host does as a mount point: this namespace's mounts are private.
        sys::mount(
            Some(c"tmpfs"),
            c"/dev",
            Some(c"tmpfs"),
            flags,
            Some(c"size=4k,mode=0555"),
        )
        .map_err(|e| err("mounting the init's root", e))?;
        mounts::pivot(c"/dev").map_err(|f| f.message)?;
        sys::mount_set_readonly(libc::AT_FDCWD, c"/", 0)
            .map_err(|e| err("making the init's root read-only", e))?;
        if !self.plan.any_post_stop() {
            let kill = 1u64 << CAP_KILL;
            sys::limit_bounding_set(kill)
                .and_then(|()| sys::capset(kill, kill, 0))
                .map_err(|e| err("dropping the init's capabilities", e))?;
        }
        Ok(())
    }

    /// Lets every app go on to its handlers and command.
    fn release_apps(&mut self) {
        if let Some(w) = self.release_w.take() {
            let go = vec![b'g'; self.plan.apps.len()];
            let _ = sys::write_all(w.as_raw_fd(), &go);
        }
    }

    /// Forks every app, each in a new mount namespace, to build its filesystem; they wait for
    /// [`Init::release_apps`].
    fn start_apps(&mut self) {
        let tty = self.tty;
        for (i, app) in self.plan.apps.iter().enumerate() {
            let stdio = self.stdio(i, tty);
            let reporter = self.reporter(i);
            let release = self.release_r.as_raw_fd();
            match clone_app(app) {
                Ok(0) => {
                    super::process::in_child(|| app::main(self.plan, app, stdio, reporter, release))
                }
                Ok(pid) => {
                    self.apps[i].pid = Some(pid);
                    if app.post_stop.is_some() {
                        let path = format!("/proc/{pid}/ns/mnt");
                        self.apps[i].mount_ns = rustix::fs::open(
                            path.as_str(),
                            OFlags::RDONLY | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .ok();
                    }
                }
                Err(e) => {
                    self.apps[i].error = Some(format!("starting the app: {}", errno_text(&e)));
                    self.app_ended(i, EXIT_SETUP << 8);
                }
            }
        }
    }

    /// The loop; returns the pod's exit code.
    fn run(&mut self) -> i32 {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if !self.post_stop_started && self.apps.iter().all(|a| a.pid.is_none()) {
                self.start_post_stops();
            }
            if self.post_stop_started && self.apps.iter().all(|a| a.post_stop_pid.is_none()) {
                break;
            }
            let mut fds: Vec<PollFd> = Vec::with_capacity(2 + self.relays.len());
            fds.push(PollFd::new(&self.signals, PollFlags::IN));
            fds.push(PollFd::new(&self.report_r, PollFlags::IN));
            for r in &self.relays {
                fds.push(PollFd::new(r.fd(), PollFlags::IN));
            }
            if rustix::event::poll(&mut fds, None).is_err() {
                continue;
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            drop(fds);
            if ready[1] {
                self.drain_reports();
            }
            for (r, _) in self.relays.iter_mut().zip(&ready[2..]).filter(|(_, y)| **y) {
                r.pump(&mut buf);
            }
            if ready[0] {
                while let Some(sig) = sys::read_signal(self.signals.as_raw_fd()) {
                    if sig == libc::SIGCHLD {
                        self.reap(&mut buf);
                    } else {
                        self.forward(sig);
                    }
                }
            }
        }
        // What the apps wrote before they ended is in the pipes: show all of it.
        for r in &mut self.relays {
            r.pump(&mut buf);
            r.flush();
        }
        pod_code(self.plan.apps.len() == 1, &self.codes)
    }

    fn forward(&self, sig: c_int) {
        for pid in self.apps.iter().filter_map(|a| a.pid) {
            let _ = sys::kill(pid, sig);
        }
    }

    fn drain_reports(&mut self) {
        for (i, kind, text) in report::drain(self.report_r.as_raw_fd(), &mut self.report_pending) {
            let Some(st) = self.apps.get_mut(i) else {
                continue;
            };
            let slot = match kind {
                Kind::Main => &mut st.error,
                Kind::PostStop => &mut st.post_stop_error,
            };
            slot.get_or_insert(text);
        }
    }

    /// Reaps every child that has ended: apps, handlers, and orphans of the pod.
    fn reap(&mut self, buf: &mut [u8]) {
        while let Ok((pid, status)) = sys::waitpid(-1, libc::WNOHANG) {
            if pid <= 0 {
                break;
            }
            // Failure messages are written before their writer exits: read them first.
            self.drain_reports();
            if let Some(i) = self.apps.iter().position(|a| a.pid == Some(pid)) {
                // Show the app's last output before anything about its end.
                for r in &mut self.relays {
                    r.pump(buf);
                }
                self.apps[i].pid = None;
                self.app_ended(i, status);
            } else if let Some(i) = self.apps.iter().position(|a| a.post_stop_pid == Some(pid)) {
                let st = &mut self.apps[i];
                st.post_stop_pid = None;
                if let Some(exit) = &mut st.exit {
                    exit.post_stop = Some(decode_wait_status(status).0);
                    exit.post_stop_error = st.post_stop_error.take();
                }
                self.write_exit(i);
            }
        }
    }

    fn app_ended(&mut self, i: usize, status: c_int) {
        let mut exit = AppExit::from_wait_status(status);
        exit.error = self.apps[i].error.take();
        self.codes.push(exit.code);
        self.apps[i].exit = Some(exit);
        self.write_exit(i);
    }

    /// The app's exit record, to the caller, who writes its `exit` file.
    fn write_exit(&self, i: usize) {
        if let Some(exit) = &self.apps[i].exit {
            exits::send(self.exits, i, &exit.to_file_contents());
        }
    }

    /// Once every app has ended: the post-stop handler of each app whose main command ran, in
    /// the app's mount namespace. (An app that failed before that may not even have its
    /// filesystem: its namespace could still show the host's.)
    fn start_post_stops(&mut self) {
        self.post_stop_started = true;
        let host_root = self.host_root;
        for (i, app) in self.plan.apps.iter().enumerate() {
            let Some(ns) = &self.apps[i].mount_ns else {
                continue;
            };
            if self.apps[i].exit.as_ref().is_none_or(|e| e.error.is_some()) {
                continue;
            }
            // With a terminal, the handler uses it like the app did (without taking it as its
            // controlling terminal: the app's session is over).
            let stdio = match self.tty {
                Some(t) => Stdio {
                    stdin: t,
                    stdout: t,
                    stderr: t,
                    tty: None,
                },
                None => self.stdio(i, None),
            };
            let reporter = self.reporter(i);
            // SAFETY: the init is single-threaded.
            match unsafe { sys::fork() } {
                Ok(0) => super::process::in_child(|| {
                    post_stop(app, ns.as_raw_fd(), host_root, stdio, reporter)
                }),
                Ok(pid) => self.apps[i].post_stop_pid = Some(pid),
                Err(e) => {
                    if let Some(exit) = &mut self.apps[i].exit {
                        exit.post_stop_error = Some(format!("fork: {}", errno_text(&e)));
                    }
                    self.write_exit(i);
                }
            }
        }
    }
}

/// Forks an app's process in a new mount namespace, in the app's v2 cgroup if it has one.
fn clone_app(app: &AppPlan) -> std::io::Result<pid_t> {
    let v2 = app.cgroups.v2_dir.as_ref().map(|d| d.as_raw_fd());
    // SAFETY: the init is single-threaded.
    match unsafe { sys::clone_new_mount_ns(v2) } {
        // A kernel without CLONE_INTO_CGROUP (before 5.7): clone, then move the child, the
        // slow way. It waits for the release before running anything of its own.
        Err(e)
            if v2.is_some()
                && matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL)
                ) =>
        {
            // SAFETY: as above.
            let pid = unsafe { sys::clone_new_mount_ns(None) }?;
            if pid == 0 {
                return Ok(0);
            }
            let procs = app.cgroups.v2_procs.as_ref().map(|p| p.as_raw_fd());
            if let Some(procs) = procs
                && let Err(e) = sys::write_all(procs, pid.to_string().as_bytes())
            {
                let _ = sys::kill(pid, libc::SIGKILL);
                return Err(e);
            }
            Ok(pid)
        }
        r => r,
    }
}

/// The post-stop handler's process: joins the app's mount namespace (whose root is the app's
/// rootfs) and runs the handler with the app's identity and environment. `host_root` is the
/// init's `/`: if the namespace's root is still that, the app never got its filesystem and
/// nothing runs.
fn post_stop(
    app: &AppPlan,
    mount_ns: RawFd,
    host_root: Option<(u64, u64)>,
    stdio: Stdio,
    report: Reporter,
) -> ! {
    sys::reset_signal_dispositions();
    let joined = sys::setns(mount_ns, libc::CLONE_NEWNS).and_then(|()| {
        let root = sys::file_id(c"/")?;
        if host_root.is_none_or(|h| h == root) {
            return Err(std::io::Error::other(
                "the app's filesystem was never set up",
            ));
        }
        Ok(())
    });
    let fail = match joined {
        Err(e) => app::Failure::setup(format!(
            "joining the app's mount namespace: {}",
            errno_text(&e)
        )),
        Ok(()) => {
            if let Err(f) = app::join_app_context(app, false) {
                report.send(Kind::PostStop, &f.message);
                sys::exit(f.code);
            }
            let _ = sys::dup2(stdio.stdin, 0);
            let _ = sys::dup2(stdio.stdout, 1);
            let _ = sys::dup2(stdio.stderr, 2);
            match app::take_identity(app) {
                Err(f) => f,
                Ok(()) => {
                    app::unblock_all();
                    let handler = app.post_stop.as_ref().expect("post-stop present");
                    match app::lock_down(app) {
                        Err(f) => f,
                        Ok(()) => app::exec(handler, &app.env, &app.path_dirs),
                    }
                }
            }
        }
    };
    report.send(Kind::PostStop, &fail.message);
    sys::exit(fail.code)
}

fn nonblocking_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    rustix::fs::fcntl_setfl(&r, OFlags::NONBLOCK)?;
    Ok((r, w))
}
