use super::*;

const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

fn v1(p: &str) -> Option<Hierarchy> {
    Some(Hierarchy {
        path: p.into(),
        version: Version::V1,
    })
}

fn v2(p: &str) -> Option<Hierarchy> {
    Some(Hierarchy {
        path: p.into(),
        version: Version::V2,
    })
}

#[test]
fn hybrid_host_uses_v1_controllers() {
    let host = Host::from_mountinfo(HYBRID, |_| Some("hugetlb\n".into()));
    assert_eq!(
        host,
        Host {
            memory: v1("/sys/fs/cgroup/memory"),
            cpu: v1("/sys/fs/cgroup/cpu"),
            cpuacct: v1("/sys/fs/cgroup/cpuacct"),
            devices: v1("/sys/fs/cgroup/devices"),
        }
    );
    assert_eq!(host.hierarchies().len(), 4);
}

#[test]
fn pure_v2_host_and_comounted_v1() {
    let mi = "25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
    let host = Host::from_mountinfo(mi, |p| {
        assert_eq!(p, Path::new("/sys/fs/cgroup"));
        Some("cpuset cpu io memory pids".into())
    });
    assert_eq!(host.memory, v2("/sys/fs/cgroup"));
    assert_eq!(host.cpu, v2("/sys/fs/cgroup"));
    assert_eq!(host.cpuacct, None);
    assert_eq!(host.devices, v2("/sys/fs/cgroup"), "a device program");
    assert_eq!(host.hierarchies().len(), 1);
    let mi = "32 31 0:29 / /sys/fs/cgroup/cpu\\054cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
    let host = Host::from_mountinfo(mi, |_| None);
    assert_eq!(host.cpu, v1("/sys/fs/cgroup/cpu,cpuacct"));
    assert_eq!(host.cpuacct, None, "co-mounted: the same hierarchy");
    assert_eq!(host.memory, None);
    assert_eq!(host.devices, None);
}

#[test]
fn values_for_v1_and_v2() {
    let r = Resources {
        memory_limit: Some(256 << 20),
        memory_request: Some(128 << 20),
        cpu_limit_milli: Some(250),
        cpu_shares: Some(256),
    };
    let files = |ws: Vec<Write>| -> Vec<(&'static str, String)> {
        ws.into_iter().map(|w| (w.file, w.value)).collect()
    };
    assert_eq!(
        files(memory_writes(Version::V1, &r)),
        vec![
            ("memory.limit_in_bytes", "268435456".into()),
            ("memory.memsw.limit_in_bytes", "268435456".into()),
            ("memory.soft_limit_in_bytes", "134217728".into()),
        ]
    );
    assert_eq!(
        files(memory_writes(Version::V2, &r)),
        vec![
            ("memory.max", "268435456".into()),
            ("memory.swap.max", "0".into()),
            ("memory.low", "134217728".into()),
        ]
    );
    assert_eq!(
        files(cpu_writes(Version::V1, &r)),
        vec![
            ("cpu.cfs_period_us", "100000".into()),
            ("cpu.cfs_quota_us", "25000".into()),
            ("cpu.shares", "256".into()),
        ]
    );
    assert_eq!(
        files(cpu_writes(Version::V2, &r)),
        vec![
            ("cpu.max", "25000 100000".into()),
            ("cpu.weight", "10".into()),
        ]
    );
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(cpu_quota_us(1), MIN_CPU_QUOTA_US);
    assert_eq!(cpu_quota_us(2000), 200_000);
    assert!(memory_writes(Version::V2, &Resources::default()).is_empty());
}

#[test]
fn app_limits_are_bounded_by_the_pods() {
    let pod = Resources {
        memory_limit: Some(100),
        cpu_limit_milli: Some(500),
        ..Resources::default()
    };
    let app = Resources {
        memory_limit: Some(200),
        memory_request: Some(150),
        cpu_limit_milli: Some(250),
        cpu_shares: Some(10),
    };
    let b = bounded(&app, &pod);
    assert_eq!(
        (
            b.memory_limit,
            b.memory_request,
            b.cpu_limit_milli,
            b.cpu_shares
        ),
        (Some(100), Some(100), Some(250), Some(10))
    );
    assert_eq!(bounded(&Resources::default(), &pod), Resources::default());
}

#[test]
fn v2_steps() {
    let host = Host {
        memory: v2("/cg"),
        cpu: v2("/cg"),
        cpuacct: None,
        devices: None,
    };
    let uuid = "0123abcd-0000-4000-8000-000000000001";
    let pod = Resources {
        memory_limit: Some(1 << 30),
        cpu_limit_milli: Some(1500),
        ..Resources::default()
    };
    let app = Resources {
        memory_limit: Some(2 << 30),
        cpu_shares: Some(512),
        ..Resources::default()
    };
    let p = |s: &str| PathBuf::from(s.replace("U", uuid));
    let wr = |path: &str, value: &str, optional: bool| Step::Write {
        path: p(path),
        value: value.into(),
        optional,
    };
    assert_eq!(
        steps(
            &host,
            uuid,
            &pod,
            &[("web", &app), ("db", &Resources::default())]
        ),
        vec![
            Step::Base(p("/cg/jetpack")),
            wr("/cg/cgroup.subtree_control", "+memory +cpu", false),
            wr("/cg/jetpack/cgroup.subtree_control", "+memory +cpu", false),
            Step::Pod(p("/cg/jetpack/U")),
            wr("/cg/jetpack/U/memory.max", "1073741824", false),
            wr("/cg/jetpack/U/memory.swap.max", "0", true),
            wr("/cg/jetpack/U/cpu.max", "150000 100000", false),
            wr(
                "/cg/jetpack/U/cgroup.subtree_control",
                "+memory +cpu",
                false
            ),
            Step::App(p("/cg/jetpack/U/app-web")),
            wr("/cg/jetpack/U/app-web/memory.max", "1073741824", false),
            wr("/cg/jetpack/U/app-web/memory.swap.max", "0", true),
            wr("/cg/jetpack/U/app-web/cpu.weight", "20", false),
            Step::Join {
                app: 0,
                dir: p("/cg/jetpack/U/app-web"),
                version: Version::V2
            },
            // No limits of its own: the pod's bound it.
            Step::App(p("/cg/jetpack/U/app-db")),
            Step::Join {
                app: 1,
                dir: p("/cg/jetpack/U/app-db"),
                version: Version::V2
            },
        ]
    );
}

#[test]
fn v1_steps_only_where_needed() {
    let host = Host::from_mountinfo(HYBRID, |_| Some("hugetlb".into()));
    let uuid = "0123abcd-0000-4000-8000-000000000001";
    let app = Resources {
        cpu_limit_milli: Some(200),
        ..Resources::default()
    };
    let got = steps(&host, uuid, &Resources::default(), &[("web", &app)]);
    let p = |s: &str| PathBuf::from(s.replace("U", uuid));
    assert_eq!(
        got,
        vec![
            Step::Base(p("/sys/fs/cgroup/cpu/jetpack")),
            Step::Pod(p("/sys/fs/cgroup/cpu/jetpack/U")),
            Step::App(p("/sys/fs/cgroup/cpu/jetpack/U/app-web")),
            Step::Write {
                path: p("/sys/fs/cgroup/cpu/jetpack/U/app-web/cpu.cfs_period_us"),
                value: "100000".into(),
                optional: false
            },
            Step::Write {
                path: p("/sys/fs/cgroup/cpu/jetpack/U/app-web/cpu.cfs_quota_us"),
                value: "20000".into(),
                optional: false
            },
            Step::Join {
                app: 0,
                dir: p("/sys/fs/cgroup/cpu/jetpack/U/app-web"),
                version: Version::V1
            },
            Step::Base(p("/sys/fs/cgroup/cpuacct/jetpack")),
            Step::Pod(p("/sys/fs/cgroup/cpuacct/jetpack/U")),
            Step::App(p("/sys/fs/cgroup/cpuacct/jetpack/U/app-web")),
            Step::Join {
                app: 0,
                dir: p("/sys/fs/cgroup/cpuacct/jetpack/U/app-web"),
                version: Version::V1
            },
            Step::Base(p("/sys/fs/cgroup/devices/jetpack")),
            Step::SharedDevices(p("/sys/fs/cgroup/devices/jetpack/pods")),
            Step::InitJoin(p("/sys/fs/cgroup/devices/jetpack/pods")),
        ],
        "no memory hierarchy without a memory limit"
    );
    assert_eq!(
        steps(
            &host,
            uuid,
            &Resources::default(),
            &[("web", &Resources::default())]
        ),
        vec![
            Step::Base(p("/sys/fs/cgroup/devices/jetpack")),
            Step::SharedDevices(p("/sys/fs/cgroup/devices/jetpack/pods")),
            Step::InitJoin(p("/sys/fs/cgroup/devices/jetpack/pods")),
        ],
        "shared device rules for a pod without limits; the apps stay with the init"
    );
}

#[test]
fn v2_device_program_puts_the_apps_below_it() {
    let host = Host {
        devices: v2("/cg"),
        ..Host::default()
    };
    let uuid = "0123abcd-0000-4000-8000-000000000001";
    let none = Resources::default();
    let got = steps(&host, uuid, &none, &[("web", &none)]);
    let p = |s: &str| PathBuf::from(s.replace("U", uuid));
    assert_eq!(
        got,
        vec![
            Step::Base(p("/cg/jetpack")),
            Step::Pod(p("/cg/jetpack/U")),
            Step::Devices {
                dir: p("/cg/jetpack/U"),
                version: Version::V2
            },
            Step::App(p("/cg/jetpack/U/app-web")),
            Step::Join {
                app: 0,
                dir: p("/cg/jetpack/U/app-web"),
                version: Version::V2
            },
        ]
    );
}

fn real_v2_mount() -> Option<PathBuf> {
    jetpack_fs::mountinfo::read()
        .unwrap()
        .into_iter()
        .find(|m| m.fs_type == "cgroup2")
        .map(|m| m.mount_point)
}

/// The v2 device program on the real cgroup2 hierarchy: a process in the pod's cgroup
/// opens `/dev/null` but neither makes a node for a block device nor opens `/dev/kmsg`,
/// while the test itself, outside, still can.
#[jetpack_testutil::root_test]
fn v2_device_program_on_the_real_hierarchy() {
    let v2path = real_v2_mount().expect("a cgroup2 mount");
    let host = Host {
        devices: Some(Hierarchy {
            path: v2path.clone(),
            version: Version::V2,
        }),
        ..Host::default()
    };
    let uuid = format!("{:08x}-0000-4000-8000-00000000de02", std::process::id());
    use std::os::fd::AsRawFd;
    let none = Resources::default();
    let (mut made, joins) = create(&host, &uuid, &none, &[("a", &none)]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let node = std::ffi::CString::new(tmp.path().join("disk").to_str().unwrap()).unwrap();
    let cgroup = joins[0].v2_dir.as_ref().unwrap().as_raw_fd();
    // SAFETY: the child only makes raw system calls and exits.
    let pid = unsafe { super::super::sys::clone_new_mount_ns(Some(cgroup)) }.unwrap();
    if pid == 0 {
        use super::super::sys;
        let mut code = 0;
        if sys::open(c"/dev/null", libc::O_RDWR, 0).is_err() {
            code |= 1;
        }
        let blk = sys::mknod(&node, libc::S_IFBLK | 0o600, sys::makedev(7, 0));
        if blk.map_err(|e| e.raw_os_error()) != Err(Some(libc::EPERM)) {
            code |= 2;
        }
        let kmsg = sys::open(c"/dev/kmsg", libc::O_WRONLY, 0).map(drop);
        if kmsg.map_err(|e| e.raw_os_error()) != Err(Some(libc::EPERM)) {
            code |= 4;
        }
        sys::exit(code);
    }
    let (_, status) = super::super::sys::waitpid(pid, 0).unwrap();
    made.remove().unwrap();
    assert!(libc::WIFEXITED(status), "{status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "bits: 1 null, 2 mknod, 4 kmsg"
    );
    // Outside the pod's cgroup nothing changed.
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .unwrap();
    let _ = std::fs::remove_dir(v2path.join("jetpack"));
}

/// The v2 mechanics on the real cgroup2 hierarchy: directories made, a child cloned into
/// the app's cgroup (`CLONE_INTO_CGROUP`), another process moved in through
/// `cgroup.procs`, everything removed after. (On a hybrid host v2 has no memory or cpu
/// controller; it stands in here as the accounting hierarchy, which gets directories and
/// members but no limits.)
#[jetpack_testutil::root_test]
fn v2_join_and_removal_on_the_real_hierarchy() {
    use std::os::fd::AsRawFd;
    let Some(v2path) = real_v2_mount() else {
        eprintln!("SKIP: no cgroup2 mount");
        return;
    };
    let host = Host {
        memory: None,
        cpu: None,
        cpuacct: Some(Hierarchy {
            path: v2path.clone(),
            version: Version::V2,
        }),
        devices: None,
    };
    let uuid = format!("{:08x}-0000-4000-8000-00000000cafe", std::process::id());
    let app = Resources {
        cpu_limit_milli: Some(100),
        ..Resources::default()
    };
    let (mut made, joins) =
        create(&host, &uuid, &Resources::default(), &[("web", &app)]).expect("create on cgroup2");
    let pod_dir = v2path.join("jetpack").join(&uuid);
    assert!(pod_dir.join("app-web").is_dir());
    let want = format!("0::/jetpack/{uuid}/app-web");
    let in_cgroup = |pid: i32| {
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        cg.lines().any(|l| l == want)
    };
    let dir = joins[0].v2_dir.as_ref().unwrap().as_raw_fd();
    // SAFETY: the child only waits to be killed, calling nothing that takes a lock.
    let pid = unsafe { super::super::sys::clone_new_mount_ns(Some(dir)) }.unwrap();
    if pid == 0 {
        loop {
            // SAFETY: pause takes no arguments.
            unsafe { libc::pause() };
        }
    }
    assert!(in_cgroup(pid), "cloned into the cgroup");
    super::super::sys::kill(pid, libc::SIGKILL).unwrap();
    super::super::sys::waitpid(pid, 0).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("10")
        .spawn()
        .unwrap();
    let procs = joins[0].v2_procs.as_ref().unwrap();
    rustix::io::write(procs, child.id().to_string().as_bytes()).unwrap();
    assert!(in_cgroup(child.id() as i32), "moved into the cgroup");
    child.kill().unwrap();
    child.wait().unwrap();
    made.remove().unwrap();
    assert!(!pod_dir.exists());
    let _ = std::fs::remove_dir(v2path.join("jetpack"));
}
