//! The init's start: [`Init::setup`] finishes the pod's namespaces and opens every pipe the
//! pod needs, [`Init::setup_network`] makes or joins the network namespace, and
//! [`Init::hold_nothing`] leaves the host's tree and capabilities behind. Kept apart from the
//! poll loop in the parent module because it all runs once, before the go, and fails the whole
//! pod with a message rather than recording an app's exit.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::OFlags;

use super::{AppState, Init, InitArgs};
use crate::caps::CAP_KILL;
use crate::errno_text;
use crate::linux::app::{EXIT_SETUP, Stdio};
use crate::linux::relay::Relay;
use crate::linux::report::Reporter;
use crate::linux::signals::FORWARDED_SIGNALS;
use crate::linux::stdin::StdinRelay;
use crate::linux::{mounts, sys};
use crate::spec::NetMode;

impl<'a> Init<'a> {
    pub(super) fn setup(args: &InitArgs<'a>) -> Result<Init<'a>, String> {
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
        .chain(args.stdin)
        .chain(plan.fds())
        .collect();
        // Descriptors of the caller (its database, locks, other pods' pipes) are not the pod's.
        sys::close_fds_except(&mut keep);
        // The apps get a pipe of the pod's for stdin, never the caller's descriptor.
        if let Some(fd) = args.stdin {
            // SAFETY: the caller's stdin, kept open above.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
        }
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
        // Every app inherits the write end and loses it at its exec (close-on-exec): EOF says
        // that each app has exec'd its main command or ended.
        let (started_r, started_w) = nonblocking_pipe().map_err(|e| err("pipe", e))?;
        let null = sys::open(c"/dev/null", libc::O_RDWR, 0).map_err(|e| err("/dev/null", e))?;
        let several = plan.apps.len() > 1;
        let mut apps = Vec::with_capacity(plan.apps.len());
        let mut relays = Vec::new();
        for (i, a) in plan.apps.iter().enumerate() {
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
            // The terminal's app is relayed by the caller; the others' lines reach a terminal in
            // raw mode, which needs "\r\n".
            if !(plan.tty && i == plan.attached) {
                let prefix = several.then_some(a.name.as_str());
                let (r, w) = nonblocking_pipe().map_err(|e| err("pipe", e))?;
                relays.push(Relay::new(r, a.log.as_raw_fd(), args.stdout, prefix).crlf(plan.tty));
                st.out_w = Some(w);
                let (r, w) = nonblocking_pipe().map_err(|e| err("pipe", e))?;
                relays.push(Relay::new(r, a.log.as_raw_fd(), args.stderr, prefix).crlf(plan.tty));
                st.err_w = Some(w);
            }
            apps.push(st);
        }
        let (stdin, stdin_r) = match args.stdin.filter(|_| plan.interactive) {
            Some(from) => {
                let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                    .map_err(|e| err("pipe", e.into()))?;
                rustix::fs::fcntl_setfl(&w, OFlags::NONBLOCK).map_err(|e| err("pipe", e.into()))?;
                (Some(StdinRelay::new(from, w)), Some(r))
            }
            None => (None, None),
        };
        Ok(Init {
            plan,
            stdin,
            stdin_r,
            apps,
            relays,
            signals,
            report_r,
            report_w,
            report_pending: Vec::new(),
            release_r,
            release_w: Some(release_w),
            started_r: Some(started_r),
            started_w: Some(started_w),
            null,
            codes: Vec::new(),
            post_stop_started: false,
            tty: args.tty.as_ref().map(|t| t.as_raw_fd()),
            exits: args.exits.as_raw_fd(),
            host_root: sys::file_id(c"/").ok(),
        })
    }

    pub(super) fn stdio(&self, i: usize, tty: Option<RawFd>) -> Stdio {
        let st = &self.apps[i];
        let fd = |w: &Option<OwnedFd>| w.as_ref().map_or(self.null.as_raw_fd(), |w| w.as_raw_fd());
        let stdin = self.stdin_r.as_ref().filter(|_| i == self.plan.attached);
        Stdio {
            stdin: stdin.map_or(self.null.as_raw_fd(), |r| r.as_raw_fd()),
            stdout: fd(&st.out_w),
            stderr: fd(&st.err_w),
            tty,
        }
    }

    pub(super) fn reporter(&self, i: usize) -> Reporter {
        Reporter {
            fd: self.report_w.as_raw_fd(),
            app: i as u16,
        }
    }

    /// The pod's network namespace with loopback up (apps join it when released).
    pub(super) fn setup_network(&self) -> Result<(), String> {
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
    pub(super) fn hold_nothing(&self) -> Result<(), String> {
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
}

fn nonblocking_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    rustix::fs::fcntl_setfl(&r, OFlags::NONBLOCK)?;
    Ok((r, w))
}
