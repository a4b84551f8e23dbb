//! Deeply nested trees cannot brick the store or a pod: an ACI nested deeper than the import
//! limit is refused with a short message and later imports and `gc` still work; an app that
//! nests 1,100 directories in its rootfs can be run again, destroyed and collected. Needs root.

mod common;

use common::{BB, Env};
use jetpack_testutil::Aci;

/// An ACI whose rootfs nests `depth` directories (long names as GNU long-name entries).
fn deep_aci(depth: usize) -> Vec<u8> {
    use tar::EntryType::{Directory, Regular};
    let manifest = r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/deep"}"#;
    let mut a = Aci::empty();
    a.long(Regular, "manifest", 0o755, manifest.as_bytes());
    a.long(Directory, "rootfs", 0o755, &[]);
    let mut name = String::from("rootfs");
    for _ in 0..depth {
        name.push_str("/d");
        a.long(Directory, &name, 0o755, &[]);
    }
    a.tar()
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Whether a pod tree in the store (its rootfs, or the upper layer of an overlay) holds `nest/d`.
fn nested_in_store(e: &Env) -> bool {
    let pods = e.root().join("storage/pods");
    let mut dirs = vec![(pods, 0)];
    while let Some((dir, depth)) = dirs.pop() {
        if dir.join("nest/d").is_dir() {
            return true;
        }
        if depth < 3 {
            for name in entries(&dir) {
                let p = dir.join(name);
                if p.is_dir() && !p.is_symlink() {
                    dirs.push((p, depth + 1));
                }
            }
        }
    }
    false
}

fn deep_aci_is_refused_and_the_store_keeps_working(kind: &str) {
    let e = Env::new(kind);
    let aci = e.backend.dir.path().join("deep.aci");
    std::fs::write(&aci, deep_aci(2000)).unwrap();
    let err = e.err(&["import", "-q", aci.to_str().unwrap()]);
    assert!(
        err.contains("(258 components)") && err.contains("deeper than the 256 allowed"),
        "{err}"
    );
    assert!(err.len() < 600, "message too long: {err}");
    assert_eq!(entries(&e.root().join("tmp")), Vec::<String>::new());
    e.ok(&["gc"]);
    let bb = e.backend.dir.path().join("busybox.aci");
    e.ok(&["import", "-q", bb.to_str().unwrap()]);
    let err = e.err(&["import", "-q", aci.to_str().unwrap()]);
    assert!(err.contains("deeper than the 256 allowed"), "{err}");
    e.ok(&["gc"]);
    e.ok(&["run", "--rm", "--net=none", BB, "--exec", "/bin/true"]);
}

fn app_nesting_1100_directories_can_rerun_destroy_and_gc(kind: &str) {
    let e = Env::new(kind);
    // Relative mkdir/cd only: the bottom is beyond what one path can name from /.
    let script = "mkdir -p /nest && cd /nest || exit 1; i=0; while [ $i -lt 1100 ]; do mkdir d && cd d || exit 1; \
                  i=$((i+1)); done; echo deep > bottom && echo NESTED";
    let uuid = e
        .ok(&[
            "prepare",
            "--net=none",
            BB,
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            script,
        ])
        .trim()
        .to_string();
    let out = e.ok(&["run", &uuid]);
    assert!(out.contains("NESTED"), "{out}");
    assert!(
        nested_in_store(&e),
        "the deep tree is not in the pod's clone"
    );
    // The next run starts from a fresh clone: the deep one must go first.
    let out = e.ok(&["run", &uuid]);
    assert!(out.contains("NESTED"), "{out}");
    e.ok(&["gc"]);
    e.ok(&["destroy", &uuid]);
    e.ok(&["gc"]);
    assert_eq!(
        entries(&e.root().join("storage/pods")),
        Vec::<String>::new()
    );
    e.ok(&["run", "--rm", "--net=none", BB, "--exec", "/bin/true"]);
}

#[jetpack_testutil::root_test]
fn deep_aci_is_refused_and_the_store_keeps_working_dir() {
    deep_aci_is_refused_and_the_store_keeps_working("dir");
}

#[jetpack_testutil::root_test]
fn deep_aci_is_refused_and_the_store_keeps_working_overlay() {
    deep_aci_is_refused_and_the_store_keeps_working("overlay");
}

#[jetpack_testutil::root_test]
fn app_nesting_1100_directories_can_rerun_destroy_and_gc_dir() {
    app_nesting_1100_directories_can_rerun_destroy_and_gc("dir");
}

#[jetpack_testutil::root_test]
fn app_nesting_1100_directories_can_rerun_destroy_and_gc_overlay() {
    app_nesting_1100_directories_can_rerun_destroy_and_gc("overlay");
}
