//! OCI layers stored once, by chain ID, and shared between images, on every backend: a second
//! image on the same base layer imports without reading that layer again (its blob is gone
//! from the source), both images run with their own whiteouts, also with a user namespace
//! (idmapped layers), and removing the images removes exactly the layers no image still has.

use std::path::Path;
use std::process::Command;

mod common;

use common::Env;
use jetpack_testutil::oci::{gzip, layer, layout};
use jetpack_testutil::root_test;

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const TGZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The layer trees the store's backend holds (retired zfs datasets are not counted).
fn layer_trees(e: &Env) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(ds) = e
        .backend
        .sets
        .iter()
        .find_map(|s| s.strip_prefix("zfs.dataset="))
    {
        let o = Command::new("zfs")
            .args(["get", "-H", "-o", "name,value", "-r", "jetpack:retired"])
            .arg(format!("{ds}/images"))
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let (name, retired) = line.split_once('\t').unwrap();
            let leaf = name.rsplit('/').next().unwrap();
            if leaf.starts_with("l-") && !leaf.contains('@') && retired != "on" {
                out.push(leaf.to_string());
            }
        }
    } else {
        let images = e.root().join("storage/images");
        for entry in std::fs::read_dir(&images).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with("l-") {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

fn layers_of(e: &Env, id: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "show", "--json", id])).unwrap();
    v["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

fn import(e: &Env, dir: &Path, tag: &str) -> String {
    e.ok(&["import", &format!("oci:{}:{tag}", dir.display())])
        .trim()
        .to_string()
}

fn run(e: &Env, extra: &[&str], id: &str, script: &str) -> String {
    let mut args = vec!["run", "--rm", "--net", "none"];
    args.extend(extra);
    args.extend([id, "--exec", "/bin/sh", "--", "-c", script]);
    e.ok(&args)
}

fn shared_layers(kind: &str) {
    let e = Env::new(kind);
    let t = tempfile::tempdir().unwrap();
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let base = layer(&[
        ("bin", Ok(None)),
        ("bin/busybox", Ok(Some(&busybox))),
        ("bin/sh", Err("busybox")),
        ("etc", Ok(None)),
        ("etc/base", Ok(Some(b"base\n"))),
        ("etc/hidden-by-b", Ok(Some(b"base\n"))),
        ("d", Ok(None)),
        ("d/from-base", Ok(Some(b"base\n"))),
    ]);
    let top_a = layer(&[("etc/a", Ok(Some(b"a\n")))]);
    let mid_b = layer(&[
        ("etc/.wh.hidden-by-b", Ok(Some(b""))),
        ("d/.wh..wh..opq", Ok(Some(b""))),
        ("d/from-b", Ok(Some(b"b\n"))),
    ]);
    let top_b = layer(&[("etc/b", Ok(Some(b"b\n")))]);
    let dir_a = t.path().join("a");
    layout(
        &dir_a,
        "1",
        &[
            (base.clone(), base.clone(), TAR),
            (top_a.clone(), gzip(&top_a), TGZ),
        ],
    );
    let a = import(&e, &dir_a, "1");
    let layers_a = layers_of(&e, &a);
    assert_eq!(layers_a.len(), 2, "{layers_a:?}");
    assert_eq!(layer_trees(&e).len(), 2);

    // B has A's base layer; its blob is not even in B's layout: the store must not read it.
    let dir_b = t.path().join("b");
    let blobs = layout(
        &dir_b,
        "1",
        &[
            (base.clone(), base.clone(), TAR),
            (mid_b.clone(), gzip(&mid_b), TGZ),
            (top_b.clone(), top_b.clone(), TAR),
        ],
    );
    std::fs::remove_file(&blobs[0]).unwrap();
    let b = import(&e, &dir_b, "1");
    let layers_b = layers_of(&e, &b);
    assert_eq!(layers_b.len(), 3);
    assert_eq!(layers_b[0], layers_a[0], "the base layer is shared");
    assert_ne!(layers_b[1], layers_a[1]);
    assert_eq!(layer_trees(&e).len(), 4, "{:?}", layer_trees(&e));

    let script =
        "for f in base hidden-by-b a b; do [ -e /etc/$f ] && echo $f=$(cat /etc/$f); done; ls /d";
    assert_eq!(
        run(&e, &[], &a, script),
        "base=base\nhidden-by-b=base\na=a\nfrom-base\n"
    );
    for extra in [&[][..], &["--private-users"][..]] {
        // B's whiteout hides one base file, its opaque directory all that d/ had below.
        assert_eq!(
            run(&e, extra, &b, script),
            "base=base\nb=b\nfrom-b\n",
            "{extra:?}"
        );
    }
    // A pod's writes stay in its clone.
    let pod = e.ok(&[
        "prepare",
        "--net",
        "none",
        &b,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "echo x > /etc/base; rm /etc/b",
    ]);
    e.ok(&["run", pod.trim()]);
    assert_eq!(run(&e, &[], &b, "cat /etc/base /etc/b"), "base\nb\n");
    e.ok(&["destroy", pod.trim()]);

    // Removing A removes only its own top layer; removing B the rest.
    e.ok(&["image", "rm", &a]);
    let left = layer_trees(&e);
    assert_eq!(left.len(), 3, "{left:?}");
    assert_eq!(run(&e, &[], &b, "cat /etc/b"), "b\n");
    e.ok(&["image", "rm", &b]);
    assert_eq!(layer_trees(&e), Vec::<String>::new());
    let gc = e.ok(&["gc"]);
    assert!(!gc.contains("layer"), "{gc}");
}

#[root_test]
fn layers_are_shared_overlay() {
    shared_layers("overlay");
}
#[root_test]
fn layers_are_shared_dir() {
    shared_layers("dir");
}
#[root_test]
fn layers_are_shared_btrfs() {
    shared_layers("btrfs");
}
#[root_test]
fn layers_are_shared_zfs() {
    shared_layers("zfs");
}
