//! HTTP(S) over ureq and rustls: HTTPS only unless plain HTTP is allowed, certificates checked
//! against the system's roots plus configured CA files (or not at all when TLS checks are
//! off), timeouts on connecting, on the response and on every read, redirects followed (at
//! most 10), and `file://` for local files.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::DefaultConnector;

use crate::error::{Error, IoContext, Result};
use crate::resolve::{ResolveRule, RuleResolver};
use crate::{Progress, Reporter};

/// Largest discovery page or key ring read into memory.
pub const SMALL_LIMIT: u64 = 1 << 20;

/// Where the system's CA bundle may be (Debian, Fedora, FreeBSD and Alpine, FreeBSD ports).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// How the client may connect.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Allow `http://` (and falling back to it for discovery).
    pub allow_http: bool,
    /// Skip certificate verification.
    pub insecure_tls: bool,
    /// PEM files with CA certificates trusted besides the system's.
    pub ca_files: Vec<PathBuf>,
    pub resolve: Vec<ResolveRule>,
    pub timeout: Duration,
    /// Registries (`HOST[:PORT]`) for which `allow_http` and `insecure_tls` hold whatever the
    /// two say (`registries.insecure`).
    pub insecure_registries: Vec<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            allow_http: false,
            insecure_tls: false,
            ca_files: Vec::new(),
            resolve: Vec::new(),
            timeout: Duration::from_secs(30),
            insecure_registries: Vec::new(),
        }
    }
}

impl From<&jetpack_store::settings::FetchSettings> for HttpSettings {
    /// `fetch.ca-file` and `fetch.timeout`; nothing waived, no resolver rules.
    fn from(f: &jetpack_store::settings::FetchSettings) -> Self {
        HttpSettings {
            ca_files: f.ca_files.clone(),
            timeout: f.timeout,
            insecure_registries: f.insecure_registries.clone(),
            ..HttpSettings::default()
        }
    }
}

/// Validators of an earlier download, sent to revalidate it.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The result of a download.
#[derive(Debug, Clone)]
pub enum Downloaded {
    /// The server answered 304 to the validators.
    NotModified,
    Body {
        bytes: u64,
        validators: Validators,
    },
}

pub struct Client {
    agent: Agent,
    allow_http: bool,
}

impl Client {
    pub fn new(s: &HttpSettings) -> Result<Client> {
        let tls = if s.insecure_tls {
            TlsConfig::builder().disable_verification(true).build()
        } else if s.ca_files.is_empty() {
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .build()
        } else {
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(Arc::new(roots(&s.ca_files)?)))
                .build()
        };
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .https_only(!s.allow_http)
            .max_redirects(10)
            .timeout_resolve(Some(s.timeout))
            .timeout_connect(Some(s.timeout))
            .timeout_recv_response(Some(s.timeout))
            .timeout_per_read(Some(s.timeout))
            .user_agent(format!("jetpack/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        let resolver = RuleResolver {
            rules: s.resolve.clone(),
            fallback: DefaultResolver::default(),
        };
        Ok(Client {
            agent: Agent::with_parts(config, DefaultConnector::new(), resolver),
            allow_http: s.allow_http,
        })
    }

    /// The agent, for clients of other protocols on the same settings (the registry client).
    pub(crate) fn agent(&self) -> &Agent {
        &self.agent
    }

    pub fn allows_http(&self) -> bool {
        self.allow_http
    }

    /// Refuses what policy forbids before any connection is made.
    pub fn check_url(&self, url: &str) -> Result<()> {
        match scheme(url) {
            "https" | "file" => Ok(()),
            "http" if self.allow_http => Ok(()),
            "http" => Err(Error::Refused(format!(
                "{url}: plain HTTP is refused; use --insecure-options=http to allow it"
            ))),
            other => Err(Error::Refused(format!(
                "{url}: unsupported URL scheme {other:?} (https, http or file)"
            ))),
        }
    }

    /// Like `check_url`, for URLs a server gave (discovery templates, key URLs): a remote page
    /// must not point at local files.
    pub fn check_remote_url(&self, url: &str) -> Result<()> {
        if scheme(url) == "file" {
            return Err(Error::Refused(format!(
                "{url}: a discovery page may not name a local file"
            )));
        }
        self.check_url(url)
    }

    /// GETs a small document (discovery page, key ring) into memory.
    pub fn get_small(&self, url: &str) -> Result<Vec<u8>> {
        self.check_url(url)?;
        if let Some(path) = file_path(url) {
            let mut buf = Vec::new();
            open_file(url, &path)?
                .take(SMALL_LIMIT)
                .read_to_end(&mut buf)
                .at(&path)?;
            return Ok(buf);
        }
        let mut resp = self.agent.get(url).call().map_err(|e| http_err(url, e))?;
        check_status(url, resp.status().as_u16())?;
        resp.body_mut()
            .with_config()
            .limit(SMALL_LIMIT)
            .read_to_vec()
            .map_err(|e| http_err(url, e))
    }

    /// GETs a discovery page: HTTPS, then plain HTTP when allowed and HTTPS failed.
    pub fn get_discovery_page(&self, https_url: &str) -> Result<Vec<u8>> {
        match self.get_small(https_url) {
            Err(e) if self.allow_http => {
                let plain = format!("http://{}", https_url.trim_start_matches("https://"));
                self.get_small(&plain).map_err(|e2| Error::Http {
                    url: https_url.to_string(),
                    msg: format!("{e}; over plain HTTP: {e2}"),
                })
            }
            other => other,
        }
    }

    /// Streams `url` into a new file `dest`, revalidating with `cached` if given. A failed
    /// download removes `dest`.
    pub fn download(
        &self,
        url: &str,
        dest: &Path,
        cached: Option<&Validators>,
        reporter: &dyn Reporter,
    ) -> Result<Downloaded> {
        self.check_url(url)?;
        let result = self.download_inner(url, dest, cached, reporter);
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    fn download_inner(
        &self,
        url: &str,
        dest: &Path,
        cached: Option<&Validators>,
        reporter: &dyn Reporter,
    ) -> Result<Downloaded> {
        if let Some(path) = file_path(url) {
            let mut f = open_file(url, &path)?;
            let mut out = File::create_new(dest).at(dest)?;
            let total = f.metadata().at(&path)?.len();
            let mut progress = reporter.download(url, Some(total));
            let bytes = copy(&mut f, &mut out, &mut *progress, url, Some(total))?;
            out.sync_all().at(dest)?;
            return Ok(Downloaded::Body {
                bytes,
                validators: Validators::default(),
            });
        }
        let mut req = self.agent.get(url);
        if let Some(v) = cached {
            if let Some(e) = &v.etag {
                req = req.header("If-None-Match", e);
            }
            if let Some(m) = &v.last_modified {
                req = req.header("If-Modified-Since", m);
            }
        }
        let resp = req.call().map_err(|e| http_err(url, e))?;
        let status = resp.status().as_u16();
        if status == 304 && cached.is_some() {
            return Ok(Downloaded::NotModified);
        }
        check_status(url, status)?;
        let mut out = File::create_new(dest).at(dest)?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
        };
        let total = resp.body().content_length();
        let mut progress = reporter.download(url, total);
        let mut body = resp.into_body().into_reader();
        let bytes = copy(&mut body, &mut out, &mut *progress, url, total)?;
        if let Some(t) = total.filter(|t| *t != bytes) {
            return Err(Error::Http {
                url: url.to_string(),
                msg: format!("received {bytes} bytes, the server announced {t}"),
            });
        }
        out.sync_all().at(dest)?;
        Ok(Downloaded::Body { bytes, validators })
    }
}

fn copy(
    from: &mut dyn Read,
    to: &mut File,
    progress: &mut dyn Progress,
    url: &str,
    total: Option<u64>,
) -> Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let got = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                return Err(Error::Http {
                    url: url.to_string(),
                    msg: format!("download failed after {n}{of} bytes: {}", io_reason(&e)),
                });
            }
        };
        to.write_all(&buf[..got]).map_err(|e| Error::Http {
            url: url.to_string(),
            msg: format!("cannot write the download: {e}"),
        })?;
        n += got as u64;
        progress.advance(got as u64);
    }
    progress.finish();
    Ok(n)
}

fn scheme(url: &str) -> &str {
    url.split_once("://").map(|(s, _)| s).unwrap_or("")
}

fn file_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("file://").map(PathBuf::from)
}

fn check_status(url: &str, status: u16) -> Result<()> {
    if status == 200 {
        return Ok(());
    }
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let msg = format!("HTTP {status} {reason}").trim_end().to_string();
    let url = url.to_string();
    Err(match status {
        404 | 410 => Error::NotFound { url, msg },
        _ => Error::Http { url, msg },
    })
}

/// Opens the file of a `file://` URL; a missing file is `NotFound`.
fn open_file(url: &str, path: &Path) -> Result<File> {
    File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            url: url.to_string(),
            msg: "no such file".into(),
        },
        _ => Error::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })
}

/// The reason inside an I/O error from ureq's body reader (ureq wraps its own errors).
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let inner = e.get_ref();
    if let Some(u) = inner.and_then(|i| i.downcast_ref::<ureq::Error>()) {
        return describe(u);
    }
    if let Some(t) = inner.and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return tls_hint(t);
    }
    e.to_string()
}

fn tls_hint(e: &dyn std::fmt::Display) -> String {
    format!(
        "TLS: {e}; for a private CA add it with -o fetch.ca-file=FILE \
         (--insecure-options=tls skips certificate checks)"
    )
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t}); the server did not answer in time"),
        ureq::Error::TooManyRedirects => {
            "too many redirects (more than 10): a redirect loop?".to_string()
        }
        ureq::Error::RequireHttpsOnly(to) => {
            format!("redirected to plain HTTP ({to}); use --insecure-options=http to allow it")
        }
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => tls_hint(e),
        ureq::Error::Io(io) => io_reason(io),
        other => other.to_string(),
    }
}

pub(crate) fn http_err(url: &str, e: ureq::Error) -> Error {
    Error::Http {
        url: url.to_string(),
        msg: describe(&e),
    }
}

/// The system's CA bundle (`SSL_CERT_FILE` or a well-known path) plus `extra`.
fn roots(extra: &[PathBuf]) -> Result<Vec<Certificate<'static>>> {
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file());
    let mut certs = Vec::new();
    if let Some(bundle) = &system {
        certs.extend(read_pem(bundle)?);
    }
    for f in extra {
        let found = read_pem(f)?;
        if found.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: no PEM certificate in the file (fetch.ca-file)",
                f.display()
            )));
        }
        certs.extend(found);
    }
    Ok(certs)
}

fn read_pem(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let bytes = std::fs::read(path).at(path)?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::Invalid(format!(
                    "{}: bad PEM data: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(out)
}
