//! The environment of the end-to-end tests: a store on a real backend with the busybox image
//! (built by the same script the README uses), the `jetpack` binary, and cleanup of every pod,
//! pool, loop device and mount on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use jetpack_testutil::Backend;

pub const BB: &str = "example.com/busybox";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A store with the busybox image imported; removes its pods on drop.
pub struct Env {
    pub backend: Backend,
}

impl Env {
    pub fn new(kind: &str) -> Env {
        let e = Env {
            backend: Backend::new(kind),
        };
        e.ok(&["init"]);
        let aci = e.backend.dir.path().join("busybox.aci");
        let st = Command::new(repo().join("scripts/busybox-aci.sh"))
            .arg(&aci)
            .status()
            .unwrap();
        assert!(st.success());
        e.ok(&["import", "-q", aci.to_str().unwrap()]);
        e
    }

    /// The store's root directory.
    pub fn root(&self) -> PathBuf {
        self.backend.root.clone()
    }

    pub fn pod_dir(&self, uuid: &str) -> PathBuf {
        self.root().join("pods").join(uuid)
    }

    /// The UUID of the only pod.
    pub fn only_pod(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["list", "--json"])).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
        v[0]["uuid"].as_str().unwrap().to_string()
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_jetpack"));
        c.arg("--config").arg("/dev/null");
        for s in &self.backend.sets {
            c.arg("-o").arg(s);
        }
        c.stdin(Stdio::null());
        c
    }

    pub fn out(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(
            o.status.success(),
            "jetpack {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    pub fn err(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(
            !o.status.success(),
            "jetpack {args:?} should fail: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.cmd().args(["gc", "--grace", "0s"]).output();
        let list = self.cmd().args(["list", "--json"]).output();
        if let Ok(o) = list
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout)
        {
            for p in v.as_array().into_iter().flatten() {
                let _ = self
                    .cmd()
                    .args(["destroy", p["uuid"].as_str().unwrap_or_default()])
                    .output();
            }
        }
    }
}
