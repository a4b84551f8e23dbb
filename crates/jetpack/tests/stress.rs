//! Concurrency stress through the CLI: 20 concurrent imports of different and of identical ACIs
//! with `gc` looping beside them, 50 concurrent prepare/run/destroy of busybox pods, and
//! `image rm` of an image while pods are being prepared from it. Afterwards the index and the
//! disk agree, every pod prepared runs, and every failure says what was busy (never a missing
//! file or an SQLite error). Outcomes are counted and printed. Needs root.

mod common;
mod consistency;

use std::collections::BTreeMap;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use common::{BB, Env};
use consistency::{clean, consistent, image_ids, json};

/// What a failure may never say: the store's internals instead of what was busy.
const UNCLEAR: &[&str] = &[
    "no such file",
    "sqlite",
    "database is locked",
    "database table is locked",
    "error code",
    "os error",
    "panicked",
];

/// Outcomes by command and first line of the error, with UUIDs and image IDs blanked.
#[derive(Default)]
struct Outcomes(Mutex<BTreeMap<String, usize>>);

impl Outcomes {
    /// Records `o` of `jetpack ARGS[0]`; fails on an unclear message. True on success.
    fn record(&self, what: &str, o: &Output) -> bool {
        let err = String::from_utf8_lossy(&o.stderr);
        let key = if o.status.success() {
            format!("{what}: ok")
        } else {
            let lower = err.to_lowercase();
            for bad in UNCLEAR {
                assert!(!lower.contains(bad), "{what} failed unclearly: {err}");
            }
            // The error, after progress lines such as "discovering NAME".
            let line = err
                .lines()
                .rfind(|l| l.starts_with("jetpack:"))
                .unwrap_or("");
            format!("{what}: {}", blank(line))
        };
        *self.0.lock().unwrap().entry(key).or_default() += 1;
        o.status.success()
    }

    fn report(&self, test: &str) {
        for (k, n) in self.0.lock().unwrap().iter() {
            eprintln!("{test}: {n:4} × {k}");
        }
    }

    fn count(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// `s` with hexadecimal runs of 8 or more digits (UUIDs, image IDs, pids are short) as `…`.
fn blank(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in s.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() || (c == '-' && !run.is_empty()) {
            run.push(c);
            continue;
        }
        if run.chars().filter(|c| c.is_ascii_hexdigit()).count() >= 8 {
            out.push('…');
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.trim_end().to_string()
}

/// Runs `gc ARGS` in a loop until the returned flag is set; the handle gives the outcomes.
fn gc_loop(
    e: &Arc<Env>,
    args: &'static [&'static str],
    out: &Arc<Outcomes>,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (e, s, out) = (e.clone(), stop.clone(), out.clone());
    let h = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            out.record("gc", &e.out(args));
        }
    });
    (stop, h)
}

fn busybox_aci(e: &Env, file: &str, name: &str, version: &str) -> String {
    let p = e.backend.dir.path().join(file);
    jetpack_testutil::busybox_aci(&p, name, version);
    p.to_str().unwrap().to_string()
}

/// Runs `f(i)` for i in 0..n in n threads released at once.
fn all_at_once<F: Fn(usize) + Send + Sync + 'static>(n: usize, f: F) {
    let f = Arc::new(f);
    let start = Arc::new(Barrier::new(n));
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let (f, start) = (f.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                f(i)
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

fn imports_with_gc(kind: &str) {
    if !jetpack_testutil::require_root() {
        return;
    }
    let e = Arc::new(Env::new(kind));
    let different: Vec<String> = (0..20)
        .map(|i| busybox_aci(&e, &format!("d{i}.aci"), "example.com/d", &format!("{i}")))
        .collect();
    let same = busybox_aci(&e, "same.aci", "example.com/same", "1");
    let out = Arc::new(Outcomes::default());
    let (stop, gc) = gc_loop(&e, &["gc", "--grace", "0s"], &out);
    for files in [different, vec![same; 20]] {
        let (e, out, files) = (e.clone(), out.clone(), Arc::new(files));
        all_at_once(20, move |i| {
            out.record("import", &e.out(&["import", "-q", &files[i]]));
        });
    }
    stop.store(true, Ordering::Relaxed);
    gc.join().unwrap();
    out.report(&format!("imports_with_gc {kind}"));
    assert_eq!(out.count("import: ok"), 40);
    assert_eq!(image_ids(&e).len(), 1 + 20 + 1);
    consistent(&e, "after the imports");
    e.ok(&["gc", "--grace", "0s"]);
    clean(&e, "after the imports");
}

#[test]
fn imports_with_gc_overlay() {
    imports_with_gc("overlay");
}

#[test]
fn imports_with_gc_dir() {
    imports_with_gc("dir");
}

fn fifty_pods(kind: &str) {
    if !jetpack_testutil::require_root() {
        return;
    }
    let e = Arc::new(Env::new(kind));
    let out = Arc::new(Outcomes::default());
    let (stop, gc) = gc_loop(&e, &["gc"], &out);
    {
        let (e, out) = (e.clone(), out.clone());
        all_at_once(50, move |_| {
            let o = e.out(&["prepare", "--net=none", BB]);
            if !out.record("prepare", &o) {
                return;
            }
            let uuid = String::from_utf8(o.stdout).unwrap();
            out.record("run", &e.out(&["run", uuid.trim()]));
            out.record("destroy", &e.out(&["destroy", uuid.trim()]));
        });
    }
    stop.store(true, Ordering::Relaxed);
    gc.join().unwrap();
    out.report(&format!("fifty_pods {kind}"));
    for what in ["prepare", "run", "destroy"] {
        assert_eq!(out.count(&format!("{what}: ok")), 50, "{what}");
    }
    assert_eq!(
        json(&e, &["list", "--json"]),
        Vec::<serde_json::Value>::new()
    );
    e.ok(&["gc", "--grace", "0s"]);
    clean(&e, "after the pods");
}

#[test]
fn fifty_pods_overlay() {
    fifty_pods("overlay");
}

#[test]
fn fifty_pods_dir() {
    fifty_pods("dir");
}

fn image_rm_while_preparing(kind: &str) {
    if !jetpack_testutil::require_root() {
        return;
    }
    let e = Arc::new(Env::new(kind));
    let victim = busybox_aci(&e, "victim.aci", "example.com/victim", "1");
    e.ok(&["import", "-q", &victim]);
    let out = Arc::new(Outcomes::default());
    let removed = Arc::new(AtomicBool::new(false));
    {
        let (e, out, removed) = (e.clone(), out.clone(), removed.clone());
        all_at_once(11, move |i| {
            if i == 0 {
                // Until it goes: refused while a pod uses it.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
                while !out.record("image rm", &e.out(&["image", "rm", "example.com/victim"])) {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "image rm never succeeded"
                    );
                }
                removed.store(true, Ordering::Relaxed);
                return;
            }
            for _ in 0..5 {
                let o = e.out(&["prepare", "--net=none", "example.com/victim"]);
                if out.record("prepare", &o) {
                    let uuid = String::from_utf8(o.stdout).unwrap();
                    out.record("destroy", &e.out(&["destroy", uuid.trim()]));
                }
                if removed.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
    }
    out.report(&format!("image_rm_while_preparing {kind}"));
    assert_eq!(out.count("image rm: ok"), 1);
    assert_eq!(out.count("prepare: ok"), out.count("destroy: ok"));
    assert!(
        !json(&e, &["images", "--json"])
            .iter()
            .any(|i| i["name"] == "example.com/victim")
    );
    consistent(&e, "after image rm");
    e.ok(&["gc", "--grace", "0s"]);
    clean(&e, "after image rm");
}

#[test]
fn image_rm_while_preparing_overlay() {
    image_rm_while_preparing("overlay");
}

#[test]
fn image_rm_while_preparing_dir() {
    image_rm_while_preparing("dir");
}
