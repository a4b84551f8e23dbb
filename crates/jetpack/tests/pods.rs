//! End-to-end pod tests through the `jetpack` binary, as root: real namespaces, a real busybox
//! image, every storage backend for prepare/run. Each test cleans up its pods and store.

use std::process::{Command, Stdio};

mod common;

use common::{BB, Env};

fn run_prints_and_exits(kind: &str) {
    let e = Env::new(kind);
    let o = e.out(&[
        "run",
        "--net=host",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "echo inside $AC_APP_NAME $container; exit 7",
    ]);
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("inside busybox jetpack"));
    let list: serde_json::Value = serde_json::from_str(&e.ok(&["list", "--json"])).unwrap();
    let pod = &list[0];
    assert_eq!(pod["state"], "exited");
    assert_eq!(pod["apps"][0]["exit"], 7);
    let uuid = pod["uuid"].as_str().unwrap().to_string();
    assert!(e.ok(&["logs", &uuid]).contains("inside busybox jetpack"));
    // Runs again from a clean copy of the image: a file written by the first run is gone.
    let id = e.ok(&[
        "prepare",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "test ! -e /marker && touch /marker",
    ]);
    let id = id.trim();
    e.ok(&["run", id]);
    e.ok(&["run", id]);
    e.ok(&["destroy", id, &uuid]);
    assert_eq!(e.ok(&["list"]).lines().count(), 1);
}

#[jetpack_testutil::root_test]
fn run_prints_and_exits_dir() {
    run_prints_and_exits("dir");
}
#[jetpack_testutil::root_test]
fn run_prints_and_exits_overlay() {
    run_prints_and_exits("overlay");
}
#[jetpack_testutil::root_test]
fn run_prints_and_exits_btrfs() {
    run_prints_and_exits("btrfs");
}
#[jetpack_testutil::root_test]
fn run_prints_and_exits_zfs() {
    run_prints_and_exits("zfs");
}

#[jetpack_testutil::root_test]
fn pod_environment_and_namespaces() {
    let e = Env::new("overlay");
    let script = "echo pid=$$; hostname; cat /proc/1/comm >/dev/null && echo proc-ok; \
                  ls /sys/class/net; echo x > /dev/null && head -c1 /dev/urandom >/dev/null && echo dev-ok; \
                  test -c /dev/ptmx -o -L /dev/ptmx && test -d /dev/shm && echo devfs-ok; \
                  id -u; id -G; pwd; echo PATH=$PATH";
    let out = e.ok(&[
        "run",
        "--rm",
        "--name",
        "envtest",
        BB,
        "--user",
        "nobody",
        "--group",
        "nogroup",
        "--working-dir",
        "/tmp",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        script,
    ]);
    assert!(out.contains("pid=") && !out.contains("pid=1\n"), "{out}");
    assert!(out.contains("envtest\n"), "hostname is the pod name: {out}");
    assert!(
        out.contains("proc-ok") && out.contains("dev-ok") && out.contains("devfs-ok"),
        "{out}"
    );
    // The pod's own network (the default one): its /sys shows lo and eth0, not the host's.
    assert!(
        out.contains("eth0\nlo\n") && !out.contains(&e.net.bridge),
        "the pod's network namespace: {out}"
    );
    assert!(
        out.contains("65534\n65534\n/tmp\n"),
        "user, exact groups, working dir: {out}"
    );
    assert!(
        out.contains("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
        "image PATH: {out}"
    );
}

#[jetpack_testutil::root_test]
fn multi_app_pod_shares_pid_namespace_and_volume() {
    let e = Env::new("overlay");
    let out = e.ok(&[
        "run",
        "--rm",
        "--volume",
        "shared,kind=empty,mode=0777",
        BB,
        "--app-name",
        "writer",
        "--mount",
        "volume=shared,target=/shared",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "echo hi > /shared/f; sleep 1.5",
        "---",
        BB,
        "--app-name",
        "reader",
        "--mount",
        "volume=shared,target=/shared",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "sleep 0.5; cat /shared/f; ps -o args",
    ]);
    assert!(
        out.contains("reader") && out.contains("hi"),
        "apps share the empty volume: {out}"
    );
    assert!(
        out.contains("reader: sleep 1.5"),
        "the reader sees the writer's process: {out}"
    );
}

#[jetpack_testutil::root_test]
fn host_volumes_and_readonly_rootfs() {
    let e = Env::new("dir");
    let host = e.backend.dir.path().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    let h = host.to_str().unwrap();
    e.ok(&[
        "run",
        "--rm",
        "--volume",
        &format!("rw,kind=host,source={h}"),
        BB,
        "--mount",
        "volume=rw,target=/data",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "echo written > /data/out",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("out")).unwrap(),
        "written\n"
    );
    let o = e.out(&[
        "run",
        "--rm",
        "--volume",
        &format!("ro,kind=host,source={h},readOnly=true"),
        BB,
        "--mount",
        "volume=ro,target=/data",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "echo no > /data/out2",
    ]);
    assert!(!o.status.success());
    assert!(!host.join("out2").exists(), "read-only volume");
    let o = e.out(&[
        "run",
        "--rm",
        BB,
        "--readonly-rootfs",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "touch /x",
    ]);
    assert!(!o.status.success(), "read-only rootfs");
    let missing = e.err(&[
        "run",
        "--rm",
        "--volume",
        "m,kind=host,source=/nonexistent/jetpack",
        BB,
        "--mount",
        "volume=m,target=/m",
        "--exec",
        "/bin/true",
    ]);
    assert!(missing.contains("/nonexistent/jetpack"), "{missing}");
}

#[jetpack_testutil::root_test]
fn bad_input_fails_before_running() {
    let e = Env::new("dir");
    // A missing image is fetched; pin its host to a closed local port so nothing leaves the
    // machine.
    let o = e
        .cmd()
        .env("JETPACK_RESOLVE", "nothing.invalid:443:127.0.0.1:9")
        .args(["run", "nothing.invalid/app"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        msg.contains("nothing.invalid/app is not in the store"),
        "{msg}"
    );
    assert!(
        e.err(&["run", BB, "--exec", "/bin/nope"])
            .contains("/bin/nope")
    );
    assert!(e.err(&["run", BB, "--user", "alice"]).contains("alice"));
    assert!(
        e.err(&["run", BB, "--working-dir", "/nowhere"])
            .contains("/nowhere")
    );
    assert!(
        e.err(&["run", BB, BB])
            .contains("two apps are named \"busybox\"")
    );
    assert!(e.err(&["status", "no-such-pod"]).contains("no pod"));
    // Failed runs leave pods that destroy removes.
    for p in serde_json::from_str::<serde_json::Value>(&e.ok(&["list", "--json"]))
        .unwrap()
        .as_array()
        .unwrap()
    {
        e.ok(&["destroy", p["uuid"].as_str().unwrap()]);
    }
}

#[jetpack_testutil::root_test]
fn stop_and_concurrent_run() {
    let e = Env::new("dir");
    let id = e.ok(&[
        "prepare",
        "--name",
        "sleeper",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "trap 'echo got TERM; exit 0' TERM; echo trapping; while :; do sleep 0.1; done",
    ]);
    let id = id.trim().to_string();
    let mut child = e
        .cmd()
        .args(["run", &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped only once the app has its trap (on a loaded host the pod runs well before).
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert_eq!(first.trim(), "trapping");
    assert!(
        e.err(&["run", &id]).contains("is running"),
        "a second run is refused while the pod runs"
    );
    e.ok(&["stop", "sleeper", "--timeout", "5"]);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    child.wait().unwrap();
    assert!(rest.contains("got TERM"), "{rest}");
    assert!(e.ok(&["status", "--json", &id]).contains("\"exited\""));
    e.ok(&["destroy", &id]);
}

#[jetpack_testutil::root_test]
fn killed_jetpack_leaves_nothing_gc_cannot_remove() {
    let e = Env::new("overlay");
    let mut child = e
        .cmd()
        .args(["run", BB, "--exec", "/bin/sleep", "--", "30"])
        .spawn()
        .unwrap();
    let mut uuid = String::new();
    for _ in 0..100 {
        let v: serde_json::Value = serde_json::from_str(&e.ok(&["list", "--json"])).unwrap();
        if v[0]["state"] == "running" {
            uuid = v[0]["uuid"].as_str().unwrap().to_string();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!uuid.is_empty(), "the pod started");
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["list", "--json"])).unwrap();
    assert_eq!(
        v[0]["state"], "exited",
        "the pod died with its jetpack process"
    );
    let ps = Command::new("sh")
        .arg("-c")
        .arg("ps -eo args | grep -c '^/bin/sleep 30$'")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ps.stdout).trim(),
        "0",
        "no process of the pod is left"
    );
    e.ok(&["gc", "--grace", "0s"]);
    assert_eq!(e.ok(&["list"]).lines().count(), 1);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&uuid.replace('-', "")),
        "no mount of the pod is left"
    );
}

#[jetpack_testutil::root_test]
fn pod_manifest_and_enter() {
    let e = Env::new("overlay");
    // A template naming its image by name and labels, with a mount point left to reification.
    let manifest = e.backend.dir.path().join("pod.json");
    std::fs::write(
        &manifest,
        r#"{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"svc",
            "image":{"name":"example.com/busybox","labels":[{"name":"version","value":"1.0.0"}]},
            "app":{"exec":["/bin/sh","-c","echo ready > /data/state; exec sleep 30"],"user":"0","group":"0",
                   "mountPoints":[{"name":"data","path":"/data"}]}}]}"#,
    )
    .unwrap();
    let id = e.ok(&[
        "prepare",
        "--name",
        "svc-pod",
        "--pod-manifest",
        manifest.to_str().unwrap(),
    ]);
    let id = id.trim().to_string();
    let status: serde_json::Value =
        serde_json::from_str(&e.ok(&["status", "--json", "svc-pod"])).unwrap();
    assert_eq!(status["state"], "prepared");
    let mut child = Guard(
        e.cmd()
            .args(["run", &id])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut entered = String::new();
    for _ in 0..100 {
        let o = e.out(&[
            "enter",
            &id[..8],
            "--",
            "/bin/sh",
            "-c",
            "cat /data/state; hostname",
        ]);
        if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("ready") {
            entered = String::from_utf8_lossy(&o.stdout).into_owned();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    assert!(
        entered.contains("ready\nsvc-pod\n"),
        "enter sees the app's volume and the pod's hostname: {entered:?}"
    );
    assert_eq!(
        e.out(&["enter", &id, "--", "/bin/sh", "-c", "exit 4"])
            .status
            .code(),
        Some(4)
    );
    e.ok(&["kill", "svc-pod"]);
    child.0.wait().unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            e.backend
                .dir
                .path()
                .join("store/pods")
                .join(&id)
                .join("manifest"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        manifest["apps"][0]["image"]["id"].as_str().unwrap().len() == 135,
        "reified: full image ID"
    );
    assert_eq!(
        manifest["volumes"][0]["name"], "data",
        "the mount point got an empty volume"
    );
    assert_eq!(manifest["volumes"][0]["kind"], "empty");
}

/// Kills the child on drop so a failing test leaves no pod running.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
