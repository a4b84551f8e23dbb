//! Process creation and ending: `fork`, the raw `clone`/`clone3` of the pod's apps, sessions and
//! controlling terminals, `execve`, `waitpid`, `kill`, `_exit`, the `prctl`s about the process
//! itself, closing inherited descriptors and `pidfd_open`. Kept together because they are the
//! calls whose safety depends on the fork contract (single-threaded children, no locks).

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use libc::{c_char, c_int, c_ulong, pid_t};

use super::{cvt, cvt_long};

/// `fork()` through glibc, whose atfork handlers leave malloc usable in the child even when
/// the parent has other threads.
///
/// # Safety
/// In the child, only the calling thread exists: it must not rely on locks other threads could
/// have held at the time of the fork (Rust's stdout/stderr and environment locks).
pub unsafe fn fork() -> io::Result<pid_t> {
    // SAFETY: the caller upholds the post-fork contract above.
    cvt(unsafe { libc::fork() })
}

/// A child in a new mount namespace (`clone(CLONE_NEWNS | SIGCHLD)`), so the parent can open
/// `/proc/<pid>/ns/mnt` right away without racing the child's own `unshare`. With `cgroup` (a
/// directory descriptor of a v2 cgroup), the child is born in that cgroup (`clone3` with
/// `CLONE_INTO_CGROUP`, Linux 5.7): no migration, so no wait on the kernel's threadgroup lock.
///
/// # Safety
/// As for [`fork`], and more: the raw system call skips glibc's atfork handlers, so the caller
/// must be single-threaded (the pod's init is).
pub unsafe fn clone_new_mount_ns(cgroup: Option<RawFd>) -> io::Result<pid_t> {
    let r = match cgroup {
        None => {
            let flags = (libc::CLONE_NEWNS | libc::SIGCHLD) as c_ulong;
            // SAFETY: a null stack makes clone behave like fork (the child runs on a copy of
            // the parent's stack); the remaining pointer arguments are unused without the
            // flags that read them. Single-threadedness is the caller's promise.
            unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) }
        }
        Some(fd) => {
            let args = CloneArgs {
                flags: libc::CLONE_NEWNS as u64 | CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: fd as u64,
                ..CloneArgs::default()
            };
            // SAFETY: args is a valid `struct clone_args` of the size passed; a zero stack
            // makes clone3 behave like fork, as above.
            unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &args as *const CloneArgs,
                    std::mem::size_of::<CloneArgs>(),
                )
            }
        }
    };
    cvt_long(r).map(|p| p as pid_t)
}

/// `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments, no memory.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// Makes the terminal `fd` the controlling terminal of this (session leader) process.
pub fn set_controlling_tty(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument, not a pointer.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// `execve`; returns only on failure.
pub fn execve(path: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> io::Error {
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    debug_assert!(envp.last().is_some_and(|p| p.is_null()));
    // SAFETY: argv and envp are null-terminated arrays of NUL-terminated strings owned by the
    // caller for the duration of the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// `waitpid`, retried on EINTR. Returns `(pid, status)`, pid 0 with `WNOHANG` and nothing to
/// reap.
pub fn waitpid(pid: pid_t, flags: c_int) -> io::Result<(pid_t, c_int)> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer for the duration of the call.
        match cvt(unsafe { libc::waitpid(pid, &mut status, flags) }) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            r => return r.map(|p| (p, status)),
        }
    }
}

pub fn kill(pid: pid_t, sig: c_int) -> io::Result<()> {
    // SAFETY: kill takes integers only.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Ends the process now, without running Rust or C atexit destructors (in a forked child they
/// belong to the parent's state).
pub fn exit(code: c_int) -> ! {
    // SAFETY: _exit never returns and touches no memory.
    unsafe { libc::_exit(code) }
}

/// `PR_SET_DUMPABLE`: whether other processes of this uid may use `/proc/<pid>/{root,exe,fd,
/// mem}` of this one or ptrace it. Not dumpable: only holders of CAP_SYS_PTRACE may. An exec
/// makes a process dumpable again.
pub fn set_dumpable(yes: bool) -> io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes an integer argument.
    cvt(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, yes as c_ulong, 0, 0, 0) }).map(drop)
}

pub fn set_parent_death_signal(sig: c_int) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes an integer argument.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as c_ulong, 0, 0, 0) }).map(drop)
}

/// Closes every descriptor from 3 up except those in `keep` (sorted, deduplicated here).
pub fn close_fds_except(keep: &mut [RawFd]) {
    keep.sort_unstable();
    let mut next: u32 = 3;
    for &fd in keep.iter().filter(|&&fd| fd >= 3) {
        let fd = fd as u32;
        if fd > next {
            close_range(next, fd - 1);
        }
        next = next.max(fd + 1);
    }
    close_range(next, u32::MAX);
}

fn close_range(first: u32, last: u32) {
    // SAFETY: closes descriptors only. Every descriptor still in use after the fork is in the
    // keep list, and the OwnedFds in this process's copy of the caller's structures that refer
    // to closed numbers are never dropped (the child ends with _exit or exec).
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if r == -1 {
        // Kernels before 5.9: close one by one up to a sane bound.
        for fd in first..last.min(4096) {
            // SAFETY: as above.
            unsafe { libc::close(fd as c_int) };
        }
    }
}

pub fn pidfd_open(pid: pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes integers only.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
