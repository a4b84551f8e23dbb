//! `jetpack build` when things go wrong, as root: a build killed with `kill -9` while its
//! command runs stores no image, and `gc` then removes its pod with every mount, pod
//! directory and storage tree; in a chain of three builds the middle image cannot be removed
//! while the top one depends on it (the refusal names the top one), can once the top one is
//! gone, and is built again on the same parent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::{BB, Env};
use jetpack_testutil::root_test;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn image_ids(env: &Env) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["images", "--json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// Mount points at or under the store root, from this process's mountinfo.
fn mounts_under(root: &Path) -> BTreeSet<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|m| m.starts_with(root))
        .collect()
}

/// The entries of a directory (none if it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The ID `build` prints last, after the command's own output.
fn build(env: &Env, ctx: &Path, name: &str, parent: &str, script: &str) -> String {
    let out = env.ok(&[
        "build",
        "--dir",
        s(ctx),
        "--name",
        name,
        "--net",
        "none",
        parent,
        "--",
        "/bin/sh",
        "-c",
        script,
    ]);
    let id = out.lines().last().unwrap_or_default().to_string();
    assert!(id.starts_with("sha512-"), "{out}");
    id
}

fn killed_build(kind: &str) {
    let env = Env::new(kind);
    let ctx = env.dir().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    let root = env.root();
    let images_before = image_ids(&env);
    let mounts_before = mounts_under(&root);

    let mut child = env.spawn(&[
        "build",
        "--dir",
        s(&ctx),
        "--name",
        "example.com/killed",
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        "echo half > /half && echo started > started && sleep 600",
    ]);
    // Half-way: the command has changed the rootfs and sleeps.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ctx.join("started").exists() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the build ended ({st}) before its command started");
        }
        assert!(Instant::now() < deadline, "the build command did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(entries(&root.join("pods")).len(), 1, "one build pod");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The pod's processes die with the build (asynchronously): wait until it is not running.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--json"])).unwrap();
        let state = v[0]["state"].as_str().unwrap_or_default().to_string();
        if state != "running" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed build's pod still runs: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // No image, whatever is left of the pod.
    assert_eq!(image_ids(&env), images_before);
    let e = env.err(&["image", "show", "example.com/killed"]);
    assert!(e.contains("no image"), "{e}");
    let out = env.ok(&["gc", "--grace", "0s"]);
    assert!(out.contains("removed pod"), "{out}");
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
    assert_eq!(mounts_under(&root), mounts_before);
    assert_eq!(entries(&root.join("pods")), Vec::<String>::new());
    assert_eq!(entries(&root.join("storage/pods")), Vec::<String>::new());
    assert_eq!(entries(&root.join("storage/tmp")), Vec::<String>::new());
    assert_eq!(env.ok(&["gc", "--grace", "0s"]).trim(), "nothing to remove");
    // The store still builds.
    build(&env, &ctx, "example.com/after", BB, "echo after > /after");
}

#[root_test]
fn killed_build_overlay() {
    killed_build("overlay");
}

#[root_test]
fn killed_build_btrfs() {
    killed_build("btrfs");
}

#[root_test]
fn killed_build_zfs() {
    killed_build("zfs");
}

fn chain(kind: &str) {
    let env = Env::new(kind);
    let ctx = env.dir().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    let one = build(&env, &ctx, "example.com/one", BB, "echo 1 > /one");
    let two = build(
        &env,
        &ctx,
        "example.com/two",
        &one,
        "echo 2 > /two && rm /one",
    );
    let three = build(&env, &ctx, "example.com/three", &two, "echo 3 > /three");
    let run = |image: &str| {
        env.ok(&[
            "run",
            "--rm",
            "--net=none",
            image,
            "--",
            "-c",
            "cat /one /two /three 2>/dev/null; true",
        ])
    };
    assert_eq!(run(&three), "2\n3\n");

    // The middle one is refused while the top one depends on it; the message names it.
    let e = env.err(&["image", "rm", &two]);
    assert!(
        e.contains(&format!("example.com/three ({})", &three[..39])) && e.contains("dependency"),
        "{e}"
    );
    assert!(image_ids(&env).contains(&two));
    assert_eq!(run(&three), "2\n3\n");
    // So is the bottom one, on which the middle one depends.
    let e = env.err(&["image", "rm", &one]);
    assert!(
        e.contains(&format!("example.com/two ({})", &two[..39])),
        "{e}"
    );

    env.ok(&["image", "rm", &three]);
    env.ok(&["image", "rm", &two]);
    let ids = image_ids(&env);
    assert!(!ids.contains(&two) && !ids.contains(&three) && ids.contains(&one));

    // Built again on the same parent, then the top one on it.
    let two_again = build(
        &env,
        &ctx,
        "example.com/two",
        &one,
        "echo 2 > /two && rm /one",
    );
    let three_again = build(
        &env,
        &ctx,
        "example.com/three",
        &two_again,
        "echo 3 > /three",
    );
    assert_eq!(run(&three_again), "2\n3\n");
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "cat-manifest", &three_again])).unwrap();
    assert_eq!(m["dependencies"][0]["imageID"], two_again.as_str());
    assert_eq!(env.ok(&["gc", "--grace", "0s"]).trim(), "nothing to remove");
}

#[root_test]
fn build_chain_overlay() {
    chain("overlay");
}

#[root_test]
fn build_chain_btrfs() {
    chain("btrfs");
}
