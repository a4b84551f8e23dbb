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
