//! Lookups inside an app's rootfs, done by stage0 before anything runs so that bad input fails
//! early with a clear error. Every path is opened with the rootfs as `/` (`crate::inroot`): `..` stops at the rootfs and absolute symlinks in the image resolve inside it,
//! never on the host.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

use crate::error::{Error, Result};
pub(crate) use crate::inroot::open_in;

/// The largest `/etc/passwd` or `/etc/group` read; a larger file is not a real one (a passwd
/// line is well under 200 bytes, so this is over 20,000 users).
const MAX_DB_SIZE: u64 = 4 << 20;

/// The uid `user` names in the image (appc §9.10): the owner of an absolute path in the image;
/// else an entry of the image's `/etc/passwd`; else the number itself when it is all digits
/// (a missing `/etc/passwd` is then fine).
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<u32> {
    resolve_id(rootfs, user, Db::Passwd)
}

/// The gid `group` names in the image, like [`resolve_user`] with `/etc/group`.
pub fn resolve_group(rootfs: &Path, group: &str) -> Result<u32> {
    resolve_id(rootfs, group, Db::Group)
}

#[derive(Clone, Copy)]
enum Db {
    Passwd,
    Group,
}

impl Db {
    fn path(self) -> &'static str {
        match self {
            Db::Passwd => "/etc/passwd",
            Db::Group => "/etc/group",
        }
    }

    fn unknown(self, name: &str) -> Error {
        match self {
            Db::Passwd => Error::UnknownUser { user: name.into() },
            Db::Group => Error::UnknownGroup { group: name.into() },
        }
    }
}

fn resolve_id(rootfs: &Path, name: &str, db: Db) -> Result<u32> {
    if name.starts_with('/') {
        let root = open_root(rootfs)?;
        let fd = open_in(&root, name, OFlags::PATH).map_err(|reason| Error::ImagePath {
            path: name.into(),
            reason,
        })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::ImagePath {
            path: name.into(),
            reason: e.into(),
        })?;
        return Ok(match db {
            Db::Passwd => st.st_uid,
            Db::Group => st.st_gid,
        });
    }
    let numeric = (!name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse::<u32>().ok())
        .flatten();
    match read_in_root(rootfs, db.path()) {
        Ok(text) => {
            if let Some(id) = lookup(&text, name) {
                return Ok(id);
            }
        }
        // Only a numeric id can do without the database.
        Err(_) if numeric.is_some() => {}
        Err(Error::ImagePath { reason, .. }) if reason.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    numeric.ok_or_else(|| db.unknown(name))
}

/// The id (third field) of entry `name` in a passwd or group file.
fn lookup(db: &str, name: &str) -> Option<u32> {
    db.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':'))
        .find_map(|mut f| {
            (f.next() == Some(name))
                .then(|| f.nth(1).and_then(|id| id.trim().parse().ok()))
                .flatten()
        })
}

/// An entry of the image's `/etc/passwd`, for the compatibility variables (`USER`, `HOME`,
/// `SHELL`) some images expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// The first entry of the image's `/etc/passwd` with this uid; `None` when there is none or no
/// `/etc/passwd`.
pub fn passwd_entry(rootfs: &Path, uid: u32) -> Result<Option<PasswdEntry>> {
    let text = match read_in_root(rootfs, "/etc/passwd") {
        Ok(t) => t,
        Err(Error::ImagePath { reason, .. }) if reason.kind() == io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let entry = PasswdEntry {
            name: f.first()?.to_string(),
            uid: f.get(2)?.trim().parse().ok()?,
            gid: f.get(3)?.trim().parse().ok()?,
            home: f.get(5).unwrap_or(&"/").to_string(),
            shell: f.get(6).unwrap_or(&"/bin/sh").to_string(),
        };
        (entry.uid == uid).then_some(entry)
    }))
}

/// Resolves `exec[0]` like `execvp` (appc §9.9) and returns its absolute path in the image: an
/// absolute path must be an executable regular file; a plain name is searched in the absolute
/// directories of `path_env` (the app's PATH); a relative path with a `/` is refused.
pub fn find_exec(rootfs: &Path, argv0: &str, path_env: &str) -> Result<String> {
    if argv0.is_empty() {
        return Err(Error::Spec("exec is empty: give the command to run".into()));
    }
    let root = open_root(rootfs)?;
    if argv0.starts_with('/') {
        return match check_executable(&root, argv0) {
            Ok(()) => Ok(argv0.to_string()),
            Err(problem) => Err(Error::ExecNotRunnable {
                path: argv0.into(),
                problem,
            }),
        };
    }
    if argv0.contains('/') {
        return Err(Error::ExecRelative { name: argv0.into() });
    }
    let mut not_runnable = None;
    for dir in path_env.split(':').filter(|d| d.starts_with('/')) {
        let candidate = format!("{}/{argv0}", dir.trim_end_matches('/'));
        match check_executable(&root, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(problem) if problem != NOT_FOUND => {
                not_runnable.get_or_insert((candidate, problem));
            }
            Err(_) => {}
        }
    }
    // Like execvp: a match that cannot run is reported only when nothing else was found.
    Err(match not_runnable {
        Some((path, problem)) => Error::ExecNotRunnable { path, problem },
        None => Error::ExecNotFound {
            name: argv0.into(),
            path: path_env.into(),
        },
    })
}

const NOT_FOUND: &str = "no such file in the image";

/// Ok when `path` is a regular file with an execute bit, else what is wrong with it.
fn check_executable(root: &OwnedFd, path: &str) -> std::result::Result<(), String> {
    let fd = match open_in(root, path, OFlags::PATH) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Err(NOT_FOUND.into());
        }
        Err(e) => return Err(crate::errno_text(&e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| crate::errno_text(&e.into()))?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft != FileType::RegularFile {
        return Err(format!("is a {} in the image, not a file", describe(ft)));
    }
    if st.st_mode & 0o111 == 0 {
        return Err("is not executable (no x permission bit in the image)".into());
    }
    Ok(())
}

/// Checks that the working directory `path` (absolute) exists in the image and is a directory.
pub fn check_dir(rootfs: &Path, path: &str) -> Result<()> {
    let bad = |problem: String| Error::WorkingDir {
        path: path.into(),
        problem,
    };
    if !path.starts_with('/') {
        return Err(bad("is not an absolute path".into()));
    }
    let root = open_root(rootfs)?;
    match open_in(&root, path, OFlags::PATH | OFlags::DIRECTORY) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            Err(bad("does not exist in the image".into()))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            Err(bad("is not a directory in the image".into()))
        }
        Err(e) => Err(bad(crate::errno_text(&e))),
    }
}

fn describe(ft: FileType) -> &'static str {
    match ft {
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "special file",
    }
}

fn open_root(rootfs: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::os(format!("app rootfs {}", rootfs.display()), e.into()))
}

/// Reads the file `path` of the image, which must be a regular file of at most
/// [`MAX_DB_SIZE`] bytes. The image is untrusted: a FIFO would block the open or the read
/// forever, a device could be endless (`/dev/zero`) or have side effects when opened. So the
/// path is first opened with `O_PATH` (which opens nothing) and checked; only a regular file is
/// opened for reading, with `O_NONBLOCK | O_NOCTTY`, and checked again to be the same file.
fn read_in_root(rootfs: &Path, path: &str) -> Result<String> {
    let root = open_root(rootfs)?;
    let err = |reason| Error::ImagePath {
        path: path.into(),
        reason,
    };
    let probe = open_in(&root, path, OFlags::PATH).map_err(err)?;
    let first = regular_file(&probe).map_err(err)?;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = open_in(&root, path, flags).map_err(err)?;
    let st = regular_file(&fd).map_err(err)?;
    if (st.st_dev, st.st_ino) != (first.st_dev, first.st_ino) {
        return Err(err(io::Error::other(
            "changed while being opened; refusing to read it",
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_DB_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > MAX_DB_SIZE {
        return Err(err(too_large()));
    }
    String::from_utf8(bytes).map_err(|_| {
        err(io::Error::new(
            io::ErrorKind::InvalidData,
            "is not UTF-8 text",
        ))
    })
}

/// `fd`'s status if it is a regular file of at most [`MAX_DB_SIZE`] bytes.
fn regular_file(fd: &OwnedFd) -> io::Result<rustix::fs::Stat> {
    let st = rustix::fs::fstat(fd)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "is a {} in the image, not a regular file; refusing to read it",
                describe(ft)
            ),
        ));
    }
    if st.st_size as u64 > MAX_DB_SIZE {
        return Err(too_large());
    }
    Ok(st)
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "is larger than {} MiB; refusing to read it",
            MAX_DB_SIZE >> 20
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn image() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::create_dir_all(r.join("bin")).unwrap();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::fs::write(
            r.join("etc/passwd"),
            "# comment\nroot:x:0:0:root:/root:/bin/sh\nweb:x:1000:1001::/srv:/bin/ash\n42:x:7:7::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(r.join("etc/group"), "root:x:0:\nwww:x:1001:web\n").unwrap();
        std::fs::write(r.join("bin/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(r.join("bin/tool"), PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::write(r.join("bin/data"), "x").unwrap();
        std::fs::set_permissions(r.join("bin/data"), PermissionsExt::from_mode(0o644)).unwrap();
        // Absolute symlinks must resolve inside the image.
        symlink("/bin/tool", r.join("usr/bin/linked")).unwrap();
        symlink("/etc/shadow", r.join("usr/bin/escape")).unwrap();
        symlink("../../../../../../../bin/sh", r.join("usr/bin/dotdot")).unwrap();
        d
    }

    #[test]
    fn users_and_groups() {
        let d = image();
        let r = d.path();
        assert_eq!(resolve_user(r, "root").unwrap(), 0);
        assert_eq!(resolve_user(r, "web").unwrap(), 1000);
        assert_eq!(resolve_user(r, "123").unwrap(), 123);
        // Names come first, even all-digit ones (appc §9.10).
        assert_eq!(resolve_user(r, "42").unwrap(), 7);
        assert_eq!(resolve_group(r, "www").unwrap(), 1001);
        let e = resolve_user(r, "nobody").unwrap_err().to_string();
        assert!(
            e.starts_with("user \"nobody\" is not in the image's /etc/passwd"),
            "{e}"
        );
        assert!(matches!(
            resolve_group(r, "web"),
            Err(Error::UnknownGroup { .. })
        ));
        // Owner of a path in the image.
        std::os::unix::fs::chown(r.join("bin/tool"), Some(5), Some(6)).ok();
        if jetpack_testutil::require_root_for("owner of a path in the image") {
            assert_eq!(resolve_user(r, "/bin/tool").unwrap(), 5);
            assert_eq!(resolve_group(r, "/usr/bin/linked").unwrap(), 6);
        }
        assert!(matches!(
            resolve_user(r, "/nope"),
            Err(Error::ImagePath { .. })
        ));
        assert_eq!(
            passwd_entry(r, 1000).unwrap().map(|e| (e.name, e.home)),
            Some(("web".into(), "/srv".into()))
        );
    }

    #[test]
    fn numeric_ids_need_no_etc() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(resolve_user(d.path(), "0").unwrap(), 0);
        assert_eq!(resolve_group(d.path(), "65534").unwrap(), 65534);
        let e = resolve_user(d.path(), "root").unwrap_err();
        assert!(matches!(e, Error::UnknownUser { .. }), "{e}");
        assert_eq!(passwd_entry(d.path(), 0).unwrap(), None);
    }

    #[test]
    fn symlinked_passwd_stays_in_the_image() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        // On the host /etc/passwd has root; inside this image the link target does not exist.
        symlink("/etc/passwd", d.path().join("etc/passwd.link")).unwrap();
        std::fs::create_dir(d.path().join("x")).unwrap();
        symlink("/x/../../../../etc/passwd", d.path().join("etc/group")).unwrap();
        assert!(matches!(
            resolve_group(d.path(), "root"),
            Err(Error::UnknownGroup { .. })
        ));
    }

    /// Runs `f` on another thread and fails if it has not returned within 20 seconds.
    fn within_timeout<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("the lookup hung")
    }

    /// Resolves user `web` in an image whose /etc/passwd is made by `make`; returns the error.
    fn hostile_passwd(make: impl FnOnce(&Path)) -> String {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::create_dir_all(d.path().join("dev")).unwrap();
        make(d.path());
        let root = d.path().to_path_buf();
        let started = std::time::Instant::now();
        let (user, entry) = within_timeout(move || {
            let user = resolve_user(&root, "web").map_err(|e| e.to_string());
            let entry = passwd_entry(&root, 1000).map_err(|e| e.to_string());
            (user, entry)
        });
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let e = user.unwrap_err();
        assert_eq!(entry.unwrap_err(), e);
        assert!(e.starts_with("/etc/passwd in the image: "), "{e}");
        e
    }

    #[test]
    fn passwd_that_is_not_a_regular_file_fails_quickly() {
        // A FIFO blocks an ordinary open (no writer) and read forever.
        let e = hostile_passwd(|r| {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                r.join("etc/passwd"),
                FileType::Fifo,
                Mode::from_raw_mode(0o644),
                0,
            )
            .unwrap()
        });
        assert!(
            e.contains("is a fifo in the image, not a regular file"),
            "{e}"
        );

        // An endless device, reached through a symlink (resolved inside the image).
        let e = hostile_passwd(|r| {
            symlink("/dev/zero", r.join("etc/passwd")).unwrap();
            let dev = rustix::fs::makedev(1, 5);
            let made = rustix::fs::mknodat(
                rustix::fs::CWD,
                r.join("dev/zero"),
                FileType::CharacterDevice,
                Mode::from_raw_mode(0o666),
                dev,
            );
            if made.is_err() {
                // Without CAP_MKNOD, a FIFO stands in for the device.
                assert!(std::env::var_os("JETPACK_TEST_REQUIRE_ROOT").is_none());
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    r.join("dev/zero"),
                    FileType::Fifo,
                    Mode::from_raw_mode(0o666),
                    0,
                )
                .unwrap();
            }
        });
        assert!(e.contains("not a regular file"), "{e}");

        // A huge regular file (sparse: 100 MB without using the disk).
        let e = hostile_passwd(|r| {
            let f = std::fs::File::create(r.join("etc/passwd")).unwrap();
            f.set_len(100_000_000).unwrap();
        });
        assert!(e.contains("is larger than 4 MiB"), "{e}");

        // A directory.
        let e = hostile_passwd(|r| std::fs::create_dir(r.join("etc/passwd")).unwrap());
        assert!(e.contains("is a directory in the image"), "{e}");
    }

    #[test]
    fn group_that_is_a_fifo_fails_quickly() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.path().join("etc/group"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let root = d.path().to_path_buf();
        let e = within_timeout(move || resolve_group(&root, "www").unwrap_err().to_string());
        assert!(e.starts_with("/etc/group in the image: is a fifo"), "{e}");
    }

    #[test]
    fn exec_lookup() {
        let d = image();
        let r = d.path();
        let path = "/usr/local/bin:/usr/bin:/bin";
        assert_eq!(find_exec(r, "/bin/tool", path).unwrap(), "/bin/tool");
        assert_eq!(find_exec(r, "tool", path).unwrap(), "/bin/tool");
        assert_eq!(find_exec(r, "linked", path).unwrap(), "/usr/bin/linked");
        let e = find_exec(r, "nope", path).unwrap_err().to_string();
        assert_eq!(
            e,
            "command \"nope\" is not in the image (PATH searched: \"/usr/local/bin:/usr/bin:/bin\")"
        );
        let e = find_exec(r, "/bin/nope", path).unwrap_err().to_string();
        assert_eq!(e, "exec /bin/nope: no such file in the image");
        let e = find_exec(r, "data", path).unwrap_err().to_string();
        assert!(e.contains("/bin/data: is not executable"), "{e}");
        let e = find_exec(r, "/bin", path).unwrap_err().to_string();
        assert!(e.contains("is a directory in the image"), "{e}");
        assert!(matches!(
            find_exec(r, "bin/tool", path),
            Err(Error::ExecRelative { .. })
        ));
        // Symlinks pointing at host paths resolve in the image, where they do not exist.
        assert!(find_exec(r, "escape", path).is_err());
        assert!(find_exec(r, "dotdot", path).is_err());
        // Relative PATH entries are ignored.
        assert!(find_exec(r, "tool", "bin:usr/bin").is_err());
    }

    #[test]
    fn working_directory() {
        let d = image();
        let r = d.path();
        check_dir(r, "/").unwrap();
        check_dir(r, "/etc").unwrap();
        let e = check_dir(r, "/nope").unwrap_err().to_string();
        assert_eq!(e, "working directory /nope: does not exist in the image");
        let e = check_dir(r, "/bin/tool").unwrap_err().to_string();
        assert_eq!(
            e,
            "working directory /bin/tool: is not a directory in the image"
        );
        assert!(check_dir(r, "etc").is_err());
    }
}

/// Writes `/etc/<name>` in the rootfs unless the image has one (a file, a link, anything by
/// that name), making `/etc` if the image has none. Returns whether it wrote. Resolution stays
/// in the rootfs, so an image's `/etc` that is a link cannot send the write to the host.
pub fn provide_etc_file(rootfs: &Path, name: &str, contents: &[u8]) -> Result<bool> {
    let fail = |e: io::Error| Error::os(format!("/etc/{name} in {}", rootfs.display()), e);
    let root = open_root(rootfs)?;
    let etc = match open_in(&root, "/etc", OFlags::PATH | OFlags::DIRECTORY) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            rustix::fs::mkdirat(&root, "etc", Mode::from_raw_mode(0o755))
                .map_err(|e| fail(e.into()))?;
            open_in(&root, "/etc", OFlags::PATH | OFlags::DIRECTORY)
        }
        r => r,
    }
    .map_err(fail)?;
    // O_EXCL refuses any existing name, a dangling link included.
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&etc, name, flags, Mode::from_raw_mode(0o644)) {
        Err(rustix::io::Errno::EXIST) => return Ok(false),
        r => r.map_err(|e| fail(e.into()))?,
    };
    std::fs::File::from(fd).write_all(contents).map_err(fail)?;
    Ok(true)
}

#[cfg(test)]
mod etc_tests {
    use super::*;

    #[test]
    fn provides_only_what_is_missing_and_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // No /etc at all: made.
        assert!(provide_etc_file(&root, "hosts", b"127.0.0.1 localhost\n").unwrap());
        assert_eq!(
            std::fs::read(root.join("etc/hosts")).unwrap(),
            b"127.0.0.1 localhost\n"
        );
        // The image's own file is kept.
        assert!(!provide_etc_file(&root, "hosts", b"other").unwrap());
        assert_eq!(
            std::fs::read(root.join("etc/hosts")).unwrap(),
            b"127.0.0.1 localhost\n"
        );
        // A dangling link counts as the image's own.
        std::os::unix::fs::symlink("/nowhere", root.join("etc/resolv.conf")).unwrap();
        assert!(!provide_etc_file(&root, "resolv.conf", b"x").unwrap());
        // /etc as an absolute link resolves inside the rootfs, never to the host's.
        let root2 = dir.path().join("root2");
        std::fs::create_dir_all(root2.join("real")).unwrap();
        std::os::unix::fs::symlink(&outside, root2.join("etc")).unwrap();
        let r = provide_etc_file(&root2, "hosts", b"x");
        assert!(!outside.join("hosts").exists(), "{r:?}");
    }
}
