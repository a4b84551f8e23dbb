//! A pod network of a test's own: a bridge name and a /24 no other test of this run uses, so
//! tests only ever talk to addresses they created. Drop removes the bridge, and with it every
//! address and route on it.

use std::sync::atomic::{AtomicU32, Ordering};

pub struct TestNet {
    /// At most 15 characters (an interface name).
    pub bridge: String,
    /// `10.X.Y.0/24`.
    pub subnet: String,
    /// The host's address on the bridge: `10.X.Y.1`.
    pub gateway: String,
}

impl TestNet {
    pub fn new() -> TestNet {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // 10.200.0.0 to 10.249.255.0: private, and away from the usual 10.0/10.1 LANs.
        let (x, y) = (200 + pid % 50, (pid / 50 + n * 7) % 256);
        TestNet {
            bridge: format!("jpt{:x}n{n}", pid % 0xfffff),
            subnet: format!("10.{x}.{y}.0/24"),
            gateway: format!("10.{x}.{y}.1"),
        }
    }
}

impl Default for TestNet {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = crate::run("ip", &["link", "del", &self.bridge]);
    }
}

/// The pid of the metadata service serving the store at `root` (from `<root>/mds/lock`), if
/// that process runs and is a jetpack serving this very store.
pub fn metadata_service_pid(root: &std::path::Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(root.join("mds/lock"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let needle = format!("root={}", root.display());
    String::from_utf8_lossy(&cmdline)
        .contains(&needle)
        .then_some(pid)
}

/// Stops the metadata service `jetpack run` started for the store at `root` and waits for
/// it to be gone.
pub fn stop_metadata_service(root: &std::path::Path) {
    let Some(pid) = metadata_service_pid(root).and_then(rustix::process::Pid::from_raw) else {
        return;
    };
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    for _ in 0..250 {
        if !std::path::Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
