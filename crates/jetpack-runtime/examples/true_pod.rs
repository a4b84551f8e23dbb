//! Times `run` of a one-app pod running `/bin/true` from a busybox rootfs, as root:
//!
//! ```text
//! cargo run --release -p jetpack-runtime --example true_pod -- [RUNS] [host|loopback] [isolated]
//! ```
//!
//! `isolated` gives the app a memory and a CPU limit (so cgroups are made and removed), a
//! capability retain set, no_new_privs and a seccomp remove set: the start cost of isolators.
//!
//! Prints the median, minimum and maximum wall time of `linux::run` (pod creation to exit
//! status, the caller's whole cost). It runs in-process: starting a `jetpack` process adds
//! the exec of a static binary (about 0.7 ms here).

use std::time::{Duration, Instant};

use jetpack_runtime::linux::{self, RunHooks};
use jetpack_runtime::{AppSpec, NetMode, PodSpec, Resources, Security};

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20)
        .max(1);
    let net = match args.next().as_deref() {
        Some("host") => NetMode::Host,
        _ => NetMode::Loopback,
    };
    let isolated = args.next().as_deref() == Some("isolated");
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/true")).expect("symlink");
    let spec = PodSpec {
        uuid: "00000000-0000-4000-8000-000000000000".into(),
        hostname: "bench".into(),
        net,
        netns: None,
        networks: Vec::new(),
        address: None,
        dir: dir.path().join("pod"),
        apps: vec![AppSpec {
            name: "true".into(),
            rootfs,
            os: None,
            exec: vec!["/bin/true".into()],
            env: vec![("PATH".into(), "/bin".into())],
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
        }],
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
    let mut spec = spec;
    if isolated {
        let app = &mut spec.apps[0];
        app.resources.memory_limit = Some(256 << 20);
        app.resources.cpu_limit_milli = Some(500);
        app.security.capabilities = 1 << jetpack_runtime::caps::number("CAP_CHOWN").unwrap();
        app.security.no_new_privileges = true;
        app.security.seccomp = linux::seccomp::resolve(
            jetpack_runtime::SeccompMode::Remove,
            &["reboot".into(), "kexec_load".into(), "mkdir".into()],
            Some("EPERM"),
        )
        .expect("seccomp");
    }
    let once = || {
        let start = Instant::now();
        let exit = linux::run(&spec, RunHooks::default()).expect("run");
        assert_eq!(exit.code, 0, "{exit:?}");
        start.elapsed()
    };
    for _ in 0..3 {
        once();
    }
    let mut times: Vec<Duration> = (0..runs).map(|_| once()).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{runs} runs of a /bin/true pod ({net:?} network{}): median {:.2} ms, min {:.2} ms, max {:.2} ms",
        if isolated { ", isolators" } else { "" },
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    );
}
