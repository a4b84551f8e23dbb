//! Namespaces and the per-pod kernel state that lives in them: `unshare`, `setns`, the hostname
//! of the UTS namespace and the loopback interface of a new network namespace. Separate from
//! [`super::process`] because none of these create or end processes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use libc::{c_char, c_int};

use super::cvt;

pub fn unshare(flags: c_int) -> io::Result<()> {
    // SAFETY: unshare only changes this thread's namespaces; it touches no memory.
    cvt(unsafe { libc::unshare(flags) }).map(drop)
}

pub fn setns(fd: RawFd, nstype: c_int) -> io::Result<()> {
    // SAFETY: setns takes a descriptor and flags and touches no memory.
    cvt(unsafe { libc::setns(fd, nstype) }).map(drop)
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
