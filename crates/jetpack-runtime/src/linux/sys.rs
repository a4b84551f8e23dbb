//! Thin wrappers over the system calls the engine makes between fork and exec. They take
//! pre-built C strings, allocate nothing and return `io::Result`, so the callers read like the
//! sequence of calls they are. Every `unsafe` block in the engine that is not about a specific
//! data structure lives here.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use libc::{c_char, c_int, c_ulong, pid_t};

fn cvt(r: c_int) -> io::Result<c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_long(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn opt_ptr(s: Option<&CStr>) -> *const c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

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

pub fn unshare(flags: c_int) -> io::Result<()> {
    // SAFETY: unshare only changes this thread's namespaces; it touches no memory.
    cvt(unsafe { libc::unshare(flags) }).map(drop)
}

pub fn setns(fd: RawFd, nstype: c_int) -> io::Result<()> {
    // SAFETY: setns takes a descriptor and flags and touches no memory.
    cvt(unsafe { libc::setns(fd, nstype) }).map(drop)
}

pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    // SAFETY: every pointer is null or a NUL-terminated string that outlives the call.
    cvt(unsafe {
        libc::mount(
            opt_ptr(source),
            target.as_ptr(),
            opt_ptr(fstype),
            flags,
            opt_ptr(data).cast(),
        )
    })
    .map(drop)
}

pub fn umount2(target: &CStr, flags: c_int) -> io::Result<()> {
    // SAFETY: target is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both are NUL-terminated strings that outlive the call.
    cvt_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

pub const OPEN_TREE_CLONE: u32 = 1;
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_SYMLINKS: u32 = 0x10;

/// `open_tree(dirfd, path, flags)`: a detached copy of the mount tree at that place.
pub fn open_tree(dirfd: RawFd, path: &CStr, flags: u32) -> io::Result<OwnedFd> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) })?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attaches the detached tree `from` on `to_dir`/`to_path`, following a symlink there like
/// mount(2) would (the callers are inside the app's root, where symlinks cannot lead out).
pub fn move_mount_to(from: &OwnedFd, to_dir: RawFd, to_path: &CStr) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to_dir,
            to_path.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS,
        )
    })
    .map(drop)
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// Makes a mount (or a whole tree, with `AT_RECURSIVE` in `flags`) read-only, leaving its
/// other attributes alone (unlike a `MS_REMOUNT`, which must repeat them).
pub fn mount_set_readonly(dirfd: RawFd, path: &CStr, flags: c_int) -> io::Result<()> {
    mount_setattr(dirfd, path, flags, MOUNT_ATTR_RDONLY, 0)
}

/// `mount_setattr(2)` setting the attributes `set` (with `userns_fd` for `MOUNT_ATTR_IDMAP`).
pub fn mount_setattr(
    dirfd: RawFd,
    path: &CStr,
    flags: c_int,
    set: u64,
    userns_fd: u64,
) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd,
    };
    // SAFETY: path and attr outlive the call, and the size passed is attr's size.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

pub fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

pub fn mkdir(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::mkdir(path.as_ptr(), mode) }).map(drop)
}

pub fn mknod(path: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::mknod(path.as_ptr(), mode, dev) }).map(drop)
}

pub fn symlink(target: &CStr, link: &CStr) -> io::Result<()> {
    // SAFETY: both are NUL-terminated strings that outlive the call.
    cvt(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) }).map(drop)
}

/// `stat` following symlinks; `None` when nothing is there.
pub fn stat_mode(path: &CStr) -> io::Result<Option<libc::mode_t>> {
    // SAFETY: stat is plain data; all-zero bytes are a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a NUL-terminated string and st a valid buffer, both outliving the call.
    match cvt(unsafe { libc::stat(path.as_ptr(), &mut st) }) {
        Ok(_) => Ok(Some(st.st_mode)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `(st_dev, st_ino)` of `path`: which file it is.
pub fn file_id(path: &CStr) -> io::Result<(u64, u64)> {
    // SAFETY: stat is plain data; all-zero bytes are a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a NUL-terminated string and st a valid buffer, both outliving the call.
    cvt(unsafe { libc::stat(path.as_ptr(), &mut st) })?;
    Ok((st.st_dev, st.st_ino))
}

pub fn open(path: &CStr, flags: c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    let fd = cvt(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes descriptors only; replacing `to` is the point.
    cvt(unsafe { libc::dup2(from, to) }).map(drop)
}

pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments, no memory.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// Makes the terminal `fd` the controlling terminal of this (session leader) process.
pub fn set_controlling_tty(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument, not a pointer.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// `setfsuid` and `setfsgid` (which report no errors: the caller is root and may take any).
pub fn set_fs_ids(uid: u32, gid: u32) {
    // SAFETY: both take an integer and touch no memory.
    unsafe {
        libc::setfsgid(gid);
        libc::setfsuid(uid);
    }
}

pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: umask cannot fail and touches no memory.
    unsafe { libc::umask(mask) }
}

/// `setgroups` → `setgid` → `setuid`, the order that keeps the right to make each call.
pub fn set_credentials(uid: u32, gid: u32, groups: &[libc::gid_t]) -> io::Result<()> {
    // SAFETY: the pointer and length describe `groups`, which outlives the call. glibc applies
    // these to every thread of the process; the callers are single-threaded anyway.
    cvt(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })?;
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::setgid(gid) })?;
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::setuid(uid) }).map(drop)
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

/// Raw `write` of the whole buffer, retried on EINTR and (after waiting) EAGAIN. Used where
/// Rust's `std::io::stdout()` must not be: its lock may have been held by another thread at
/// fork time.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for reads of buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => {
                    wait_writable(fd);
                    continue;
                }
                _ => return Err(e),
            }
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

fn wait_writable(fd: RawFd) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: p is one valid pollfd.
    unsafe { libc::poll(&mut p, 1, -1) };
}

/// Raw `read`, retried on EINTR. `Ok(None)` when a non-blocking descriptor has no data.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Sets the loopback interface up in the current network namespace (one ioctl on a socket;
/// no netlink needed for a flag).
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket creation.
    let s = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: socket returned a new descriptor that nothing else owns.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: ifreq is plain data; all-zero bytes are a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write an ifreq, which ifr is; the union field
    // is the one those requests use.
    unsafe {
        cvt(libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr))?;
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        cvt(libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr))?;
    }
    Ok(())
}

pub fn sethostname(name: &[u8]) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`.
    cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn pidfd_open(pid: pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes integers only.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn makedev(major: u32, minor: u32) -> libc::dev_t {
    libc::makedev(major, minor)
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

/// `struct __user_cap_data_struct`; version 3 takes two of them (capabilities 0–31, 32–63).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// This thread's `(effective, permitted, inheritable)` capability sets as masks.
pub fn capget() -> io::Result<(u64, u64, u64)> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are the version-3 structures capget reads and fills.
    cvt_long(unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) })?;
    let join = |f: fn(&CapData) -> u32| f(&data[0]) as u64 | (f(&data[1]) as u64) << 32;
    Ok((
        join(|d| d.effective),
        join(|d| d.permitted),
        join(|d| d.inheritable),
    ))
}

/// Sets this thread's effective, permitted and inheritable capability sets.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let part = |m: u64, hi: bool| (if hi { m >> 32 } else { m }) as u32;
    let data = [false, true].map(|hi| CapData {
        effective: part(effective, hi),
        permitted: part(permitted, hi),
        inheritable: part(inheritable, hi),
    });
    // SAFETY: header and data are the version-3 structures capset reads.
    cvt_long(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) }).map(drop)
}

/// Drops every capability outside `keep` from the bounding set (needs CAP_SETPCAP), up to the
/// last one the kernel knows.
pub fn limit_bounding_set(keep: u64) -> io::Result<()> {
    for cap in 0..64u32 {
        if keep & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes an integer argument.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as c_ulong, 0, 0, 0) };
        if r == -1 {
            let e = io::Error::last_os_error();
            // EINVAL: past the kernel's last capability.
            if e.raw_os_error() == Some(libc::EINVAL) {
                return Ok(());
            }
            return Err(e);
        }
    }
    Ok(())
}

/// `PR_SET_KEEPCAPS`: keep the permitted set across a change to a non-zero uid.
pub fn set_keep_capabilities(keep: bool) -> io::Result<()> {
    // SAFETY: PR_SET_KEEPCAPS takes an integer argument.
    cvt(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, keep as c_ulong, 0, 0, 0) }).map(drop)
}

/// Empties the ambient capability set (kernels before 4.3 have none: nothing to do).
pub fn clear_ambient_capabilities() -> io::Result<()> {
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes integer arguments.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as c_ulong,
            0,
            0,
            0,
        )
    };
    match cvt(r) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r.map(drop),
    }
}

/// `PR_SET_NO_NEW_PRIVS`: execs can no longer add privileges (setuid bits, file capabilities).
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as c_ulong, 0, 0, 0) }).map(drop)
}

/// Installs a seccomp filter on this thread (needs no_new_privs or CAP_SYS_ADMIN).
pub fn seccomp_set_filter(program: &[libc::sock_filter]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog describes `program`, which outlives the call; the kernel copies it.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as c_ulong,
            &prog as *const libc::sock_fprog,
        )
    })
    .map(drop)
}
