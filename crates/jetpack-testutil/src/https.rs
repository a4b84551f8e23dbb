//! A test CA with a server certificate (rcgen), and a small HTTP(S) server on 127.0.0.1 that
//! serves routes by `host/path` and can also misbehave (stall, lie about lengths).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
