//! OCI and Docker images from local disk, as root: an OCI layout the test builds (a
//! busybox-static layer, then a gzip layer with a whiteout and an opaque directory), the same
//! copied by `skopeo` into a `docker save` archive, imported and run; a corrupt blob and an
//! escaping layer are refused, leaving the store as it was.

use std::path::Path;
use std::process::Command;

mod common;

use common::Env;
use jetpack_testutil::oci::{gzip, layer, layout};
use jetpack_testutil::root_test;

/// The busybox-static image in two layers, the second hiding and replacing some of the first.
fn two_layers() -> Vec<(Vec<u8>, Vec<u8>, &'static str)> {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let base = layer(&[
        ("bin", Ok(None)),
        ("bin/busybox", Ok(Some(&busybox))),
        ("bin/sh", Err("busybox")),
        ("etc", Ok(None)),
        ("etc/gone", Ok(Some(b"lower\n"))),
        ("etc/kept", Ok(Some(b"kept\n"))),
        ("opq", Ok(None)),
        ("opq/lower", Ok(Some(b"lower\n"))),
    ]);
    let top = layer(&[
        ("etc/.wh.gone", Ok(Some(b""))),
        ("opq/.wh..wh..opq", Ok(Some(b""))),
        ("opq/upper", Ok(Some(b"upper\n"))),
        ("hello", Ok(Some(b"hello from the top layer\n"))),
    ]);
    let top_gz = gzip(&top);
    vec![
        (base.clone(), base, "application/vnd.oci.image.layer.v1.tar"),
        (top, top_gz, "application/vnd.oci.image.layer.v1.tar+gzip"),
    ]
}

const CHECK: &str = "ls /etc /opq; cat /hello; echo \"$PATH\"";

fn run_check(e: &Env, id: &str) -> String {
    e.ok(&[
        "run", "--rm", "--net", "none", id, "--exec", "/bin/sh", "--", "-c", CHECK,
    ])
}

fn assert_layered(out: &str) {
    assert!(
        out.contains("kept") && !out.contains("gone"),
        "whiteout: {out}"
    );
    assert!(
        out.contains("upper") && !out.contains("lower"),
        "opaque: {out}"
    );
    assert!(out.contains("hello from the top layer"), "{out}");
    assert!(out.contains("/bin"), "environment: {out}");
}

#[root_test]
fn oci_layouts_and_docker_archives_import_and_run() {
    for kind in ["overlay", "dir"] {
        let e = Env::new(kind);
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("app");
        layout(&dir, "v1", &two_layers());
        let oci = format!("oci:{}:v1", dir.display());
        let id = e.ok(&["import", &oci]).trim().to_string();
        assert!(id.starts_with("sha512-"), "{id}");
        // Imported again: already there, same ID.
        assert_eq!(e.ok(&["import", &oci]).trim(), id);
        let images: serde_json::Value = serde_json::from_str(&e.ok(&["images", "--json"])).unwrap();
        let row = images
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{images}"));
        assert_eq!(row["name"], "localhost/app", "{row}");
        let manifest = e.ok(&["image", "cat-manifest", &id]);
        assert!(
            manifest.contains("\"80-tcp\"") && manifest.contains("from-cmd"),
            "{manifest}"
        );
        assert_layered(&run_check(&e, &id));
        // The image's own command runs too.
        assert!(
            e.ok(&["run", "--rm", "--net", "none", &id])
                .contains("from-cmd")
        );

        // What skopeo makes of the layout: a `docker save` archive.
        let archive = t.path().join("saved.tar");
        let st = Command::new("skopeo")
            .args(["copy", "-q", &oci])
            .arg(format!(
                "docker-archive:{}:example.org/team/app:v2",
                archive.display()
            ))
            .status()
            .unwrap();
        assert!(st.success());
        let id2 = e
            .ok(&["import", &format!("docker-archive:{}", archive.display())])
            .trim()
            .to_string();
        let m2 = e.ok(&["image", "cat-manifest", &id2]);
        assert!(
            m2.contains("example.org/team/app") && m2.contains("\"v2\""),
            "{m2}"
        );
        assert_layered(&run_check(&e, &id2));
        // And back as an OCI archive.
        let oarch = t.path().join("layout.tar");
        let st = Command::new("skopeo")
            .args(["copy", "-q", &oci])
            .arg(format!("oci-archive:{}:v3", oarch.display()))
            .status()
            .unwrap();
        assert!(st.success());
        let id3 = e
            .ok(&["import", &format!("oci-archive:{}:v3", oarch.display())])
            .trim()
            .to_string();
        assert_layered(&run_check(&e, &id3));
        // It has no ACI file: it exports as a flat ACI of its whole tree.
        let flat = t.path().join("flat.aci");
        e.ok(&["image", "export", &id, flat.to_str().unwrap()]);
        let flat_id = e.ok(&["import", "-q", flat.to_str().unwrap()]);
        assert_layered(&run_check(&e, flat_id.trim()));
        e.ok(&["image", "rm", flat_id.trim()]);
        for id in [&id, &id2, &id3] {
            e.ok(&["image", "rm", id]);
        }
    }
}

#[root_test]
fn corrupt_blobs_and_escaping_layers_are_refused_and_nothing_is_kept() {
    let e = Env::new("overlay");
    let before = e.ok(&["images", "--json"]);
    let t = tempfile::tempdir().unwrap();

    // A blob whose bytes do not match its digest (one byte flipped in the top layer).
    let dir = t.path().join("corrupt");
    let blobs = layout(&dir, "v1", &two_layers());
    let mut b = std::fs::read(&blobs[1]).unwrap();
    let n = b.len() - 20;
    b[n] ^= 0xff;
    std::fs::write(&blobs[1], b).unwrap();
    let err = e.err(&["import", &format!("oci:{}:v1", dir.display())]);
    assert!(
        err.contains("layer 2 of 2")
            && (err.contains("not this image's") || err.contains("corrupt")),
        "{err}"
    );

    // A layer whose symlink leaves the tree, and one with `..`.
    for (name, bad) in [
        ("link", layer(&[("x", Err("../../../etc"))])),
        ("dotdot", layer(&[("../escape", Ok(Some(b"x")))])),
    ] {
        let dir = t.path().join(name);
        layout(
            &dir,
            "v1",
            &[(bad.clone(), bad, "application/vnd.oci.image.layer.v1.tar")],
        );
        let err = e.err(&["import", &format!("oci:{}:v1", dir.display())]);
        assert!(err.contains("entry"), "{name}: {err}");
    }
    // An unknown tag names the ones there are.
    let err = e.err(&["import", &format!("oci:{}:nope", dir.display())]);
    assert!(
        err.contains("no image tagged \"nope\"") && err.contains("v1"),
        "{err}"
    );

    assert_eq!(e.ok(&["images", "--json"]), before);
    let gc = e.ok(&["gc"]);
    assert!(!gc.contains("temporary"), "gc found leftovers: {gc}");
    assert!(!Path::new("/etc/escape").exists());
}

/// A plain-HTTP `docker-registry` on 127.0.0.1 with its storage; killed on drop.
struct Registry {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    host: String,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: jetpack-test-secret\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < until,
                "the registry did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Registry {
            child,
            _dir: dir,
            host: format!("127.0.0.1:{port}"),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[root_test]
fn docker_images_are_pulled_from_a_registry_and_run() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("app");
    layout(&dir, "v1", &two_layers());
    let image = format!("docker://{}/team/app:v1", reg.host);
    let st = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", dir.display()))
        .arg(&image)
        .status()
        .unwrap();
    assert!(st.success());

    let e = Env::new("overlay");
    // Plain HTTP only when allowed.
    let err = e.err(&["fetch", &image]);
    assert!(err.contains(&reg.host), "{err}");
    let id = e
        .ok(&["fetch", "-q", "--insecure-options=http", &image])
        .trim()
        .to_string();
    let m = e.ok(&["image", "cat-manifest", &id]);
    assert!(m.contains("127.0.0.1_") && m.contains("\"v1\""), "{m}");
    // Found again by its reference, without the network.
    assert_layered(&e.ok(&[
        "run", "--rm", "--net", "none", &image, "--exec", "/bin/sh", "--", "-c", CHECK,
    ]));
    // Fetched again: the registry is asked, nothing is downloaded.
    let again = e.ok(&["fetch", "--insecure-options=http", &image]);
    assert_eq!(again.trim(), id);
    // A registry named in registries.insecure needs no flag.
    let listed = format!("registries.insecure=other.example:5000, {}", reg.host);
    assert_eq!(e.ok(&["-o", &listed, "fetch", "-q", &image]).trim(), id);

    // `run` of an image the store lacks pulls it first.
    let e2 = Env::new("dir");
    let out = e2.ok(&[
        "run",
        "--rm",
        "--net",
        "none",
        "--insecure-options=http",
        &image,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        CHECK,
    ]);
    assert_layered(&out);
    // A tag the registry lacks says so.
    let missing = format!("docker://{}/team/app:nope", reg.host);
    let err = e2.err(&["fetch", "--insecure-options=http", &missing]);
    assert!(err.contains("nope"), "{err}");

    // --pull-policy: `never` runs only what the store has, `update` asks the registry and
    // takes a tag that moved (downloading only its new top layer).
    let e3 = Env::new("overlay");
    let run = |policy: &str| {
        e3.out(&[
            "run",
            "--rm",
            "--net",
            "none",
            "--insecure-options=http",
            policy,
            &image,
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "cat /hello",
        ])
    };
    let o = run("--pull-policy=never");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--pull-policy=never"),
        "{err}"
    );
    e3.ok(&["fetch", "-q", "--insecure-options=http", &image]);
    let mut moved = two_layers();
    let top = layer(&[("hello", Ok(Some(b"moved\n")))]);
    moved[1] = (top.clone(), gzip(&top), moved[1].2);
    let dir2 = t.path().join("moved");
    layout(&dir2, "v1", &moved);
    let st = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", dir2.display()))
        .arg(&image)
        .status()
        .unwrap();
    assert!(st.success());
    let o = run("--pull-policy=never");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "hello from the top layer\n",
        "{o:?}"
    );
    let o = run("--pull-policy=update");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "moved\n", "{o:?}");
    let images: serde_json::Value = serde_json::from_str(&e3.ok(&["images", "--json"])).unwrap();
    assert_eq!(
        images.as_array().unwrap().len(),
        3,
        "busybox and both v1s: {images}"
    );
}

#[root_test]
fn stored_images_are_found_by_digest_without_the_network() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("app");
    layout(&dir, "v1", &two_layers());
    let image = format!("docker://{}/team/app:v1", reg.host);
    // skopeo rewrites the manifest as it pushes: the registry's digest is what it reports.
    let digest_file = t.path().join("digest");
    let st = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false", "--digestfile"])
        .arg(&digest_file)
        .arg(format!("oci:{}:v1", dir.display()))
        .arg(&image)
        .status()
        .unwrap();
    assert!(st.success());
    let digest = std::fs::read_to_string(&digest_file)
        .unwrap()
        .trim()
        .to_string();
    let e = Env::new("overlay");
    let before = e.ok(&["images", "--json"]);
    let id = e
        .ok(&["fetch", "-q", "--insecure-options=http", &image])
        .trim()
        .to_string();
    let by_digest = format!("docker://{}/team/app@{digest}", reg.host);
    let host = reg.host.clone();
    drop(reg);

    // `images` shows the reference and the digest, and filters by digest.
    let listed: serde_json::Value = serde_json::from_str(&e.ok(&["images", "--json"])).unwrap();
    let row = &listed[0];
    assert_eq!(row["id"], id.as_str(), "{listed}");
    assert_eq!(row["digest"], digest.as_str(), "{row}");
    assert_eq!(row["reference"], image.as_str(), "{row}");
    let table = e.ok(&["images"]);
    assert!(
        table.contains(&digest[..19]) && table.contains(&image),
        "{table}"
    );
    let short = &digest[..13];
    assert!(e.ok(&["images", "--digest", short]).contains(&image));
    let none = e.ok(&["images", "--digest", "sha256:0000", "--json"]);
    assert_eq!(none.trim(), "[]");

    // With the registry gone: run, fetch and show by digest use the store.
    let out = e.ok(&[
        "run", "--rm", "--net", "none", &by_digest, "--exec", "/bin/sh", "--", "-c", CHECK,
    ]);
    assert_layered(&out);
    assert_eq!(
        e.ok(&["fetch", "-q", "--insecure-options=http", &by_digest])
            .trim(),
        id
    );
    let shown = e.ok(&["image", "show", short]);
    assert!(
        shown.contains(&id) && shown.contains(&digest) && shown.contains(&image),
        "{shown}"
    );
    // A tag is still asked of the registry by fetch (and fails now that it is gone).
    let err = e.err(&["fetch", "--insecure-options=http", &image]);
    assert!(err.contains(&host), "{err}");
    // A digest the store lacks is not found.
    let other = format!("docker://{host}/team/app@sha256:{}", "0".repeat(64));
    let err = e.err(&["image", "show", &other]);
    assert!(err.contains("no image"), "{err}");

    // A layout's image is found by its manifest digest too, and removed by digest.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let layout_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let layout_ref = format!("oci:{}:v1", dir.display());
    let id2 = e.ok(&["import", &layout_ref]).trim().to_string();
    let shown = e.ok(&["image", "show", layout_digest]);
    assert!(
        shown.contains(&id2) && shown.contains(&layout_ref),
        "{shown}"
    );
    e.ok(&["image", "rm", layout_digest]);
    e.ok(&["image", "rm", &digest]);
    assert_eq!(e.ok(&["images", "--json"]), before);
}
