//! Crash consistency: `import` (of an ACI and of a two-layer OCI layout whose base layer
//! another image shares), `prepare`, `run` (of a prepared pod and `run --rm` of an image),
//! `destroy`, `gc` and `image rm` are killed with SIGKILL at every rename, sync and index write
//! they make (and a deterministic sample of their other directory operations), injected by
//! `strace -f -e inject=CALL:signal=KILL:when=N`. After each kill, `list` and `images` agree
//! with the disk, `gc` leaves nothing behind, and the command succeeds when run again.
//! Needs root and strace.
//!
//! strace counts `when=N` per traced thread: N is the N-th call in whichever thread reaches it
//! first. Every point of the thread making the most calls (stage0's main thread) is hit; a
//! helper process (a pod's init, an app) is killed at its own N-th call when it gets there
//! first, which is a crash too.

mod common;
mod consistency;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{BB, Env};
use consistency::{clean, consistent, json};

/// The calls that are traced to count the injection points.
const TRACED: &str = "rename,renameat,renameat2,fsync,fdatasync,syncfs,unlink,unlinkat,rmdir,\
                      mkdir,mkdirat,pwrite64";

/// Calls whose every point is taken: renames, syncs, and the index's commits (SQLite in WAL mode
/// with `synchronous=NORMAL` commits by `pwrite64` to the WAL; it syncs at checkpoints). The
/// others (tree creation and removal, hundreds of calls) are sampled.
const EVERY: &[&str] = &[
    "rename",
    "renameat",
    "renameat2",
    "fsync",
    "fdatasync",
    "syncfs",
    "pwrite64",
];

/// At most this many sampled points per sampled call.
const SAMPLES: usize = 6;

#[derive(Clone, Copy, Debug)]
enum Cmd {
    Import,
    OciImport,
    Prepare,
    Run,
    RunRm,
    Destroy,
    Gc,
    ImageRm,
}

fn has_busybox(e: &Env) -> bool {
    json(e, &["images", "--json"])
        .iter()
        .any(|r| r["name"] == BB)
}

/// The OCI image `OciImport` imports: busybox in a base layer, a second layer with a whiteout.
/// `localhost/base`, its base layer alone, is imported once, so that the import both shares a
/// stored layer and builds new ones.
const OCI_NAME: &str = "localhost/app";

fn oci_layouts(e: &Env) -> String {
    use jetpack_testutil::oci::{gzip, layer, layout};
    const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let base = layer(&[
        ("bin", Ok(None)),
        ("bin/busybox", Ok(Some(&busybox))),
        ("bin/sh", Err("busybox")),
        ("etc", Ok(None)),
        ("etc/gone", Ok(Some(b"x\n"))),
    ]);
    let mid = layer(&[
        ("etc/.wh.gone", Ok(Some(b""))),
        ("etc/mid", Ok(Some(b"m\n"))),
    ]);
    let top = layer(&[("top", Ok(Some(b"t\n")))]);
    let dir = e.backend.dir.path();
    layout(
        &dir.join("base"),
        "v1",
        &[(base.clone(), base.clone(), TAR)],
    );
    let app = dir.join("app");
    layout(
        &app,
        "v1",
        &[
            (base.clone(), base, TAR),
            (
                mid.clone(),
                gzip(&mid),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
            (top.clone(), top, TAR),
        ],
    );
    e.ok(&["import", &format!("oci:{}:v1", dir.join("base").display())]);
    format!("oci:{}:v1", app.display())
}

fn has_image(e: &Env, name: &str) -> bool {
    json(e, &["images", "--json"])
        .iter()
        .any(|r| r["name"] == name)
}

fn aci(e: &Env, name: &str) -> String {
    let p = e.backend.dir.path().join(name);
    p.to_str().unwrap().to_string()
}

/// `strace OPTS jetpack ARGS`, killed (and failing) after two minutes.
fn strace(e: &Env, opts: &[&str], args: &[String]) -> Output {
    let c = e.cmd();
    let mut s = Command::new("strace");
    // Not into exec'd programs: the apps, and the metadata service `run` starts, which
    // outlives the command.
    s.args(["-b", "execve"])
        .args(opts)
        .arg("--")
        .arg(c.get_program())
        .args(c.get_args())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = s.spawn().expect("strace (apt-get install strace)");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "strace {opts:?} jetpack {args:?} hangs: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// The injection points of `jetpack ARGS`: (call, N) for every N up to the most calls one
/// thread made, all of them for [`EVERY`], a deterministic sample for the others.
fn points(e: &Env, args: &[String]) -> Vec<(String, usize)> {
    let trace = e.backend.dir.path().join("count.trace");
    let o = strace(
        e,
        &[
            "-f",
            "-qq",
            "-o",
            trace.to_str().unwrap(),
            "-e",
            &format!("trace={TRACED}"),
        ],
        args,
    );
    assert!(
        o.status.success(),
        "jetpack {args:?} under strace: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut per_thread: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        let mut words = line.split_whitespace();
        let (Some(pid), Some(call)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((name, _)) = call.split_once('(') else {
            continue; // "<... resumed>", signals, exits
        };
        *per_thread
            .entry((name.to_string(), pid.to_string()))
            .or_default() += 1;
    }
    let mut most: BTreeMap<String, usize> = BTreeMap::new();
    for ((name, _), n) in per_thread {
        let m = most.entry(name).or_default();
        *m = (*m).max(n);
    }
    let mut pts = Vec::new();
    for (name, max) in most {
        let ns: BTreeSet<usize> = if EVERY.contains(&name.as_str()) || max <= SAMPLES {
            (1..=max).collect()
        } else {
            (0..SAMPLES)
                .map(|i| 1 + i * (max - 1) / (SAMPLES - 1))
                .collect()
        };
        pts.extend(ns.into_iter().map(|n| (name.clone(), n)));
    }
    pts
}

/// Prepares what `cmd` works on; its arguments.
fn setup(e: &Env, cmd: Cmd) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    if !matches!(cmd, Cmd::Import) && !has_busybox(e) {
        e.ok(&["import", "-q", &aci(e, "busybox.aci")]);
    }
    match cmd {
        Cmd::Import => {
            if has_busybox(e) {
                e.ok(&["image", "rm", BB]);
            }
            s(&["import", "-q", &aci(e, "busybox.aci")])
        }
        Cmd::OciImport => {
            if has_image(e, OCI_NAME) {
                e.ok(&["image", "rm", OCI_NAME]);
            }
            let oci = format!("oci:{}:v1", e.backend.dir.path().join("app").display());
            s(&["import", "-q", &oci])
        }
        Cmd::Prepare => s(&["prepare", "--net=none", BB]),
        Cmd::Run => {
            let uuid = e.ok(&["prepare", "--net=none", BB]);
            s(&["run", uuid.trim()])
        }
        Cmd::RunRm => s(&["run", "--rm", "--net=none", BB]),
        Cmd::Destroy => {
            // Prepared, not run: the pod survives `gc`, so a destroy killed before hiding
            // it is run again.
            let uuid = e.ok(&["prepare", "--net=none", BB]);
            s(&["destroy", uuid.trim()])
        }
        Cmd::Gc => {
            garbage(e);
            s(&["gc", "--grace", "0s"])
        }
        Cmd::ImageRm => s(&["image", "rm", BB]),
    }
}

/// Leaves one of each thing `gc` collects: an exited pod, a prepare and a destroy killed
/// half-way, a run killed while its pod ran, and an import killed before sealing.
fn garbage(e: &Env) {
    let uuid = e.ok(&["prepare", "--net=none", BB]);
    e.ok(&["run", uuid.trim()]);
    let killed = |point: &str, args: &[&str]| {
        let o = e
            .cmd()
            .env("JETPACK_TEST_STOP_AT", point)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.signal(), Some(9), "{point}: {o:?}");
    };
    killed("pod-created", &["prepare", "--net=none", BB]);
    let uuid = e.ok(&["prepare", "--net=none", BB]);
    killed("pod-hidden", &["destroy", uuid.trim()]);
    let mut run = e.spawn(&[
        "run",
        "--net=none",
        "--name=killed",
        BB,
        "--exec",
        "/bin/sleep",
        "--",
        "600",
    ]);
    e.wait_running_or(&mut run, "killed");
    run.kill().unwrap();
    run.wait().unwrap();
    let o = strace(
        e,
        &[
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "inject=syncfs:signal=KILL:when=1",
        ],
        &["import".into(), "-q".into(), aci(e, "other.aci")],
    );
    assert_eq!(o.status.signal(), Some(9), "{o:?}");
}

/// Runs `cmd` again on what it worked on, if that is still there: it must succeed.
fn again(e: &Env, cmd: Cmd, args: &[String]) {
    let listed = |uuid: &str| {
        json(e, &["list", "--json"])
            .iter()
            .any(|p| p["uuid"] == uuid)
    };
    let run_again = match cmd {
        Cmd::Run | Cmd::Destroy => listed(&args[1]),
        Cmd::ImageRm => has_busybox(e),
        _ => true,
    };
    if run_again {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        e.ok(&a);
    }
}

/// Destroys every pod and collects: the next point starts from a store with images only.
fn reset(e: &Env) {
    for p in json(e, &["list", "--json"]) {
        e.ok(&["destroy", p["uuid"].as_str().unwrap()]);
    }
    e.ok(&["gc", "--grace", "0s"]);
}

fn crash_matrix(kind: &str, cmd: Cmd) {
    let e = Env::new(kind);
    let other = aci(&e, "other.aci");
    jetpack_testutil::busybox_aci(other.as_ref(), "example.com/other", "1.0.0");
    if matches!(cmd, Cmd::OciImport) {
        oci_layouts(&e);
    }
    let args = setup(&e, cmd);
    let pts = points(&e, &args);
    reset(&e);
    let (mut killed, mut finished, mut failed) = (0, 0, Vec::new());
    for (call, n) in &pts {
        let what = format!("{kind} {cmd:?} killed at {call} #{n}");
        let args = setup(&e, cmd);
        let inject = format!("inject={call}:signal=KILL:when={n}");
        let o = strace(&e, &["-f", "-qq", "-o", "/dev/null", "-e", &inject], &args);
        match o.status.signal() {
            Some(9) => killed += 1,
            _ if o.status.success() => finished += 1,
            // A helper process (the pod's init or app) was killed: the command reports it.
            _ => failed.push(String::from_utf8_lossy(&o.stderr).into_owned()),
        }
        consistent(&e, &what);
        e.ok(&["gc", "--grace", "0s"]);
        clean(&e, &what);
        again(&e, cmd, &args);
        reset(&e);
    }
    eprintln!(
        "{kind} {cmd:?}: {} points: {killed} killed, {finished} finished, {} failed: {failed:?}",
        pts.len(),
        failed.len()
    );
    assert!(killed > 0, "{kind} {cmd:?}: no point was reached");
}

macro_rules! matrix {
    ($($name:ident: $cmd:expr;)*) => {
        mod overlay {
            use super::*;
            $(#[jetpack_testutil::root_test] fn $name() { crash_matrix("overlay", $cmd) })*
        }
        mod dir {
            use super::*;
            $(#[jetpack_testutil::root_test] fn $name() { crash_matrix("dir", $cmd) })*
        }
    };
}

matrix! {
    import: Cmd::Import;
    oci_import: Cmd::OciImport;
    prepare: Cmd::Prepare;
    run: Cmd::Run;
    run_rm: Cmd::RunRm;
    destroy: Cmd::Destroy;
    gc: Cmd::Gc;
    image_rm: Cmd::ImageRm;
}
