//! Test fixtures shared by the fetch tests and the `jetpack` binary's tests: real GnuPG keys and
//! signatures in a temporary GNUPGHOME, a test CA with a server certificate (rcgen), a small
//! HTTP(S) server on 127.0.0.1 that can also misbehave, and gzip ACIs built in memory.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A GnuPG home of its own; its agent is stopped on drop.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        Gpg {
            home: tempfile::Builder::new().prefix("jp-gpg").tempdir().unwrap(),
        }
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("GNUPGHOME", self.home.path()).env("LC_ALL", "C");
        c
    }

    /// Runs gpg in batch mode without passphrases; panics with its stderr on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self
            .cmd("gpg")
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("gpg (apt-get install gnupg)");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fingerprints(&self, who: &str) -> Vec<String> {
        self.run(&["--with-colons", "--list-keys", who])
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap().to_ascii_lowercase())
            .collect()
    }

    /// A new key (`algo`: rsa2048, ed25519…; `usage`: sign, cert…; `expire`: never, 1d…);
    /// `at` fakes the time it is made. Returns the primary fingerprint.
    pub fn key(
        &self,
        uid: &str,
        algo: &str,
        usage: &str,
        expire: &str,
        at: Option<&str>,
    ) -> String {
        let mut args = Vec::new();
        if let Some(t) = at {
            args.extend(["--faked-system-time", t]);
        }
        args.extend(["--quick-gen-key", uid, algo, usage, expire]);
        self.run(&args);
        self.fingerprints(uid)[0].clone()
    }

    /// Adds a subkey; returns its fingerprint.
    pub fn subkey(&self, fpr: &str, algo: &str, usage: &str) -> String {
        self.run(&["--quick-add-key", fpr, algo, usage, "never"]);
        self.fingerprints(fpr).last().unwrap().clone()
    }

    /// Signs `file` with exactly `signer` (a primary or subkey fingerprint) into `out`.
    pub fn sign_to(&self, signer: &str, file: &Path, out: &Path, extra: &[&str]) {
        let signer = format!("{signer}!");
        let mut args = vec!["--armor", "--detach-sign", "-u", &signer];
        args.extend_from_slice(extra);
        args.extend(["-o", out.to_str().unwrap(), file.to_str().unwrap()]);
        self.run(&args);
    }

    /// Signs `file` into `file.asc`.
    pub fn sign(&self, signer: &str, file: &Path, extra: &[&str]) -> PathBuf {
        let out = PathBuf::from(format!("{}.asc", file.display()));
        self.sign_to(signer, file, &out, extra);
        out
    }

    pub fn export(&self, fpr: &str) -> Vec<u8> {
        self.run(&["--armor", "--export", fpr]).into_bytes()
    }

    /// Imports the revocation certificate GnuPG made with the key (reason: none, a hard one).
    pub fn revoke(&self, fpr: &str) {
        let cert = self
            .home
            .path()
            .join("openpgp-revocs.d")
            .join(format!("{}.rev", fpr.to_ascii_uppercase()));
        let text = std::fs::read_to_string(&cert).unwrap();
        let usable = self.home.path().join("revoke.asc");
        std::fs::write(&usable, text.replace(":-----BEGIN", "-----BEGIN")).unwrap();
        self.run(&["--import", usable.to_str().unwrap()]);
    }

    /// Replaces the usage of subkey number `n` (1-based) by authentication only.
    pub fn make_subkey_auth_only(&self, fpr: &str, n: usize) {
        let mut child = self
            .cmd("gpg")
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--command-fd", "0", "--edit-key", fpr])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Toggle sign off and authenticate on, then leave the menu and save.
        let script = format!("key {n}\nchange-usage\nS\nA\nQ\nsave\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "gpg change-usage failed");
    }

    /// The reference verdict: does `gpgv` report a good, valid signature by `key`?
    pub fn gpgv_accepts(&self, key: &[u8], sig: &Path, data: &Path) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let armored = dir.path().join("key.asc");
        std::fs::write(&armored, key).unwrap();
        let ring = dir.path().join("ring.gpg");
        self.run(&[
            "--dearmor",
            "-o",
            ring.to_str().unwrap(),
            armored.to_str().unwrap(),
        ]);
        let out = self
            .cmd("gpgv")
            .args(["--status-fd", "1", "--keyring"])
            .arg(&ring)
            .arg(sig)
            .arg(data)
            .output()
            .expect("gpgv (apt-get install gpgv)");
        let status = String::from_utf8_lossy(&out.stdout);
        out.status.success() && status.lines().any(|l| l.starts_with("[GNUPG:] GOODSIG"))
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = self
            .cmd("gpgconf")
            .args(["--kill", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A gzip ACI with a manifest (name, labels, dependencies as a JSON fragment) and one file.
pub fn aci(name: &str, labels: &[(&str, &str)], deps: &str, content: &str) -> Vec<u8> {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!(r#"{{"name":"{k}","value":"{v}"}}"#))
        .collect();
    let manifest = format!(
        r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"{name}","labels":[{}]{deps}}}"#,
        labels.join(",")
    );
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let mut add = |path: &str, data: &[u8], kind: tar::EntryType, mode: u32| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_path(path).unwrap();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add(
        "manifest",
        manifest.as_bytes(),
        tar::EntryType::Regular,
        0o644,
    );
    add("rootfs", b"", tar::EntryType::Directory, 0o755);
    add(
        "rootfs/hello",
        content.as_bytes(),
        tar::EntryType::Regular,
        0o644,
    );
    b.into_inner().unwrap().finish().unwrap()
}

/// `version`, and the os and arch of this host.
pub fn host_labels(version: &str) -> Vec<(&str, &str)> {
    let (os, arch) = appc::host_os_arch();
    vec![("version", version), ("os", os), ("arch", arch)]
}

/// A test CA and a certificate for the given host names, signed by it.
pub struct TestTls {
    pub dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    pub config: Arc<rustls::ServerConfig>,
}

impl TestTls {
    pub fn new(hosts: &[&str]) -> TestTls {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Jetpack test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let leaf = rcgen::CertificateParams::new(names).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        TestTls {
            dir,
            ca_file,
            config: Arc::new(config),
        }
    }
}

/// What the server answers for a `host/path?query`.
#[derive(Clone)]
pub enum Reply {
    /// 200 with an ETag and Last-Modified; 304 when the request's If-None-Match matches.
    Body(Vec<u8>),
    Status(u16),
    Redirect(String),
    /// Accepts the request and never answers.
    Stall,
    /// Announces `announce` bytes in Content-Length, sends `body`, and closes.
    Lie {
        announce: u64,
        body: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub target: String,
    pub headers: Vec<(String, String)>,
}

/// An HTTP or HTTPS server on 127.0.0.1 serving `Reply`s by `host/path`.
pub struct Server {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let log: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, l, s) = (routes.clone(), log.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let (r, l, s, tls) = (r.clone(), l.clone(), s.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = match tls {
                        Some(cfg) => {
                            let Ok(c) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            serve(rustls::StreamOwned::new(c, tcp), &r, &l, &s)
                        }
                        None => serve(tcp, &r, &l, &s),
                    };
                });
            }
        });
        Server {
            port,
            routes,
            log,
            stop,
        }
    }

    pub fn route(&self, host_path: &str, reply: Reply) {
        self.routes
            .lock()
            .unwrap()
            .insert(host_path.to_string(), reply);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// `HOST:PORT:127.0.0.1:<port>` rules sending each host's `port` here.
    pub fn resolve(&self, hosts: &[&str], port: u16) -> String {
        hosts
            .iter()
            .map(|h| format!("{h}:{port}:127.0.0.1:{}", self.port))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn etag(body: &[u8]) -> String {
    // FNV-1a: stable and good enough to tell test bodies apart.
    let h = body.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    });
    format!("\"{h:016x}\"")
}

fn serve<S: Read + Write>(
    stream: S,
    routes: &Mutex<HashMap<String, Reply>>,
    log: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let host = get("host").unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default().to_string();
        let key = format!("{host}{target}");
        log.lock().unwrap().push(Request {
            target: key.clone(),
            headers: headers.clone(),
        });
        let reply = routes.lock().unwrap().get(&key).cloned();
        let out = r.get_mut();
        match reply {
            Some(Reply::Body(body)) => {
                let tag = etag(&body);
                if get("if-none-match").as_deref() == Some(tag.as_str()) {
                    write!(
                        out,
                        "HTTP/1.1 304 Not Modified\r\nETag: {tag}\r\nContent-Length: 0\r\n\r\n"
                    )?;
                } else {
                    write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {tag}\r\n\
                         Last-Modified: Sun, 13 Sep 2020 12:26:40 GMT\r\n\r\n",
                        body.len()
                    )?;
                    out.write_all(&body)?;
                }
            }
            Some(Reply::Status(code)) => {
                write!(out, "HTTP/1.1 {code} Test\r\nContent-Length: 4\r\n\r\nnope")?
            }
            Some(Reply::Redirect(to)) => write!(
                out,
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"
            )?,
            Some(Reply::Stall) => {
                for _ in 0..600 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                return Ok(());
            }
            Some(Reply::Lie { announce, body }) => {
                write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {announce}\r\n\r\n")?;
                out.write_all(&body)?;
                out.flush()?;
                return Ok(());
            }
            None => write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
            )?,
        }
        out.flush()?;
    }
}

/// A discovery page with one template and optionally a key ring URL for `prefix`.
pub fn meta_page(prefix: &str, template: &str, pubkeys: Option<&str>) -> Vec<u8> {
    let keys = pubkeys
        .map(|k| format!(r#"<meta name="ac-discovery-pubkeys" content="{prefix} {k}">"#))
        .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html><html><head><title>images</title>
<meta name="ac-discovery" content="{prefix} {template}">{keys}</head><body></body></html>"#
    )
    .into_bytes()
}
