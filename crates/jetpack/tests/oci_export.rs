//! `image export` of OCI images, as root: an OCI layout the test builds (a busybox-static
//! layer, a layer with owners, modes, xattrs, a hard link, a device, a FIFO, symlinks and a
//! long name, and a layer with a whiteout and an opaque directory) is imported, then
//! - exported as one flat ACI, which `validate` accepts, which holds exactly the image's tree
//!   with its metadata, and which imports and runs the same;
//! - exported with `--format oci` into an OCI layout (and an oci-archive) that `skopeo
//!   inspect` accepts, that `umoci unpack` unpacks to the same files, and that imports and
//!   runs the same; a second image (an ACI) added to the layout keeps the first one's tag.
//!
//! On overlay (the image is a stack of layers, read through a mounted view) and btrfs; and
//! podman pulls an exported layout.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

mod common;

use common::{BB, Env};
use jetpack_testutil::aci::{Aci, header};
use jetpack_testutil::oci::{gzip, layer, layout};
use jetpack_testutil::root_test;
use tar::EntryType;

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const TGZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn long_name() -> String {
    format!("srv/{}", "n".repeat(150))
}

/// Three layers: busybox, one with every kind of metadata, one that deletes.
fn layers() -> Vec<(Vec<u8>, Vec<u8>, &'static str)> {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let base = layer(&[
        ("bin", Ok(None)),
        ("bin/busybox", Ok(Some(&busybox))),
        ("bin/sh", Err("busybox")),
        ("etc", Ok(None)),
        ("etc/base", Ok(Some(b"base\n"))),
        ("etc/hidden", Ok(Some(b"hidden\n"))),
        ("d", Ok(None)),
        ("d/from-base", Ok(Some(b"base\n"))),
    ]);
    let mut meta = Aci::empty();
    let mut srv = header(EntryType::Directory, b"srv", 0o750, 0);
    srv.set_uid(1000);
    srv.set_gid(1000);
    meta.raw(srv, &[])
        .owned_file("srv/owned", b"owned\n", 0o640, 1000, 1001)
        .hardlink("srv/zlink", "srv/owned")
        .file("srv/suid", b"suid\n", 0o4755)
        .xattr_file("srv/x", b"x\n", "user.test", b"hello")
        .symlink("srv/abs", "/etc/base")
        .symlink("srv/rel", "../etc/base")
        .special("srv/null", EntryType::Char, 1, 3)
        .special("srv/fifo", EntryType::Fifo, 0, 0)
        .long(EntryType::Regular, &long_name(), 0o600, b"long\n");
    let meta = meta.tar();
    let del = layer(&[
        ("etc/.wh.hidden", Ok(Some(b""))),
        ("d/.wh..wh..opq", Ok(Some(b""))),
        ("d/from-top", Ok(Some(b"top\n"))),
    ]);
    vec![
        (base.clone(), base, TAR),
        (meta.clone(), gzip(&meta), TGZ),
        (del.clone(), del, TAR),
    ]
}

/// What a run of the image shows of its tree.
const SCRIPT: &str = "cd /; for f in srv srv/owned srv/zlink srv/suid srv/x srv/null srv/fifo srv/abs; \
    do stat -c '%n %u %g %a %h %F %s %Y' $f; done; readlink srv/abs srv/rel; cat srv/rel srv/n*; \
    ls etc d; echo $PATH";

fn run(e: &Env, id: &str) -> String {
    e.ok(&[
        "run", "--rm", "--net", "none", id, "--exec", "/bin/sh", "--", "-c", SCRIPT,
    ])
}

/// One node of a tree: kind, mode, owner, size or target, and what else matters.
type Listing = BTreeMap<String, String>;

/// The entries of a flat ACI's `rootfs/` (or of a layer, `prefix` ""), with their xattrs.
fn tar_listing(tar: &[u8], prefix: &str) -> (Listing, Vec<String>) {
    let mut out = Listing::new();
    let mut order = Vec::new();
    let mut a = tar::Archive::new(tar);
    for entry in a.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        order.push(path.clone());
        let Some(rel) = path.strip_prefix(prefix) else {
            continue;
        };
        let rel = rel.trim_end_matches('/').to_string();
        let h = entry.header().clone();
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().unwrap() {
            for p in pax {
                let p = p.unwrap();
                let k = p.key().unwrap().to_string();
                assert!(!k.contains("trusted.overlay"), "{path}: {k}");
                xattrs.push(format!("{k}={}", String::from_utf8_lossy(p.value_bytes())));
            }
        }
        let what = match h.entry_type() {
            EntryType::Regular => {
                let mut b = Vec::new();
                entry.read_to_end(&mut b).unwrap();
                format!("file {}", shown(&b))
            }
            EntryType::Directory => "dir".into(),
            EntryType::Symlink => format!(
                "symlink {}",
                String::from_utf8_lossy(&entry.link_name_bytes().unwrap())
            ),
            EntryType::Link => format!(
                "link {}",
                String::from_utf8_lossy(&entry.link_name_bytes().unwrap())
            ),
            EntryType::Char => format!(
                "char {}:{}",
                h.device_major().unwrap().unwrap(),
                h.device_minor().unwrap().unwrap()
            ),
            EntryType::Fifo => "fifo".into(),
            other => format!("{other:?}"),
        };
        let line = format!(
            "{what} {:o} {}:{} {} {}",
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            xattrs.join(",")
        );
        out.insert(rel, line);
    }
    (out, order)
}

/// File content for a listing: the text, or the size of a binary.
fn shown(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("({} bytes)", b.len()),
    }
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn sh(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A flat ACI of the image: valid, exactly the image's tree, imported again it runs the same.
fn flat_aci(e: &Env, t: &Path, id: &str) {
    let out = t.join("flat.aci");
    e.ok(&["image", "export", id, out.to_str().unwrap()]);
    let v = e.ok(&["validate", out.to_str().unwrap()]);
    assert!(v.contains("valid"), "{v}");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
    let tar = gunzip(&bytes);
    let (l, order) = tar_listing(&tar, "rootfs/");
    assert_eq!(order[0], "manifest");
    assert_eq!(order[1], "rootfs/");
    assert!(!order.iter().any(|p| p.contains(".wh.")), "{order:?}");
    let at = |p: &str| {
        l.get(p)
            .unwrap_or_else(|| panic!("{p} missing: {l:#?}"))
            .clone()
    };
    assert_eq!(at("srv"), "dir 750 1000:1000 1600000000 ");
    assert_eq!(
        at("srv/owned"),
        "file \"owned\\n\" 640 1000:1001 1600000000 "
    );
    assert!(
        at("srv/zlink").starts_with("link rootfs/srv/owned"),
        "{l:#?}"
    );
    assert!(at("srv/suid").starts_with("file \"suid\\n\" 4755 0:0"));
    assert!(
        at("srv/x").ends_with("SCHILY.xattr.user.test=hello"),
        "{l:#?}"
    );
    assert!(at("srv/abs").starts_with("symlink /etc/base "));
    assert!(at("srv/rel").starts_with("symlink ../etc/base "));
    assert!(at("srv/null").starts_with("char 1:3 "));
    assert!(at("srv/fifo").starts_with("fifo "));
    assert!(at(&long_name()).starts_with("file \"long\\n\" 600"));
    assert!(!l.contains_key("etc/hidden") && l.contains_key("etc/base"));
    assert!(!l.contains_key("d/from-base") && l.contains_key("d/from-top"));
    assert_eq!(
        e.ok(&["image", "cat-manifest", id]),
        {
            let mut a = tar::Archive::new(&tar[..]);
            let mut m = a.entries().unwrap().next().unwrap().unwrap();
            let mut s = String::new();
            m.read_to_string(&mut s).unwrap();
            s + "\n"
        },
        "the manifest is the image's"
    );

    // The same image gives the same archive.
    let again = t.join("again.aci");
    e.ok(&["image", "export", id, again.to_str().unwrap()]);
    assert_eq!(gunzip(&std::fs::read(&again).unwrap()), tar);

    let imported = e.ok(&["import", "-q", out.to_str().unwrap()]);
    let imported = imported.trim();
    assert_ne!(imported, id);
    assert_eq!(run(e, imported), run(e, id));
    // An ACI exports as its own file, byte for byte.
    e.ok(&["image", "export", imported, again.to_str().unwrap()]);
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
    e.ok(&["image", "rm", imported]);
}

/// The files of a tree on disk, listed as [`tar_listing`] lists an archive's (without
/// xattrs and mtimes: umoci sets them as it likes).
fn disk_listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let t = m.file_type();
            let what = if t.is_dir() {
                stack.push(p.clone());
                "dir".into()
            } else if t.is_symlink() {
                format!("symlink {}", std::fs::read_link(&p).unwrap().display())
            } else if t.is_char_device() {
                format!("char {}:{}", m.rdev() >> 8, m.rdev() & 0xff)
            } else if t.is_fifo() {
                "fifo".into()
            } else {
                let b = std::fs::read(&p).unwrap();
                format!("file {} nlink {}", shown(&b), m.nlink())
            };
            let mode = if t.is_symlink() {
                0o777
            } else {
                m.mode() & 0o7777
            };
            out.insert(rel, format!("{what} {mode:o} {}:{}", m.uid(), m.gid()));
        }
    }
    out
}

/// The flat ACI's listing in [`disk_listing`]'s form: hard links resolved.
fn as_disk(l: &Listing) -> BTreeMap<String, String> {
    let mut links: BTreeMap<String, u32> = BTreeMap::new();
    for v in l.values() {
        if let Some(t) = v.strip_prefix("link rootfs/") {
            let target = t.split(' ').next().unwrap().to_string();
            *links.entry(target).or_insert(1) += 1;
        }
    }
    let mut out = BTreeMap::new();
    for (k, v) in l {
        if k.is_empty() {
            continue;
        }
        let (what, rest) = if let Some(t) = v.strip_prefix("link rootfs/") {
            let target = t.split(' ').next().unwrap();
            (l[target].clone(), links[target])
        } else {
            (v.clone(), links.get(k).copied().unwrap_or(1))
        };
        let parts: Vec<&str> = what.rsplitn(4, ' ').collect();
        // parts: xattrs, mtime, owner, "kind… mode"
        let (kind_mode, owner) = (parts[3], parts[2]);
        let (kind, mode) = kind_mode.rsplit_once(' ').unwrap();
        let kind = if kind.starts_with("file ") {
            format!("{kind} nlink {rest}")
        } else {
            kind.to_string()
        };
        out.insert(k.clone(), format!("{kind} {mode} {owner}"));
    }
    out
}

fn oci_export(e: &Env, t: &Path, id: &str) {
    let flat = t.join("flat2.aci");
    e.ok(&["image", "export", id, flat.to_str().unwrap()]);
    let (flat, _) = tar_listing(&gunzip(&std::fs::read(&flat).unwrap()), "rootfs/");

    let dir = t.join("out");
    let dest = format!("oci:{}:v1", dir.display());
    let digest = e.ok(&["image", "export", "--format", "oci", id, &dest]);
    assert!(digest.trim().starts_with("sha256:"), "{digest}");
    let inspect: serde_json::Value =
        serde_json::from_str(&sh(Command::new("skopeo").args(["inspect", &dest]))).unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1, "{inspect}");
    assert_eq!(inspect["Digest"].as_str(), Some(digest.trim()), "{inspect}");
    assert_eq!(inspect["Os"], "linux");
    let config: serde_json::Value = serde_json::from_str(&sh(
        Command::new("skopeo").args(["inspect", "--config", &dest])
    ))
    .unwrap();
    let c = &config["config"];
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "echo from-cmd"]),
        "{config}"
    );
    assert!(c["Entrypoint"].is_null(), "{config}");
    assert_eq!(c["Env"], serde_json::json!(["PATH=/bin"]), "{config}");
    assert!(c["ExposedPorts"]["80/tcp"].is_object(), "{config}");

    // umoci unpacks the same files.
    let bundle = t.join("bundle");
    sh(Command::new("umoci").args([
        "unpack",
        "--image",
        &format!("{}:v1", dir.display()),
        bundle.to_str().unwrap(),
    ]));
    assert_eq!(disk_listing(&bundle.join("rootfs")), as_disk(&flat));

    // A second image, an ACI, joins the layout; exporting the first again replaces its entry.
    e.ok(&[
        "image",
        "export",
        "--format",
        "oci",
        BB,
        &format!("oci:{}:bb", dir.display()),
    ]);
    let again = e.ok(&["image", "export", "--format", "oci", id, &dest]);
    assert_eq!(again, digest, "the same image gives the same manifest");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(tags, ["bb", "v1"], "{index}");
    sh(Command::new("skopeo").args(["inspect", &format!("oci:{}:bb", dir.display())]));

    // Both import and run as before.
    let back = e.ok(&["import", "-q", &dest]);
    assert_eq!(run(e, back.trim()), run(e, id));
    let m = |id: &str| -> serde_json::Value {
        serde_json::from_str(&e.ok(&["image", "cat-manifest", id])).unwrap()
    };
    assert_eq!(m(back.trim())["app"], m(id)["app"]);
    let bb = e.ok(&["import", "-q", &format!("oci:{}:bb", dir.display())]);
    let echo = |id: &str| {
        e.ok(&[
            "run",
            "--rm",
            "--net",
            "none",
            id,
            "--exec",
            "/bin/echo",
            "--",
            "hi",
        ])
    };
    assert_eq!(echo(bb.trim()), "hi\n");
    // An ACI's ports come back named as OCI names them (PORT-PROTO); the rest is the same.
    let (bb_app, aci_app) = (&m(bb.trim())["app"], &m(BB)["app"]);
    for k in ["exec", "user", "group", "environment", "workingDirectory"] {
        assert_eq!(bb_app[k], aci_app[k], "{k}");
    }
    assert_eq!(bb_app["ports"][0]["port"], aci_app["ports"][0]["port"]);

    // The same as an oci-archive.
    let archive = t.join("image.tar");
    let dest = format!("oci-archive:{}:v1", archive.display());
    e.ok(&["image", "export", "--format", "oci", id, &dest]);
    let inspect: serde_json::Value =
        serde_json::from_str(&sh(Command::new("skopeo").args(["inspect", &dest]))).unwrap();
    assert_eq!(inspect["Digest"].as_str(), Some(digest.trim()), "{inspect}");
    let from_archive = e.ok(&["import", "-q", &dest]);
    assert_eq!(run(e, from_archive.trim()), run(e, id));
}

fn export(kind: &str) {
    let e = Env::new(kind);
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    layout(&src, "1", &layers());
    let id = e.ok(&["import", "-q", &format!("oci:{}:1", src.display())]);
    let id = id.trim();
    let shown = run(&e, id);
    assert!(
        shown.contains("srv/owned 1000 1001 640 2 regular file 6 1600000000"),
        "{shown}"
    );
    flat_aci(&e, t.path(), id);
    oci_export(&e, t.path(), id);
}

#[root_test]
fn export_overlay() {
    export("overlay");
}

#[root_test]
fn export_btrfs() {
    export("btrfs");
}

/// Bad input: an unknown format, a destination that is a file or a foreign directory, a
/// destination without a transport, an image that does not exist; nothing is left behind.
#[root_test]
fn export_refuses_bad_input() {
    let e = Env::new("dir");
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = e.err(&["image", "export", "--format", "tar", BB, "out"]);
    assert!(err.contains("possible values: aci, oci"), "{err}");
    let err = e.err(&[
        "image",
        "export",
        "--format",
        "oci",
        BB,
        &format!("oci:{}:t", file.display()),
    ]);
    assert!(err.contains("exists and is not a directory"), "{err}");
    let foreign = t.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes"), "x").unwrap();
    let err = e.err(&[
        "image",
        "export",
        "--format",
        "oci",
        BB,
        &format!("oci:{}:t", foreign.display()),
    ]);
    assert!(err.contains("neither an OCI image layout"), "{err}");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
    let plain = t.path().join("plain");
    let err = e.err(&[
        "image",
        "export",
        "--format",
        "oci",
        BB,
        plain.to_str().unwrap(),
    ]);
    assert!(
        err.contains("oci:DIR[:TAG] or oci-archive:FILE[:TAG]"),
        "{err}"
    );
    assert!(!plain.exists());
    let err = e.err(&["image", "export", BB, &format!("oci:{}:t", plain.display())]);
    assert!(err.contains("--format oci"), "{err}");
    let err = e.err(&[
        "image",
        "export",
        "example.com/nothing",
        plain.to_str().unwrap(),
    ]);
    assert!(err.contains("example.com/nothing"), "{err}");
    let err = e.err(&[
        "image",
        "export",
        "--format",
        "oci",
        "example.com/nothing",
        &format!("oci:{}", plain.display()),
    ]);
    assert!(err.contains("example.com/nothing"), "{err}");
    assert!(!plain.exists());
    assert_eq!(
        std::fs::read_dir(t.path()).unwrap().count(),
        2,
        "nothing else was made"
    );
}

/// podman loads an exported layout (its own store in the test's directory, vfs, no
/// containers run) and sees the configuration.
#[root_test]
fn podman_loads_an_exported_layout() {
    let e = Env::new("overlay");
    // podman names an image pulled from a layout by its path, which must be lower case.
    let t = tempfile::Builder::new()
        .prefix(&format!("jp-export-{}", std::process::id()))
        .rand_bytes(0)
        .tempdir()
        .unwrap();
    let src = t.path().join("src");
    layout(&src, "1", &layers());
    let id = e.ok(&["import", "-q", &format!("oci:{}:1", src.display())]);
    let dir = t.path().join("out");
    let dest = format!("oci:{}:v1", dir.display());
    e.ok(&["image", "export", "--format", "oci", id.trim(), &dest]);
    let conf = t.path().join("containers.conf");
    std::fs::write(&conf, "[containers]\ndefault_ulimits = []\n").unwrap();
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &conf)
            .arg("--root")
            .arg(t.path().join("podman-root"))
            .arg("--runroot")
            .arg(t.path().join("podman-run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        sh(&mut c)
    };
    let image = podman(&["pull", "-q", &dest]);
    let inspect: serde_json::Value =
        serde_json::from_str(&podman(&["image", "inspect", image.trim()])).unwrap();
    let config = &inspect[0]["Config"];
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "echo from-cmd"]),
        "{inspect}"
    );
    assert_eq!(config["Env"], serde_json::json!(["PATH=/bin"]), "{inspect}");
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);
}
