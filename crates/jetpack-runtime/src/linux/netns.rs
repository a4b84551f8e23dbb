//! Network namespaces that outlive a process: made before a pod starts, so that CNI plugins can
//! configure them (they take a namespace path), and kept as a bind mount of the namespace file
//! until the pod's networks have been deleted.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::sys;

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

/// Makes a new network namespace with loopback up and binds it on `path` (created empty).
///
/// `unshare` moves only the calling thread, so a short-lived thread does it: the caller's own
/// namespace never changes, whatever else it runs.
pub fn create(path: &Path) -> io::Result<()> {
    let target = cpath(path)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let made = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<()> {
            sys::unshare(libc::CLONE_NEWNET)?;
            sys::loopback_up()?;
            // This thread's namespace, not the process's (/proc/self is the main thread's).
            sys::mount(
                Some(c"/proc/thread-self/ns/net"),
                &target,
                None,
                libc::MS_BIND,
                None,
            )
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("network namespace thread panicked")))
    });
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Unbinds and removes a namespace made by [`create`]; the namespace itself ends when its last
/// process does. A missing file is fine (removal is idempotent).
pub fn remove(path: &Path) -> io::Result<()> {
    let target = cpath(path)?;
    match sys::umount2(&target, libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) {
        Ok(()) => {}
        // Not a mount point (a half-made one) or already gone.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {}
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether `path` is a bound network namespace.
pub fn exists(path: &Path) -> bool {
    // nsfs files report the namespace's inode on the nsfs device; a plain empty file is not
    // one. The magic is NSFS_MAGIC.
    // f_type is i64 on some architectures and u32 or i32 on others.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type as i64 == 0x6e73_6673)
}

/// A TCP listener on `127.0.0.1:port` in the network namespace bound at `netns`, with
/// `TCP_NODELAY` (accepted sockets inherit it, so no answer waits for a delayed ACK). A socket
/// stays in the namespace it was made in, so a short-lived thread joins the namespace and makes
/// it there (`setns` moves only that thread).
pub fn loopback_listener(netns: &Path, port: u16) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsRawFd;
    let ns = std::fs::File::open(netns)?;
    std::thread::scope(|s| {
        s.spawn(|| -> io::Result<std::os::fd::OwnedFd> {
            // SAFETY: plain system calls on descriptors that live through them.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let l = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))?;
            let one: libc::c_int = 1;
            // SAFETY: as above; `one` outlives the call.
            let set = unsafe {
                libc::setsockopt(
                    l.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&raw const one).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if set != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(l.into())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the listener's thread panicked")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[jetpack_testutil::root_test]
    fn create_join_remove() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("netns");
        create(&p).unwrap();
        assert!(exists(&p));
        // Another namespace than ours, with loopback up.
        let ours = std::fs::metadata("/proc/self/ns/net").unwrap();
        let theirs = std::fs::metadata(&p).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(ours.ino(), theirs.ino());
        let o = std::process::Command::new("nsenter")
            .arg(format!("--net={}", p.display()))
            .args(["ip", "-o", "link"])
            .output()
            .unwrap();
        let links = String::from_utf8_lossy(&o.stdout);
        assert_eq!(links.lines().count(), 1, "{links}");
        assert!(links.contains("lo: <LOOPBACK,UP,LOWER_UP>"), "{links}");
        assert!(create(&p).is_err(), "an existing file is not replaced");
        remove(&p).unwrap();
        assert!(!p.exists());
        remove(&p).unwrap();
    }
}
