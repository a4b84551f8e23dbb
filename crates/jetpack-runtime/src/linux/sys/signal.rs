//! Signal sets, masks and dispositions and the signalfd the init and the caller poll on.
//! Apart from [`super::process`] because these calls change what a process receives, not
//! which processes exist.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use libc::c_int;

use super::cvt;

/// A signal set from a list of signals.
pub fn sigset(signals: &[c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before any use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &s in signals {
        // SAFETY: set is a valid sigset_t and s a valid signal number.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    set
}

/// `pthread_sigmask(how, set)`, returning the previous mask.
pub fn sigmask(how: c_int, set: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, filled in by the call.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    unsafe { libc::pthread_sigmask(how, set, &mut old) };
    old
}

/// Resets every catchable signal to its default action. A forked child inherits its parent's
/// handlers and ignored signals (Rust programs ignore SIGPIPE); an exec keeps the ignored
/// ones, which apps must not inherit.
pub fn reset_signal_dispositions() {
    for sig in 1..libc::SIGRTMIN() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

pub fn ignore_signal(sig: c_int) {
    // SAFETY: SIG_IGN is always a valid disposition.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// A non-blocking, close-on-exec signalfd for `set` (which the caller keeps blocked).
pub fn signalfd(set: &libc::sigset_t) -> io::Result<OwnedFd> {
    // SAFETY: set is a valid sigset_t for the duration of the call.
    let fd = cvt(unsafe { libc::signalfd(-1, set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) })?;
    // SAFETY: signalfd returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads one record from a signalfd: the signal number, or `None` when none is pending.
pub fn read_signal(fd: RawFd) -> Option<c_int> {
    // SAFETY: signalfd_siginfo is plain data.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: info is a valid buffer of `size` bytes.
    let n = unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
    (n == size as isize).then_some(info.ssi_signo as c_int)
}
