//! Detached pods (`run -d`) and their supervisor: the start's report, restart policies, `stop`,
//! `status --wait`/`--wait-ready`, `logs -f`, `attach`, a killed supervisor, and the metadata
//! registration surviving the service's death. Real pods, so root.

mod common;

use std::time::{Duration, Instant};

use common::{BB, Env};

fn status(e: &Env, uuid: &str) -> serde_json::Value {
    serde_json::from_str(&e.ok(&["status", "--json", uuid])).unwrap()
}

/// Polls `f` every 20 ms for at most 30 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: not in 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The session id of process `pid` (field 6 of /proc/PID/stat).
fn session(pid: i64) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[jetpack_testutil::root_test]
fn run_d_returns_once_the_app_runs_and_the_supervisor_owns_the_pod() {
    let e = Env::new("overlay");
    let out = e.ok(&[
        "run",
        "-d",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "echo up; while true; do sleep 1; done",
    ]);
    let uuid = out.trim();
    // The CLI has exited; the pod runs, its apps started (recorded before the CLI returned).
    let v = status(&e, uuid);
    assert_eq!(v["state"], "running", "{v}");
    assert!(v["ready"].as_i64().is_some(), "{v}");
    assert!(v["networks"][0]["addresses"][0].is_string(), "{v}");
    let sup = v["supervisor"].as_i64().unwrap();
    let init = v["pid"].as_i64().unwrap();
    // In a session of its own (no terminal's hangup reaches it), and the init's parent.
    assert_eq!(session(sup), sup);
    let ppid = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap();
    let ppid: i64 = ppid[ppid.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, sup);
    eventually("the app's output in its log", || {
        e.ok(&["logs", uuid]).contains("up\n")
    });
    let ready = e.ok(&["status", "--wait-ready=5s", uuid]);
    assert!(ready.contains("State:    running"), "{ready}");

    // Ended by `stop`, which the supervisor does not undo; `status --wait` then returns.
    e.ok(&["stop", uuid]);
    let after = e.ok(&["status", "--wait=10s", uuid]);
    assert!(after.contains("State:    exited"), "{after}");
    eventually("the supervisor to end", || !alive(sup));
    let v = status(&e, uuid);
    assert_eq!(v["supervisor"], serde_json::Value::Null);
    assert_eq!(v["networks"], serde_json::json!([]));
    // Nothing of the pod is left on the host: no mount, no veth on its bridge.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&uuid.replace('-', "")), "{mounts}");
}

#[jetpack_testutil::root_test]
fn a_killed_supervisor_leaves_a_pod_that_list_and_gc_handle() {
    let e = Env::new("dir");
    let uuid = e.ok(&["run", "-d", BB, "--exec", "/bin/sleep", "--", "1000"]);
    let uuid = uuid.trim();
    let v = status(&e, uuid);
    let (sup, init) = (
        v["supervisor"].as_i64().unwrap(),
        v["pid"].as_i64().unwrap(),
    );
    std::process::Command::new("kill")
        .args(["-9", &sup.to_string()])
        .status()
        .unwrap();
    // The pod dies with it (its init gets SIGKILL when the supervisor goes), and says so.
    eventually("the pod to end", || !alive(init));
    eventually("list to say exited", || {
        e.ok(&["list", "--no-legend", "--format", "uuid,state"])
            .contains(&format!("{uuid}   exited"))
    });
    let v = status(&e, uuid);
    assert_eq!(v["supervisor"], serde_json::Value::Null, "{v}");
    assert_eq!(v["pid"], serde_json::Value::Null, "{v}");
    // What it left (networks, clone, state) goes with gc.
    e.ok(&["gc", "--grace", "0s"]);
    assert!(e.ok(&["list", "-q"]).is_empty());
    assert!(!e.pod_dir(uuid).exists());
    let bridge = std::process::Command::new("ip")
        .args(["-o", "link", "show", "master", &e.net.bridge])
        .output()
        .unwrap();
    assert!(
        bridge.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&bridge.stdout)
    );
}

#[jetpack_testutil::root_test]
fn restart_policies_are_applied_with_backoff_and_shown() {
    let e = Env::new("dir");
    let uuid = e.ok(&[
        "run",
        "-d",
        "--net",
        "none",
        "--restart",
        "on-failure:2",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "echo run; exit 3",
    ]);
    let uuid = uuid.trim();
    let out = e.ok(&["status", "--wait=30s", uuid]);
    assert!(out.contains("Restart:  on-failure:2 (2 restarts)"), "{out}");
    let v = status(&e, uuid);
    assert_eq!(v["restart_policy"], "on-failure:2");
    assert_eq!(v["restarts"], 2);
    assert_eq!(v["state"], "exited");
    assert_eq!(v["exit"], 3);
    // Three runs, all in the log (appended across runs).
    assert_eq!(e.ok(&["logs", uuid]), "run\nrun\nrun\n");
    let listed = e.ok(&["list", "--no-legend", "--format", "restart_policy,restarts"]);
    assert_eq!(
        listed.split_whitespace().collect::<Vec<_>>(),
        ["on-failure:2", "2"]
    );

    // `always` restarts after a success too, with a growing wait, until `stop`.
    let uuid = e.ok(&[
        "run",
        "-d",
        "--net",
        "none",
        "--restart=always",
        BB,
        "--exec",
        "/bin/true",
    ]);
    let uuid = uuid.trim();
    eventually("three restarts", || {
        status(&e, uuid)["restarts"].as_u64() >= Some(3)
    });
    let v = status(&e, uuid);
    assert!(
        matches!(v["state"].as_str(), Some("running" | "restarting")),
        "{v}"
    );
    e.ok(&["stop", uuid]);
    let v = status(&e, uuid);
    assert_eq!(v["state"], "exited", "{v}");
    let restarts = v["restarts"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        status(&e, uuid)["restarts"].as_u64(),
        Some(restarts),
        "stopped for good"
    );
}

#[jetpack_testutil::root_test]
fn a_detached_start_that_fails_is_reported_and_leaves_the_pod_exited() {
    let e = Env::new("dir");
    // An executable whose interpreter is missing: only the exec itself, in the pod, fails.
    let aci = e.dir().join("bad.aci");
    let mut a = jetpack_testutil::Aci::new().named(
        "example.com/bad",
        r#","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],
        "app":{"exec":["/bad"],"user":"0","group":"0"}"#,
    );
    a.file("rootfs/bad", b"#!/no/such/interpreter\n", 0o755);
    std::fs::write(&aci, a.tar()).unwrap();
    e.ok(&["import", "-q", aci.to_str().unwrap()]);
    let err = e.err(&["run", "-d", "--net", "none", "example.com/bad"]);
    assert!(err.contains("app bad failed to start: exec /bad"), "{err}");
    let uuid = e.only_pod();
    let v = status(&e, &uuid);
    assert_eq!(v["state"], "exited", "{v}");
    assert_eq!(v["supervisor"], serde_json::Value::Null);

    // With another app running, the failure is reported and the pod goes on.
    let err = e.err(&[
        "run",
        "-d",
        "--net",
        "none",
        "example.com/bad",
        "--",
        "---",
        BB,
        "--exec",
        "/bin/sleep",
        "--",
        "1000",
    ]);
    assert!(err.contains("the pod's other apps run"), "{err}");
    let running = e.ok(&["list", "--no-legend", "--format", "state"]);
    assert!(running.contains("running"), "{running}");

    // Refused before anything is made.
    let pods = e.ok(&["list", "-q"]);
    for (args, says) in [
        (&["run", "-d", "-t", BB][..], "choose one"),
        (
            &["run", "-d", "--restart", "sometimes", BB],
            "bad restart policy",
        ),
        (
            &["run", "--restart", "always", BB],
            "applies to detached pods",
        ),
    ] {
        let err = e.err(args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(e.ok(&["list", "-q"]), pods);
    let err = e.err(&["attach", &uuid]);
    assert!(err.contains("nothing to attach to"), "{err}");
}

#[jetpack_testutil::root_test]
fn logs_follow_and_attach_see_the_output_until_the_end() {
    let e = Env::new("dir");
    let uuid = e.ok(&[
        "run",
        "-d",
        "--net",
        "none",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "echo first; i=0; while [ $i -lt 30 ]; do echo line $i; \
         i=$((i+1)); sleep 0.1; done",
    ]);
    let uuid = uuid.trim();
    // Two followers at once, and one that starts from now.
    let follow = |args: &[&str]| {
        let mut c = e.cmd();
        c.args(args).stdout(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let f1 = follow(&["logs", "-f", uuid]);
    let f2 = follow(&["logs", "--follow", uuid, "busybox"]);
    eventually("some output", || e.ok(&["logs", uuid]).contains("line 3"));
    let a = follow(&["attach", uuid]);
    let outputs: Vec<String> = [f1, f2, a]
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success());
            String::from_utf8(o.stdout).unwrap()
        })
        .collect();
    let all = e.ok(&["logs", uuid]);
    assert!(all.ends_with("line 29\n"), "{all}");
    assert_eq!(outputs[0], all, "logs -f: everything");
    assert_eq!(outputs[1], all, "logs -f of the app by name");
    // attach: from when it started, to the end.
    assert!(!outputs[2].contains("first"), "{}", outputs[2]);
    assert!(outputs[2].ends_with("line 29\n"), "{}", outputs[2]);
    assert!(all.ends_with(&outputs[2]));
}

#[jetpack_testutil::root_test]
fn a_detached_pod_keeps_its_metadata_across_a_service_crash() {
    let e = Env::new("dir");
    let uuid = e.ok(&[
        "run",
        "-d",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "while true; do if u=$(wget -qO- $AC_METADATA_URL/acMetadata/v1/pod/uuid); \
         then echo ok $u; else echo fail; fi; sleep 0.2; done",
    ]);
    let uuid = uuid.trim();
    let want = format!("ok {uuid}\n");
    eventually("an answer", || e.ok(&["logs", uuid]).contains(&want));
    let mds = e.mds_pid().expect("the service runs");
    std::process::Command::new("kill")
        .args(["-9", &mds.to_string()])
        .status()
        .unwrap();
    let seen = e.ok(&["logs", uuid]).len();
    // The supervisor starts the service again and registers the pod again.
    eventually("an answer from a new service", || {
        e.ok(&["logs", uuid])[seen..].contains(&want)
    });
    assert_ne!(e.mds_pid(), Some(mds));
    assert_eq!(status(&e, uuid)["state"], "running");
}

#[jetpack_testutil::root_test]
fn run_d_rm_removes_the_pod_when_it_ends() {
    let e = Env::new("dir");
    let uuid = e.ok(&[
        "run",
        "-d",
        "--rm",
        "--net",
        "none",
        BB,
        "--exec",
        "/bin/sleep",
        "--",
        "1",
    ]);
    let uuid = uuid.trim();
    assert!(e.pod_dir(uuid).exists());
    eventually("the pod to be removed", || !e.pod_dir(uuid).exists());
    assert!(e.ok(&["list", "-q"]).is_empty());
}
