//! Flat ACIs, as root: `image export --flat` of a chain of two builds and of an OCI image
//! stored as layers gives one ACI with no dependencies that `jetpack validate` accepts, that
//! imports into a second store (which lacks the parents) and runs there with the same files,
//! and whose entries the second store exports again unchanged (owners, modes, mtimes, link
//! targets, hard links, xattrs, contents).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

mod common;

use common::{BB, Env};
use jetpack_testutil::oci::{gzip, layer, layout};
use jetpack_testutil::root_test;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The ID `build` prints last, after the command's own output.
fn last_line(out: &str) -> String {
    out.lines().last().unwrap_or_default().to_string()
}

/// Every file of the pod's tree but what the runtime provides: type, mode, owner, size, link
/// target and checksum.
const LIST: &str = "find / -xdev | grep -v -e '^/etc/hosts$' -e '^/etc/resolv.conf$' \
                    -e '^/etc/hostname$' | sort | while read f; do \
                    if [ -L \"$f\" ]; then echo \"$f -> $(readlink \"$f\")\"; \
                    elif [ -f \"$f\" ]; then echo \"$f $(stat -c '%a %u:%g %s %h %Y' \"$f\") \
                    $(md5sum < \"$f\")\"; else echo \"$f $(stat -c '%F %a %u:%g' \"$f\")\"; fi; \
                    done";

fn listing(env: &Env, image: &str) -> String {
    env.ok(&[
        "run",
        "--rm",
        "--net=none",
        image,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        LIST,
    ])
}

/// The ACI's manifest and its entries (path → header fields, PAX records, content digest);
/// the manifest entry's mtime is left out (it is when the image was stored).
fn aci_entries(aci: &Path) -> (serde_json::Value, BTreeMap<String, String>) {
    let f = std::fs::File::open(aci).unwrap();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut manifest = serde_json::Value::Null;
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut pax = Vec::new();
        if let Some(x) = e.pax_extensions().unwrap() {
            for r in x {
                let r = r.unwrap();
                pax.push(format!("{}={:?}", r.key().unwrap(), r.value_bytes()));
            }
        }
        let h = e.header().clone();
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if path == "manifest" {
            manifest = serde_json::from_slice(&data).unwrap();
            continue;
        }
        let line = format!(
            "{:?} {:o} {}:{} {} {:?} {:?} {:?} {}",
            h.entry_type(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            h.device_major().ok().flatten(),
            link,
            pax,
            jetpack_testutil::oci::sha(&data),
        );
        out.insert(path, line);
    }
    (manifest, out)
}

/// Exports `image` of `a` with --flat, checks it, imports it into a fresh store `b` (of the
/// same kind; dir for zfs), and compares: the same files in a pod, the same entries exported
/// again.
fn flat_roundtrip(kind: &str, a: &Env, image: &str) -> (serde_json::Value, String) {
    let aci = a.dir().join("flat.aci");
    a.ok(&["image", "export", "--flat", image, s(&aci)]);
    a.ok(&["validate", s(&aci)]);
    let (m, entries) = aci_entries(&aci);
    assert!(m.get("dependencies").is_none(), "{m}");
    assert!(m.get("pathWhitelist").is_none(), "{m}");
    assert!(entries.contains_key("rootfs/bin/busybox"), "{entries:#?}");

    // One zfs pool at a time machine-wide (the toolkit's lock): a zfs store imports into dir.
    let b = Env::bare(if kind == "zfs" { "dir" } else { kind });
    b.ok(&["init"]);
    let id = b.ok(&["import", "-q", s(&aci)]).trim().to_string();
    assert!(id.starts_with("sha512-"), "{id}");
    let files = listing(&b, &id);
    assert_eq!(files, listing(a, image));
    let again = b.dir().join("again.aci");
    b.ok(&["image", "export", "--flat", &id, s(&again)]);
    let (m2, entries2) = aci_entries(&again);
    assert_eq!(m2, m);
    assert_eq!(entries2, entries);
    (m, files)
}

fn export_flat_chain(kind: &str) {
    let env = Env::new(kind);
    let dir = env.dir().join("ctx");
    std::fs::create_dir(&dir).unwrap();
    let first = last_line(&env.ok(&[
        "build",
        "--dir",
        s(&dir),
        "--name",
        "example.com/first",
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        "echo one > /one && ln /one /one-link && ln -s ../one /etc/one-sym \
         && mkdir -p /opt/d && chmod 0750 /opt/d && chown 7:8 /opt/d && echo x > /opt/d/x \
         && touch -t 200102030405.06 /opt/d/x && rm /etc/group",
    ]));
    let second = last_line(&env.ok(&[
        "build",
        "--dir",
        s(&dir),
        "--name",
        "example.com/second",
        "-l",
        "version=2",
        "--net",
        "none",
        &first,
        "--",
        "/bin/sh",
        "-c",
        "rm /var/www/index.html && echo two > /two",
    ]));
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "cat-manifest", &second])).unwrap();
    assert_eq!(m["dependencies"][0]["imageID"], first.as_str(), "{m}");

    let (flat, files) = flat_roundtrip(kind, &env, &second);
    assert_eq!(flat["name"], "example.com/second");
    let labels = flat["labels"].to_string();
    for l in ["\"os\"", "\"arch\"", "\"version\"", "\"2\""] {
        assert!(labels.contains(l), "{labels}");
    }
    assert!(
        flat["annotations"].to_string().contains("created"),
        "{flat}"
    );
    for want in [
        "/one 644 0:0 4 2 ",
        "/one-link 644 0:0 4 2 ",
        "/etc/one-sym -> ../one",
        "/opt/d directory 750 7:8",
        "/opt/d/x 644 0:0 2 1 981173106 ",
        "/two 644 0:0 4 1 ",
    ] {
        assert!(files.contains(want), "{want} not in {files}");
    }
    for gone in ["/etc/group", "/var/www/index.html", "/.jetpack.build"] {
        assert!(!files.contains(&format!("{gone} ")), "{gone} in {files}");
    }
}

#[root_test]
fn export_flat_chain_overlay() {
    export_flat_chain("overlay");
}

#[root_test]
fn export_flat_chain_dir() {
    export_flat_chain("dir");
}

#[root_test]
fn export_flat_chain_btrfs() {
    export_flat_chain("btrfs");
}

#[root_test]
fn export_flat_chain_zfs() {
    export_flat_chain("zfs");
}

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const TGZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// An OCI image of three layers with a whiteout and an opaque directory, flattened.
fn export_flat_oci(kind: &str) {
    let env = Env::new(kind);
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let base = layer(&[
        ("bin", Ok(None)),
        ("bin/busybox", Ok(Some(&busybox))),
        ("bin/sh", Err("busybox")),
        ("etc", Ok(None)),
        ("etc/base", Ok(Some(b"base\n"))),
        ("etc/hidden", Ok(Some(b"base\n"))),
        ("d", Ok(None)),
        ("d/from-base", Ok(Some(b"base\n"))),
    ]);
    let mid = layer(&[
        ("etc/.wh.hidden", Ok(Some(b""))),
        ("d/.wh..wh..opq", Ok(Some(b""))),
        ("d/from-mid", Ok(Some(b"mid\n"))),
    ]);
    let top = layer(&[("etc/top", Ok(Some(b"top\n")))]);
    let special = special_layer();
    let oci = env.dir().join("oci");
    layout(
        &oci,
        "1",
        &[
            (base.clone(), base.clone(), TAR),
            (mid.clone(), gzip(&mid), TGZ),
            (top.clone(), top.clone(), TAR),
            (special.clone(), special.clone(), TAR),
        ],
    );
    let id = env
        .ok(&["import", &format!("oci:{}:1", oci.display())])
        .trim()
        .to_string();
    let (_, files) = flat_roundtrip(kind, &env, &id);
    for want in [
        "/etc/base 755",
        "/etc/top 755",
        "/d/from-mid 755",
        "/bin/sh -> busybox",
    ] {
        assert!(files.contains(want), "{want} not in {files}");
    }
    for gone in [
        "/etc/hidden",
        "/d/from-base",
        "/etc/.wh.hidden",
        "/d/.wh..wh..opq",
    ] {
        assert!(!files.contains(&format!("{gone} ")), "{gone} in {files}");
    }
    // Xattrs, hard links and FIFOs are kept; no overlay bookkeeping leaks into the archive.
    let aci = env.dir().join("flat.aci");
    let (_, entries) = aci_entries(&aci);
    let attr = &entries["rootfs/x/attr"];
    assert!(attr.starts_with("Regular 640 5:6 "), "{attr}");
    // zfs-fuse stores no xattrs (import warns that it leaves them out).
    assert_eq!(
        attr.contains("SCHILY.xattr.user.flat="),
        kind != "zfs",
        "{attr}"
    );
    assert!(
        entries["rootfs/x/hard"].contains("Link")
            && entries["rootfs/x/hard"].contains("rootfs/x/attr"),
        "{entries:#?}"
    );
    assert!(
        entries["rootfs/x/fifo"].starts_with("Fifo 600"),
        "{entries:#?}"
    );
    let all = format!("{entries:?}");
    assert!(
        !all.contains("trusted.overlay") && !all.contains(".wh."),
        "{all}"
    );
    let e = env.err(&["image", "export", "--flat", "--format", "oci", &id, "oci:x"]);
    assert!(e.contains("--flat"), "{e}");
}

/// A layer with what `layer` cannot write: an xattr, a hard link, a FIFO.
fn special_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h.clone(), "x", &[][..]).unwrap();
    b.append_pax_extensions([("SCHILY.xattr.user.flat", &b"yes"[..])])
        .unwrap();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o640);
    h.set_uid(5);
    h.set_gid(6);
    h.set_size(5);
    b.append_data(&mut h.clone(), "x/attr", &b"attr\n"[..])
        .unwrap();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h.clone(), "x/hard", "x/attr").unwrap();
    h.set_entry_type(tar::EntryType::Fifo);
    h.set_mode(0o600);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, "x/fifo", &[][..]).unwrap();
    b.into_inner().unwrap()
}

#[root_test]
fn export_flat_oci_overlay() {
    export_flat_oci("overlay");
}

#[root_test]
fn export_flat_oci_dir() {
    export_flat_oci("dir");
}

#[root_test]
fn export_flat_oci_btrfs() {
    export_flat_oci("btrfs");
}

#[root_test]
fn export_flat_oci_zfs() {
    export_flat_oci("zfs");
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

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `build --flat`: the whole tree, no dependency, runs without its parent in the store.
fn build_flat(kind: &str) {
    let env = Env::new(kind);
    let dir = env.dir().join("ctx");
    std::fs::create_dir(&dir).unwrap();
    let id = last_line(&env.ok(&[
        "build",
        "--flat",
        "--dir",
        s(&dir),
        "--name",
        "example.com/flat",
        "-l",
        "version=3",
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        "echo flat > /flat && rm /etc/group && echo here > kept-in-dir",
    ]));
    assert!(id.starts_with("sha512-"), "{id}");
    no_leftovers(&env);
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "cat-manifest", &id])).unwrap();
    assert_eq!(m["name"], "example.com/flat");
    assert!(m.get("dependencies").is_none(), "{m}");
    assert!(m.get("pathWhitelist").is_none(), "{m}");
    let labels = m["labels"].to_string();
    for l in ["\"os\"", "\"arch\"", "\"3\""] {
        assert!(labels.contains(l), "{labels}");
    }
    assert!(m["annotations"].to_string().contains("created"), "{m}");

    let aci = env.dir().join("flat.aci");
    env.ok(&["image", "export", &id, s(&aci)]);
    env.ok(&["validate", s(&aci)]);
    let (_, entries) = aci_entries(&aci);
    for want in ["rootfs/flat", "rootfs/bin/busybox", "rootfs/etc/passwd"] {
        assert!(entries.contains_key(want), "{want}: {entries:#?}");
    }
    for gone in [
        "rootfs/etc/group",
        "rootfs/etc/hosts",
        "rootfs/.jetpack.build/",
    ] {
        assert!(!entries.contains_key(gone), "{gone}: {entries:#?}");
    }
    assert!(
        !entries.keys().any(|k| k.contains(".jetpack.build")),
        "{entries:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("kept-in-dir")).unwrap(),
        "here\n"
    );

    // Nothing of the parent is needed: it runs with the parent removed.
    env.ok(&["image", "rm", BB]);
    let shown = env.ok(&[
        "run",
        "--rm",
        "--net=none",
        &id,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "cat /flat; [ -e /etc/group ] || echo no-group",
    ]);
    assert_eq!(shown, "flat\nno-group\n");
}

#[root_test]
fn build_flat_overlay() {
    build_flat("overlay");
}

#[root_test]
fn build_flat_dir() {
    build_flat("dir");
}

#[root_test]
fn build_flat_btrfs() {
    build_flat("btrfs");
}

#[root_test]
fn build_flat_zfs() {
    build_flat("zfs");
}

/// Symlinks in the build directory resolve inside the pod: writing through them changes the
/// pod's tree (and so the image), never the host. `--cp` copies symlinks as symlinks, keeps
/// modes, leaves the build directory as it was; a missing `--cp` path stores nothing.
fn symlinks_and_cp(kind: &str) {
    let env = Env::new(kind);
    let t = env.dir();
    let dir = t.join("ctx");
    std::fs::create_dir(&dir).unwrap();
    let host_dir = t.join("host-dir");
    std::fs::create_dir(&host_dir).unwrap();
    let canary = t.join("canary");
    std::fs::write(&canary, "canary\n").unwrap();
    let secret = t.join("secret");
    std::fs::write(&secret, "secret\n").unwrap();
    use std::os::unix::fs::{PermissionsExt, symlink};
    symlink(&host_dir, dir.join("escape")).unwrap();
    symlink(&canary, dir.join("file")).unwrap();
    symlink("..", dir.join("up")).unwrap();
    let before = names(&dir);

    let src = t.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("run.sh"), "echo run\n").unwrap();
    std::fs::set_permissions(src.join("run.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::write(src.join("sub/x"), "x\n").unwrap();
    std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o700)).unwrap();
    symlink(&secret, src.join("link")).unwrap();
    let toplink = t.join("toplink");
    symlink(&secret, &toplink).unwrap();

    let script = "set -e; mkdir -p \"$(readlink escape)\" \"$(dirname \"$(readlink file)\")\"; \
                  echo pwned > escape/escaped; echo pwned > file; echo pwned > up/escaped-up; \
                  stat -c '%a %n' src/run.sh src/sub src/sub/x > /cp-modes; \
                  readlink toplink > /cp-toplink; readlink src/link > /cp-link; \
                  (cat toplink 2>/dev/null || echo unreadable) > /cp-cat; \
                  sh src/run.sh > /cp-run";
    let id = last_line(&env.ok(&[
        "build",
        "--dir",
        s(&dir),
        "--cp",
        s(&src),
        "--cp",
        s(&toplink),
        "--name",
        "example.com/escape",
        "--net",
        "none",
        BB,
        "--",
        "/bin/sh",
        "-c",
        script,
    ]));
    no_leftovers(&env);
    // The host is unchanged; the build directory is as it was, the copies gone.
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "canary\n");
    assert_eq!(names(&host_dir), Vec::<String>::new());
    assert!(!t.join("escaped-up").exists());
    assert_eq!(names(&dir), before);
    assert_eq!(std::fs::read_link(dir.join("file")).unwrap(), canary);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "secret\n");

    // What the pod wrote through the links is in its own tree, so in the image.
    let show = format!(
        "cat {}/escaped {} /escaped-up /cp-modes /cp-toplink /cp-link /cp-cat /cp-run",
        s(&host_dir),
        s(&canary)
    );
    let shown = env.ok(&[
        "run",
        "--rm",
        "--net=none",
        &id,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        &show,
    ]);
    assert_eq!(
        shown,
        format!(
            "pwned\npwned\npwned\n750 src/run.sh\n700 src/sub\n644 src/sub/x\n{}\n{}\n\
             unreadable\nrun\n",
            s(&secret),
            s(&secret)
        )
    );

    // Bad --cp input: nothing stored, nothing copied, no pod.
    let count = image_count(&env);
    let missing = t.join("no-such-path");
    let e = env.err(&[
        "build",
        "--dir",
        s(&dir),
        "--cp",
        s(&src),
        "--cp",
        s(&missing),
        "--net",
        "none",
        BB,
        "--",
        "/bin/true",
    ]);
    assert!(e.contains("--cp") && e.contains("no-such-path"), "{e}");
    let e = env.err(&[
        "build",
        "--dir",
        s(&dir),
        "--cp",
        s(t),
        "--net",
        "none",
        BB,
        "--",
        "/bin/true",
    ]);
    assert!(e.contains("holds the build directory"), "{e}");
    std::fs::write(dir.join("src"), "mine\n").unwrap();
    let e = env.err(&[
        "build",
        "--dir",
        s(&dir),
        "--cp",
        s(&src),
        "--net",
        "none",
        BB,
        "--",
        "/bin/true",
    ]);
    assert!(e.contains("already has src"), "{e}");
    assert_eq!(std::fs::read_to_string(dir.join("src")).unwrap(), "mine\n");
    std::fs::remove_file(dir.join("src")).unwrap();
    // A failing build removes its copies too.
    let o = env.out(&[
        "build",
        "--dir",
        s(&dir),
        "--cp",
        s(&src),
        "--net",
        "none",
        BB,
        "--",
        "/bin/false",
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(names(&dir), before);
    assert_eq!(image_count(&env), count);
    no_leftovers(&env);
}

#[root_test]
fn build_symlinks_and_cp_overlay() {
    symlinks_and_cp("overlay");
}

#[root_test]
fn build_symlinks_and_cp_dir() {
    symlinks_and_cp("dir");
}
