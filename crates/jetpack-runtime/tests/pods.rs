//! Real pods from a busybox rootfs, as root. Each test builds its own rootfs copies and pod
//! directory, and checks that nothing stays mounted on the host.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use common::{TestPod, wait_for};
use jetpack_runtime::linux::{self, RunHooks};
use jetpack_runtime::{Error, NetMode, resolve};

#[jetpack_testutil::root_test]
fn exit_status_is_propagated() {
    let pod = TestPod::sh("exit 3");
    let run = pod.run();
    assert_eq!(run.code(), 3, "{:?}", run.exit);
    let exit = run.exit.apps[0].1.as_ref().expect("exit recorded");
    assert_eq!(
        (exit.code, exit.signal, exit.error.as_deref()),
        (3, None, None)
    );
    assert!(
        pod.exit_file("web").starts_with("3\n{"),
        "{}",
        pod.exit_file("web")
    );
}

#[jetpack_testutil::root_test]
fn killed_by_a_signal_is_128_plus_the_signal() {
    let run = TestPod::sh("kill -KILL $$").run();
    assert_eq!(run.code(), 137);
    assert_eq!(run.exit.apps[0].1.as_ref().unwrap().signal, Some(9));
}

#[jetpack_testutil::root_test]
fn output_goes_to_the_log_and_the_caller() {
    let pod = TestPod::sh("echo out; echo err >&2; printf partial");
    let run = pod.run().ok();
    assert_eq!(run.stdout, "out\npartial");
    assert_eq!(run.stderr, "err\n");
    // Two pipes: the log keeps each stream's order, not their interleaving.
    let log = pod.log("web");
    assert_eq!(log.len(), "out\npartialerr\n".len(), "{log}");
    assert!(
        log.contains("out\n") && log.contains("err\n") && log.contains("partial"),
        "{log}"
    );
}

#[jetpack_testutil::root_test]
fn several_apps_get_prefixed_lines_and_share_pids_and_hostname() {
    let mut pod = TestPod::sh(
        "hostname > /shared/a.host; echo $$ > /shared/a.pid.tmp; mv /shared/a.pid.tmp /shared/a.pid
         echo hello from a
         i=0; while [ ! -e /shared/b.done ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done",
    );
    pod.add_app(
        "b",
        &[
            "/bin/sh",
            "-c",
            "i=0; while [ ! -e /shared/a.pid ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
             p=$(cat /shared/a.pid)
             kill -0 $p && echo seen > /shared/b.seen
             [ \"$(hostname)\" = \"$(cat /shared/a.host)\" ] && echo same > /shared/b.host
             echo hello from b; echo warn from b >&2
             touch /shared/b.done",
        ],
    );
    let shared = pod.host_dir("shared");
    pod.mount(0, &shared, "/shared", false);
    pod.mount(1, &shared, "/shared", false);
    let run = pod.run().ok();
    assert!(
        shared.join("b.seen").exists(),
        "app b did not see app a's process"
    );
    assert!(
        shared.join("b.host").exists(),
        "the apps have different hostnames"
    );
    assert!(run.stdout.contains("web: hello from a\n"), "{}", run.stdout);
    assert!(run.stdout.contains("b: hello from b\n"), "{}", run.stdout);
    assert_eq!(run.stderr, "b: warn from b\n");
    assert_eq!(pod.log("b"), "hello from b\nwarn from b\n");
    assert_eq!(pod.log("web"), "hello from a\n");
    assert_eq!(run.exit.apps.len(), 2);
}

#[jetpack_testutil::root_test]
fn pod_code_is_the_first_failure() {
    let mut pod = TestPod::sh("exit 0");
    pod.add_app("b", &["/bin/sh", "-c", "exit 4"]);
    assert_eq!(pod.run().code(), 4);
}

#[jetpack_testutil::root_test]
fn the_app_has_its_own_pid_namespace_under_the_init() {
    let run = TestPod::sh(
        "echo pid=$$ ppid=$PPID; grep -q '^PPid:[[:space:]]*0$' /proc/1/status && echo init-is-root
         echo procs=$(ls -d /proc/[0-9]* | wc -l)",
    )
    .run()
    .ok();
    let out = run.stdout;
    assert!(out.contains("pid=2 ppid=1\n"), "{out}");
    assert!(out.contains("init-is-root\n"), "{out}");
    let procs: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .and_then(|n| n.parse().ok())
        .expect("procs line");
    assert!(procs <= 5, "the pod sees {procs} processes:\n{out}");
}

#[jetpack_testutil::root_test]
fn hostname_is_set() {
    let run = TestPod::sh("hostname; cat /proc/sys/kernel/hostname")
        .run()
        .ok();
    assert_eq!(run.stdout, "testpod\ntestpod\n");
}

#[jetpack_testutil::root_test]
fn loopback_network_has_only_lo_and_it_is_up() {
    let run = TestPod::sh("ls /sys/class/net; cat /sys/class/net/lo/flags; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok")
        .run()
        .ok();
    assert_eq!(run.stdout, "lo\n0x9\nping-ok\n");
}

#[jetpack_testutil::root_test]
fn host_network_sees_the_host_interfaces() {
    let mut pod =
        TestPod::sh("ls /sys/class/net; touch /sys/x 2>/dev/null && echo sys-writable; true");
    pod.spec.net = NetMode::Host;
    let run = pod.run().ok();
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    let mut seen: Vec<&str> = run.stdout.lines().collect();
    seen.sort();
    assert_eq!(seen, host);
}

#[jetpack_testutil::root_test]
fn dev_and_proc_work() {
    let run = TestPod::sh(
        "set -e
         echo x > /dev/null
         head -c1 /dev/urandom | wc -c
         head -c4 /dev/zero | wc -c
         echo x > /dev/full 2>/dev/null || echo full-is-full
         stat -c '%t:%T' /dev/console /dev/tty /dev/random
         stat -c '%a' /dev/shm
         readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin
         [ -c /dev/pts/ptmx ] && echo pts
         grep -c '^Pid:' /proc/self/status
         mount | grep -E '^(proc|sysfs|tmpfs|devpts|shm) ' | grep -vE ' /(proc|sys)/' |
           cut -d' ' -f1,3 | sort
         mount | grep -c ' /proc/sys .*ro,'",
    )
    .run()
    .ok();
    assert_eq!(
        run.stdout,
        "1\n4\nfull-is-full\n1:3\n5:0\n1:8\n1777\npts/ptmx\n/proc/self/fd\n/proc/self/fd/0\npts\n1\n\
         devpts /dev/pts\nproc /proc\nshm /dev/shm\nsysfs /sys\ntmpfs /dev\n1\n"
    );
}

#[jetpack_testutil::root_test]
fn user_by_name_and_exact_supplementary_groups() {
    let mut pod = TestPod::sh("id -u; id -g; id -G; id -un");
    let uid = resolve::resolve_user(pod.rootfs(), "nobody").unwrap();
    let gid = resolve::resolve_group(pod.rootfs(), "nogroup").unwrap();
    assert_eq!((uid, gid), (65534, 65534));
    let app = pod.app();
    app.uid = uid;
    app.gid = gid;
    app.supplementary_gids = vec![10, 20];
    let run = pod.run().ok();
    assert_eq!(run.stdout, "65534\n65534\n65534 10 20\nnobody\n");
}

#[jetpack_testutil::root_test]
fn numeric_user_without_etc() {
    let mut pod = TestPod::sh("id -u; id -g; id -G");
    std::fs::remove_dir_all(pod.rootfs().join("etc")).unwrap();
    let uid = resolve::resolve_user(pod.rootfs(), "123").unwrap();
    let gid = resolve::resolve_group(pod.rootfs(), "456").unwrap();
    let app = pod.app();
    app.uid = uid;
    app.gid = gid;
    let run = pod.run().ok();
    assert_eq!(run.stdout, "123\n456\n456\n");
}

#[jetpack_testutil::root_test]
fn working_directory_is_used() {
    let mut pod = TestPod::sh("pwd");
    pod.app().working_dir = "/usr/bin".into();
    assert_eq!(pod.run().ok().stdout, "/usr/bin\n");
}

#[jetpack_testutil::root_test]
fn missing_exec_is_a_clear_error() {
    let mut pod = TestPod::sh("true");
    let e = resolve::find_exec(pod.rootfs(), "/bin/nope", common::PATH).unwrap_err();
    assert_eq!(e.to_string(), "exec /bin/nope: no such file in the image");
    pod.app().exec = vec!["/bin/nope".into()];
    let run = pod.run();
    assert_eq!(run.code(), 127);
    assert_eq!(
        run.exit.errors(),
        ["app web: exec /bin/nope: No such file or directory"]
    );
    assert!(pod.exit_file("web").contains("No such file or directory"));

    pod.app().exec = vec!["nope".into()];
    let run = pod.run();
    assert_eq!(run.code(), 127);
    assert_eq!(
        run.exit.errors(),
        [format!(
            "app web: exec nope: command not found in PATH ({})",
            common::PATH
        )]
    );

    // A file that is not executable.
    std::fs::write(pod.rootfs().join("bin/data"), "x").unwrap();
    pod.app().exec = vec!["/bin/data".into()];
    let run = pod.run();
    assert_eq!(run.code(), 126);
    assert_eq!(
        run.exit.errors(),
        ["app web: exec /bin/data: Permission denied"]
    );
}

#[jetpack_testutil::root_test]
fn missing_working_directory_is_a_clear_error() {
    let mut pod = TestPod::sh("true");
    let e = resolve::check_dir(pod.rootfs(), "/nope").unwrap_err();
    assert_eq!(
        e.to_string(),
        "working directory /nope: does not exist in the image"
    );
    pod.app().working_dir = "/nope".into();
    let run = pod.run();
    assert_eq!(run.code(), 125);
    assert_eq!(
        run.exit.errors(),
        ["app web: working directory /nope: No such file or directory"]
    );
}

#[jetpack_testutil::root_test]
fn host_volumes_read_only_and_read_write() {
    let mut pod = TestPod::sh(
        "cat /ro/file
         touch /ro/new 2>/dev/null && echo ro-is-writable
         echo written > /rw/new
         cat /deep/er/file
         cat /etc/motd",
    );
    let ro = pod.host_dir("ro");
    std::fs::write(ro.join("file"), "from the host\n").unwrap();
    let rw = pod.host_dir("rw");
    let motd = pod.path().join("motd");
    std::fs::write(&motd, "single file\n").unwrap();
    pod.mount(0, &ro, "/ro", true);
    pod.mount(0, &rw, "/rw", false);
    pod.mount(0, &ro, "/deep/er", false);
    pod.mount(0, &motd, "/etc/motd", true);
    let run = pod.run().ok();
    assert_eq!(run.stdout, "from the host\nfrom the host\nsingle file\n");
    assert!(!ro.join("new").exists());
    assert_eq!(
        std::fs::read_to_string(rw.join("new")).unwrap(),
        "written\n"
    );
}

#[jetpack_testutil::root_test]
fn bad_volume_sources_are_refused() {
    let mut pod = TestPod::sh("true");
    pod.mount(0, &pod.path().join("missing"), "/v", false);
    let run = pod.run();
    assert_eq!(run.code(), 125);
    let errors = run.exit.errors();
    assert!(
        errors[0].contains("does not exist on the host"),
        "{errors:?}"
    );
    assert!(!pod.path().join("missing").exists(), "created on the host");

    let real = pod.host_dir("real");
    let link = pod.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    pod.app().mounts.clear();
    pod.mount(0, &link, "/v", false);
    let errors = pod.run().exit.errors();
    assert!(errors[0].contains("is a symlink"), "{errors:?}");
}

#[jetpack_testutil::root_test]
fn volume_targets_stay_in_the_rootfs() {
    // An absolute symlink in the image must lead to the image's /target, not the host's.
    let outside = tempfile::tempdir().unwrap();
    let mut pod = TestPod::sh("ls /escape/; cat /escape/file");
    std::os::unix::fs::symlink(outside.path(), pod.rootfs().join("escape")).unwrap();
    let vol = pod.host_dir("vol");
    std::fs::write(vol.join("file"), "in\n").unwrap();
    pod.mount(0, &vol, "/escape", false);
    let run = pod.run().ok();
    assert_eq!(run.stdout, "file\nin\n");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(jetpack_testutil::mounts_below(outside.path()).is_empty());
}

#[jetpack_testutil::root_test]
fn read_only_rootfs_keeps_volumes_writable() {
    let mut pod = TestPod::sh(
        "touch /x 2>/dev/null && echo root-writable
         touch /tmp/x 2>/dev/null && echo tmp-writable
         echo y > /vol/y && echo vol-ok
         echo z > /dev/null && echo dev-ok",
    );
    let vol = pod.host_dir("vol");
    pod.mount(0, &vol, "/vol", false);
    pod.app().read_only_rootfs = true;
    let run = pod.run().ok();
    assert_eq!(run.stdout, "vol-ok\ndev-ok\n");
    assert!(vol.join("y").exists());
}

#[jetpack_testutil::root_test]
fn pre_start_runs_before_main_and_post_stop_after() {
    let mut pod = TestPod::sh("echo main >> /vol/order; exit 2");
    let vol = pod.host_dir("vol");
    pod.mount(0, &vol, "/vol", false);
    let app = pod.app();
    app.pre_start = Some(vec![
        "/bin/sh".into(),
        "-c".into(),
        "echo pre >> /vol/order".into(),
    ]);
    app.post_stop = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo post >> /vol/order; echo post-stop output; exit 5".into(),
    ]);
    let run = pod.run();
    assert_eq!(run.code(), 2);
    assert_eq!(
        std::fs::read_to_string(vol.join("order")).unwrap(),
        "pre\nmain\npost\n"
    );
    assert_eq!(run.stdout, "post-stop output\n");
    let exit = run.exit.apps[0].1.as_ref().unwrap();
    assert_eq!((exit.code, exit.post_stop), (2, Some(5)));
}

#[jetpack_testutil::root_test]
fn failing_pre_start_fails_the_app() {
    let mut pod = TestPod::sh("echo main > /vol/main");
    let vol = pod.host_dir("vol");
    pod.mount(0, &vol, "/vol", false);
    pod.app().pre_start = Some(vec!["/bin/sh".into(), "-c".into(), "exit 4".into()]);
    let run = pod.run();
    assert_eq!(run.code(), 125);
    assert_eq!(
        run.exit.errors(),
        ["app web: pre-start /bin/sh -c exit 4 exited with code 4"]
    );
    assert!(!vol.join("main").exists());

    pod.app().pre_start = Some(vec!["/bin/nope".into()]);
    let run = pod.run();
    assert_eq!(
        run.exit.errors(),
        ["app web: pre-start: exec /bin/nope: No such file or directory"]
    );
}

#[jetpack_testutil::root_test]
fn sigterm_to_the_init_reaches_the_app() {
    let mut pod = TestPod::sh(
        "trap 'echo got TERM; exit 42' TERM
         touch /vol/ready
         while true; do sleep 0.01; done",
    );
    let vol = pod.host_dir("vol");
    pod.mount(0, &vol, "/vol", false);
    let pid = Arc::new(AtomicI32::new(0));
    let signaller = {
        let pid = pid.clone();
        let ready = vol.join("ready");
        std::thread::spawn(move || {
            wait_for(&ready);
            linux::signal_pod(pid.load(Ordering::SeqCst), libc::SIGTERM).unwrap();
        })
    };
    let run = pod.run_with(|h| {
        h.on_init(move |p| {
            pid.store(p, Ordering::SeqCst);
            Ok(())
        })
    });
    signaller.join().unwrap();
    assert_eq!(run.code(), 42);
    assert_eq!(run.stdout, "got TERM\n");
}

#[jetpack_testutil::root_test]
fn a_failing_hook_stops_the_pod_before_its_apps() {
    let mut pod = TestPod::sh("touch /vol/ran");
    let vol = pod.host_dir("vol");
    pod.mount(0, &vol, "/vol", false);
    let mut out = tempfile::tempfile().unwrap();
    let _ = &mut out;
    let r = linux::run(
        &pod.spec,
        RunHooks::default().on_init(|_| Err("cannot record the pod".into())),
    );
    assert!(
        matches!(&r, Err(Error::Hook(m)) if m == "cannot record the pod"),
        "{r:?}"
    );
    assert!(!vol.join("ran").exists());
}

#[jetpack_testutil::root_test]
fn enter_runs_a_command_in_the_app() {
    let mut pod = TestPod::sh(
        "cat /proc/self/cgroup > /vol/app.cg; touch /vol/ready
         i=0; while [ ! -e /vol/done ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done",
    );
    std::fs::write(pod.rootfs().join("marker"), "").unwrap();
    let vol = pod.host_dir("vol");
    pod.mount(0, &vol, "/vol", false);
    let pid = Arc::new(AtomicI32::new(0));
    let ctx = |uid: u32| linux::EnterContext {
        uuid: pod.spec.uuid.clone(),
        uid,
        gid: uid,
        groups: Vec::new(),
        working_dir: "/nonexistent".into(),
        working_dir_required: false,
        program: None,
        security: Some(jetpack_runtime::Security {
            no_new_privileges: true,
            ..jetpack_runtime::Security::default()
        }),
        userns: false,
    };
    let (root, nobody) = (ctx(0), ctx(65534));
    let enterer = {
        let pid = pid.clone();
        let vol = vol.clone();
        std::thread::spawn(move || {
            wait_for(&vol.join("ready"));
            let pid = pid.load(Ordering::SeqCst);
            let env = [("PATH".to_string(), common::PATH.to_string())];
            let argv: Vec<String> = [
                "sh",
                "-c",
                "hostname > /vol/enter.host; echo $$ > /vol/enter.pid; id -u > /vol/enter.uid
                 grep ^CapEff /proc/self/status > /vol/enter.caps
                 grep ^NoNewPrivs /proc/self/status > /vol/enter.nnp
                 cat /proc/self/cgroup > /vol/enter.cg; pwd > /vol/enter.pwd
                 [ -e /marker ] && exit 7",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let code = linux::enter(pid, "web", &argv, &env, false, &root);
            let missing = linux::enter(pid, "nope", &argv, &env, false, &root);
            let id = ["sh", "-c", "[ $(id -u) = 65534 ] && exit 9"].map(String::from);
            let as_nobody = linux::enter(pid, "web", &id, &env, false, &nobody);
            std::fs::write(vol.join("done"), "").unwrap();
            (code, missing, as_nobody)
        })
    };
    let run = pod.run_with(|h| {
        h.on_init(move |p| {
            pid.store(p, Ordering::SeqCst);
            Ok(())
        })
    });
    let (code, missing, as_nobody) = enterer.join().unwrap();
    run.ok();
    assert_eq!(code.unwrap(), 7);
    assert_eq!(as_nobody.unwrap(), 9);
    assert!(
        matches!(missing, Err(Error::AppNotRunning { .. })),
        "{missing:?}"
    );
    let read = |f: &str| std::fs::read_to_string(vol.join(f)).unwrap();
    assert_eq!(read("enter.host"), "testpod\n");
    assert_eq!(read("enter.uid"), "0\n");
    // The app's own security context and cgroups, not the runtime's.
    let caps = format!("CapEff:\t{:016x}\n", jetpack_runtime::DEFAULT_CAPABILITIES);
    assert_eq!(read("enter.caps"), caps);
    assert_eq!(read("enter.nnp"), "NoNewPrivs:\t1\n");
    assert_eq!(read("enter.cg"), read("app.cg"));
    assert_eq!(
        read("enter.pwd"),
        "/\n",
        "a missing working directory falls back to /"
    );
    let in_pod_pid: i32 = read("enter.pid").trim().parse().unwrap();
    assert!(
        in_pod_pid < 100,
        "not in the pod's pid namespace: {in_pod_pid}"
    );
}

#[test]
fn signal_pod_refuses_what_is_not_a_pod_init() {
    let me = std::process::id() as i32;
    assert!(matches!(
        linux::signal_pod(me, 0),
        Err(Error::NotRunning { .. })
    ));
    assert!(matches!(
        linux::enter(
            me,
            "web",
            &[],
            &[],
            false,
            &linux::EnterContext {
                uuid: "0".into(),
                uid: 0,
                gid: 0,
                groups: Vec::new(),
                working_dir: "/".into(),
                working_dir_required: false,
                program: None,
                security: None,
                userns: false,
            }
        ),
        Err(Error::NotRunning { .. })
    ));
}

/// Runs this test binary again as a separate caller of `run`, which the test can kill.
fn helper_process(spec: &jetpack_runtime::PodSpec, dir: &std::path::Path) -> std::process::Command {
    let spec_file = dir.join("spec.json");
    std::fs::write(&spec_file, serde_json::to_vec(spec).unwrap()).unwrap();
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "helper_runs_a_pod",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("JETPACK_TEST_SPEC", &spec_file)
    .env("JETPACK_TEST_PID_FILE", dir.join("init.pid"))
    .stdin(std::process::Stdio::null());
    cmd
}

/// Kills and reaps a helper process on every way out of a test.
struct Caller(std::process::Child);

impl Drop for Caller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test by itself: the body of [`helper_process`]. Runs the pod with the caller's own
/// stdio and exits with the pod's code.
#[test]
#[ignore]
fn helper_runs_a_pod() {
    let Some(spec_file) = std::env::var_os("JETPACK_TEST_SPEC") else {
        return;
    };
    let pid_file = std::env::var_os("JETPACK_TEST_PID_FILE").unwrap();
    let spec = serde_json::from_slice(&std::fs::read(spec_file).unwrap()).unwrap();
    let exit = linux::run(
        &spec,
        RunHooks::default()
            .on_init(|pid| std::fs::write(&pid_file, pid.to_string()).map_err(|e| e.to_string())),
    )
    .unwrap();
    std::process::exit(exit.code);
}

#[jetpack_testutil::root_test]
fn output_reaches_the_callers_own_stdout_and_stderr() {
    let pod = TestPod::sh("echo hello from the pod; echo oops >&2; exit 6");
    let out = helper_process(&pod.spec, pod.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(6));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("hello from the pod\n"), "{stdout}");
    assert!(stderr.contains("oops\n"), "{stderr}");
}

#[jetpack_testutil::root_test]
fn a_killed_caller_leaves_nothing_behind() {
    let mut pod = TestPod::sh("touch /vol/ready; exec sleep 1000");
    let vol = pod.host_dir("vol");
    pod.mount(0, &vol, "/vol", false);
    let mut caller = Caller(
        helper_process(&pod.spec, pod.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&vol.join("ready"));
    let init: i32 = std::fs::read_to_string(pod.path().join("init.pid"))
        .unwrap()
        .parse()
        .unwrap();
    let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    let app: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    let start = std::time::Instant::now();
    while std::fs::read_to_string(format!("/proc/{app}/comm")).unwrap() != "sleep\n" {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the app is not running"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // The pod's mounts exist only in its own namespaces, never on the host.
    assert!(jetpack_testutil::mounts_below(pod.path()).is_empty());

    caller.0.kill().unwrap();
    caller.0.wait().unwrap();
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
    };
    let start = std::time::Instant::now();
    while !(gone(init) && gone(app)) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the pod outlived its caller (init {init}, app {app})"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(jetpack_testutil::mounts_below(pod.path()).is_empty());
    // Its cgroups (if it had any of its own) stay, empty, for `gc` or `destroy`, which remove
    // them as here.
    linux::cgroups::remove_pod(&pod.spec.uuid).unwrap();
}

#[jetpack_testutil::root_test]
fn a_terminal_is_attached_with_tty() {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::OpenptFlags;
    use rustix::termios::Winsize;
    use std::os::fd::AsFd;
    let mut pod = TestPod::sh(
        "[ -t 0 ] && [ -t 1 ] && echo on-a-tty
         stty size; read line; stty size; echo got $line; exit 5",
    );
    pod.spec.tty = true;
    // The caller's terminal: a pty of the test's own.
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY,
        Mode::empty(),
    )
    .unwrap();
    let size = |rows, cols| Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&slave, size(33, 77)).unwrap();
    let before = rustix::termios::tcgetattr(&slave).unwrap();
    // The user: waits for the app's first output, resizes the terminal, then types a line.
    let user = {
        let master = master.try_clone().unwrap();
        let slave = slave.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut seen = String::new();
            let mut resized = false;
            let start = std::time::Instant::now();
            while !seen.contains("got typed") && start.elapsed().as_secs() < 10 {
                let mut fds = [rustix::event::PollFd::new(
                    &master,
                    rustix::event::PollFlags::IN,
                )];
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 50_000_000,
                };
                if rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) > 0 {
                    let mut buf = [0u8; 4096];
                    let n = rustix::io::read(&master, &mut buf).unwrap_or(0);
                    seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                if !resized && seen.contains("33 77\r\n") {
                    resized = true;
                    rustix::termios::tcsetwinsize(&slave, size(40, 100)).unwrap();
                    // SAFETY: raise delivers to this thread; the handler `run` installed only
                    // writes to a pipe.
                    unsafe { libc::raise(libc::SIGWINCH) };
                    rustix::io::write(&master, b"typed\n").unwrap();
                }
            }
            seen
        })
    };
    let exit = linux::run(
        &pod.spec,
        RunHooks::default()
            .stdin(slave.as_fd())
            .output(slave.as_fd(), slave.as_fd()),
    )
    .unwrap();
    let seen = user.join().unwrap();
    assert_eq!(exit.code, 5, "{exit:?}");
    assert!(seen.contains("on-a-tty\r\n"), "{seen:?}");
    // The size at start, then after the resize (the terminal echoes the typed line between).
    let first = seen.find("33 77\r\n").expect("first size");
    let second = seen.find("40 100\r\n").expect("size after the resize");
    assert!(first < second, "{seen:?}");
    assert!(seen.contains("got typed\r\n"), "{seen:?}");
    let log = pod.log("web");
    assert!(
        log.contains("on-a-tty") && log.contains("got typed"),
        "{log}"
    );
    // The caller's terminal is back to how it was.
    let after = rustix::termios::tcgetattr(&slave).unwrap();
    assert_eq!(after.local_modes, before.local_modes);
    assert_eq!(after.input_modes, before.input_modes);
}

#[jetpack_testutil::root_test]
fn signals_to_the_caller_reach_the_app() {
    let mut pod = TestPod::sh(
        "trap 'echo got TERM; exit 42' TERM
         touch /vol/ready
         while true; do sleep 0.01; done",
    );
    let vol = pod.host_dir("vol");
    pod.mount(0, &vol, "/vol", false);
    let mut caller = Caller(
        helper_process(&pod.spec, pod.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(&vol.join("ready"));
    // SAFETY: a plain kill of the child started above.
    assert_eq!(
        unsafe { libc::kill(caller.0.id() as i32, libc::SIGTERM) },
        0
    );
    let status = caller.0.wait().unwrap();
    assert_eq!(status.code(), Some(42));
    assert!(pod.log("web").contains("got TERM"));
}

#[jetpack_testutil::root_test]
fn an_exit_is_recorded_as_soon_as_the_app_ends() {
    // App b watches app a's status directory and sees a's exit file while the pod still runs.
    let mut pod = TestPod::sh("exit 9");
    pod.add_app(
        "b",
        &[
            "/bin/sh",
            "-c",
            "i=0; while [ ! -e /status/exit ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
             head -n1 /status/exit",
        ],
    );
    let status = pod.spec.dir.join("apps/web");
    std::fs::create_dir_all(&status).unwrap();
    pod.mount(1, &status, "/status", true);
    let run = pod.run();
    assert_eq!(run.code(), 9);
    assert_eq!(run.stdout, "b: 9\n");
    let codes: Vec<i32> = run
        .exit
        .apps
        .iter()
        .map(|(_, e)| e.as_ref().unwrap().code)
        .collect();
    assert_eq!(codes, [9, 0]);
}
