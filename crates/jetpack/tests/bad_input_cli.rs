//! Bad input through the `jetpack` binary: each case must end with a clear error (what was
//! wrong, what to do), never a panic, a hang or a misleading message. Needs root (a real store).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{BB, Env};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn no_panic(o: &Output) {
    let e = stderr(o);
    assert!(
        !e.contains("panicked") && o.status.code() != Some(101),
        "panic: {e}"
    );
}

/// Runs `c` with a deadline; kills it and fails if it takes longer.
fn output_within(mut c: Command, limit: Duration) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A pod prepared without a network; its UUID.
fn prepare(e: &Env, extra: &[&str]) -> String {
    let mut args = vec!["prepare", "--net=none"];
    args.extend_from_slice(extra);
    args.push(BB);
    e.ok(&args).trim().to_string()
}

/// Output of `jetpack ARGS` writing to a pipe whose reader is already gone.
fn to_closed_pipe(e: &Env, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut c = e.cmd();
    c.args(args).stdout(writer).stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    drop(c);
    child.wait_with_output().unwrap()
}

#[jetpack_testutil::root_test]
fn broken_pipe_exits_quietly() {
    let e = Env::new("dir");
    let uuid = prepare(&e, &[]);
    for args in [
        vec!["list", "--json"],
        vec!["list"],
        vec!["status", uuid.as_str()],
        vec!["status", "--json", uuid.as_str()],
        vec!["images"],
        vec!["config"],
    ] {
        let o = to_closed_pipe(&e, &args);
        no_panic(&o);
        assert_eq!(stderr(&o), "", "jetpack {args:?} to a closed pipe");
        // As a Unix tool killed by SIGPIPE: 128 + 13.
        assert_eq!(o.status.code(), Some(141), "jetpack {args:?}");
    }
}

#[jetpack_testutil::root_test]
fn pod_manifest_size_is_capped() {
    let e = Env::new("dir");
    let mut c = e.cmd();
    c.args(["prepare", "--pod-manifest", "/dev/zero"]);
    let o = output_within(c, Duration::from_secs(20));
    no_panic(&o);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("/dev/zero") && err.contains("1 MiB"), "{err}");
    // A regular file just over the limit, and `validate` of the same.
    let big = e.backend.dir.path().join("big.json");
    let mut text = String::from("{\"acKind\": \"PodManifest\", \"x\": \"");
    text.push_str(&"a".repeat(1 << 20));
    text.push_str("\"}");
    std::fs::write(&big, text).unwrap();
    let err = e.err(&["prepare", "--pod-manifest", big.to_str().unwrap()]);
    assert!(err.contains("big.json") && err.contains("1 MiB"), "{err}");
    let o = e.out(&["validate", big.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("1 MiB"), "{}", stderr(&o));
}

#[jetpack_testutil::root_test]
fn run_pod_uuid_with_app_options() {
    let e = Env::new("dir");
    let uuid = prepare(&e, &[]);
    let mut c = e.cmd();
    c.args(["-o", "fetch.timeout=3", "run", &uuid, "--exec", "/bin/true"]);
    let o = output_within(c, Duration::from_secs(20));
    no_panic(&o);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(&uuid) && err.contains("prepared pod") && err.contains("--exec"),
        "{err}"
    );
    assert!(!err.contains("discover"), "{err}");
    // A UUID of no pod is not an image name either.
    let gone = "0a1b2c3d-0000-4000-8000-000000000000";
    let mut c = e.cmd();
    c.args(["-o", "fetch.timeout=3", "run", gone, "--exec", "/bin/true"]);
    let o = output_within(c, Duration::from_secs(20));
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("no pod") && err.contains(gone), "{err}");
    assert!(!err.contains("discover"), "{err}");
}

#[jetpack_testutil::root_test]
fn concurrent_destroy() {
    let e = Env::new("dir");
    let uuid = prepare(&e, &[]);
    let children: Vec<_> = (0..10)
        .map(|_| {
            e.cmd()
                .args(["destroy", &uuid])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut destroyed = 0;
    for c in children {
        let o = c.wait_with_output().unwrap();
        no_panic(&o);
        let out = String::from_utf8_lossy(&o.stdout);
        let err = stderr(&o);
        assert!(!err.contains("No such file"), "{err}");
        if !o.status.success() {
            // Started after the pod was gone: it never saw it.
            assert!(err.contains("no pod") && err.contains(&uuid), "{err}");
            continue;
        }
        if out.contains("already destroyed") {
            continue;
        }
        assert!(out.contains(&format!("destroyed {uuid}")), "{out}");
        destroyed += 1;
    }
    assert_eq!(destroyed, 1);
    assert!(!e.pod_dir(&uuid).exists());
}

#[jetpack_testutil::root_test]
fn ambiguous_uuid_prefix() {
    let e = Env::new("dir");
    // Pods until three share their first hex digit (at most 33 by pigeonhole).
    let mut by_first: std::collections::BTreeMap<char, Vec<String>> = Default::default();
    let (first, uuids) = loop {
        let u = prepare(&e, &[]);
        let v = by_first.entry(u.chars().next().unwrap()).or_default();
        v.push(u);
        if v.len() == 3 {
            break (v[0].chars().next().unwrap(), v.clone());
        }
    };
    let prefix = first.to_string();
    let err = e.err(&["status", &prefix]);
    assert!(err.contains("ambiguous"), "{err}");
    for u in &uuids {
        assert!(err.contains(u.as_str()), "{err}");
    }
    // A one-digit prefix that is unique finds its pod.
    if let Some((c, v)) = by_first.iter().find(|(_, v)| v.len() == 1) {
        let out = e.ok(&["status", "--json", &c.to_string()]);
        assert!(out.contains(&v[0]), "{out}");
    }
}

#[jetpack_testutil::root_test]
fn config_values_are_checked() {
    let e = Env::new("dir");
    let err = e.err(&["-o", "root", "config"]);
    assert!(err.contains("root") && err.contains("KEY=VALUE"), "{err}");
    // A bare on/off key still means on.
    assert_eq!(e.ok(&["-o", "debug", "config", "debug"]).trim(), "on");
    for (set, key, want) in [
        ("fetch.timeout=abc", "fetch.timeout", "seconds"),
        ("fetch.timeout=0", "fetch.timeout", "seconds"),
        ("mds.port=70000", "mds.port", "1 to 65535"),
        ("mds.port=http", "mds.port", "1 to 65535"),
        ("debug=maybe", "debug", "on or off"),
        ("pods.private-users=2", "pods.private-users", "on or off"),
        ("storage=ext4", "storage", "dir"),
        ("net.default-subnet=10.0.0.0", "net.default-subnet", "/"),
        ("root=", "root", "directory"),
    ] {
        let err = e.err(&["-o", set, "config"]);
        assert!(err.contains(key) && err.contains(want), "{set}: {err}");
    }
    let conf = e.backend.dir.path().join("bad.conf");
    std::fs::write(&conf, "fetch.timeout = soon\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_jetpack"))
        .args(["--config", conf.to_str().unwrap(), "config"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("bad.conf:1") && err.contains("fetch.timeout"),
        "{err}"
    );
}

#[jetpack_testutil::root_test]
fn pod_name_checked_at_prepare() {
    let e = Env::new("dir");
    let long = "a".repeat(300);
    let err = e.err(&["prepare", "--net=none", "--name", &long, BB]);
    assert!(err.contains("64") && err.contains("--name"), "{err}");
    let err = e.err(&["prepare", "--net=none", "--name=Web_1", BB]);
    assert!(err.contains("--name") && err.contains("a-z"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["list", "--json"])).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 0, "no pod was made: {v}");
    // The longest name allowed works.
    let ok = "b".repeat(64);
    prepare(&e, &["--name", &ok]);
}

#[jetpack_testutil::root_test]
fn store_root_problems() {
    let dir = tempfile::tempdir().unwrap();
    let jp = |root: &std::path::Path, args: &[&str]| -> Output {
        Command::new(env!("CARGO_BIN_EXE_jetpack"))
            .args(["--config", "/dev/null", "-o", "storage=dir"])
            .arg("-o")
            .arg(format!("root={}", root.display()))
            .arg("-o")
            .arg(format!("net.dir={}", dir.path().join("net.d").display()))
            .args(args)
            .output()
            .unwrap()
    };
    // A file where the root should be.
    let file = dir.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    for args in [&["list"][..], &["images"], &["init"]] {
        let o = jp(&file, args);
        no_panic(&o);
        let err = stderr(&o);
        assert!(!o.status.success());
        assert!(
            err.contains("not a directory") && err.contains("afile") && err.contains("root="),
            "{args:?}: {err}"
        );
        assert!(!err.contains("store.json"), "{err}");
    }
    // A read-only store.
    let root = dir.path().join("store");
    let o = jp(&root, &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ro = jetpack_testutil::run(
        "mount",
        &["--bind", root.to_str().unwrap(), root.to_str().unwrap()],
    );
    assert!(ro.is_ok(), "{ro:?}");
    let _guard = jetpack_testutil::MountGuard::new(&root);
    jetpack_testutil::must_run("mount", &["-o", "remount,ro,bind", root.to_str().unwrap()]);
    // Reads still work there (the index is read as a snapshot, as on a full disk).
    let o = jp(&root, &["images"]);
    no_panic(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    for args in [&["gc"][..], &["import", "/dev/null"]] {
        let o = jp(&root, args);
        no_panic(&o);
        let err = stderr(&o);
        assert!(!o.status.success());
        assert!(
            err.contains("read-only") && err.contains(root.to_str().unwrap()),
            "{args:?}: {err}"
        );
        assert!(!err.contains("Error code 14"), "{err}");
    }
}

#[jetpack_testutil::root_test]
fn key_and_ca_files_are_capped() {
    let e = Env::new("dir");
    for args in [
        vec!["trust", "--root", "/dev/zero"],
        vec![
            "-o",
            "fetch.ca-file=/dev/zero",
            "fetch",
            "https://example.test/x.aci",
        ],
    ] {
        let mut c = e.cmd();
        c.args(&args);
        let o = output_within(c, Duration::from_secs(20));
        no_panic(&o);
        let err = stderr(&o);
        assert!(!o.status.success());
        assert!(
            err.contains("/dev/zero") && err.contains("not a regular file"),
            "{args:?}: {err}"
        );
    }
    let big = e.backend.dir.path().join("big.asc");
    std::fs::write(&big, vec![b'x'; (4 << 20) + 1]).unwrap();
    let err = e.err(&["trust", "--root", big.to_str().unwrap()]);
    assert!(err.contains("big.asc") && err.contains("4 MiB"), "{err}");
}
