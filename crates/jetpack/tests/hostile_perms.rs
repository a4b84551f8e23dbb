//! What a pod leaves in the store must be out of reach of unprivileged host users: a pod's root
//! can put a setuid-root binary in an empty volume, and pod manifests (with `--set-env` values),
//! app logs and the original image files may hold secrets. End-to-end, as root, through the
//! `jetpack` binary; the host user is uid and gid 65534 (`setpriv`).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::{BB, Env};

const SECRET: &str = "s3cr3t-value-for-hostile-perms";

/// Runs `args` as uid and gid 65534 without supplementary groups. Through `env`: setpriv keeps
/// root's capabilities until its own exec, so the path of a program it runs directly is looked
/// up with root's rights.
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "env",
        ])
        .args(args)
        .output()
        .unwrap()
}

/// Asserts that the host user's command fails because it may not reach its file.
fn denied(args: &[&str]) {
    let o = as_nobody(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("Permission denied"),
        "a host user ran {args:?}: status {}, stdout {:?}, stderr {err:?}",
        o.status,
        String::from_utf8_lossy(&o.stdout)
    );
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o7777
}

fn assert_mode(p: &Path, want: u32) {
    assert_eq!(mode(p), want, "{}: mode {:o}", p.display(), mode(p));
}

/// Removes a file when dropped, whatever the test's outcome.
struct Canary(PathBuf);

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A minimal static x86-64 program that creates `path` (O_WRONLY|O_CREAT, 0644) and exits 0.
/// Setuid root, it creates the file as root: busybox would drop the privilege of most applets,
/// this program keeps it, so the test sees what a real setuid binary in a volume would do.
fn canary_maker(path: &str) -> Vec<u8> {
    let mut code: Vec<u8> = [
        &[0x48, 0x8d, 0x3d, 0x1a, 0, 0, 0][..], // lea rdi, [rip + 26] (the path)
        &[0xbe, 0x41, 0, 0, 0],                 // mov esi, O_WRONLY|O_CREAT
        &[0xba, 0xa4, 0x01, 0, 0],              // mov edx, 0644
        &[0xb8, 0x02, 0, 0, 0],                 // mov eax, SYS_open
        &[0x0f, 0x05],                          // syscall
        &[0xb8, 0x3c, 0, 0, 0],                 // mov eax, SYS_exit
        &[0x31, 0xff],                          // xor edi, edi
        &[0x0f, 0x05],                          // syscall
    ]
    .concat();
    code.extend_from_slice(path.as_bytes());
    code.push(0);
    let (base, off) = (0x40_0000u64, 120u64);
    let len = off + code.len() as u64;
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.extend(2u16.to_le_bytes()); // ET_EXEC
    elf.extend(0x3eu16.to_le_bytes()); // x86-64
    elf.extend(1u32.to_le_bytes());
    elf.extend((base + off).to_le_bytes()); // entry
    elf.extend(64u64.to_le_bytes()); // program headers
    elf.extend(0u64.to_le_bytes()); // no section headers
    elf.extend(0u32.to_le_bytes());
    for h in [64u16, 56, 1, 0, 0, 0] {
        elf.extend(h.to_le_bytes());
    }
    elf.extend(1u32.to_le_bytes()); // PT_LOAD
    elf.extend(5u32.to_le_bytes()); // R+X
    for v in [0, base, base, len, len, 0x1000] {
        elf.extend(v.to_le_bytes());
    }
    assert_eq!(elf.len() as u64, off);
    elf.extend(code);
    elf
}

/// `printf` octal escapes for `bytes`.
fn printf_escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:03o}")).collect()
}

/// The `aci` file of the only image.
fn image_original(e: &Env) -> PathBuf {
    let images = e.root().join("images");
    let mut ids: Vec<PathBuf> = std::fs::read_dir(&images)
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids.pop().unwrap().join("aci")
}

/// The temporary directory holding the store is 0700; open it like `/var/lib` so that only the
/// store's own modes stand between the host user and the store.
fn open_parent(e: &Env) {
    let dir = e.backend.dir.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn setuid_volume_is_out_of_reach(kind: &str) {
    let e = Env::new(kind);
    open_parent(&e);
    let canary = Canary(PathBuf::from(format!(
        "/tmp/jetpack-hostile-canary-{}-{kind}",
        std::process::id()
    )));
    let _ = std::fs::remove_file(&canary.0);
    let maker = cfg!(target_arch = "x86_64");
    let mut script =
        "cp /bin/busybox /v/busybox && chmod 4755 /v/busybox && echo app-output-$SECRET"
            .to_string();
    if maker {
        let elf = printf_escaped(&canary_maker(canary.0.to_str().unwrap()));
        script = format!("printf '{elf}' > /v/maker && chmod 4755 /v/maker && {script}");
    }
    let secret_env = format!("SECRET={SECRET}");
    let out = e.ok(&[
        "run",
        "--net=none",
        "--volume",
        "v,kind=empty",
        BB,
        "--set-env",
        &secret_env,
        "--mount",
        "volume=v,target=/v",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        &script,
    ]);
    assert!(out.contains(SECRET), "{out}");
    let uuid = e.only_pod();
    let pod = e.pod_dir(&uuid);
    let vol = pod.join("volumes/v");
    let manifest = pod.join("manifest");
    let log = pod.join("apps/busybox/log");
    let aci = image_original(&e);

    // What the pod left is there, as its root made it.
    let suid = vol.join("busybox");
    let m = std::fs::metadata(&suid).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o4755, 0));
    assert!(std::fs::read_to_string(&manifest).unwrap().contains(SECRET));
    assert!(std::fs::read_to_string(&log).unwrap().contains(SECRET));

    // The host user reaches none of it.
    denied(&[suid.to_str().unwrap(), "id", "-u"]);
    if maker {
        denied(&[vol.join("maker").to_str().unwrap()]);
    }
    denied(&["ls", vol.to_str().unwrap()]);
    for f in [&manifest, &log, &aci, &pod.join("pod.json")] {
        denied(&["cat", f.to_str().unwrap()]);
    }
    let rootfs = e.root().join("storage/pods");
    denied(&["ls", rootfs.to_str().unwrap()]);
    assert!(
        !canary.0.exists(),
        "the setuid program ran as root for a host user"
    );

    // The modes themselves.
    let root = e.root();
    for d in [
        root.clone(),
        root.join("pods"),
        pod.clone(),
        pod.join("volumes"),
        pod.join("apps"),
        root.join("images"),
        aci.parent().unwrap().to_path_buf(),
        root.join("tmp"),
        root.join("storage"),
        root.join("storage/pods"),
        root.join("storage/images"),
    ] {
        assert_mode(&d, 0o700);
    }
    let app = pod.join("apps").join("busybox");
    assert_mode(&app, 0o700);
    for f in [
        &manifest,
        &pod.join("pod.json"),
        &aci,
        &app.join("log"),
        &app.join("exit"),
    ] {
        assert_mode(f, 0o600);
    }
    // The volume keeps the mode its pod manifest asks for: apps inside need it.
    assert_mode(&vol, 0o755);

    // Root's tools still work.
    assert!(e.ok(&["list"]).contains(&uuid));
    assert!(e.ok(&["status", &uuid]).contains("exited"));
    assert!(e.ok(&["logs", &uuid]).contains(SECRET));
    e.ok(&["destroy", &uuid]);
}

#[jetpack_testutil::root_test]
fn setuid_volume_is_out_of_reach_dir() {
    setuid_volume_is_out_of_reach("dir");
}

#[jetpack_testutil::root_test]
fn setuid_volume_is_out_of_reach_overlay() {
    setuid_volume_is_out_of_reach("overlay");
}

/// The private directories of the store, as made by `init` and kept by every command.
fn private_dirs(root: &Path) -> Vec<PathBuf> {
    ["", "pods", "images", "tmp", "storage", "storage/pods"]
        .iter()
        .map(|d| root.join(d))
        .collect()
}

fn loosen(root: &Path) {
    for d in private_dirs(root) {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A store made before the modes were tightened is tightened by `init` and by opening it.
#[jetpack_testutil::root_test]
fn existing_store_is_tightened() {
    let e = Env::new("dir");
    let uuid = e.ok(&["prepare", "--net=none", BB]);
    let uuid = uuid.trim();
    let root = e.root();
    loosen(&root);
    e.ok(&["list"]);
    for d in private_dirs(&root) {
        assert_mode(&d, 0o700);
    }
    loosen(&root);
    e.ok(&["init"]);
    for d in private_dirs(&root) {
        assert_mode(&d, 0o700);
    }
    e.ok(&["destroy", uuid]);
}

/// The pod area of every backend is private, whatever the backend makes it of (a directory, a
/// btrfs subvolume's parent, the mount point of a ZFS dataset).
fn pod_area_is_private(kind: &str) {
    let e = Env::new(kind);
    let uuid = e.ok(&["prepare", "--net=none", BB]);
    let uuid = uuid.trim();
    let root = e.root();
    for d in [
        "",
        "storage",
        "storage/tmp",
        "storage/images",
        "storage/pods",
        "pods",
    ] {
        assert_mode(&root.join(d), 0o700);
    }
    assert_mode(&e.pod_dir(uuid), 0o700);
    e.ok(&["destroy", uuid]);
}

#[jetpack_testutil::root_test]
fn pod_area_is_private_btrfs() {
    pod_area_is_private("btrfs");
}

#[jetpack_testutil::root_test]
fn pod_area_is_private_zfs() {
    pod_area_is_private("zfs");
}
