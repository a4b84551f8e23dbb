//! Test pods: busybox rootfs trees in temporary directories, pod specs around them, and `run`
//! with its output captured in files.

#![allow(dead_code)]

use std::io::{Read, Seek};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jetpack_runtime::linux::{self, RunHooks};
use jetpack_runtime::{AppSpec, MountSpec, NetMode, PodExit, PodSpec, Resources, Security};

pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn applets() -> &'static Vec<String> {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        let out = jetpack_testutil::must_run("/bin/busybox", &["--list-full"]);
        out.lines()
            .filter(|l| !l.is_empty() && *l != "bin/busybox")
            .map(String::from)
            .collect()
    })
}

/// A directory holding the pod's state (`pod/`), the app rootfs trees and host volumes. Checks
/// on drop that no mount was ever left below it on the host.
pub struct TestPod {
    pub dir: tempfile::TempDir,
    pub spec: PodSpec,
}

impl TestPod {
    /// A one-app pod named `web` running `sh -c script`.
    pub fn sh(script: &str) -> TestPod {
        let dir = tempfile::Builder::new()
            .prefix("jptest-pod")
            .tempdir()
            .expect("tempdir");
        let spec = PodSpec {
            uuid: unique_uuid(),
            hostname: "testpod".into(),
            net: NetMode::Loopback,
            netns: None,
            networks: Vec::new(),
            address: None,
            dir: dir.path().join("pod"),
            apps: Vec::new(),
            tty: false,
            interactive: false,
            attached_app: 0,
            quiet: false,
            resources: Resources::default(),
            userns: None,
            volumes: Vec::new(),
            ports: Vec::new(),
            annotations: Vec::new(),
        };
        let mut pod = TestPod { dir, spec };
        pod.add_app("web", &["/bin/sh", "-c", script]);
        pod
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds an app with its own busybox rootfs.
    pub fn add_app(&mut self, name: &str, exec: &[&str]) -> &mut AppSpec {
        let rootfs = self.path().join(format!("rootfs-{name}"));
        make_rootfs(&rootfs);
        self.spec.apps.push(AppSpec {
            name: name.into(),
            rootfs,
            os: None,
            exec: exec.iter().map(|s| s.to_string()).collect(),
            env: vec![
                ("PATH".into(), PATH.into()),
                ("AC_APP_NAME".into(), name.into()),
                ("container".into(), "jetpack".into()),
            ],
            uid: 0,
            gid: 0,
            supplementary_gids: Vec::new(),
            working_dir: "/".into(),
            mounts: Vec::new(),
            read_only_rootfs: false,
            pre_start: None,
            post_stop: None,
            resources: Resources::default(),
            security: Security::default(),
            rootfs_mapped: false,
        });
        self.spec.apps.last_mut().expect("pushed")
    }

    pub fn app(&mut self) -> &mut AppSpec {
        &mut self.spec.apps[0]
    }

    pub fn rootfs(&self) -> &Path {
        &self.spec.apps[0].rootfs
    }

    /// A host directory (created) to use as a volume source.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::create_dir_all(&p).expect("mkdir volume");
        p
    }

    /// Binds `source` at `target` in app `i`.
    pub fn mount(&mut self, i: usize, source: &Path, target: &str, read_only: bool) {
        self.spec.apps[i].mounts.push(MountSpec {
            source: source.to_path_buf(),
            target: target.into(),
            read_only,
            recursive: true,
            volume: None,
        });
    }

    pub fn log(&self, app: &str) -> String {
        std::fs::read_to_string(self.spec.dir.join("apps").join(app).join("log"))
            .unwrap_or_default()
    }

    pub fn exit_file(&self, app: &str) -> String {
        std::fs::read_to_string(self.spec.dir.join("apps").join(app).join("exit"))
            .unwrap_or_default()
    }

    /// Runs the pod; returns its exit and what it wrote to the caller's stdout and stderr.
    pub fn run(&self) -> Run {
        self.run_with(|h| h)
    }

    pub fn run_with(&self, hooks: impl FnOnce(RunHooks) -> RunHooks) -> Run {
        let mut out = tempfile::tempfile().expect("tempfile");
        let mut err = tempfile::tempfile().expect("tempfile");
        let exit = linux::run(
            &self.spec,
            hooks(RunHooks::default().output(out.as_fd(), err.as_fd())),
        )
        .unwrap_or_else(|e| panic!("run: {e}"));
        Run {
            exit,
            stdout: read_back(&mut out),
            stderr: read_back(&mut err),
        }
    }
}

impl Drop for TestPod {
    fn drop(&mut self) {
        let cgroups = linux::cgroups::pod_dirs(&self.spec.uuid);
        if !cgroups.is_empty() {
            let _ = linux::cgroups::remove_pod(&self.spec.uuid);
            if !std::thread::panicking() {
                panic!("cgroups left on the host: {cgroups:?}");
            }
        }
        linux::cgroups::remove_empty_bases();
        let left = jetpack_testutil::mounts_below(self.dir.path());
        if !left.is_empty() {
            jetpack_testutil::unmount_below(self.dir.path());
            if !std::thread::panicking() {
                panic!("mounts left on the host: {left:?}");
            }
        }
    }
}

pub struct Run {
    pub exit: PodExit,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.exit.code
    }

    /// Panics with everything known unless the pod exited 0.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.exit.code, 0,
            "pod failed: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.exit, self.stdout, self.stderr
        );
        self
    }
}

fn read_back(f: &mut std::fs::File) -> String {
    let mut s = String::new();
    f.rewind().expect("rewind");
    f.read_to_string(&mut s).expect("read output");
    s
}

/// A UUID unique to this process and call (pods' cgroups are named by it).
pub fn unique_uuid() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A busybox image: every applet a symlink to /bin/busybox, users root and nobody. No /proc,
/// /sys or /dev: the engine must create them.
pub fn make_rootfs(root: &Path) {
    for d in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir rootfs");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    for applet in applets() {
        let _ = std::os::unix::fs::symlink("/bin/busybox", root.join(applet));
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
}

/// Waits (up to 10 s) for `path` to exist.
pub fn wait_for(path: &Path) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
