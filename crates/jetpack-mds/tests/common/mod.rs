//! Shared test fixtures: a server on 127.0.0.1 with an ephemeral port, a
//! control socket in a tempdir, pod manifests and a raw HTTP client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use jetpack_mds::{
    AppImage, Limits, Registered, Registration, Server, ServerConfig, ensure_host_key, new_token,
    register,
};
use tempfile::TempDir;

pub const UUID: &str = "6733c088-a507-4694-aabf-edbe4fc5266f";
pub const OTHER_UUID: &str = "0f4c7e2a-95b1-4d3e-8a6f-2c9d1e7b3a50";
pub const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

pub fn image_id(fill: char) -> String {
    format!("sha512-{}", fill.to_string().repeat(128))
}

pub fn pod_manifest(uuid_annotation: &str) -> String {
    format!(
        r#"{{"acVersion":"0.8.11","acKind":"PodManifest","apps":[
{{"name":"web","image":{{"name":"example.com/web","id":"{}"}},
  "app":{{"exec":["/bin/web","--port","80"],"user":"0","group":"0"}},
  "annotations":[{{"name":"c","value":"3"}},{{"name":"a","value":"9"}}]}},
{{"name":"db","image":{{"id":"{}"}},"app":{{"exec":["/bin/db"],"user":"0","group":"0"}}}}
],"volumes":[],"isolators":[],"annotations":[{{"name":"ip-address","value":"10.1.2.3"}},{{"name":"example.com/who","value":"{uuid_annotation}"}}],"ports":[]}}"#,
        image_id('a'),
        image_id('b')
    )
}

pub fn image_manifest(name: &str, annotations: &str) -> String {
    format!(
        r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"{name}","labels":[{{"name":"os","value":"linux"}},{{"name":"arch","value":"amd64"}}],"app":{{"exec":["/bin/x"],"user":"0","group":"0"}},"annotations":{annotations}}}"#
    )
}

pub fn registration(uuid: &str, ips: Vec<IpAddr>) -> Registration {
    Registration {
        uuid: uuid.into(),
        token: new_token(),
        ips,
        token_only: false,
        pod_manifest: pod_manifest(uuid),
        apps: vec![
            AppImage {
                name: "web".into(),
                image_manifest: image_manifest(
                    "example.com/web",
                    r#"[{"name":"a","value":"1"},{"name":"b","value":"2"}]"#,
                ),
            },
            AppImage {
                name: "db".into(),
                image_manifest: image_manifest("example.com/db", "[]"),
            },
        ],
    }
}

pub struct Env {
    pub dir: TempDir,
    pub cfg: ServerConfig,
    pub addr: SocketAddr,
    pub serving: Option<JoinHandle<jetpack_mds::Result<()>>>,
}

pub fn config(dir: &TempDir, idle_exit: Option<Duration>) -> ServerConfig {
    let key = dir.path().join("mds.key");
    ensure_host_key(&key).unwrap();
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        control: dir.path().join("mds.sock"),
        lock: dir.path().join("mds.lock"),
        key,
        threads: 2,
        idle_exit,
    }
}

pub fn start(idle_exit: Option<Duration>) -> Env {
    start_with(idle_exit, None)
}

/// A server with other than the default [`Limits`].
pub fn start_with(idle_exit: Option<Duration>, limits: Option<Limits>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir, idle_exit);
    let mut server = Server::bind(cfg.clone()).unwrap();
    if let Some(l) = limits {
        server.set_limits(l);
    }
    let addr = server.local_addr();
    let serving = Some(std::thread::spawn(move || server.serve()));
    Env {
        dir,
        cfg,
        addr,
        serving,
    }
}

impl Env {
    pub fn control(&self) -> PathBuf {
        self.cfg.control.clone()
    }

    pub fn register(&self, reg: &Registration) -> jetpack_mds::Result<Registered> {
        register(&self.cfg.control, reg, Duration::from_secs(5))
    }

    pub fn key(&self) -> Vec<u8> {
        std::fs::read(&self.cfg.key).unwrap()
    }

    pub fn get(&self, token: &str, path: &str) -> Response {
        self.request("GET", token, path, None)
    }

    pub fn post(&self, token: &str, path: &str, form: &str) -> Response {
        self.request("POST", token, path, Some(form.as_bytes()))
    }

    pub fn request(&self, method: &str, token: &str, path: &str, body: Option<&[u8]>) -> Response {
        let target = format!("/{token}/acMetadata/v1{path}");
        http(self.addr, method, &target, body)
    }
}

/// A connection to `addr` from the loopback address `source` (127.0.0.0/8
/// is all local on Linux, so each address is another "pod").
pub fn connect_from(source: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::new(source, 0).into())?;
    s.connect_timeout(&addr.into(), Duration::from_secs(5))?;
    Ok(s.into())
}

/// Sends `raw` on `s` and reads the answer until the server closes or
/// `timeout` passes; returns the status (0 if none) and whether the server
/// closed the connection.
pub fn exchange(s: &mut TcpStream, raw: &[u8], timeout: Duration) -> (u16, bool) {
    s.set_read_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(raw);
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    let status = std::str::from_utf8(&got)
        .ok()
        .and_then(|t| t.strip_prefix("HTTP/1.1 "))
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, closed)
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> &str {
        self.header("Content-Type").unwrap_or("")
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// One HTTP/1.1 request on a fresh connection; the body is read by
/// Content-Length, so the exact bytes are checked.
pub fn http(addr: SocketAddr, method: &str, target: &str, body: Option<&[u8]>) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rq = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nMetadata-Flavor: AppContainer\r\nConnection: close\r\n"
    )
    .into_bytes();
    if let Some(b) = body {
        rq.extend_from_slice(
            format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                b.len()
            )
            .as_bytes(),
        );
    }
    rq.extend_from_slice(b"\r\n");
    rq.extend_from_slice(body.unwrap_or_default());
    s.write_all(&rq).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete response head");
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let body = raw[end + 4..].to_vec();
    if method != "HEAD" {
        assert_eq!(body.len(), len, "body length matches Content-Length");
    }
    Response {
        status,
        headers,
        body,
    }
}

pub const JSON: &str = "application/json";
pub const TEXT: &str = "text/plain; charset=us-ascii";
