//! `jetpack fetch`, `jetpack trust` and `jetpack run NAME` against a local HTTPS server with a
//! test CA (`-o fetch.ca-file`), reached as `example.test:443` through `$JETPACK_RESOLVE`, with
//! real GnuPG keys and the busybox image. Needs root.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use jetpack_testutil::Gpg;
use jetpack_testutil::https::{Reply, Server, TestTls, meta_page};

const HOSTS: &[&str] = &["example.test", "storage.example.test"];

/// A store on the `dir` backend, a test CA with an HTTPS server for `HOSTS`, and a
/// publisher's GnuPG key.
struct Env {
    cli: common::Env,
    tls: TestTls,
    server: Server,
    gpg: Gpg,
    key: String,
}

impl Env {
    fn new() -> Env {
        let tls = TestTls::new(HOSTS);
        let server = Server::start(Some(tls.config.clone()));
        let gpg = Gpg::new();
        let key = gpg.key(
            "Publisher <pub@example.test>",
            "rsa3072",
            "sign",
            "never",
            None,
        );
        server.route(
            "example.test/?ac-discovery=1",
            Reply::Body(meta_page(
                "example.test",
                "https://storage.example.test/{name}-{version}-{os}-{arch}.{ext}",
                Some("https://example.test/keys.asc"),
            )),
        );
        server.route("example.test/keys.asc", Reply::Body(gpg.export(&key)));
        Env {
            cli: common::Env::bare("dir"),
            tls,
            server,
            gpg,
            key,
        }
    }

    /// `jetpack` with this store, the test CA and host overrides; `online` false leaves out
    /// both, so any network use would fail.
    fn cmd(&self, online: bool) -> Command {
        let mut c = self.cli.cmd();
        if online {
            c.arg("-o")
                .arg(format!("fetch.ca-file={}", self.tls.ca_file.display()));
            c.env("JETPACK_RESOLVE", self.server.resolve(HOSTS, 443));
        }
        c
    }

    fn out(&self, args: &[&str]) -> Output {
        self.cmd(true).args(args).output().unwrap()
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
        assert!(!o.status.success(), "jetpack {args:?} should fail");
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// Builds the busybox image as NAME 1.0.0 and serves it (and its signature, if `sign`).
    fn publish(&self, name: &str, sign: bool) -> PathBuf {
        let file = self.cli.busybox(name, "1.0.0");
        let (os, arch) = appc::host_os_arch();
        let path = format!("storage.example.test/{name}-1.0.0-{os}-{arch}.aci");
        self.server
            .route(&path, Reply::Body(std::fs::read(&file).unwrap()));
        if sign {
            let asc = self.gpg.sign(&self.key, &file, &[]);
            self.server.route(
                &format!("{path}.asc"),
                Reply::Body(std::fs::read(asc).unwrap()),
            );
        }
        file
    }
}

#[jetpack_testutil::root_test]
fn trust_fetch_and_run() {
    let e = Env::new();
    e.ok(&["init"]);
    e.publish("example.test/busybox", true);

    // Discovered keys need a yes, and there is no terminal to ask on.
    let msg = e.err(&["trust", "--prefix", "example.test"]);
    assert!(
        msg.contains("refusing to trust key") && msg.contains(&e.key),
        "{msg}"
    );
    let out = e.ok(&["trust", "--prefix", "example.test", "--yes"]);
    assert!(
        out.contains(&format!("trusted key {} for prefix example.test", e.key)),
        "{out}"
    );
    let keyfile = e
        .cli
        .dir()
        .join("store/trust/prefix.d/example.test")
        .join(&e.key);
    assert!(
        keyfile.is_file(),
        "stored one file per key under its prefix"
    );
    let list = e.ok(&["trust", "list"]);
    assert!(
        list.contains("example.test") && list.contains(&e.key) && list.contains("rsa3072"),
        "{list}"
    );

    let id = e.ok(&["fetch", "example.test/busybox:1.0.0"]);
    let id = id.trim();
    assert!(id.starts_with("sha512-") && id.len() == 135, "{id}");
    let images = e.ok(&["images"]);
    assert!(
        images.contains("SIGNER") && images.contains(&e.key[24..]),
        "{images}"
    );
    let show = e.ok(&["image", "show", "example.test/busybox"]);
    assert!(show.contains(&format!("Signer:      {}", e.key)), "{show}");
    // Present: no download; the same ID.
    let again = e.ok(&["fetch", "--pull-policy=new", "example.test/busybox:1.0.0"]);
    assert_eq!(again.trim(), id);

    // run fetches what is missing...
    e.publish("example.test/other", true);
    let o = e.out(&[
        "run",
        "--rm",
        "example.test/other:1.0.0",
        "--exec",
        "/bin/echo",
        "--",
        "hello from a fetched image",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("hello from a fetched image"));
    // ...and needs no network for what is there.
    let o = e
        .cmd(false)
        .args(["run", "--rm", "example.test/busybox", "--exec", "/bin/true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Unsigned: imported locally is fine (and shown so), fetched needs the option.
    let unsigned = e.publish("example.test/unsigned", false);
    let msg = e.err(&["fetch", "example.test/unsigned:1.0.0"]);
    assert!(msg.contains("--insecure-options=signature"), "{msg}");
    e.ok(&["import", unsigned.to_str().unwrap()]);
    let images = e.ok(&["images"]);
    assert!(
        images
            .lines()
            .any(|l| l.contains("example.test/unsigned") && l.contains("unsigned ")),
        "{images}"
    );
    let show = e.ok(&["image", "show", "example.test/unsigned"]);
    assert!(show.contains("Signer:      unsigned"), "{show}");

    let msg = e.err(&["fetch", "--pull-policy=never", "example.test/missing"]);
    assert!(msg.contains("--pull-policy=never"), "{msg}");

    // Once the key is removed, new fetches are refused with the signer's fingerprint.
    let out = e.ok(&["trust", "rm", &e.key]);
    assert!(out.contains("removed key"), "{out}");
    e.publish("example.test/third", true);
    let msg = e.err(&["fetch", "example.test/third:1.0.0"]);
    assert!(
        msg.contains("not trusted for example.test/third") && msg.contains(&e.key),
        "{msg}"
    );
}

#[jetpack_testutil::root_test]
fn trust_key_files_and_root() {
    let e = Env::new();
    let key = e.cli.dir().join("key.asc");
    std::fs::write(&key, e.gpg.export(&e.key)).unwrap();
    // A key file the user names needs no question.
    let out = e.ok(&["trust", "--root", key.to_str().unwrap()]);
    assert!(out.contains("for root"), "{out}");
    assert!(
        e.cli
            .dir()
            .join("store/trust/root.d")
            .join(&e.key)
            .is_file()
    );
    // From a URL: asked unless the fingerprint is given.
    let msg = e.err(&[
        "trust",
        "--prefix",
        "example.test/app",
        "https://example.test/keys.asc",
    ]);
    assert!(msg.contains("refusing to trust"), "{msg}");
    e.ok(&[
        "trust",
        "--prefix",
        "example.test/app",
        "--fingerprint",
        &e.key,
        "https://example.test/keys.asc",
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&e.ok(&["trust", "list", "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    let msg = e.err(&[
        "trust",
        "--prefix",
        "example.test",
        "http://example.test/keys.asc",
    ]);
    assert!(msg.contains("plain HTTP is refused"), "{msg}");
    let out = e.ok(&["trust", "rm", "--root", &e.key]);
    assert!(out.contains("root"), "{out}");
    assert_eq!(
        e.ok(&["trust", "list"]).lines().count(),
        2,
        "header and the prefix key"
    );
}
