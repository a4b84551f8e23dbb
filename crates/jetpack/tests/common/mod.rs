//! The environment of the end-to-end tests: a store on a real backend with the busybox image
//! (built by the same script the README uses), the `jetpack` binary, and cleanup of every pod,
//! pool, loop device and mount on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use jetpack_testutil::{Backend, TestNet};

pub const BB: &str = "example.com/busybox";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A store with the busybox image imported; removes its pods on drop.
pub struct Env {
    pub backend: Backend,
    /// The default network of this store: a bridge and subnet of its own.
    pub net: TestNet,
    /// `-o` settings besides the backend's: the network configuration directory and the
    /// default network's bridge and subnet.
    pub sets: Vec<String>,
}

impl Env {
    pub fn new(kind: &str) -> Env {
        let backend = Backend::new(kind);
        let net = TestNet::new();
        let sets = vec![
            format!("net.dir={}", backend.dir.path().join("net.d").display()),
            format!("net.default-bridge={}", net.bridge),
            format!("net.default-subnet={}", net.subnet),
        ];
        let e = Env { backend, net, sets };
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
        for s in self.backend.sets.iter().chain(&self.sets) {
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

impl Env {
    /// Starts `jetpack ARGS` in the background (a pod that keeps running).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.cmd()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts, in the background, a pod whose app runs the image's `/bin/sh -c script` with the
    /// host directory `out` at `/out`, to report through: `pod_opts` go before the image,
    /// `app_opts` after it.
    pub fn spawn_reporting(
        &self,
        pod_opts: &[&str],
        out: &Path,
        app_opts: &[&str],
        script: &str,
    ) -> std::process::Child {
        let vol = format!("out,kind=host,source={}", out.display());
        let mut args = vec!["run"];
        args.extend_from_slice(pod_opts);
        args.extend_from_slice(&["--volume", &vol, BB, "--mount", "volume=out,target=/out"]);
        args.extend_from_slice(app_opts);
        args.extend_from_slice(&["--exec", "/bin/sh", "--", "-c", script]);
        self.spawn(&args)
    }

    /// Waits until the pod named `name` runs; its `list --json` row.
    pub fn wait_running(&self, name: &str) -> serde_json::Value {
        self.wait_for(None, name)
    }

    /// [`Env::wait_running`], failing with the output of `child` (the pod's `jetpack run`) if
    /// it ends first.
    pub fn wait_running_or(
        &self,
        child: &mut std::process::Child,
        name: &str,
    ) -> serde_json::Value {
        self.wait_for(Some(child), name)
    }

    fn wait_for(
        &self,
        mut child: Option<&mut std::process::Child>,
        name: &str,
    ) -> serde_json::Value {
        for _ in 0..500 {
            if let Some(c) = child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                let mut s = String::new();
                if let Some(mut err) = c.stderr.take() {
                    std::io::Read::read_to_string(&mut err, &mut s).unwrap();
                }
                panic!("pod {name} ended ({st}): {s}");
            }
            let v: serde_json::Value = serde_json::from_str(&self.ok(&["list", "--json"])).unwrap();
            if let Some(p) = v
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name && p["state"] == "running" && p["pid"].is_number())
            {
                return p.clone();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("pod {name} did not start: {}", self.ok(&["list"]));
    }

    /// The metadata service started for this store, if it runs: its pid.
    pub fn mds_pid(&self) -> Option<i32> {
        jetpack_testutil::metadata_service_pid(&self.root())
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
        // The metadata service `run` started for this store.
        jetpack_testutil::stop_metadata_service(&self.root());
    }
}

/// Waits (20 s at most) for `p` to appear, failing with the output of `child`, a pod's
/// `jetpack run`, if it ends first.
pub fn wait_file(p: &Path, child: &mut std::process::Child) {
    for _ in 0..1000 {
        if p.exists() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("pod ended ({st}) before {}: {err}", p.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{} did not appear", p.display());
}
