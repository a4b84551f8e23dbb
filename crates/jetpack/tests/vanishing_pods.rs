//! Pods destroyed while other processes look at them or clean up: `list`, `gc` and a second
//! `destroy` treat a pod that vanished under them as gone, never as an error about its files.
//! Needs root.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{BB, Env};

/// Prepares `n` pods (and runs them if `run`), then destroys each twice at once while `list`
/// and `gc ARGS` loop beside; returns every failure.
fn destroy_beside_list_and_gc(kind: &str, n: usize, run: bool, gc: &[&str]) -> Vec<String> {
    let e = Arc::new(Env::new(kind));
    let uuids: Vec<String> = (0..n)
        .map(|_| {
            let u = e.ok(&["prepare", "--net=none", BB]).trim().to_string();
            if run {
                e.ok(&["run", &u]);
            }
            u
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = [vec!["list", "--json"], gc.to_vec()]
        .into_iter()
        .map(|args| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let (e, stop) = (e.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let a: Vec<&str> = args.iter().map(String::as_str).collect();
                    let o = e.out(&a);
                    if !o.status.success() {
                        failures.push(format!("{a:?}: {}", String::from_utf8_lossy(&o.stderr)));
                    }
                }
                failures
            })
        })
        .collect();
    let destroys: Vec<_> = uuids
        .iter()
        .flat_map(|u| [u.clone(), u.clone()])
        .map(|u| {
            let e = e.clone();
            std::thread::spawn(move || {
                let o = e.out(&["destroy", &u]);
                let err = String::from_utf8_lossy(&o.stderr).into_owned();
                // The second of two destroys may find no pod left to name.
                (!o.status.success() && !err.contains("no pod")).then(|| format!("destroy: {err}"))
            })
        })
        .collect();
    let mut failures: Vec<String> = destroys
        .into_iter()
        .filter_map(|h| h.join().unwrap())
        .collect();
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        failures.extend(l.join().unwrap());
    }
    assert_eq!(e.ok(&["list", "--json"]).trim(), "[]");
    assert_eq!(
        std::fs::read_dir(e.root().join("storage/pods"))
            .unwrap()
            .count(),
        0
    );
    failures
}

/// `list`, `gc` and `destroy` used to fail with "pods/<uuid>/lock: No such file or directory"
/// when a destroy hid the pod between their reading `pods/` and taking its lock.
#[test]
fn list_gc_and_destroy_treat_a_pod_destroyed_under_them_as_gone() {
    if !jetpack_testutil::require_root() {
        return;
    }
    for kind in ["overlay", "dir"] {
        let failures = destroy_beside_list_and_gc(kind, 20, false, &["gc"]);
        assert_eq!(failures, Vec::<String>::new(), "{kind}");
    }
}

/// `gc` removes clones no listed pod owns; a pod hidden by its destroy after `gc` listed the
/// pods has its clone removed by both, and the one that lost the race used to fail with "read
/// directory: No such file or directory".
#[test]
fn gc_and_destroy_removing_one_clone_both_succeed() {
    if !jetpack_testutil::require_root() {
        return;
    }
    for kind in ["overlay", "dir"] {
        let failures = destroy_beside_list_and_gc(kind, 20, true, &["gc", "--grace", "1h"]);
        assert_eq!(failures, Vec::<String>::new(), "{kind}");
    }
}

/// `gc` read a pod's state before its lock: a prepare that ended in between looked like an
/// aborted one (state `preparing`, lock free), and `gc` destroyed the fresh pod.
#[test]
fn gc_never_destroys_a_pod_whose_prepare_just_ended() {
    if !jetpack_testutil::require_root() {
        return;
    }
    let e = Arc::new(Env::new("dir"));
    let stop = Arc::new(AtomicBool::new(false));
    let gc = {
        let (e, stop) = (e.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                e.ok(&["gc"]);
            }
        })
    };
    let prepares: Vec<_> = (0..30)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || e.ok(&["prepare", "--net=none", BB]).trim().to_string())
        })
        .collect();
    let uuids: Vec<String> = prepares.into_iter().map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    gc.join().unwrap();
    for u in &uuids {
        e.ok(&["run", u]);
    }
}
