//! The guards leave nothing behind, also when the test using them panics.

use std::path::PathBuf;

use jetpack_testutil::{LoopFs, MountGuard, ZfsPool, mounts_below, must_run};

fn loop_devices() -> String {
    must_run("losetup", &["-a"])
}

#[jetpack_testutil::root_test]
fn loop_fs_cleans_up_after_a_panic() {
    let seen = std::sync::Mutex::new((PathBuf::new(), PathBuf::new()));
    let result = std::panic::catch_unwind(|| {
        let fs = LoopFs::btrfs(128 << 20);
        let inner = fs.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        must_run("mount", &["-t", "tmpfs", "tmpfs", inner.to_str().unwrap()]);
        assert_eq!(mounts_below(fs.path()).len(), 2);
        *seen.lock().unwrap() = (fs.image().to_path_buf(), fs.path().to_path_buf());
        panic!("test failure inside the guard");
    });
    assert!(result.is_err());
    let (image, path) = seen.into_inner().unwrap();
    assert!(mounts_below(&path).is_empty());
    assert!(
        !loop_devices().contains(image.to_str().unwrap()),
        "{} still attached",
        image.display()
    );
    assert!(!path.exists(), "backing directory removed");
}

#[jetpack_testutil::root_test]
fn ext4_loop_fs_is_mounted_and_released() {
    let fs = LoopFs::ext4(64 << 20);
    let device = fs.device().to_string();
    let image = fs.image().to_str().unwrap().to_string();
    assert!(loop_devices().contains(&image));
    std::fs::write(fs.path().join("f"), "x").unwrap();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mountinfo
            .lines()
            .any(|l| l.contains(&format!(" - ext4 {device} ")))
    );
    drop(fs);
    assert!(!loop_devices().contains(&image), "{image} still attached");
}

#[jetpack_testutil::root_test]
fn zfs_pool_is_destroyed() {
    let pool = ZfsPool::create(128 << 20);
    let name = pool.name().to_string();
    let file = pool.file();
    assert!(
        must_run("zpool", &["list", "-H", "-o", "name"])
            .lines()
            .any(|l| l == name)
    );
    drop(pool);
    assert!(
        !must_run("zpool", &["list", "-H", "-o", "name"])
            .lines()
            .any(|l| l == name)
    );
    assert!(!file.exists());
}

#[jetpack_testutil::root_test]
fn mount_guard_unmounts_nested_and_stacked_mounts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let _guard = MountGuard::new(dir.path());
        let a = dir.path().join("a");
        std::fs::create_dir(&a).unwrap();
        let a = a.to_str().unwrap();
        must_run("mount", &["-t", "tmpfs", "tmpfs", a]);
        std::fs::create_dir(dir.path().join("a/b")).unwrap();
        must_run("mount", &["-t", "tmpfs", "tmpfs", &format!("{a}/b")]);
        must_run("mount", &["-t", "tmpfs", "tmpfs", a]);
        assert_eq!(mounts_below(dir.path()).len(), 3);
    }
    assert!(mounts_below(dir.path()).is_empty());
}
