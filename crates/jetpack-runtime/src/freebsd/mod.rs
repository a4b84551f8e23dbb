//! The FreeBSD system calls of the jail engine: `jail_set(2)` with `JAIL_CREATE`,
//! `jail_get(2)` for a jail's id, `jail_attach(2)`, `jail_remove(2)`, `nmount(2)` and
//! `unmount(2)`. Everything else the engine does (the plan, stage 2's chroot, setgroups,
//! setgid, setuid, chdir, exec) is plain POSIX or `jetpack-jail`'s data.
//!
//! Built on FreeBSD only (`scripts/check-freebsd.sh` type-checks it from Linux against libc's
//! FreeBSD bindings; nothing here links or runs it).

mod spawn;

pub use spawn::spawn;

use std::ffi::{CString, c_void};
use std::io;
use std::net::Ipv4Addr;

/// A `jail_set(2)` value in the kernel's representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JailValue {
    /// A boolean parameter: its name alone for true, with `no` before its last component
    /// for false (`allow.noraw_sockets`), as the kernel reads flags.
    Flag(bool),
    /// An integer or a jailsys value (`JAIL_SYS_*`), a C `int`.
    Int(i32),
    /// A NUL-terminated string.
    Str(String),
    /// An array of `struct in_addr`.
    Ip4(Vec<Ipv4Addr>),
}

/// The `name`/`value` buffers of an iovec list, kept alive while the call reads them.
struct Iov {
    bufs: Vec<Vec<u8>>,
}

impl Iov {
    fn new() -> Iov {
        Iov { bufs: Vec::new() }
    }

    fn text(&mut self, s: &str) -> io::Result<()> {
        let c = CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.bufs.push(c.into_bytes_with_nul());
        Ok(())
    }

    fn push(&mut self, name: &str, value: &JailValue) -> io::Result<()> {
        match value {
            JailValue::Flag(on) => {
                let name = if *on {
                    name.to_string()
                } else {
                    match name.rsplit_once('.') {
                        Some((pre, last)) => format!("{pre}.no{last}"),
                        None => format!("no{name}"),
                    }
                };
                self.text(&name)?;
                self.bufs.push(Vec::new());
            }
            JailValue::Int(i) => {
                self.text(name)?;
                self.bufs.push(i.to_ne_bytes().to_vec());
            }
            JailValue::Str(s) => {
                self.text(name)?;
                self.text(s)?;
            }
            JailValue::Ip4(addrs) => {
                self.text(name)?;
                // struct in_addr is the address in network order.
                self.bufs
                    .push(addrs.iter().flat_map(|a| a.octets()).collect());
            }
        }
        Ok(())
    }

    /// The iovec array; empty buffers are passed as a null pointer with length 0.
    fn iovecs(&mut self) -> Vec<libc::iovec> {
        self.bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: if b.is_empty() {
                    std::ptr::null_mut()
                } else {
                    b.as_mut_ptr().cast::<c_void>()
                },
                iov_len: b.len(),
            })
            .collect()
    }
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Creates a jail from `params` (the plan's `jail_set` list, `name` included); returns its jid.
pub fn jail_create(params: &[(String, JailValue)]) -> io::Result<i32> {
    let mut iov = Iov::new();
    for (name, value) in params {
        iov.push(name, value)?;
    }
    let mut vecs = iov.iovecs();
    let n = libc::c_uint::try_from(vecs.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `vecs` points into `iov.bufs`, which outlive the call; each name is
    // NUL-terminated and each value has the size its kind needs; the kernel only reads them.
    check(unsafe { libc::jail_set(vecs.as_mut_ptr(), n, libc::JAIL_CREATE) })
}

/// The jid of the jail named `name`.
pub fn jail_id(name: &str) -> io::Result<i32> {
    let mut iov = Iov::new();
    iov.push("name", &JailValue::Str(name.to_string()))?;
    let mut vecs = iov.iovecs();
    // SAFETY: as in `jail_create`; the kernel writes nothing through these iovecs (the jid
    // is the return value).
    check(unsafe { libc::jail_get(vecs.as_mut_ptr(), 2, 0) })
}

/// Moves the calling process into jail `jid` (stage 2's first step).
pub fn jail_attach(jid: i32) -> io::Result<()> {
    // SAFETY: a plain system call on an integer.
    check(unsafe { libc::jail_attach(jid) }).map(drop)
}

/// Kills every process of jail `jid` and removes it.
pub fn jail_remove(jid: i32) -> io::Result<()> {
    // SAFETY: a plain system call on an integer.
    check(unsafe { libc::jail_remove(jid) }).map(drop)
}

/// Mounts with the plan's `nmount(2)` options (a flag's value is `None`).
pub fn nmount(options: &[(String, Option<String>)]) -> io::Result<()> {
    let mut iov = Iov::new();
    for (name, value) in options {
        iov.text(name)?;
        match value {
            Some(v) => iov.text(v)?,
            None => iov.bufs.push(Vec::new()),
        }
    }
    let mut vecs = iov.iovecs();
    let n = libc::c_uint::try_from(vecs.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `vecs` points into `iov.bufs`, alive for the call; names and values are
    // NUL-terminated strings or null flags, as nmount(2) reads them.
    check(unsafe { libc::nmount(vecs.as_mut_ptr(), n, 0) }).map(drop)
}

/// Unmounts `path`; `force` with `MNT_FORCE`.
pub fn unmount(path: &std::path::Path, force: bool) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = if force { libc::MNT_FORCE } else { 0 };
    // SAFETY: `c` is a NUL-terminated path alive for the call.
    check(unsafe { libc::unmount(c.as_ptr(), flags) }).map(drop)
}

/// Gives up root for good: the groups, gid and uid of `user` in the host's `/etc/passwd`, as
/// `linux::drop_privileges` does. `Ok(None)` when no such user exists.
pub fn drop_privileges(user: &str) -> crate::Result<Option<(u32, u32)>> {
    let root = std::path::Path::new("/");
    let Ok(uid) = crate::resolve::resolve_user(root, user) else {
        return Ok(None);
    };
    let gid = crate::resolve::passwd_entry(root, uid)?
        .map(|e| e.gid)
        .unwrap_or(uid);
    let groups = [gid];
    let fail = |e| crate::Error::os(format!("becoming user {user} ({uid}:{gid})"), e);
    // SAFETY: plain system calls; `groups` outlives the call that reads it.
    unsafe {
        check(libc::setgroups(1, groups.as_ptr())).map_err(fail)?;
        check(libc::setgid(gid)).map_err(fail)?;
        check(libc::setuid(uid)).map_err(fail)?;
    }
    Ok(Some((uid, gid)))
}
