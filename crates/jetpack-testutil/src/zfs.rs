//! zfs-fuse and file-backed pools.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{must_run, run, unique_name};

const POOL_LOCK: &str = "/run/lock/jetpack-test-zfs.lock";

/// The zfs-fuse daemon, started on demand and left running.
pub struct ZfsDaemon;

impl ZfsDaemon {
    /// Makes sure `zpool list` answers, starting `zfs-fuse` if no such process exists.
    pub fn ensure() {
        static LOCK: Mutex<()> = Mutex::new(());
        let _serial = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        if run("zpool", &["list"]).is_ok() {
            return;
        }
        if !process_running("zfs-fuse") {
            let exe = ["/usr/sbin/zfs-fuse", "/sbin/zfs-fuse", "/usr/bin/zfs-fuse"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .unwrap_or("zfs-fuse");
            // zfs-fuse forks into the background, so this returns once the daemon is up.
            let status = Command::new(exe)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap_or_else(|e| panic!("cannot start zfs-fuse: {e}"));
            assert!(status.success(), "zfs-fuse failed to start: {status}");
        }
        let start = Instant::now();
        loop {
            match run("zpool", &["list"]) {
                Ok(_) => return,
                Err(e) if start.elapsed() > Duration::from_secs(30) => {
                    panic!("zfs-fuse does not answer after 30 s: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

fn process_running(comm: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten()
        .any(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim_end() == comm))
}

/// A pool on a sparse file, named `jptest<unique>`, created with `-m none`. Dropping it
/// destroys the pool and the file.
///
/// Pools are used one at a time machine-wide (a lock file held from creation to destruction):
/// zfs-fuse deadlocks when datasets of different pools are mounted and unmounted concurrently,
/// so tests in parallel threads or other test binaries wait for each other here.
pub struct ZfsPool {
    name: String,
    dir: Option<tempfile::TempDir>,
    // Released after Drop::drop has destroyed the pool.
    _lock: jetpack_fs::Lock,
}

impl ZfsPool {
    pub fn create(size: u64) -> ZfsPool {
        let lock = jetpack_fs::LockFile::new(std::path::Path::new(POOL_LOCK))
            .wait()
            .unwrap_or_else(|e| panic!("lock {e}"));
        ZfsDaemon::ensure();
        let dir = tempfile::Builder::new()
            .prefix("jptest-pool")
            .tempdir()
            .expect("tempdir");
        let file = dir.path().join("vdev");
        std::fs::File::create(&file)
            .and_then(|f| f.set_len(size))
            .expect("create pool file");
        let name = unique_name("jptest");
        must_run(
            "zpool",
            &[
                "create",
                "-m",
                "none",
                &name,
                file.to_str().expect("utf-8 path"),
            ],
        );
        ZfsPool {
            name,
            dir: Some(dir),
            _lock: lock,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file backing the pool.
    pub fn file(&self) -> PathBuf {
        self.dir.as_ref().expect("pool dir").path().join("vdev")
    }
}

impl Drop for ZfsPool {
    fn drop(&mut self) {
        let mut last = String::new();
        for _ in 0..20 {
            match run("zpool", &["destroy", "-f", &self.name]) {
                Ok(_) => {
                    last.clear();
                    break;
                }
                Err(e) => {
                    last = e;
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
        if !last.is_empty() {
            eprintln!("cannot destroy test pool {}: {last}", self.name);
            // Keep the backing file so the pool stays importable for inspection.
            if let Some(d) = self.dir.take() {
                let _ = d.keep();
            }
        }
    }
}
