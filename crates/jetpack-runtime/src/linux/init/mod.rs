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
//!
//! This module holds the init's state and its poll loop; [`setup`] holds the start before the
//! go, and [`child`] the bodies of the processes the init forks.

mod child;
mod setup;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use libc::{c_int, pid_t};
use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};

use super::app::{self, EXIT_SETUP, Stdio};
use super::plan::PodPlan;
use super::relay::Relay;
use super::report::{self, Kind};
use super::stdin::StdinRelay;
use super::{exits, sys};
use crate::errno_text;
use crate::exit::{AppExit, AppStart, decode_wait_status, pod_code};

use child::{clone_app, post_stop};

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
    /// The caller's stdin, for the attached app of an interactive pod (`run -i`).
    pub stdin: Option<RawFd>,
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
    /// EOF once every app has exec'd or ended (see `setup`); then the start frame is sent.
    started_r: Option<OwnedFd>,
    started_w: Option<OwnedFd>,
    null: OwnedFd,
    /// App codes in the order the apps ended.
    codes: Vec<i32>,
    post_stop_started: bool,
    /// The pod terminal's slave, in terminal mode.
    tty: Option<RawFd>,
    /// `run -i`: the caller's stdin to the attached app's stdin pipe, and that pipe's read
    /// end until the app is forked.
    stdin: Option<StdinRelay>,
    stdin_r: Option<OwnedFd>,
    exits: RawFd,
    /// The host's `/` (device, inode), seen before the init left it: an app whose mount
    /// namespace still has it as root never got its filesystem.
    host_root: Option<(u64, u64)>,
}

impl Init<'_> {
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
        for (i, app) in self.plan.apps.iter().enumerate() {
            let tty = self.tty.filter(|_| i == self.plan.attached);
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
        // The app has its copy: the pipe ends when it (and its children) close it.
        self.stdin_r = None;
        self.started_w = None;
    }

    /// Once the start pipe reaches EOF: how each app's start went, to the caller.
    fn started(&mut self) {
        let mut byte = [0u8; 16];
        match sys::read(
            self.started_r.as_ref().map_or(-1, |f| f.as_raw_fd()),
            &mut byte,
        ) {
            Ok(Some(0)) | Err(_) => {}
            // Nobody writes it; EAGAIN (`None`) is a spurious wake-up.
            _ => return,
        }
        self.started_r = None;
        // A failure is reported before its app exits: read it first.
        self.drain_reports();
        let lines: Vec<String> = self
            .apps
            .iter()
            .map(|a| {
                let start = match (&a.error, &a.exit) {
                    (Some(e), _) => AppStart::Failed(e.clone()),
                    (None, Some(x)) => match &x.error {
                        Some(e) => AppStart::Failed(e.clone()),
                        None => AppStart::Exited(x.code),
                    },
                    (None, None) => AppStart::Running,
                };
                start.encode()
            })
            .collect();
        exits::send(self.exits, exits::READY, &lines.join("\n"));
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
            let mut fds: Vec<PollFd> = Vec::with_capacity(3 + self.relays.len());
            fds.push(PollFd::new(&self.signals, PollFlags::IN));
            fds.push(PollFd::new(&self.report_r, PollFlags::IN));
            for r in &self.relays {
                fds.push(PollFd::new(r.fd(), PollFlags::IN));
            }
            let started_at = self.started_r.as_ref().map(|s| {
                fds.push(PollFd::new(s, PollFlags::IN));
                fds.len() - 1
            });
            let stdin_at = self.stdin.as_ref().map(|s| {
                let (fd, flags) = s.poll_on();
                fds.push(PollFd::from_borrowed_fd(fd, flags));
                fds.len() - 1
            });
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
            if started_at.is_some_and(|i| ready[i]) {
                self.started();
            }
            if stdin_at.is_some_and(|i| ready[i])
                && let Some(s) = &mut self.stdin
                && !s.pump(&mut buf)
            {
                self.stdin = None;
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
        if i == self.plan.attached {
            // The caller's further input is no one's.
            self.stdin = None;
        }
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
            let stdio = match self.tty.filter(|_| i == self.plan.attached) {
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
