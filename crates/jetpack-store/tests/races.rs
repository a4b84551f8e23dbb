//! Concurrent writers on one store: imports of different and of identical ACIs with `gc`
//! running in a loop beside them. No import may lose its staging tree to another process's
//! cleanup. Needs root (ownership in the extracted trees).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::TestStore;
use jetpack_store::{Source, Store};
use jetpack_testutil::Aci;

/// An ACI with enough entries under `bin/` that extraction takes a while.
fn aci(n: usize) -> Vec<u8> {
    let mut a = Aci::new();
    a.dir("rootfs/bin", 0o755);
    for i in 0..200 {
        a.file(
            &format!("rootfs/bin/f{i}"),
            format!("{n} {i}").as_bytes(),
            0o755,
        );
    }
    a.named(
        "example.com/race",
        &format!(r#","labels":[{{"name":"version","value":"{n}"}}]"#),
    )
    .tar()
}

/// Runs one import per file in parallel (all released at once) while a thread runs `gc` in a
/// loop; returns the failures.
fn imports_with_gc(t: &TestStore, files: Vec<std::path::PathBuf>) -> Vec<String> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(files.len() + 1));
    let gc = {
        let (cfg, stop, start) = (t.cfg.clone(), stop.clone(), start.clone());
        std::thread::spawn(move || {
            let mut store = Store::open(&cfg).unwrap();
            start.wait();
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = store.gc() {
                    errors.push(format!("gc: {e}"));
                }
            }
            errors
        })
    };
    let imports: Vec<_> = files
        .into_iter()
        .map(|f| {
            let (cfg, start) = (t.cfg.clone(), start.clone());
            std::thread::spawn(move || {
                let mut store = Store::open(&cfg).unwrap();
                start.wait();
                store
                    .import(Source::File(f.clone()))
                    .map(|_| ())
                    .map_err(|e| format!("import {}: {e}", f.display()))
            })
        })
        .collect();
    let mut failures: Vec<String> = imports
        .into_iter()
        .filter_map(|h| h.join().unwrap().err())
        .collect();
    stop.store(true, Ordering::Relaxed);
    failures.extend(gc.join().unwrap());
    failures
}

/// 20 concurrent imports of different ACIs and 20 of one ACI, with `gc` looping beside them,
/// several rounds: every import succeeds, every image is whole, nothing is left behind.
#[jetpack_testutil::root_test]
fn concurrent_imports_and_gc_never_lose_a_staging_tree() {
    let t = TestStore::new("dir");
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut rounds = 0;
    while rounds < 5 && Instant::now() < deadline {
        let different: Vec<_> = (0..20)
            .map(|i| t.input(&format!("r{rounds}-{i}.aci"), &aci(rounds * 100 + i)))
            .collect();
        let failures = imports_with_gc(&t, different);
        assert!(failures.is_empty(), "round {rounds}: {failures:#?}");
        let same = t.input(&format!("same{rounds}.aci"), &aci(10_000 + rounds));
        let failures = imports_with_gc(&t, vec![same; 20]);
        assert!(failures.is_empty(), "round {rounds}: {failures:#?}");
        rounds += 1;
    }
    let store = Store::open(&t.cfg).unwrap();
    let images = store.images().unwrap();
    assert_eq!(images.len(), rounds * 21);
    for row in &images {
        let bin = store.image_rootfs(&row.id).join("bin");
        assert_eq!(std::fs::read_dir(&bin).unwrap().count(), 200, "{}", row.id);
    }
    assert_eq!(t.leftovers(), Vec::<String>::new());
}
