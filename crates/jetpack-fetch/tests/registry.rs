//! The registry client against real parts: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 with TLS from a test CA, anonymous, with htpasswd basic auth, and with token auth
//! served by a token server the test runs (ES256 JWTs the registry verifies); images pushed
//! with `skopeo` from OCI layouts the test builds. A small fake registry covers what a real
//! one does not do on purpose: a connection closed mid-blob, schema 1, 503s.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jetpack_fetch::registry::{Credentials, Registry, pull_to_layout};
use jetpack_fetch::{Error, HttpSettings};
use jetpack_oci::{DockerRef, Platform};
use jetpack_testutil::aci::gzip;
use jetpack_testutil::https::{Reply, Server};
use sha2::{Digest, Sha256};

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// A test CA, a server certificate for 127.0.0.1 signed by it (PEM files for the registry and
/// a rustls configuration for the test's own servers), and a token signing key.
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    server: Arc<rustls::ServerConfig>,
    /// The token issuer's self-signed certificate (the registry's root bundle) and key.
    token_cert_der: Vec<u8>,
    token_cert: PathBuf,
    token_key: ring::signature::EcdsaKeyPair,
}

impl Pki {
    fn new() -> Pki {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Jetpack registry test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let dir = tempfile::Builder::new().prefix("jp-pki").tempdir().unwrap();
        let write = |name: &str, data: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, data).unwrap();
            p
        };
        let ca_file = write("ca.pem", ca_cert.pem());
        let cert = write("cert.pem", leaf_cert.pem());
        let key = write("key.pem", leaf_key.serialize_pem());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        let mut tp = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        tp.distinguished_name
            .push(rcgen::DnType::CommonName, "Jetpack test token issuer");
        let tkey = rcgen::KeyPair::generate().unwrap();
        let tcert = tp.self_signed(&tkey).unwrap();
        let token_cert = write("token.pem", tcert.pem());
        let token_key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &tkey.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        Pki {
            dir,
            ca: ca_file,
            cert,
            key,
            server: Arc::new(server),
            token_cert_der: tcert.der().to_vec(),
            token_cert,
            token_key,
        }
    }

    fn settings(&self) -> HttpSettings {
        HttpSettings {
            ca_files: vec![self.ca.clone()],
            timeout: Duration::from_secs(10),
            ..HttpSettings::default()
        }
    }

    /// A JWT for distribution's token auth granting `scope` (`repository:NAME:ACTIONS`).
    fn token(&self, scope: &str) -> String {
        let mut parts = scope.splitn(3, ':');
        let (kind, name, actions) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({
            "typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.token_cert_der)],
        });
        let claims = serde_json::json!({
            "iss": "jetpack-test-issuer", "sub": "alice", "aud": "jetpack-test",
            "exp": now + 600, "nbf": now - 60, "iat": now - 60, "jti": format!("{now}-{scope}"),
            "access": [{"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}],
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .token_key
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How the registry authenticates.
enum Auth {
    None,
    Htpasswd(&'static str, &'static str),
    /// Token auth with the token server at this realm.
    Token(String),
}

/// A `docker-registry` process with its storage; killed on drop.
struct RegistryProc {
    child: Child,
    dir: tempfile::TempDir,
    host: String,
}

impl RegistryProc {
    fn start(pki: &Pki, auth: Auth) -> RegistryProc {
        let dir = tempfile::Builder::new().prefix("jp-reg").tempdir().unwrap();
        let port = free_port();
        let auth = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd(user, pass) => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, pass])
                    .output()
                    .expect("htpasswd (apt-get install apache2-utils)");
                assert!(out.status.success());
                let f = dir.path().join("htpasswd");
                std::fs::write(&f, out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: jetpack-test\n    path: {}\n",
                    f.display()
                )
            }
            Auth::Token(realm) => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: jetpack-test\n    \
                 issuer: jetpack-test-issuer\n    rootcertbundle: {}\n",
                pki.token_cert.display()
            ),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: jetpack-test-secret\n  \
             tls:\n    certificate: {}\n    key: {}\n{auth}",
            dir.path().join("data").display(),
            pki.cert.display(),
            pki.key.display()
        );
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let r = RegistryProc {
            child,
            dir,
            host: format!("127.0.0.1:{port}"),
        };
        let until = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "the registry did not start: {}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Where the registry keeps the data of blob `digest`.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// `skopeo copy` of `src` to `docker://HOST/dest`, with the test CA and `creds`.
    fn push(&self, pki: &Pki, src: &str, dest: &str, creds: Option<&str>, all: bool) {
        let certs = pki.dir.path().join("certs.d");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::copy(&pki.ca, certs.join("ca.crt")).unwrap();
        let mut c = Command::new("skopeo");
        c.args(["--insecure-policy", "copy", "--quiet", "--dest-cert-dir"])
            .arg(&certs);
        if let Some(cr) = creds {
            c.args(["--dest-creds", cr]);
        }
        if all {
            c.arg("--all");
        }
        c.arg(src).arg(format!("docker://{}/{dest}", self.host));
        // skopeo must not find the host's credentials or policy.
        c.env("HOME", pki.dir.path())
            .env("XDG_RUNTIME_DIR", pki.dir.path())
            .env_remove("REGISTRY_AUTH_FILE");
        let out = c.output().expect("skopeo (apt-get install skopeo)");
        assert!(
            out.status.success(),
            "skopeo copy {src} {dest}: {}\nregistry log: {}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    fn reference(&self, name: &str) -> DockerRef {
        DockerRef::parse(&format!("{}/{name}", self.host)).unwrap()
    }
}

impl Drop for RegistryProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gzip layer tar of `files` (path, mode, content; a content starting with `->` is a
/// symlink target).
fn layer(files: &[(&str, u32, &[u8])]) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        if let Some(target) = data.strip_prefix(b"->") {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_link_name(std::str::from_utf8(target).unwrap())
                .unwrap();
            tar.append_data(&mut h, path, std::io::empty()).unwrap();
        } else {
            h.set_size(data.len() as u64);
            tar.append_data(&mut h, path, *data).unwrap();
        }
    }
    let raw = tar.into_inner().unwrap();
    (gzip(&raw), sha256(&raw))
}

/// An OCI image layout being built.
struct Layout {
    dir: PathBuf,
    /// index.json's entries.
    entries: Vec<serde_json::Value>,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
        }
    }

    fn blob(&self, media_type: &str, bytes: &[u8]) -> serde_json::Value {
        let d = sha256(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&d[7..]), bytes).unwrap();
        serde_json::json!({"mediaType": media_type, "digest": d, "size": bytes.len()})
    }

    /// An image of `layers` for `os/arch`; returns the manifest's descriptor.
    fn image(&self, arch: &str, layers: &[(Vec<u8>, String)]) -> serde_json::Value {
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Entrypoint": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.1.clone()).collect::<Vec<_>>()},
        });
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let layers: Vec<_> = layers
            .iter()
            .map(|l| self.blob("application/vnd.oci.image.layer.v1.tar+gzip", &l.0))
            .collect();
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": layers,
        });
        let mut d = self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            m.to_string().as_bytes(),
        );
        d["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        d
    }

    /// An index of `manifests`; returns its descriptor.
    fn index(&self, manifests: Vec<serde_json::Value>) -> serde_json::Value {
        let i = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        self.blob(
            "application/vnd.oci.image.index.v1+json",
            i.to_string().as_bytes(),
        )
    }

    /// Names `desc` `tag` in index.json.
    fn tag(&mut self, mut desc: serde_json::Value, tag: &str) {
        desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        self.entries.push(desc);
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.entries});
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// The test images: `1` (busybox + a second layer, host platform), `multi` (an index with
/// the host's image and an s390x one), `foreign` (an index with arm and s390x only).
struct Images {
    _dir: tempfile::TempDir,
    layout: PathBuf,
    /// The second layer's digest and size.
    top_layer: (String, u64),
}

fn images() -> Images {
    let dir = tempfile::Builder::new().prefix("jp-lay").tempdir().unwrap();
    let path = dir.path().join("layout");
    let mut l = Layout::new(&path);
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static");
    let base = layer(&[
        ("bin/busybox", 0o755, &busybox),
        ("bin/sh", 0o777, b"->busybox"),
    ]);
    let top = layer(&[("etc/hello", 0o644, b"hello from the second layer\n")]);
    let top_layer = (sha256(&top.0), top.0.len() as u64);
    let host = Platform::host().architecture;
    let img = l.image(&host, &[base.clone(), top.clone()]);
    l.tag(img.clone(), "1");
    let s390x = l.image("s390x", std::slice::from_ref(&top));
    let arm = l.image("arm", std::slice::from_ref(&top));
    let multi = l.index(vec![img, s390x.clone()]);
    l.tag(multi, "multi");
    let foreign = l.index(vec![arm, s390x]);
    l.tag(foreign, "foreign");
    Images {
        _dir: dir,
        layout: path,
        top_layer,
    }
}

fn oci(images: &Images, tag: &str) -> String {
    format!("oci:{}:{tag}", images.layout.display())
}

fn read_all(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

fn descriptor(digest: &str, size: u64) -> oci_spec::image::Descriptor {
    serde_json::from_value(serde_json::json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size,
    }))
    .unwrap()
}

#[test]
fn anonymous_pull_of_images_and_indexes() {
    let pki = Pki::new();
    let imgs = images();
    let reg = RegistryProc::start(&pki, Auth::None);
    reg.push(&pki, &oci(&imgs, "1"), "test/busybox:1", None, false);
    reg.push(&pki, &oci(&imgs, "multi"), "test/multi:1", None, true);
    reg.push(&pki, &oci(&imgs, "foreign"), "test/foreign:1", None, true);
    let client = Registry::new(&reg.host, &pki.settings(), None).unwrap();
    let host = Platform::host();

    let r = client
        .resolve(&reg.reference("test/busybox:1"), &host)
        .unwrap();
    assert_eq!(r.manifest.layers().len(), 2);
    assert!(r.index_digest.is_none());
    assert_eq!(sha256(&r.manifest_bytes.bytes), r.manifest_bytes.digest);
    assert_eq!(sha256(&r.config), r.manifest.config().digest().to_string());
    // By digest: the same bytes, checked against the digest asked for.
    let by_digest = client
        .manifest("test/busybox", &r.manifest_bytes.digest)
        .unwrap();
    assert_eq!(by_digest.bytes, r.manifest_bytes.bytes);

    // The layout written is one skopeo reads, with the same manifest digest.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("pulled");
    pull_to_layout(&client, &reg.reference("test/busybox:1"), &host, &dir).unwrap();
    let inspect = Command::new("skopeo")
        .args(["inspect", &format!("oci:{}:1", dir.display())])
        .env("HOME", out.path())
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v["Digest"], r.manifest_bytes.digest.as_str());
    assert!(
        !std::fs::read_dir(dir.join("blobs/sha256"))
            .unwrap()
            .any(|e| e.unwrap().path().extension().is_some()),
        "no partial blob is left"
    );

    // An index is followed to the host's manifest.
    let m = client
        .resolve(&reg.reference("test/multi:1"), &host)
        .unwrap();
    assert!(m.index_digest.is_some());
    assert_eq!(m.manifest_bytes.digest, r.manifest_bytes.digest);

    // An image for other platforms only says which there are.
    let e = client
        .resolve(&reg.reference("test/foreign:1"), &host)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("no image for {host}")) && e.contains("linux/arm, linux/s390x"),
        "{e}"
    );

    let e = client
        .resolve(&reg.reference("test/busybox:nope"), &host)
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("no image test/busybox:nope on {}", reg.host)),
        "{e}"
    );

    // A blob whose stored bytes were changed (same size) fails at its end.
    let (digest, size) = imgs.top_layer.clone();
    let data = reg.blob_file(&digest);
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let blob = client
        .blob("test/busybox", &descriptor(&digest, size))
        .unwrap();
    let e = read_all(blob).unwrap_err().to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    let e = pull_to_layout(
        &client,
        &reg.reference("test/busybox:1"),
        &host,
        &out.path().join("again"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    assert!(
        !out.path()
            .join("again/blobs/sha256")
            .join(&digest[7..])
            .exists(),
        "the damaged blob is not kept"
    );

    // Pulled into a store, the damaged top layer (downloaded while the base layer is imported)
    // fails the pull: the store keeps nothing, not even the base layer, and gc has nothing to do.
    let mut cfg = jetpack_store::Config::default();
    let root = out.path().join("store");
    cfg.set("root", root.to_str().unwrap(), "test").unwrap();
    cfg.set("storage", "dir", "test").unwrap();
    let mut store = jetpack_store::Store::init(&cfg).unwrap();
    let e = jetpack_fetch::registry::pull(
        &client,
        &reg.reference("test/busybox:1"),
        &mut store,
        &jetpack_fetch::Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    assert!(store.images().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(root.join("storage/images"))
            .unwrap()
            .count(),
        0,
        "no layer is kept"
    );
    assert_eq!(store.gc().unwrap().removed, Vec::<String>::new());
}

#[test]
fn basic_auth() {
    let pki = Pki::new();
    let imgs = images();
    let reg = RegistryProc::start(&pki, Auth::Htpasswd("alice", "s3cret"));
    reg.push(
        &pki,
        &oci(&imgs, "1"),
        "test/busybox:1",
        Some("alice:s3cret"),
        false,
    );
    let r = reg.reference("test/busybox:1");
    let host = Platform::host();

    let anonymous = Registry::new(&reg.host, &pki.settings(), None).unwrap();
    let e = anonymous.resolve(&r, &host).unwrap_err().to_string();
    assert!(
        e.contains("authentication required")
            && e.contains(&format!(
                "put credentials for {} in ~/.docker/config.json",
                reg.host
            )),
        "{e}"
    );

    let wrong = Credentials::new("alice", "guess");
    let client = Registry::new(&reg.host, &pki.settings(), Some(wrong)).unwrap();
    let e = client.resolve(&r, &host).unwrap_err().to_string();
    assert!(e.contains("refused the credentials of \"alice\""), "{e}");

    // Credentials from an auth file, as podman and Docker write them.
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    let entry = STANDARD.encode("alice:s3cret");
    std::fs::write(
        &auth,
        format!(r#"{{"auths":{{"{}":{{"auth":"{entry}"}}}}}}"#, reg.host),
    )
    .unwrap();
    let creds = jetpack_fetch::registry::lookup(&reg.host, &[auth]).unwrap();
    let client = Registry::new(&reg.host, &pki.settings(), creds).unwrap();
    let resolved = client.resolve(&r, &host).unwrap();
    let layer = &resolved.manifest.layers()[1];
    let bytes = read_all(client.blob("test/busybox", layer).unwrap()).unwrap();
    assert_eq!(sha256(&bytes), layer.digest().to_string());
}

/// A token server on 127.0.0.1 (TLS): grants what is asked to alice/s3cret, refuses others;
/// logs the scopes it was asked for.
struct TokenServer {
    port: u16,
    scopes: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl TokenServer {
    fn start(pki: Arc<Pki>) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let scopes: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (log, s) = (scopes.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let Ok(c) = rustls::ServerConnection::new(pki.server.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(c, tcp);
                let _ = answer_token(&mut tls, &pki, &log);
            }
        });
        TokenServer { port, scopes, stop }
    }

    fn realm(&self) -> String {
        format!("https://127.0.0.1:{}/token", self.port)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn answer_token(
    s: &mut (impl Read + Write),
    pki: &Pki,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(&mut *s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut authorized = false;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            authorized = v.trim() == format!("Basic {}", STANDARD.encode("alice:s3cret"));
        }
    }
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut scope = String::new();
    let mut service = String::new();
    for kv in query.split('&') {
        match kv.split_once('=') {
            Some(("scope", v)) => scope = percent_decode(v),
            Some(("service", v)) => service = percent_decode(v),
            _ => {}
        }
    }
    log.lock().unwrap().push(scope.clone());
    let (status, body) = if !authorized {
        ("401 Unauthorized", r#"{"details":"no"}"#.to_string())
    } else if service != "jetpack-test" {
        ("400 Bad Request", r#"{"details":"service"}"#.to_string())
    } else {
        (
            "200 OK",
            serde_json::json!({"access_token": pki.token(&scope), "expires_in": 300}).to_string(),
        )
    };
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}

#[test]
fn token_flow() {
    let pki = Arc::new(Pki::new());
    let imgs = images();
    let tokens = TokenServer::start(pki.clone());
    let reg = RegistryProc::start(&pki, Auth::Token(tokens.realm()));
    reg.push(
        &pki,
        &oci(&imgs, "multi"),
        "test/multi:1",
        Some("alice:s3cret"),
        true,
    );
    let r = reg.reference("test/multi:1");
    let host = Platform::host();

    let anonymous = Registry::new(&reg.host, &pki.settings(), None).unwrap();
    let e = anonymous.resolve(&r, &host).unwrap_err().to_string();
    assert!(e.contains("log in: put credentials for"), "{e}");

    tokens.scopes.lock().unwrap().clear();
    let creds = Credentials::new("alice", "s3cret");
    let client = Registry::new(&reg.host, &pki.settings(), Some(creds)).unwrap();
    let resolved = client.resolve(&r, &host).unwrap();
    assert!(resolved.index_digest.is_some());
    for l in resolved.manifest.layers() {
        read_all(client.blob("test/multi", l).unwrap()).unwrap();
    }
    // Index, manifest, configuration and layers with one token: it is cached for its scope.
    assert_eq!(
        *tokens.scopes.lock().unwrap(),
        vec!["repository:test/multi:pull".to_string()]
    );
}

/// A fake registry (the shared HTTPS test server) serving what a real one would not.
#[test]
fn truncated_blobs_schema_one_and_retries() {
    let pki = Pki::new();
    let server = Server::start(Some(pki.server.clone()));
    let host = format!("127.0.0.1:{}", server.port);
    let client = Registry::new(&host, &pki.settings(), None).unwrap();

    let body = vec![7u8; 100_000];
    let digest = sha256(&body);
    server.route(
        &format!("127.0.0.1/v2/test/x/blobs/{digest}"),
        Reply::Lie {
            announce: body.len() as u64,
            body: body[..40_000].to_vec(),
        },
    );
    let blob = client
        .blob("test/x", &descriptor(&digest, body.len() as u64))
        .unwrap();
    let e = read_all(blob).unwrap_err().to_string();
    assert!(e.contains("truncated blob"), "{e}");

    let schema1 = br#"{"schemaVersion":1,"name":"test/old","tag":"1","fsLayers":[]}"#;
    server.route(
        "127.0.0.1/v2/test/old/manifests/1",
        Reply::Body(schema1.to_vec()),
    );
    let e = client
        .resolve(
            &DockerRef::parse(&format!("{host}/test/old:1")).unwrap(),
            &Platform::host(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("schema 1 is not supported"), "{e}");

    server.route("127.0.0.1/v2/test/busy/manifests/1", Reply::Status(503));
    let e = client.manifest("test/busy", "1").unwrap_err().to_string();
    assert!(e.contains("HTTP 503"), "{e}");
    let tries = server
        .requests()
        .iter()
        .filter(|r| r.target.ends_with("/test/busy/manifests/1"))
        .count();
    assert_eq!(tries, 4, "one request and three retries");
}

/// An HTTPS server on 127.0.0.1 answering each request with `handler(host, target,
/// authorization)` → (status line, extra headers, body); stops on drop.
struct FnServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

type Handler = dyn Fn(&str, &str, Option<&str>) -> (String, String, Vec<u8>) + Send + Sync;

impl FnServer {
    fn start(pki: &Pki, handler: Arc<Handler>) -> FnServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, cfg) = (stop.clone(), pki.server.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let Ok(c) = rustls::ServerConnection::new(cfg.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(c, tcp);
                let _ = answer_fn(&mut tls, &*handler);
            }
        });
        FnServer { port, stop }
    }
}

impl Drop for FnServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer_fn(s: &mut (impl Read + Write), handler: &Handler) -> std::io::Result<()> {
    let mut r = BufReader::new(&mut *s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let (mut host, mut auth) = (String::new(), None);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.to_ascii_lowercase().as_str() {
                "host" => host = v.trim().split(':').next().unwrap_or("").to_string(),
                "authorization" => auth = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (status, headers, body) = handler(&host, &target, auth.as_deref());
    write!(
        s,
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(&body)?;
    s.flush()
}

/// A request's `host/target` and its `Authorization`.
type Seen = (String, Option<String>);

#[test]
fn blob_redirects_leave_credentials_behind() {
    let pki = Pki::new();
    let body = b"layer bytes in object storage".to_vec();
    let digest = sha256(&body);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let port = Arc::new(Mutex::new(0u16));
    let (log, p) = (seen.clone(), port.clone());
    let blob = body.clone();
    let server = FnServer::start(
        &pki,
        Arc::new(move |host: &str, target: &str, auth: Option<&str>| {
            log.lock()
                .unwrap()
                .push((format!("{host}{target}"), auth.map(str::to_string)));
            let port = *p.lock().unwrap();
            match (host, auth) {
                ("127.0.0.1", None) => (
                    "401 Unauthorized".into(),
                    "WWW-Authenticate: Basic realm=\"test\"\r\n".into(),
                    Vec::new(),
                ),
                ("127.0.0.1", Some(_)) if target.starts_with("/v2/test/x/blobs/") => (
                    "307 Temporary Redirect".into(),
                    format!("Location: https://localhost:{port}/storage/x\r\n"),
                    Vec::new(),
                ),
                ("127.0.0.1", Some(_)) => (
                    "307 Temporary Redirect".into(),
                    format!("Location: https://127.0.0.1:{port}/v2/test/x/blobs/{digest}\r\n"),
                    Vec::new(),
                ),
                _ => ("200 OK".into(), String::new(), blob.clone()),
            }
        }),
    );
    *port.lock().unwrap() = server.port;
    let creds = Credentials::new("alice", "s3cret");
    let client = Registry::new(
        &format!("127.0.0.1:{}", server.port),
        &pki.settings(),
        Some(creds),
    )
    .unwrap();
    let got = read_all(
        client
            .blob("test/moved", &descriptor(&sha256(&body), body.len() as u64))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(got, body);
    let seen = seen.lock().unwrap().clone();
    let targets: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        targets,
        [
            format!("127.0.0.1/v2/test/moved/blobs/{}", sha256(&body)),
            format!("127.0.0.1/v2/test/moved/blobs/{}", sha256(&body)),
            format!("127.0.0.1/v2/test/x/blobs/{}", sha256(&body)),
            "localhost/storage/x".to_string(),
        ],
        "{seen:?}"
    );
    // Kept on the registry's host (a blob moved to another repository), dropped off it.
    assert!(
        seen[1]
            .1
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    );
    assert!(seen[2].1.is_some(), "{seen:?}");
    assert_eq!(seen[3].1, None, "{seen:?}");
}
