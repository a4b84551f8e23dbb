//! A client of the registry HTTP API v2 (the OCI distribution spec) for one registry: manifests
//! of all four kinds, blobs streamed and verified as they are read, anonymous, basic and
//! bearer-token authentication, retries, and the choice of the host's platform.
//!
//! Nothing unverified is handed on as good: a manifest's bytes are checked against the digest
//! the registry announces and the digest asked for; a blob's reader fails at its end unless
//! size and digest match what the manifest names.

pub mod auth;
mod layout;
mod pull;
mod verify;

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use jetpack_oci::manifest::{MAX_DOCUMENT, Parsed, parse_config, parse_manifest};
use jetpack_oci::reference::{DOCKER_HUB, DOCKER_HUB_API, check_digest};
use jetpack_oci::{DockerRef, Platform, media, platform};
use oci_spec::image::{Descriptor, ImageManifest};
use ureq::config::RedirectAuthHeaders;
use ureq::http::Response;
use ureq::{Body, Error as UreqError};

pub use auth::{Challenge, Credentials, default_auth_files, lookup, parse_www_authenticate};
pub use layout::pull_to_layout;
pub use pull::pull;
pub use verify::VerifyingReader;

use crate::error::{Error, Result};
use crate::http::{Client, HttpSettings, http_err};
use auth::TokenCache;
use verify::{Hasher, digest_like};

/// How often a request is tried again after a connection reset, 429 or 5xx.
const RETRIES: u32 = 3;
/// The first pause before trying again; it doubles each time.
const BACKOFF: Duration = Duration::from_millis(250);

/// A manifest or index as the registry sent it, verified.
#[derive(Debug, Clone)]
pub struct ManifestBytes {
    pub bytes: Vec<u8>,
    /// The registry's `Content-Type` (may be empty: the document's own then decides).
    pub media_type: String,
    pub digest: String,
}

/// An image resolved for a platform: its manifest and configuration, verified.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub manifest: ImageManifest,
    /// The platform's manifest as the registry sent it, its media type and digest.
    pub manifest_bytes: ManifestBytes,
    /// The digest of the index (manifest list) the manifest was chosen from, if any.
    pub index_digest: Option<String>,
    pub config: Vec<u8>,
}

/// A blob being downloaded: fails at its end unless its size and digest are right.
pub type Blob = VerifyingReader<Box<dyn Read + Send>>;

#[derive(Default)]
struct AuthState {
    /// The challenge of the registry's last 401; `None` until there was one.
    challenge: Option<Challenge>,
    tokens: TokenCache,
}

/// A client of one registry.
pub struct Registry {
    client: Client,
    /// `docker.io`, `host:port`: the name in references and credentials files.
    registry: String,
    /// The host (and port) that serves the API.
    host: String,
    credentials: Option<Credentials>,
    /// `https://host`, or `http://host` when allowed and HTTPS does not answer; found at the
    /// first request.
    base: Mutex<Option<String>>,
    auth: Mutex<AuthState>,
}

impl Registry {
    /// A client of `registry` (`docker.io`, `host:port`) with `credentials`, if any.
    pub fn new(
        registry: &str,
        settings: &HttpSettings,
        credentials: Option<Credentials>,
    ) -> Result<Registry> {
        let host = if registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            registry
        };
        Ok(Registry {
            client: Client::new(settings)?,
            registry: registry.to_string(),
            host: host.to_string(),
            credentials,
            base: Mutex::new(None),
            auth: Mutex::default(),
        })
    }

    /// A client of the registry of `r`, with the credentials the usual files have for it.
    /// A registry named in `registries.insecure` is spoken to over plain HTTP and without
    /// TLS verification.
    pub fn for_ref(r: &DockerRef, settings: &HttpSettings) -> Result<Registry> {
        let creds = lookup(&r.registry, &default_auth_files())?;
        if settings.insecure_registries.contains(&r.registry) {
            let mut waived = settings.clone();
            waived.allow_http = true;
            waived.insecure_tls = true;
            return Registry::new(&r.registry, &waived, creds);
        }
        Registry::new(&r.registry, settings, creds)
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The manifest or index `reference` (a tag or a digest) of `repo`, verified against the
    /// registry's `Docker-Content-Digest` and, for a digest, against it.
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<ManifestBytes> {
        let by_digest = reference.contains(':');
        if by_digest {
            check_digest(reference).map_err(Error::Invalid)?;
        }
        let sep = if by_digest { "@" } else { ":" };
        let what = format!("{}/{repo}{sep}{reference}", self.registry);
        let (url, mut resp) = self.get(
            repo,
            &format!("manifests/{reference}"),
            Some(media::ACCEPT_MANIFESTS),
        )?;
        match resp.status().as_u16() {
            200 => {}
            404 => {
                return Err(Error::NotFound {
                    url,
                    msg: format!("no image {repo}{sep}{reference} on {}", self.registry),
                });
            }
            s => return Err(self.status_error(&url, s)),
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        let announced = header("docker-content-digest");
        let media_type = header("content-type")
            .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_DOCUMENT as u64)
            .read_to_vec()
            .map_err(|e| http_err(&url, e))?;
        let mut digest = digest_like(&bytes, "sha256:");
        for want in announced
            .iter()
            .map(String::as_str)
            .chain(by_digest.then_some(reference))
        {
            if Hasher::for_digest(want).is_none() {
                return Err(Error::Mismatch(format!(
                    "{what}: the registry names the digest {want}, of an unknown algorithm"
                )));
            }
            let got = digest_like(&bytes, want);
            if got != want {
                return Err(Error::Mismatch(format!(
                    "{what}: digest mismatch: the manifest the registry sent has digest {got}, \
                     not {want}; the registry's copy is damaged or was replaced"
                )));
            }
            digest = got;
        }
        Ok(ManifestBytes {
            bytes,
            media_type,
            digest,
        })
    }

    /// The blob `d` of `repo`, streamed: the reader fails at the end (or as soon as too much
    /// comes) unless size and digest are those of `d`. Redirects are followed, without the
    /// `Authorization` header when they leave the registry's host.
    pub fn blob(&self, repo: &str, d: &Descriptor) -> Result<Blob> {
        let digest = d.digest().to_string();
        check_digest(&digest).map_err(Error::Invalid)?;
        let what = format!("{}/{repo}@{digest}", self.registry);
        let (url, resp) = self.get(repo, &format!("blobs/{digest}"), None)?;
        match resp.status().as_u16() {
            200 => {}
            404 => {
                return Err(Error::NotFound {
                    url,
                    msg: format!("blob {digest} of {repo} is not on {}", self.registry),
                });
            }
            s => return Err(self.status_error(&url, s)),
        }
        if let Some(n) = resp.body().content_length().filter(|n| *n != d.size()) {
            return Err(Error::Mismatch(format!(
                "{what}: the registry announces {n} bytes; the manifest names {}",
                d.size()
            )));
        }
        let body: Box<dyn Read + Send> = Box::new(resp.into_body().into_reader());
        Ok(VerifyingReader::new(body, what, &digest, d.size()))
    }

    /// A small blob (a configuration) read into memory, verified.
    pub fn blob_bytes(&self, repo: &str, d: &Descriptor) -> Result<Vec<u8>> {
        if d.size() > MAX_DOCUMENT as u64 {
            return Err(Error::Invalid(format!(
                "{}/{repo}@{}: {} bytes is larger than the {} MiB a configuration may have",
                self.registry,
                d.digest(),
                d.size(),
                MAX_DOCUMENT >> 20
            )));
        }
        let mut out = Vec::new();
        self.blob(repo, d)?
            .read_to_end(&mut out)
            .map_err(|e| Error::Mismatch(e.to_string()))?;
        Ok(out)
    }

    /// The image `r` for `want`: an index or manifest list is followed to the platform's
    /// manifest (an error lists the platforms there are); the configuration is fetched and
    /// checked.
    pub fn resolve(&self, r: &DockerRef, want: &Platform) -> Result<Resolved> {
        let what = r.to_string();
        let repo = &r.repository;
        let top = self.manifest(repo, r.reference())?;
        let (manifest, manifest_bytes, index_digest) =
            match parse_manifest(&top.bytes, Some(&top.media_type), &what)? {
                Parsed::Manifest(m) => (*m, top, None),
                Parsed::Index(index) => {
                    let d = platform::select(index.manifests(), want, &what)?;
                    let sub = self.manifest(repo, d.digest().as_ref())?;
                    if sub.bytes.len() as u64 != d.size() {
                        return Err(Error::Mismatch(format!(
                            "{what}: the manifest for {want} has {} bytes; the index names {}",
                            sub.bytes.len(),
                            d.size()
                        )));
                    }
                    let sub_what = format!("{what} ({want})");
                    match parse_manifest(&sub.bytes, Some(&sub.media_type), &sub_what)? {
                        Parsed::Manifest(m) => (*m, sub, Some(top.digest)),
                        Parsed::Index(_) => {
                            return Err(Error::Invalid(format!(
                                "{sub_what}: an index inside an index is not supported"
                            )));
                        }
                    }
                }
            };
        let config = self.blob_bytes(repo, manifest.config())?;
        let parsed = parse_config(&config, &format!("{what}: configuration"))?;
        let (os, arch) = (parsed.os().to_string(), parsed.architecture().to_string());
        if os != want.os || arch != want.architecture {
            return Err(jetpack_oci::Error::NoPlatform {
                what,
                wanted: want.to_string(),
                available: format!("{os}/{arch}"),
            }
            .into());
        }
        Ok(Resolved {
            manifest,
            manifest_bytes,
            index_digest,
            config,
        })
    }

    /// `https://host`, or `http://host` when plain HTTP is allowed and HTTPS does not answer.
    fn base(&self) -> Result<String> {
        let mut base = self.base.lock().expect("not poisoned");
        if let Some(b) = base.as_ref() {
            return Ok(b.clone());
        }
        let https = format!("https://{}", self.host);
        let chosen = if self.client.allows_http()
            && self
                .client
                .agent()
                .get(format!("{https}/v2/"))
                .call()
                .is_err()
        {
            format!("http://{}", self.host)
        } else {
            https
        };
        *base = Some(chosen.clone());
        Ok(chosen)
    }

    /// GETs `/v2/REPO/PATH`, authenticating as the registry asks, trying again after
    /// connection resets, 429 and 5xx. Returns the URL and the last response.
    fn get(
        &self,
        repo: &str,
        path: &str,
        accept: Option<&str>,
    ) -> Result<(String, Response<Body>)> {
        let url = format!("{}/v2/{repo}/{path}", self.base()?);
        self.client.check_url(&url)?;
        let mut reauthenticated = false;
        let mut attempt = 0;
        loop {
            let authorization = self.authorization(repo)?;
            let mut req = self.client.agent().get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(a) = &authorization {
                req = req.header("Authorization", a);
            }
            let req = req
                .config()
                .redirect_auth_headers(RedirectAuthHeaders::SameHost)
                .build();
            match req.call() {
                Err(e) if attempt < RETRIES && retryable(&e) => {}
                Err(e) => return Err(http_err(&url, e)),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 401 && !reauthenticated {
                        reauthenticated = true;
                        self.challenged(&url, &resp)?;
                        continue;
                    }
                    if !(status == 429 || (500..600).contains(&status)) || attempt >= RETRIES {
                        return Ok((url, resp));
                    }
                }
            }
            std::thread::sleep(BACKOFF * 2u32.pow(attempt));
            attempt += 1;
        }
    }

    /// The `Authorization` header for requests on `repo`, as the last challenge asked.
    fn authorization(&self, repo: &str) -> Result<Option<String>> {
        let mut state = self.auth.lock().expect("not poisoned");
        let Some(challenge) = state.challenge.clone() else {
            return Ok(None);
        };
        match challenge.scheme.as_str() {
            "basic" => Ok(self.credentials.as_ref().map(Credentials::basic_header)),
            "bearer" => {
                let scope = format!("repository:{repo}:pull");
                if let Some(t) = state.tokens.get(&scope) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let (token, expires) = self.fetch_token(&challenge, &scope)?;
                state.tokens.put(&scope, token.clone(), expires);
                Ok(Some(format!("Bearer {token}")))
            }
            _ => Ok(None),
        }
    }

    /// Takes in the challenge of a 401, for the next request; an error when there is no way
    /// to answer it.
    fn challenged(&self, url: &str, resp: &Response<Body>) -> Result<()> {
        let header = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let challenges = parse_www_authenticate(&header);
        let usable = challenges
            .iter()
            .find(|c| c.scheme == "bearer")
            .or_else(|| challenges.iter().find(|c| c.scheme == "basic"));
        let Some(c) = usable else {
            return Err(self.status_error(url, 401));
        };
        if c.scheme == "basic" && self.credentials.is_none() {
            return Err(self.login_error());
        }
        let mut state = self.auth.lock().expect("not poisoned");
        // A bearer challenge after a token was sent: the token was not enough; get a new one.
        state.tokens = TokenCache::default();
        state.challenge = Some(c.clone());
        Ok(())
    }

    /// Asks the challenge's token server for a token for `scope`, with the credentials if any.
    fn fetch_token(&self, c: &Challenge, scope: &str) -> Result<(String, Option<u64>)> {
        let realm = c.param("realm").ok_or_else(|| Error::Http {
            url: self.host.clone(),
            msg: "the registry asks for a bearer token but names no token server (realm)".into(),
        })?;
        self.client.check_remote_url(realm)?;
        let mut attempt = 0;
        loop {
            let mut req = self.client.agent().get(realm).query("scope", scope);
            if let Some(s) = c.param("service") {
                req = req.query("service", s);
            }
            if let Some(creds) = &self.credentials {
                req = req.header("Authorization", creds.basic_header());
            }
            match req.call() {
                Err(e) if attempt < RETRIES && retryable(&e) => {}
                Err(e) => return Err(http_err(realm, e)),
                Ok(mut resp) => match resp.status().as_u16() {
                    200 => {
                        let body = resp
                            .body_mut()
                            .with_config()
                            .limit(crate::http::SMALL_LIMIT)
                            .read_to_vec()
                            .map_err(|e| http_err(realm, e))?;
                        return auth::parse_token(&body, realm);
                    }
                    401 | 403 => return Err(self.login_error()),
                    s if attempt < RETRIES && (s == 429 || s >= 500) => {}
                    s => return Err(self.status_error(realm, s)),
                },
            }
            std::thread::sleep(BACKOFF * 2u32.pow(attempt));
            attempt += 1;
        }
    }

    /// What to do about a refused request: log in, or check the credentials used.
    fn login_error(&self) -> Error {
        let r = &self.registry;
        Error::Auth(match &self.credentials {
            None => format!(
                "{r}: authentication required; log in: put credentials for {r} in \
                 ~/.docker/config.json or $REGISTRY_AUTH_FILE"
            ),
            Some(c) => {
                let from = c
                    .source
                    .as_ref()
                    .map(|p| format!(" (from {})", p.display()))
                    .unwrap_or_default();
                format!(
                    "{r} refused the credentials of {:?}{from}; check the user name and password",
                    c.user
                )
            }
        })
    }

    fn status_error(&self, url: &str, status: u16) -> Error {
        match status {
            401 | 403 => self.login_error(),
            s => Error::Http {
                url: url.to_string(),
                msg: format!("the registry answered HTTP {s}"),
            },
        }
    }
}

/// Whether a failed request is worth trying again: the connection was reset or closed.
fn retryable(e: &UreqError) -> bool {
    use std::io::ErrorKind::*;
    match e {
        UreqError::Io(io) => matches!(
            io.kind(),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
        ),
        _ => false,
    }
}
