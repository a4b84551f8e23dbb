//! Identities and privileges: filesystem ids, `setgroups`/`setgid`/`setuid`, the capability
//! sets (`capget`/`capset`, the bounding and ambient sets, keep-caps), `no_new_privs` and the
//! seccomp filter. The last steps before exec that drop what an app may do, kept together so
//! their order is easy to audit.

use std::io;

use libc::{c_int, c_ulong};

use super::{cvt, cvt_long};

/// `setfsuid` and `setfsgid` (which report no errors: the caller is root and may take any).
pub fn set_fs_ids(uid: u32, gid: u32) {
    // SAFETY: both take an integer and touch no memory.
    unsafe {
        libc::setfsgid(gid);
        libc::setfsuid(uid);
    }
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
