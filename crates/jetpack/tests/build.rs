//! `jetpack build` as root on every backend: a build from busybox that adds, modifies and
//! deletes files gives an image that depends on busybox, whitelists what it keeps, and runs
//! showing exactly that change; a second build on top of it; a failing command stores nothing
//! and leaves no pod; a `manifest.json` written by the build is used; bad input is refused
//! with a clear message; the exported ACI passes `jetpack validate`.

use std::path::Path;

mod common;

use common::{BB, Env};
use jetpack_testutil::root_test;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn manifest(env: &Env, image: &str) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["image", "cat-manifest", image])).unwrap()
}

fn image_count(env: &Env) -> usize {
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["images", "--json"])).unwrap();
    v.as_array().unwrap().len()
}

/// No pod, nothing for gc to remove.
fn no_leftovers(env: &Env) {
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
    assert_eq!(env.ok(&["gc", "--grace", "0s"]).trim(), "nothing to remove");
}

/// The ID `build` prints last, after the command's own output.
fn last_line(out: &str) -> String {
    out.lines().last().unwrap_or_default().to_string()
}

fn run_sh(env: &Env, image: &str, script: &str) -> String {
    env.ok(&["run", "--rm", "--net=none", image, "--", "-c", script])
}

const SHOW: &str = "for f in /added /second /var/www/index.html /etc/group /etc/passwd \
                    /.jetpack.build; do if [ -e $f ]; then echo \"$f: $(cat $f 2>/dev/null)\"; \
                    else echo \"$f: gone\"; fi; done";

fn builds(kind: &str) {
    let env = Env::new(kind);
    let dir = env.dir().join("ctx");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("new.txt"), "added\n").unwrap();
    let id_file = env.dir().join("id");
    let out = env.ok(&[
        "build",
        "--dir",
        s(&dir),
        "--name",
        "example.com/built",
        "-l",
        "version=2.0.0",
        "--save-id",
        s(&id_file),
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        "cp new.txt /added && echo changed > /var/www/index.html && rm /etc/group \
         && echo made > out.txt && id -u && pwd",
    ]);
    let id = last_line(&out);
    assert!(id.starts_with("sha512-"), "{out}");
    assert!(out.starts_with("0\n/.jetpack.build\n"), "{out}");
    assert_eq!(std::fs::read_to_string(&id_file).unwrap().trim(), id);
    // The command ran as root in the build directory, which it could write.
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "made\n"
    );
    no_leftovers(&env);

    let shown = run_sh(&env, "example.com/built", SHOW);
    assert_eq!(
        shown,
        "/added: added\n/second: gone\n/var/www/index.html: changed\n/etc/group: gone\n\
         /etc/passwd: root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
         /.jetpack.build: gone\n"
    );

    let m = manifest(&env, &id);
    assert_eq!(m["name"], "example.com/built");
    let deps = m["dependencies"].as_array().unwrap();
    assert_eq!(deps[0]["imageName"], BB);
    assert!(deps[0]["imageID"].as_str().unwrap().starts_with("sha512-"));
    assert!(deps[0]["labels"].to_string().contains("1.0.0"), "{m}");
    let labels = m["labels"].to_string();
    for l in ["\"os\"", "\"arch\"", "2.0.0"] {
        assert!(labels.contains(l), "{labels}");
    }
    assert!(m["annotations"].to_string().contains("created"), "{m}");
    let wl: Vec<&str> = m["pathWhitelist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for p in [
        "/added",
        "/etc/passwd",
        "/bin/busybox",
        "/var/www/index.html",
    ] {
        assert!(wl.contains(&p), "{p} not in {wl:?}");
    }
    for p in ["/etc/group", "/.jetpack.build"] {
        assert!(!wl.contains(&p), "{p} in {wl:?}");
    }
    // The incremental ACI holds only the change, and is a valid ACI.
    let aci = env.dir().join("built.aci");
    env.ok(&["image", "export", &id, s(&aci)]);
    env.ok(&["validate", s(&aci)]);
    let listing = std::process::Command::new("tar")
        .args(["-tzf", s(&aci)])
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("rootfs/added"), "{listing}");
    assert!(!listing.contains("rootfs/bin/busybox"), "{listing}");
    assert!(!listing.contains(".jetpack.build"), "{listing}");
    // busybox has no /etc/hosts: the runtime wrote the build pod's, which is not the image's.
    assert!(!listing.contains("rootfs/etc/hosts"), "{listing}");

    // A second build on the first: deletes what the first added, adds its own.
    let out = env.ok(&[
        "build",
        "--dir",
        s(&dir),
        "--name",
        "example.com/second",
        "--net",
        "none",
        "example.com/built",
        "--",
        "/bin/sh",
        "-c",
        "rm /added && echo second > /second",
    ]);
    let second = last_line(&out);
    let shown = run_sh(&env, &second, SHOW);
    assert!(
        shown.starts_with(
            "/added: gone\n/second: second\n/var/www/index.html: changed\n/etc/group: gone\n"
        ),
        "{shown}"
    );
    assert_eq!(
        manifest(&env, &second)["dependencies"][0]["imageID"],
        id.as_str()
    );
    no_leftovers(&env);
}

#[root_test]
fn build_overlay() {
    builds("overlay");
}

#[root_test]
fn build_dir() {
    builds("dir");
}

#[root_test]
fn build_btrfs() {
    builds("btrfs");
}

#[root_test]
fn build_zfs() {
    builds("zfs");
}

/// A failing command fails the build with its status, stores nothing and leaves no pod;
/// `manifest.json` written by the build is its manifest; bad input is refused.
fn failures_and_manifest(kind: &str) {
    let env = Env::new(kind);
    let dir = env.dir().join("ctx");
    std::fs::create_dir(&dir).unwrap();
    let before = image_count(&env);
    let o = env.out(&[
        "build",
        "--dir",
        s(&dir),
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        "echo x > /x; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("exit status 3"),
        "{o:?}"
    );
    assert_eq!(image_count(&env), before);
    no_leftovers(&env);
    // --keep keeps the failed build's pod for a look inside.
    let o = env.out(&[
        "build",
        "--keep",
        "--dir",
        s(&dir),
        "--net",
        "none",
        BB,
        "--",
        "/bin/false",
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let pod = env.only_pod();
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains(&format!("build pod kept: {pod}")), "{said}");
    env.ok(&["destroy", &pod]);
    no_leftovers(&env);

    // manifest.json written by the build.
    std::fs::write(
        dir.join("m.in"),
        r#"{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/own",
            "labels": [{"name": "version", "value": "7"}],
            "app": {"exec": ["/bin/cat", "/own"], "user": "0", "group": "0"}}"#,
    )
    .unwrap();
    let id = env.ok(&[
        "build",
        "--dir",
        s(&dir),
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        "cp m.in manifest.json && echo own > /own",
    ]);
    let id = last_line(&id);
    let m = manifest(&env, &id);
    assert_eq!(m["name"], "example.com/own");
    assert!(m["labels"].to_string().contains("\"os\""), "{m}");
    assert_eq!(m["dependencies"][0]["imageName"], BB);
    assert!(m.get("pathWhitelist").is_none(), "{m}");
    assert_eq!(
        env.ok(&["run", "--rm", "--net=none", "example.com/own"]),
        "own\n"
    );

    // Bad input.
    let before = image_count(&env);
    let e = env.err(&[
        "build",
        "--dir",
        s(&dir),
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        "echo '{\"acKind\": \"ImageManifest\", \"acVersion\": \"0.8.11\"}' > manifest.json",
    ]);
    assert!(e.contains("manifest.json") && e.contains("name"), "{e}");
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    let nope = format!("sha512-{}", "0".repeat(128));
    let e = env.err(&["build", "--dir", s(&dir), &nope, "--", "/bin/true"]);
    assert!(e.contains("no image"), "{e}");
    let file = dir.join("m.in");
    let e = env.err(&["build", "--dir", s(&file), BB, "--", "/bin/true"]);
    assert!(e.contains("not a directory"), "{e}");
    assert_eq!(image_count(&env), before);
    no_leftovers(&env);
}

#[root_test]
fn build_failures_overlay() {
    failures_and_manifest("overlay");
}

#[root_test]
fn build_failures_dir() {
    failures_and_manifest("dir");
}

#[root_test]
fn build_failures_btrfs() {
    failures_and_manifest("btrfs");
}

#[root_test]
fn build_failures_zfs() {
    failures_and_manifest("zfs");
}
