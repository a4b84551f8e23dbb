//! On overlay a pod that is not running holds no mount: its clone is mounted when it starts and
//! unmounted when it ends, whatever happened, and a mount left by a `jetpack run` killed with
//! SIGKILL breaks neither the next run nor `gc`. Needs root.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{BB, Env};

/// The mounts below the store's storage area.
fn store_mounts(e: &Env) -> Vec<PathBuf> {
    jetpack_testutil::mounts_below(&e.root().join("storage"))
}

fn assert_unmounted(e: &Env, when: &str) {
    let m = store_mounts(e);
    assert!(m.is_empty(), "{when}: mounted below the store: {m:?}");
}

/// Prepares a pod whose app writes a file to its rootfs (failing if the file is there, so a
/// run on an old clone fails), runs it twice, and checks that nothing is mounted while it is
/// prepared or exited.
fn prepared_and_exited_pods_hold_no_mount(private_users: bool) {
    let e = Env::new("overlay");
    let mut args = vec!["prepare", "--net=none"];
    if private_users {
        args.push("--private-users");
    }
    args.extend_from_slice(&[
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "test ! -e /written && echo run > /written && cat /written",
    ]);
    let uuid = e.ok(&args).trim().to_string();
    assert_unmounted(&e, "prepared");
    for round in 1..=2 {
        let out = e.ok(&["run", &uuid]);
        assert!(out.contains("run"), "round {round}: {out}");
        assert_unmounted(&e, &format!("exited after run {round}"));
    }
    // The pod's state, not a mount, keeps its image from removal.
    let err = e.err(&["image", "rm", BB]);
    assert!(err.contains(&uuid), "{err}");
    e.ok(&["destroy", &uuid]);
    assert_unmounted(&e, "destroyed");
    e.ok(&["image", "rm", BB]);
}

#[jetpack_testutil::root_test]
fn prepared_and_exited_pods_hold_no_mount_overlay() {
    prepared_and_exited_pods_hold_no_mount(false);
}

#[jetpack_testutil::root_test]
fn prepared_and_exited_private_users_pods_hold_no_mount_overlay() {
    prepared_and_exited_pods_hold_no_mount(true);
}

/// Starts pod `name` in the background (a `sleep`), waits until it runs and checks its clone
/// is mounted; returns the `jetpack run` process, the pod's UUID and its init's pid.
fn start_sleeper(
    e: &Env,
    name: &str,
    private_users: bool,
) -> (std::process::Child, String, serde_json::Value) {
    let mut args = vec!["run", "--net=none", "--name", name];
    if private_users {
        args.push("--private-users");
    }
    args.extend_from_slice(&[BB, "--exec", "/bin/sleep", "--", "30"]);
    let mut child = e.spawn(&args);
    let row = e.wait_running_or(&mut child, name);
    assert!(
        !store_mounts(e).is_empty(),
        "a running pod's clone is mounted"
    );
    (
        child,
        row["uuid"].as_str().unwrap().to_string(),
        row["pid"].clone(),
    )
}

/// SIGKILL to `jetpack run`: the pod dies with it (its init `pid` goes too); its mount stays
/// (nothing unmounted it).
fn kill_run(e: &Env, child: &mut std::process::Child, uuid: &str, pid: &serde_json::Value) {
    child.kill().unwrap();
    child.wait().unwrap();
    let init = std::path::PathBuf::from(format!("/proc/{}", pid.as_i64().expect("an init pid")));
    for _ in 0..250 {
        if !init.exists() && e.ok(&["status", "--json", uuid]).contains("\"exited\"") {
            assert!(!store_mounts(e).is_empty(), "the killed run left its mount");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("pod {uuid} did not end with its jetpack run");
}

fn killed_run_leaves_no_mount(private_users: bool) {
    let e = Env::new("overlay");
    // Run again after the kill: a fresh clone, mounted, and unmounted when it ends.
    let (mut child, uuid, old_pid) = start_sleeper(&e, "again", private_users);
    kill_run(&e, &mut child, &uuid, &old_pid);
    let mut rerun = e.spawn(&["run", &uuid]);
    // The record of the killed run names its init until the new one is forked.
    let mut started = false;
    for _ in 0..500 {
        if e.wait_running_or(&mut rerun, "again")["pid"] != old_pid {
            started = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started, "the pod runs again");
    assert!(!store_mounts(&e).is_empty(), "the re-run pod is mounted");
    e.ok(&["stop", &uuid, "--timeout", "1"]);
    rerun.wait().unwrap();
    assert_unmounted(&e, "re-run stopped");
    e.ok(&["destroy", &uuid]);
    assert_unmounted(&e, "destroyed");
    // gc after the kill removes the pod and whatever it left mounted.
    let (mut child, uuid, pid) = start_sleeper(&e, "collected", private_users);
    kill_run(&e, &mut child, &uuid, &pid);
    // Within its grace period the pod stays, but not its mount.
    e.ok(&["gc"]);
    assert!(e.ok(&["list"]).contains(&uuid), "kept for its grace period");
    assert_unmounted(&e, "gc within the grace period after a killed run");
    e.ok(&["gc", "--grace", "0s"]);
    assert!(!e.ok(&["list"]).contains(&uuid), "gc removed the pod");
    assert_unmounted(&e, "gc after a killed run");
    // And destroy after a kill.
    let (mut child, uuid, pid) = start_sleeper(&e, "destroyed", private_users);
    kill_run(&e, &mut child, &uuid, &pid);
    e.ok(&["destroy", &uuid]);
    assert_unmounted(&e, "destroy after a killed run");
}

#[jetpack_testutil::root_test]
fn killed_run_leaves_no_mount_overlay() {
    killed_run_leaves_no_mount(false);
}

#[jetpack_testutil::root_test]
fn killed_private_users_run_leaves_no_mount_overlay() {
    killed_run_leaves_no_mount(true);
}

/// A mount left from before (an older build mounted prepared pods; a killed run) does not stop
/// a prepared pod from starting, and is gone once it has run.
#[jetpack_testutil::root_test]
fn stale_mount_of_a_prepared_pod_is_replaced() {
    let e = Env::new("overlay");
    let uuid = e
        .ok(&["prepare", "--net=none", BB, "--exec", "/bin/true"])
        .trim()
        .to_string();
    let tree = std::fs::read_dir(e.root().join("storage/pods"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&uuid.replace('-', ""))
        })
        .unwrap();
    let rootfs = tree.join("rootfs");
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "stale", rootfs.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(!store_mounts(&e).is_empty());
    e.ok(&["run", &uuid]);
    assert_unmounted(&e, "after the run");
    e.ok(&["destroy", &uuid]);
}
