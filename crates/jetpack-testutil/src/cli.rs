//! The environment of the end-to-end tests of the `jetpack` binary: a store on a real backend
//! with a network of its own (bridge, subnet, `net.dir`), optionally the busybox image, and on
//! drop the removal of every pod, the store's metadata service, pool, loop device and mount.
//! The binary is a parameter: only the crate that builds it knows its path
//! (`env!("CARGO_BIN_EXE_jetpack")`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::{BB, Backend, TestNet, busybox_aci};

pub struct Env {
    bin: PathBuf,
    pub backend: Backend,
    /// The default network of this store: a bridge and subnet of its own.
    pub net: TestNet,
    /// `-o` settings besides the backend's: the network configuration directory and the
    /// default network's bridge and subnet.
    pub sets: Vec<String>,
}

impl Env {
    /// A store on `kind`, initialized, with the busybox image ([`BB`] 1.0.0) imported from
    /// `busybox.aci` in [`Env::dir`].
    pub fn new(bin: &Path, kind: &str) -> Env {
        let e = Env::bare(bin, kind);
        e.ok(&["init"]);
        let aci = e.dir().join("busybox.aci");
        busybox_aci(&aci, BB, "1.0.0");
        e.ok(&["import", "-q", aci.to_str().unwrap()]);
        e
    }

    /// The place for a store on `kind`, not yet initialized.
    pub fn bare(bin: &Path, kind: &str) -> Env {
        let backend = Backend::new(kind);
        let net = TestNet::new();
        let sets = vec![
            format!("net.dir={}", backend.dir.path().join("net.d").display()),
            format!("net.default-bridge={}", net.bridge),
            format!("net.default-subnet={}", net.subnet),
        ];
        Env {
            bin: bin.to_path_buf(),
            backend,
            net,
            sets,
        }
    }

    /// The test's own directory (it holds the store unless the backend mounts one).
    pub fn dir(&self) -> &Path {
        self.backend.dir.path()
    }

    /// The store's root directory.
    pub fn root(&self) -> PathBuf {
        self.backend.root.clone()
    }

    pub fn pod_dir(&self, uuid: &str) -> PathBuf {
        self.root().join("pods").join(uuid)
    }

    /// Builds the busybox ACI as `name` `version` in [`Env::dir`]; its path.
    pub fn busybox(&self, name: &str, version: &str) -> PathBuf {
        let out = self
            .dir()
            .join(format!("{}-{version}.aci", name.replace('/', "_")));
        busybox_aci(&out, name, version);
        out
    }

    /// The UUID of the only pod.
    pub fn only_pod(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["list", "--json"])).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
        v[0]["uuid"].as_str().unwrap().to_string()
    }

    /// The options that point `jetpack` at this store: no configuration file, `-o` settings.
    pub fn flags(&self) -> Vec<String> {
        let mut f = vec!["--config".to_string(), "/dev/null".to_string()];
        for s in self.backend.sets.iter().chain(&self.sets) {
            f.push("-o".into());
            f.push(s.clone());
        }
        f
    }

    /// The `jetpack` binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// `jetpack` on this store, with no configuration file and no host overrides.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(self.flags());
        c.env_remove("JETPACK_RESOLVE");
        c.stdin(Stdio::null());
        c
    }

    pub fn out(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs `jetpack ARGS`, which must succeed; its stdout.
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

    /// Runs `jetpack ARGS`, which must fail; its stderr.
    pub fn err(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(
            !o.status.success(),
            "jetpack {args:?} should fail: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// Runs `jetpack ARGS`, which must exit with status 1; its output.
    pub fn fail(&self, args: &[&str]) -> Output {
        let o = self.out(args);
        assert_eq!(o.status.code(), Some(1), "jetpack {args:?} should fail");
        o
    }

    /// Starts `jetpack ARGS` in the background (a pod that keeps running).
    pub fn spawn(&self, args: &[&str]) -> Child {
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
    ) -> Child {
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
    pub fn wait_running_or(&self, child: &mut Child, name: &str) -> serde_json::Value {
        self.wait_for(Some(child), name)
    }

    /// Waits up to a minute: a loaded machine (CI, parallel tests) starts pods slowly.
    fn wait_for(&self, mut child: Option<&mut Child>, name: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
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
        let list = self.ok(&["list"]);
        // A `jetpack run` still going after a minute is stuck: what it said before is the clue.
        let mut said = String::new();
        if let Some(c) = child {
            let _ = c.kill();
            let _ = c.wait();
            if let Some(mut err) = c.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut err, &mut said);
            }
        }
        panic!("pod {name} did not start in 60 s: {list}\n`jetpack run` said: {said}");
    }

    /// The metadata service started for this store, if it runs: its pid.
    pub fn mds_pid(&self) -> Option<i32> {
        crate::metadata_service_pid(&self.root())
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
        crate::stop_metadata_service(&self.root());
    }
}

/// Waits (20 s at most) for `p` to appear, failing with the output of `child`, a pod's
/// `jetpack run`, if it ends first.
pub fn wait_file(p: &Path, child: &mut Child) {
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
