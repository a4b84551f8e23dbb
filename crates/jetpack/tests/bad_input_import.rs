//! Bad input to `import` and `validate` through the `jetpack` binary: a clear error, nothing kept,
//! the store consistent and usable afterwards, and one rule set for both commands. Needs root
//! (a real store, loop devices for the full-disk cases).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use jetpack_testutil::aci::{Aci, header};
use jetpack_testutil::{LoopFs, TestNet};

const M: &str = r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bad"}"#;

fn with_manifest(f: impl FnOnce(&mut Aci)) -> Vec<u8> {
    let mut a = Aci::new();
    f(&mut a);
    a.manifest(M).tar()
}

fn good(name: &str) -> Vec<u8> {
    let mut a = Aci::new();
    a.file("rootfs/ok", b"ok", 0o644);
    a.manifest(&format!(
        r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"{name}"}}"#
    ))
    .tar()
}

/// A gzip bomb: a small file holding an archive with `size` bytes of zeros.
fn bomb(size: usize) -> Vec<u8> {
    let mut a = Aci::empty();
    a.dir("rootfs", 0o755).file("manifest", M.as_bytes(), 0o644);
    let zeros = header(tar::EntryType::Regular, b"rootfs/zeros", 0o644, size as u64);
    a.raw_from(zeros, std::io::repeat(0).take(size as u64));
    a.gzip()
}

/// A store under `root` driven through the binary.
struct Jp {
    sets: Vec<String>,
    root: PathBuf,
    inputs: tempfile::TempDir,
    _net: TestNet,
}

impl Jp {
    fn new(root: PathBuf, extra: &[&str]) -> Jp {
        let inputs = tempfile::tempdir().unwrap();
        // A network configuration of its own, never the host's.
        let net = TestNet::new();
        let mut sets = vec![
            "storage=dir".to_string(),
            format!("root={}", root.display()),
            format!("net.dir={}", inputs.path().join("net.d").display()),
            format!("net.default-bridge={}", net.bridge),
            format!("net.default-subnet={}", net.subnet),
        ];
        sets.extend(extra.iter().map(|s| s.to_string()));
        let j = Jp {
            sets,
            root,
            inputs,
            _net: net,
        };
        j.ok(&["init"]);
        j
    }
    fn out(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_jetpack"));
        c.arg("--config").arg("/dev/null");
        for s in &self.sets {
            c.arg("-o").arg(s);
        }
        c.args(args).stdin(Stdio::null()).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(
            o.status.success(),
            "jetpack {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    fn err(&self, args: &[&str]) -> String {
        let o = self.out(args);
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            !o.status.success(),
            "jetpack {args:?} should fail: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(!e.contains("panicked"), "{e}");
        e
    }
    fn input(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.inputs.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }
    /// Image names the store lists.
    fn names(&self) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["images", "--json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    }
    /// Whatever an import left in the store's temporary areas (must be nothing).
    fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in ["tmp", "storage/tmp"] {
            if let Ok(rd) = std::fs::read_dir(self.root.join(d)) {
                out.extend(rd.map(|e| format!("{d}/{}", e.unwrap().file_name().display())));
            }
        }
        out
    }
}

fn dir_store(extra: &[&str]) -> (tempfile::TempDir, Jp) {
    let d = tempfile::tempdir().unwrap();
    let j = Jp::new(d.path().join("store"), extra);
    (d, j)
}

/// Fills the file system of `dir` (as root, reserved blocks included); the filler file's path.
fn fill(dir: &Path) -> PathBuf {
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let buf = vec![0xa5u8; 64 << 10];
    loop {
        if let Err(e) = f.write_all(&buf) {
            assert_eq!(e.raw_os_error(), Some(28), "{e}");
            break;
        }
    }
    // The last partial blocks too.
    while f.write_all(&[1u8; 512]).is_ok() {}
    let _ = f.sync_all();
    p
}

#[jetpack_testutil::root_test]
fn gzip_bomb_stops_at_max_size() {
    let (_d, j) = dir_store(&["import.max-size=1M"]);
    j.ok(&[
        "import",
        "-q",
        &j.input("good.aci", &good("example.com/good")),
    ]);
    let f = j.input("bomb.aci", &bomb(64 << 20));
    assert!(std::fs::metadata(&f).unwrap().len() < 1 << 20);
    let e = j.err(&["import", &f]);
    assert!(
        e.contains("larger than import.max-size (1048576 bytes)") && e.contains("nothing was kept"),
        "{e}"
    );
    assert!(
        e.contains("bytes of extracted files"),
        "says how much was written: {e}"
    );
    assert_eq!(j.names(), vec!["example.com/good"]);
    assert!(j.leftovers().is_empty(), "{:?}", j.leftovers());
    // Within the limit, imports go on.
    j.ok(&[
        "import",
        "-q",
        &j.input("next.aci", &good("example.com/next")),
    ]);
    assert_eq!(j.names().len(), 2);
}

#[jetpack_testutil::root_test]
fn gzip_bomb_fills_disk() {
    let fs = LoopFs::ext4(32 << 20);
    let j = Jp::new(fs.path().join("store"), &[]);
    j.ok(&[
        "import",
        "-q",
        &j.input("good.aci", &good("example.com/good")),
    ]);
    let f = j.input("bomb.aci", &bomb(256 << 20));
    let e = j.err(&["import", &f]);
    assert!(
        e.contains("No space left on device")
            && e.contains("full")
            && e.contains("nothing was kept"),
        "{e}"
    );
    assert!(e.contains("bytes of extracted files"), "{e}");
    // Consistent: the earlier image is whole, nothing half-made is left, gc has nothing to do.
    assert_eq!(j.names(), vec!["example.com/good"]);
    assert!(j.leftovers().is_empty(), "{:?}", j.leftovers());
    j.ok(&["image", "show", "example.com/good"]);
    let gc = j.ok(&["gc"]);
    assert!(!gc.contains("unindexed") && !gc.contains("missing"), "{gc}");
    // The space was given back: the next import works.
    j.ok(&[
        "import",
        "-q",
        &j.input("next.aci", &good("example.com/next")),
    ]);
    assert_eq!(j.names().len(), 2);
    // On a disk someone else filled, the import fails cleanly too, and works once space is freed.
    let filler = fill(fs.path());
    let e = j.err(&["import", &j.input("third.aci", &good("example.com/third"))]);
    assert!(
        e.contains("No space left on device") || e.contains("full"),
        "{e}"
    );
    std::fs::remove_file(filler).unwrap();
    assert_eq!(j.names().len(), 2);
    assert!(j.leftovers().is_empty(), "{:?}", j.leftovers());
    j.ok(&[
        "import",
        "-q",
        &j.input("third.aci", &good("example.com/third")),
    ]);
    assert_eq!(j.names().len(), 3);
}

#[jetpack_testutil::root_test]
fn reads_work_on_full_disk() {
    let fs = LoopFs::ext4(32 << 20);
    let j = Jp::new(fs.path().join("store"), &[]);
    // The image file lives elsewhere: only the store's disk is full.
    j.ok(&[
        "import",
        "-q",
        &j.input("good.aci", &good("example.com/good")),
    ]);
    let reads = || {
        let listed = j.ok(&["images"]);
        assert!(listed.contains("example.com/good"), "{listed}");
        assert_eq!(j.names(), vec!["example.com/good"]);
        let shown = j.ok(&["image", "show", "example.com/good"]);
        assert!(shown.contains("example.com/good"), "{shown}");
        j.ok(&["list"]);
    };
    // No free block ("disk I/O error" when SQLite sizes its shared-memory file)...
    let filler = fill(fs.path());
    reads();
    // ...and no free inode either ("unable to open database file").
    let mut n = 0;
    while std::fs::File::create(fs.path().join(format!("f{n}"))).is_ok() {
        n += 1;
    }
    reads();
    // Once space is freed, the store is writable again.
    std::fs::remove_file(filler).unwrap();
    for i in 0..n {
        std::fs::remove_file(fs.path().join(format!("f{i}"))).unwrap();
    }
    j.ok(&[
        "import",
        "-q",
        &j.input("next.aci", &good("example.com/next")),
    ]);
    assert_eq!(j.names().len(), 2);
}

#[jetpack_testutil::root_test]
fn unrepresentable_owner_ids_are_refused() {
    let (_d, j) = dir_store(&[]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "uid u32::MAX",
            with_manifest(|a| {
                a.owned_file("rootfs/u", b"x", 0o644, 4294967295, 0);
            }),
            "uid 4294967295",
        ),
        (
            "gid u32::MAX",
            with_manifest(|a| {
                a.owned_file("rootfs/g", b"x", 0o644, 0, 4294967295);
            }),
            "gid 4294967295",
        ),
        (
            "uid beyond 32 bits",
            with_manifest(|a| {
                a.owned_file("rootfs/w", b"x", 0o644, 1 << 32, 0);
            }),
            "uid 4294967296",
        ),
        (
            "pax uid",
            with_manifest(|a| {
                a.pax_file("rootfs/p", b"x", "uid", "4294967295".as_bytes());
            }),
            "uid 4294967295",
        ),
        (
            "pax gid",
            with_manifest(|a| {
                a.pax_file("rootfs/q", b"x", "gid", "4294967295".as_bytes());
            }),
            "gid 4294967295",
        ),
    ];
    for (case, bytes, words) in cases {
        let f = j.input("ids.aci", &bytes);
        for cmd in ["import", "validate"] {
            let e = j.err(&[cmd, &f]);
            assert!(
                e.contains(words)
                    && e.contains("entry \"rootfs/")
                    && e.contains("cannot be represented"),
                "{case}, {cmd}: {e}"
            );
        }
    }
    assert!(j.names().is_empty());
    assert!(j.leftovers().is_empty(), "{:?}", j.leftovers());
    // The largest real id is fine.
    let f = j.input(
        "max.aci",
        &with_manifest(|a| {
            a.owned_file("rootfs/m", b"x", 0o644, 4294967294, 4294967294);
        }),
    );
    j.ok(&["validate", &f]);
    j.ok(&["import", "-q", &f]);
}

/// The malformed archives of the store's bad-input tests, and a few the policy must refuse
/// before extraction would (parents that are files, hard links to directories, long names).
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let big = with_manifest(|a| {
        a.file("rootfs/big", &vec![7u8; 300_000], 0o644);
    });
    let gz = {
        let mut a = Aci::new();
        a.file("rootfs/big", &vec![7u8; 300_000], 0o644);
        a.manifest(M).gzip()
    };
    let mut corrupt_gz = gz.clone();
    let mid = corrupt_gz.len() / 2;
    corrupt_gz[mid] ^= 0xff;
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 6] ^= 0xff;
    let long = "n".repeat(300);
    vec![
        (
            "dotdot",
            with_manifest(|a| {
                a.file("rootfs/../../escaped", b"x", 0o644);
            }),
        ),
        (
            "absolute",
            with_manifest(|a| {
                a.file("/rootfs/abs", b"x", 0o644);
            }),
        ),
        (
            "outside rootfs",
            with_manifest(|a| {
                a.file("etc/passwd", b"x", 0o644);
            }),
        ),
        (
            "rootfs prefix",
            with_manifest(|a| {
                a.file("rootfsx/a", b"x", 0o644);
            }),
        ),
        (
            "symlink out",
            with_manifest(|a| {
                a.symlink("rootfs/a/evil", "../../../etc");
            }),
        ),
        (
            "hard link out",
            with_manifest(|a| {
                a.hardlink("rootfs/evil", "etc/passwd");
            }),
        ),
        (
            "hard link to manifest",
            with_manifest(|a| {
                a.hardlink("rootfs/m", "manifest");
            }),
        ),
        (
            "write through symlink",
            with_manifest(|a| {
                a.symlink("rootfs/a", "/tmp");
                a.file("rootfs/a/x", b"x", 0o644);
            }),
        ),
        (
            "write through file",
            with_manifest(|a| {
                a.file("rootfs/f", b"x", 0o644);
                a.file("rootfs/f/x", b"x", 0o644);
            }),
        ),
        (
            "hard link to missing",
            with_manifest(|a| {
                a.hardlink("rootfs/l", "rootfs/nothing");
            }),
        ),
        (
            "hard link to later entry",
            with_manifest(|a| {
                a.hardlink("rootfs/l", "rootfs/later");
                a.file("rootfs/later", b"x", 0o644);
            }),
        ),
        (
            "hard link to directory",
            with_manifest(|a| {
                a.dir("rootfs/d", 0o755);
                a.hardlink("rootfs/l", "rootfs/d");
            }),
        ),
        (
            "file over implied directory",
            with_manifest(|a| {
                a.file("rootfs/d/x", b"x", 0o644);
                a.file("rootfs/d", b"x", 0o644);
            }),
        ),
        ("name too long", {
            let mut a = Aci::new();
            let name = format!("rootfs/{long}");
            a.long(tar::EntryType::Regular, &name, 0o644, b"x");
            a.manifest(M).tar()
        }),
        (
            "duplicate",
            with_manifest(|a| {
                a.file("rootfs/d", b"1", 0o644);
                a.file("./rootfs/d", b"2", 0o644);
            }),
        ),
        ("duplicate manifest", {
            let mut a = Aci::new();
            a.file("manifest", M.as_bytes(), 0o644);
            a.manifest(M).tar()
        }),
        ("no manifest", Aci::new().tar()),
        ("no rootfs", Aci::empty().manifest(M).tar()),
        ("bad manifest json", Aci::new().manifest("{not json").tar()),
        (
            "bad manifest",
            Aci::new()
                .manifest(r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"UPPER"}"#)
                .tar(),
        ),
        ("truncated tar", big[..big.len() / 2].to_vec()),
        ("truncated gzip", gz[..gz.len() / 2].to_vec()),
        ("corrupt gzip", corrupt_gz),
        ("bad gzip checksum", bad_crc),
        ("empty file", Vec::new()),
        ("not an archive", b"just some text, not an image".to_vec()),
    ]
}

/// The reason in an error line: what follows the file's name.
fn reason(err: &str, file: &str) -> String {
    let line = err.lines().find(|l| l.contains(file)).unwrap_or(err);
    let after = line.rsplit_once(file).map_or(line, |(_, r)| r);
    after
        .trim_start_matches([':', ' '])
        .trim_start_matches("invalid image: ")
        .trim()
        .to_string()
}

#[jetpack_testutil::root_test]
fn validate_and_import_refuse_the_same() {
    let (_d, j) = dir_store(&[]);
    let mut differ = Vec::new();
    for (case, bytes) in malformed() {
        let f = j.input("bad.aci", &bytes);
        let v = j.out(&["validate", &f]);
        let i = j.err(&["import", &f]);
        let ve = String::from_utf8_lossy(&v.stderr).into_owned();
        if v.status.success() {
            differ.push(format!(
                "{case}: validate says {:?}, import says {i:?}",
                String::from_utf8_lossy(&v.stdout)
            ));
            continue;
        }
        let (vr, ir) = (reason(&ve, "bad.aci"), reason(&i, "bad.aci"));
        if vr != ir || vr.is_empty() {
            differ.push(format!("{case}: validate: {ve:?} import: {i:?}"));
        }
        assert!(j.names().is_empty(), "{case}");
        assert!(j.leftovers().is_empty(), "{case}: {:?}", j.leftovers());
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
