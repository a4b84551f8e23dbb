//! End-to-end tests of the `jetpack` binary: a real busybox image built by the same script the
//! README uses, imported, listed, shown, exported, removed; validation agreeing with the
//! reference verdicts; a `kill -9` in the middle of an import. Needs root.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{Env, repo};

#[jetpack_testutil::root_test]
fn image_lifecycle() {
    let e = Env::bare("dir");
    e.ok(&["init"]);
    e.ok(&["init"]); // idempotent
    let aci = e.busybox("example.com/busybox", "1.0.0");
    let id = e
        .ok(&["import", "-q", aci.to_str().unwrap()])
        .trim()
        .to_string();
    let gz = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -dc {} | sha512sum", aci.display()))
        .output()
        .unwrap();
    assert_eq!(
        id,
        format!(
            "sha512-{}",
            String::from_utf8_lossy(&gz.stdout)
                .split_whitespace()
                .next()
                .unwrap()
        )
    );

    // The same image from stdin, xz-compressed, is recognised as the same image.
    let xz = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -dc {} | xz -1", aci.display()))
        .output()
        .unwrap()
        .stdout;
    let mut child = e
        .cmd()
        .args(["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&xz).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id);

    let list = e.ok(&["images"]);
    assert!(list.starts_with("ID "), "{list}");
    assert!(
        list.contains(&id[..39])
            && list.contains("example.com/busybox")
            && list.contains("version=1.0.0"),
        "{list}"
    );
    let json: serde_json::Value = serde_json::from_str(&e.ok(&["images", "--json"])).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["name"], "example.com/busybox");

    let show = e.ok(&["image", "show", "example.com/busybox:1.0.0"]);
    assert!(show.contains(&id) && show.contains("/bin/sh"), "{show}");
    let manifest = e.ok(&["image", "cat-manifest", &id[..12]]);
    assert!(
        manifest.contains("\"acKind\": \"ImageManifest\""),
        "{manifest}"
    );
    let exported = e.dir().join("out.aci");
    e.ok(&[
        "image",
        "export",
        "example.com/busybox,version=1.0.0",
        exported.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(&aci).unwrap()
    );
    let rootfs = e.root().join("storage/images").join(&id);
    assert!(rootfs.join("bin/busybox").is_file());

    // Unknown images: clear errors.
    let out = e.fail(&["image", "show", "example.com/nothing"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no image matching example.com/nothing"));
    let out = e.fail(&["image", "rm", "sha512-zz"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an image ID prefix"));

    e.ok(&["image", "rm", &id]);
    assert_eq!(e.ok(&["images"]).lines().count(), 1);
    assert!(!rootfs.exists());
    assert_eq!(e.ok(&["gc"]).trim(), "nothing to remove");
}

#[test]
fn config_and_help() {
    let e = Env::bare("dir");
    let cfg = e.ok(&["config"]);
    assert!(cfg.contains("storage = dir"), "{cfg}");
    assert!(
        cfg.contains(&format!("root = {}\t# -o", e.root().display())),
        "{cfg}"
    );
    assert_eq!(e.ok(&["config", "storage"]).trim(), "dir");
    let help = e.ok(&["help", "import"]);
    assert!(help.contains("gzip, bzip2, xz or zstd"), "{help}");
    let out = e.fail(&["-o", "nonsense=1", "config"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key \"nonsense\""));
    let out = e.fail(&["images"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `jetpack init` first"));
}

/// Every manifest vector of the reference table through `jetpack validate`.
#[test]
fn validate_agrees_with_reference_vectors() {
    let text = std::fs::read_to_string(repo().join("crates/appc/testdata/validation-vectors.json"))
        .expect("crates/appc/testdata/validation-vectors.json");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // The deliberate differences (docs/architecture.md).
    let differ = [
        "mountPoint missing path (Go accepts)",
        "isolator unknown name in app (Go REJECTS)",
    ];
    let e = Env::bare("dir");
    let mut checked = 0;
    for vec in v["vectors"].as_array().unwrap() {
        let kind = vec["kind"].as_str().unwrap();
        if kind != "ImageManifest" && kind != "PodManifest" {
            continue;
        }
        let label = vec["label"].as_str().unwrap();
        let f = e.dir().join("m.json");
        std::fs::write(&f, serde_json::to_vec(&vec["input"]).unwrap()).unwrap();
        let out = e
            .cmd()
            .args(["validate", f.to_str().unwrap()])
            .output()
            .unwrap();
        let want = vec["ref_accepts"].as_bool().unwrap() != differ.contains(&label);
        assert_eq!(
            out.status.success(),
            want,
            "{kind} {label:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if want {
            assert!(String::from_utf8_lossy(&out.stdout).ends_with(&format!("valid {kind}\n")));
        }
        checked += 1;
    }
    assert_eq!(checked, 94);
    // The upstream examples and an ACI.
    for ex in ["image.json", "pod_runtime.json", "pod_template.json"] {
        e.ok(&[
            "validate",
            repo()
                .join("crates/appc/testdata/examples")
                .join(ex)
                .to_str()
                .unwrap(),
        ]);
    }
    if Path::new("/bin/busybox").exists() {
        let aci = e.busybox("example.com/v", "1");
        assert!(
            e.ok(&["validate", aci.to_str().unwrap()])
                .ends_with("valid ACI\n")
        );
    }
}

/// A `kill -9` in the middle of an import leaves no visible image, and `gc` removes the rest.
#[jetpack_testutil::root_test]
fn killed_import_leaves_nothing_visible() {
    let e = Env::bare("dir");
    e.ok(&["init"]);
    let aci = e.busybox("example.com/busybox", "1.0.0");
    let tar = Command::new("gzip")
        .arg("-dc")
        .arg(&aci)
        .output()
        .unwrap()
        .stdout;
    let mut child = e
        .cmd()
        .args(["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&tar[..tar.len() * 2 / 3]).unwrap();
    stdin.flush().unwrap();
    // Wait until extraction is visibly under way, then kill.
    let staging = e.root().join("storage/tmp");
    for _ in 0..200 {
        if std::fs::read_dir(&staging)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert!(
        std::fs::read_dir(&staging).unwrap().count() > 0,
        "the import was killed mid-way"
    );
    assert_eq!(
        e.ok(&["images"]).lines().count(),
        1,
        "no half image is listed"
    );
    let gc = e.ok(&["gc"]);
    assert!(gc.contains("removed temporary tree"), "{gc}");
    assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(e.root().join("tmp")).unwrap().count(), 0);
    // And the store still works.
    e.ok(&["import", aci.to_str().unwrap()]);
    assert_eq!(e.ok(&["images"]).lines().count(), 2);
}
