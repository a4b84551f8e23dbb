//! Discovery, download, verification and import against a local HTTPS server with a test CA,
//! reached as `example.test` and `storage.example.test` on port 443 through resolver rules.
//! Keys and signatures come from real GnuPG. Imports need root (ownership is restored).

use std::time::Duration;

use jetpack_fetch::{
    Error, FetchOptions, Fetched, Fetcher, How, HttpSettings, PullPolicy, Silent, TrustStore,
    discover_keys, parse_keyring, parse_rules,
};
use jetpack_store::{Config, Store};
use jetpack_testutil::Gpg;
use jetpack_testutil::aci::{host_labels, simple_aci};
use jetpack_testutil::https::{Reply, Server, TestTls, meta_page};

const HOSTS: &[&str] = &["example.test", "storage.example.test", "plain.test"];
const TEMPLATE: &str = "https://storage.example.test/{name}-{version}-{os}-{arch}.{ext}";

struct World {
    tls: TestTls,
    https: Server,
    gpg: Gpg,
    key: String,
    dir: tempfile::TempDir,
    store: Store,
    /// Extra resolver rules (plain HTTP hosts).
    extra_resolve: String,
}

impl World {
    fn new() -> World {
        let tls = TestTls::new(HOSTS);
        let https = Server::start(Some(tls.config.clone()));
        let gpg = Gpg::new();
        let key = gpg.key(
            "Publisher <pub@example.test>",
            "ed25519",
            "sign",
            "never",
            None,
        );
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.set("root", dir.path().join("store").to_str().unwrap(), "test")
            .unwrap();
        cfg.set("storage", "dir", "test").unwrap();
        let store = Store::init(&cfg).unwrap();
        https.route(
            "example.test/?ac-discovery=1",
            Reply::Body(meta_page(
                "example.test",
                TEMPLATE,
                Some("https://example.test/pubkeys.asc"),
            )),
        );
        https.route("example.test/pubkeys.asc", Reply::Body(gpg.export(&key)));
        World {
            tls,
            https,
            gpg,
            key,
            dir,
            store,
            // Connections to nowhere.test are refused at once.
            extra_resolve: "nowhere.test:443:127.0.0.1:1".into(),
        }
    }

    fn trust(&self, prefix: &str) {
        let k = parse_keyring(&self.gpg.export(&self.key), "key").unwrap();
        TrustStore::for_store(self.store.root())
            .add(&jetpack_fetch::Scope::prefix(prefix).unwrap(), &k[0])
            .unwrap();
    }

    fn settings(&self) -> HttpSettings {
        let mut rules = self.https.resolve(HOSTS, 443);
        if !self.extra_resolve.is_empty() {
            rules = format!("{rules},{}", self.extra_resolve);
        }
        HttpSettings {
            ca_files: vec![self.tls.ca_file.clone()],
            resolve: parse_rules(&rules).unwrap(),
            timeout: Duration::from_secs(2),
            ..HttpSettings::default()
        }
    }

    fn fetch_with(
        &mut self,
        what: &str,
        insecure: &str,
        pull: PullPolicy,
        http: HttpSettings,
    ) -> Result<Fetched, Error> {
        let opts = FetchOptions {
            insecure: insecure.parse().unwrap(),
            pull,
            http,
        };
        Fetcher::new(&mut self.store, opts, &Silent)?.fetch(what)
    }

    fn fetch(&mut self, what: &str, insecure: &str, pull: PullPolicy) -> Result<Fetched, Error> {
        let http = self.settings();
        self.fetch_with(what, insecure, pull, http)
    }

    /// Serves `bytes` at the template's URL for `name` and `version`, signed unless told not.
    fn publish_bytes(&self, name: &str, version: &str, bytes: &[u8], sign: bool) -> String {
        let (os, arch) = appc::host_os_arch();
        let path = format!("storage.example.test/{name}-{version}-{os}-{arch}.aci");
        self.https.route(&path, Reply::Body(bytes.to_vec()));
        if sign {
            let file = self.dir.path().join("signed.aci");
            std::fs::write(&file, bytes).unwrap();
            let asc = self.gpg.sign(&self.key, &file, &[]);
            self.https.route(
                &format!("{path}.asc"),
                Reply::Body(std::fs::read(asc).unwrap()),
            );
        }
        format!("https://{path}")
    }

    fn publish(&self, name: &str, version: &str, deps: &str) -> String {
        let bytes = simple_aci(name, &host_labels(version), deps, name);
        self.publish_bytes(name, version, &bytes, true)
    }

    /// Nothing entered the store and no download is left behind.
    fn assert_clean(&self) {
        assert!(
            self.store.images().unwrap().is_empty(),
            "nothing may enter the store"
        );
        let tmp = self.store.root().join("tmp");
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "leftovers in {}: {left:?}", tmp.display());
    }

    fn requests(&self) -> Vec<String> {
        self.https
            .requests()
            .into_iter()
            .map(|r| r.target)
            .collect()
    }
}

#[jetpack_testutil::root_test]
fn discovery_signature_import_and_pull_policies() {
    let mut w = World::new();
    w.trust("example.test");
    w.publish("example.test/app", "1.0.0", "");
    let f = w
        .fetch("example.test/app:1.0.0", "none", PullPolicy::New)
        .unwrap();
    assert!(
        matches!(f.how, How::Downloaded { existed: false, .. }),
        "{:?}",
        f.how
    );
    assert_eq!(f.name, "example.test/app");
    assert_eq!(f.signer.as_ref().unwrap().fingerprint, w.key);
    let row = w.store.get(&f.id).unwrap().unwrap();
    assert_eq!(
        row.signer.as_deref(),
        Some(w.key.as_str()),
        "the signer is recorded"
    );
    let asked = w.requests();
    assert_eq!(
        asked[0], "example.test/app?ac-discovery=1",
        "tries the full name first"
    );
    assert_eq!(asked[1], "example.test/?ac-discovery=1", "then walks up");

    // Already stored: no network at all.
    let before = w.requests().len();
    let again = w
        .fetch("example.test/app:1.0.0", "none", PullPolicy::New)
        .unwrap();
    assert_eq!(
        (again.id.as_str(), again.how.clone()),
        (f.id.as_str(), How::InStore)
    );
    let never = w
        .fetch("example.test/app", "none", PullPolicy::Never)
        .unwrap();
    assert_eq!(never.id, f.id);
    assert_eq!(w.requests().len(), before);

    // update: revalidated with the ETag, not downloaded again.
    let upd = w
        .fetch("example.test/app:1.0.0", "none", PullPolicy::Update)
        .unwrap();
    assert!(matches!(upd.how, How::NotModified(_)), "{:?}", upd.how);
    assert_eq!(upd.id, f.id);
    let revalidation = w
        .https
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.target.ends_with(".aci"))
        .unwrap();
    assert!(
        revalidation
            .headers
            .iter()
            .any(|(k, _)| k == "if-none-match"),
        "{revalidation:?}"
    );

    // A new build at the same URL is downloaded by update.
    let newer = simple_aci("example.test/app", &host_labels("1.0.0"), "", "rebuilt");
    w.publish_bytes("example.test/app", "1.0.0", &newer, true);
    let upd = w
        .fetch("example.test/app:1.0.0", "none", PullPolicy::Update)
        .unwrap();
    assert!(
        matches!(upd.how, How::Downloaded { existed: false, .. }),
        "{:?}",
        upd.how
    );
    assert_ne!(upd.id, f.id);

    let e = w
        .fetch("example.test/missing", "none", PullPolicy::Never)
        .unwrap_err();
    assert!(e.to_string().contains("--pull-policy=never"), "{e}");
}

#[jetpack_testutil::root_test]
fn dependencies_are_fetched_first() {
    let mut w = World::new();
    w.trust("example.test");
    w.publish("example.test/base", "1.0.0", "");
    let dep = r#","dependencies":[{"imageName":"example.test/base","labels":[{"name":"version","value":"1.0.0"}]}]"#;
    w.publish("example.test/app", "2.0.0", dep);
    let f = w
        .fetch("example.test/app:2.0.0", "none", PullPolicy::New)
        .unwrap();
    let rows = w.store.images().unwrap();
    assert_eq!(rows.len(), 2);
    let base = rows.iter().find(|r| r.name == "example.test/base").unwrap();
    assert_eq!(base.signer.as_deref(), Some(w.key.as_str()));
    assert_eq!(
        w.store.get(&f.id).unwrap().unwrap().deps,
        vec![base.id.clone()]
    );
}

#[jetpack_testutil::root_test]
fn urls_files_and_unsigned_images() {
    let mut w = World::new();
    w.trust("example.test");
    let url = w.publish("example.test/byurl", "1.0.0", "");
    let f = w.fetch(&url, "none", PullPolicy::Update).unwrap();
    assert_eq!(f.name, "example.test/byurl");
    let again = w.fetch(&url, "none", PullPolicy::New).unwrap();
    assert_eq!((again.id, again.how), (f.id, How::InStore));

    // file:// looks for FILE.asc beside the file.
    let file = w.dir.path().join("local.aci");
    std::fs::write(
        &file,
        simple_aci("example.test/local", &host_labels("1"), "", "x"),
    )
    .unwrap();
    let e = w
        .fetch(
            &format!("file://{}", file.display()),
            "none",
            PullPolicy::New,
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("--insecure-options=signature"),
        "{e}"
    );
    w.gpg.sign(&w.key, &file, &[]);
    let f = w
        .fetch(
            &format!("file://{}", file.display()),
            "none",
            PullPolicy::New,
        )
        .unwrap();
    assert_eq!(f.signer.unwrap().fingerprint, w.key);

    // Unsigned over HTTPS: refused unless signatures are waived; then recorded as unsigned.
    let bytes = simple_aci("example.test/unsigned", &host_labels("1.0.0"), "", "u");
    w.publish_bytes("example.test/unsigned", "1.0.0", &bytes, false);
    let e = w
        .fetch("example.test/unsigned:1.0.0", "none", PullPolicy::New)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("unsigned") && msg.contains("--insecure-options=signature"),
        "{msg}"
    );
    let f = w
        .fetch("example.test/unsigned:1.0.0", "signature", PullPolicy::New)
        .unwrap();
    assert!(f.signer.is_none());
    assert_eq!(w.store.get(&f.id).unwrap().unwrap().signer, None);
}

#[jetpack_testutil::root_test]
fn signature_failures_over_https() {
    let mut w = World::new();
    // No key trusted yet: the error names the signer's fingerprint.
    w.publish("example.test/app", "1.0.0", "");
    let e = w
        .fetch("example.test/app:1.0.0", "none", PullPolicy::New)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Verify(jetpack_fetch::VerifyError::Untrusted { .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains(&w.key), "{e}");
    w.assert_clean();

    // Trusted, but the file was swapped after signing.
    w.trust("example.test");
    let url = w.publish("example.test/app", "1.0.0", "");
    let path = url.trim_start_matches("https://");
    w.https.route(
        path,
        Reply::Body(simple_aci(
            "example.test/app",
            &host_labels("1.0.0"),
            "",
            "evil",
        )),
    );
    let e = w
        .fetch("example.test/app:1.0.0", "none", PullPolicy::New)
        .unwrap_err();
    assert!(e.to_string().starts_with("bad signature"), "{e}");
    w.assert_clean();

    // Properly signed, but not the image asked for.
    let other = simple_aci("example.test/other", &host_labels("1.0.0"), "", "o");
    w.publish_bytes("example.test/app", "1.0.0", &other, true);
    let e = w
        .fetch("example.test/app:1.0.0", "none", PullPolicy::New)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("holds image example.test/other, but example.test/app"),
        "{e}"
    );
    w.assert_clean();
}

#[jetpack_testutil::root_test]
fn insecure_options_for_http_and_tls() {
    let mut w = World::new();
    w.trust("plain.test");
    let plain = Server::start(None);
    w.extra_resolve = format!("{},{}", w.extra_resolve, plain.resolve(&["plain.test"], 80));
    // Discovery over HTTPS fails (no page there), the page is only served over plain HTTP.
    plain.route(
        "plain.test/?ac-discovery=1",
        Reply::Body(meta_page(
            "plain.test",
            "http://plain.test/{name}.{ext}",
            None,
        )),
    );
    let bytes = simple_aci("plain.test/app", &host_labels("1"), "", "p");
    plain.route("plain.test/plain.test/app.aci", Reply::Body(bytes.clone()));
    let file = w.dir.path().join("p.aci");
    std::fs::write(&file, &bytes).unwrap();
    let asc = w.gpg.sign(&w.key, &file, &[]);
    plain.route(
        "plain.test/plain.test/app.aci.asc",
        Reply::Body(std::fs::read(asc).unwrap()),
    );
    let e = w
        .fetch("plain.test/app", "none", PullPolicy::New)
        .unwrap_err();
    assert!(
        e.to_string().contains("discovery of plain.test/app failed"),
        "{e}"
    );
    let e = w
        .fetch(
            "http://plain.test/plain.test/app.aci",
            "none",
            PullPolicy::New,
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("plain HTTP is refused; use --insecure-options=http"),
        "{e}"
    );
    w.fetch("plain.test/app", "http", PullPolicy::New).unwrap();

    // Without the test CA the certificate is refused, unless TLS checks are waived.
    w.trust("example.test");
    w.publish("example.test/tls", "1.0.0", "");
    let mut no_ca = w.settings();
    no_ca.ca_files.clear();
    let e = w
        .fetch_with(
            "example.test/tls:1.0.0",
            "none",
            PullPolicy::New,
            no_ca.clone(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("fetch.ca-file"), "{e}");
    w.fetch_with("example.test/tls:1.0.0", "tls", PullPolicy::New, no_ca)
        .unwrap();
}

#[jetpack_testutil::root_test]
fn bad_servers_leave_nothing_behind() {
    let mut w = World::new();
    w.trust("example.test");
    let (os, arch) = appc::host_os_arch();
    let at = |name: &str| format!("storage.example.test/example.test/{name}-1.0.0-{os}-{arch}.aci");
    let bytes = simple_aci("example.test/x", &host_labels("1.0.0"), "", "x");
    let cases: Vec<(&str, Reply, &str)> = vec![
        ("stall", Reply::Stall, "timed out"),
        ("gone", Reply::Status(404), "HTTP 404"),
        ("broken", Reply::Status(500), "HTTP 500"),
        (
            "loop",
            Reply::Redirect(format!("https://{}", at("loop"))),
            "too many redirects",
        ),
        (
            "short",
            Reply::Lie {
                announce: bytes.len() as u64 + 100,
                body: bytes.clone(),
            },
            "download failed",
        ),
        (
            "long",
            Reply::Lie {
                announce: bytes.len() as u64 - 100,
                body: bytes.clone(),
            },
            "bad signature",
        ),
    ];
    for (name, reply, want) in cases {
        let full = format!("example.test/{name}");
        w.publish_bytes(&full, "1.0.0", &bytes, true);
        w.https.route(&at(name), reply);
        let t = std::time::Instant::now();
        let e = w
            .fetch(&format!("{full}:1.0.0"), "none", PullPolicy::New)
            .unwrap_err()
            .to_string();
        eprintln!("{name}: {e}");
        assert!(e.contains(want), "{name}: {e}");
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{name} took {:?}",
            t.elapsed()
        );
        w.assert_clean();
    }

    // Without the signature check, the truncated image is caught as a corrupt archive.
    let e = w
        .fetch("example.test/long:1.0.0", "signature", PullPolicy::New)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a valid image"), "{e}");
    w.assert_clean();

    // A discovery page may not send us to local files.
    w.https.route(
        "example.test/local?ac-discovery=1",
        Reply::Body(meta_page(
            "example.test/local",
            "file:///etc/{name}.{ext}",
            None,
        )),
    );
    let e = w
        .fetch("example.test/local", "none", PullPolicy::New)
        .unwrap_err()
        .to_string();
    assert!(e.contains("may not name a local file"), "{e}");

    // Pages without any tag, at every level: discovery fails and says where it looked.
    w.https.route(
        "example.test/?ac-discovery=1",
        Reply::Body(b"no tags here".to_vec()),
    );
    let e = w
        .fetch("example.test/notags", "none", PullPolicy::New)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("https://example.test/notags?ac-discovery=1: HTTP 404"),
        "{e}"
    );
    assert!(
        e.contains("https://example.test?ac-discovery=1: no ac-discovery template"),
        "{e}"
    );
    let e = w
        .fetch("nowhere.test/app", "none", PullPolicy::New)
        .unwrap_err()
        .to_string();
    assert!(e.contains("discovery of nowhere.test/app failed"), "{e}");
    w.assert_clean();
}

#[test]
fn key_discovery() {
    let w = World::new();
    let client = jetpack_fetch::Client::new(&w.settings()).unwrap();
    let found = discover_keys(&client, "example.test/some/app").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "https://example.test/pubkeys.asc");
    assert_eq!(
        jetpack_fetch::keys::fingerprint_of(&found[0].1[0].primary_key),
        w.key
    );
    let e = discover_keys(&client, "nowhere.test/app")
        .unwrap_err()
        .to_string();
    assert!(e.contains("discovery of nowhere.test/app failed"), "{e}");
}
