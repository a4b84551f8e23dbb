//! The store and pods stay consistent when work is refused or a process dies half-way: a
//! refused image removal changes nothing, a killed prepare or destroy leaves a state that
//! `list` reports truly and `gc` finishes, and an import makes its tree durable before sealing
//! it. Needs root.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use common::{BB, Env};

fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn image_ids(e: &Env) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["images", "--json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn pods_json(e: &Env) -> serde_json::Value {
    serde_json::from_str(&e.ok(&["list", "--json"])).unwrap()
}

fn image_rm_of_an_image_a_pod_uses_is_all_or_nothing(kind: &str) {
    let e = Env::new(kind);
    let uuid = e.ok(&["prepare", "--net=none", BB]).trim().to_string();
    let before = image_ids(&e);
    let err = e.err(&["image", "rm", BB]);
    assert!(err.contains(&uuid), "{err}");
    // Nothing changed: the image is listed, gc has nothing to refuse, the pod runs, and a
    // re-import finds the image there.
    assert_eq!(image_ids(&e), before);
    e.ok(&["gc"]);
    assert_eq!(image_ids(&e), before);
    let aci = e.backend.dir.path().join("busybox.aci");
    e.ok(&["import", "-q", aci.to_str().unwrap()]);
    assert_eq!(image_ids(&e), before);
    e.ok(&["run", &uuid]);
    // Once the pod is gone, the image goes, wholly.
    e.ok(&["destroy", &uuid]);
    e.ok(&["image", "rm", BB]);
    assert_eq!(image_ids(&e), Vec::<String>::new());
    e.ok(&["gc"]);
    assert_eq!(
        entries(&e.root().join("storage/images")),
        Vec::<String>::new()
    );
    assert_eq!(entries(&e.root().join("images")), Vec::<String>::new());
}

#[jetpack_testutil::root_test]
fn image_rm_of_an_image_a_pod_uses_is_all_or_nothing_overlay() {
    image_rm_of_an_image_a_pod_uses_is_all_or_nothing("overlay");
}

#[jetpack_testutil::root_test]
fn image_rm_of_an_image_a_pod_uses_is_all_or_nothing_dir() {
    image_rm_of_an_image_a_pod_uses_is_all_or_nothing("dir");
}

/// Runs `jetpack ARGS` with `JETPACK_TEST_STOP_AT=point` and checks that it died of SIGKILL.
fn killed_at(e: &Env, point: &str, args: &[&str]) {
    let o = e
        .cmd()
        .env("JETPACK_TEST_STOP_AT", point)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        o.status.signal(),
        Some(9),
        "jetpack {args:?} was to be killed at {point}: {:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// After a kill, `list` shows no pod and `gc` leaves neither pod directories nor clones.
fn nothing_after_gc(e: &Env) {
    e.ok(&["gc", "--grace", "1h"]);
    assert_eq!(pods_json(e), serde_json::json!([]));
    assert_eq!(entries(&e.root().join("pods")), Vec::<String>::new());
    assert_eq!(
        entries(&e.root().join("storage/pods")),
        Vec::<String>::new()
    );
}

fn kill_9_of_prepare_and_destroy_leaves_what_list_and_gc_handle(kind: &str) {
    let e = Env::new(kind);
    // Killed right after making the pod's directory: no pod is listed, gc removes it.
    killed_at(&e, "pod-created", &["prepare", "--net=none", BB]);
    assert_eq!(pods_json(&e), serde_json::json!([]));
    assert_eq!(entries(&e.root().join("pods")).len(), 1);
    nothing_after_gc(&e);
    // Killed after hiding the pod and after removing its clone: the pod is not listed as
    // prepared, gc finishes.
    for point in ["pod-hidden", "pod-tree-removed"] {
        let uuid = e.ok(&["prepare", "--net=none", BB]).trim().to_string();
        killed_at(&e, point, &["destroy", &uuid]);
        assert_eq!(pods_json(&e), serde_json::json!([]), "{point}");
        assert!(e.err(&["run", &uuid]).contains("no pod"), "{point}");
        nothing_after_gc(&e);
    }
    // A pod directory without a valid state is an aborted prepare to list and gc.
    let uuid = e.ok(&["prepare", "--net=none", BB]).trim().to_string();
    std::fs::write(e.pod_dir(&uuid).join("pod.json"), "{").unwrap();
    let list = pods_json(&e);
    assert_eq!(list[0]["uuid"], uuid.as_str(), "{list}");
    assert_eq!(list[0]["state"], "aborted", "{list}");
    nothing_after_gc(&e);
    // Still usable.
    let uuid = e.ok(&["prepare", "--net=none", BB]).trim().to_string();
    e.ok(&["run", &uuid]);
    e.ok(&["destroy", &uuid]);
}

#[jetpack_testutil::root_test]
fn kill_9_of_prepare_and_destroy_leaves_what_list_and_gc_handle_overlay() {
    kill_9_of_prepare_and_destroy_leaves_what_list_and_gc_handle("overlay");
}

#[jetpack_testutil::root_test]
fn kill_9_of_prepare_and_destroy_leaves_what_list_and_gc_handle_dir() {
    kill_9_of_prepare_and_destroy_leaves_what_list_and_gc_handle("dir");
}

/// The extracted tree reaches the disk (`syncfs` of the staging tree's filesystem) before the
/// rename that seals it.
#[jetpack_testutil::root_test]
fn import_syncs_the_tree_before_sealing_it() {
    let e = Env::new("dir");
    let aci = e.backend.dir.path().join("busybox.aci");
    e.ok(&["image", "rm", BB]);
    let trace = e.backend.dir.path().join("trace");
    let c = e.cmd();
    let prog = c.get_program().to_owned();
    let args: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
    let st = std::process::Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=syncfs,rename,renameat,renameat2",
            "-o",
        ])
        .arg(&trace)
        .arg(prog)
        .args(args)
        .args(["import", "-q", aci.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let seal = lines
        .iter()
        .position(|l| {
            l.contains("rename") && l.contains("/storage/tmp/") && l.contains("/storage/images/")
        })
        .unwrap_or_else(|| panic!("no seal rename in\n{text}"));
    let sync = lines
        .iter()
        .position(|l| l.contains("syncfs(") && l.contains("/storage/tmp/") && l.contains("= 0"))
        .unwrap_or_else(|| panic!("no syncfs of the staging tree in\n{text}"));
    assert!(sync < seal, "{text}");
}
