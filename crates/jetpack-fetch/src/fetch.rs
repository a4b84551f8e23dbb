//! Fetching an image into the store: by name (meta discovery), or by `https://`, `http://` or
//! `file://` URL. Each download goes to a scratch directory of the store; the signature is
//! checked, the manifest compared with the request, missing dependencies fetched the same way,
//! and only then is the image imported. A failure at any step leaves nothing in the store.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use appc::ImageManifest;
use jetpack_store::{CacheEntry, ImportOptions, Source, Store};

use crate::discovery::{self, AciEndpoint};
use crate::error::{Error, IoContext, Result};
use crate::http::{Client, Downloaded, HttpSettings, Validators};
use crate::request::ImageRequest;
use crate::trust::TrustStore;
use crate::verify::{self, Signer};
use crate::{Insecure, PullPolicy, Reporter, Silent, now};

/// Dependencies deeper than this are taken for a cycle.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub insecure: Insecure,
    pub pull: PullPolicy,
    /// CA files, resolver overrides and the timeout; `allow_http` and `insecure_tls` are set
    /// from `insecure`.
    pub http: HttpSettings,
}

/// How an image was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// A matching image was already stored; nothing was fetched.
    InStore,
    /// The server said the image at this URL has not changed.
    NotModified(String),
    /// Downloaded from this URL (`existed` if its image ID was already stored).
    Downloaded { url: String, existed: bool },
}

#[derive(Debug, Clone)]
pub struct Fetched {
    pub id: String,
    pub name: String,
    /// The verified signer of what was downloaded now (`None` when nothing was downloaded or
    /// signature checks were off).
    pub signer: Option<Signer>,
    pub how: How,
}

pub struct Fetcher<'a> {
    store: &'a mut Store,
    trust: TrustStore,
    client: Client,
    opts: FetchOptions,
    reporter: &'a dyn Reporter,
    /// Names being fetched, to catch dependency cycles.
    active: HashSet<String>,
}

impl<'a> Fetcher<'a> {
    pub fn new(
        store: &'a mut Store,
        mut opts: FetchOptions,
        reporter: &'a dyn Reporter,
    ) -> Result<Fetcher<'a>> {
        opts.http.allow_http = opts.insecure.http;
        opts.http.insecure_tls = opts.insecure.tls;
        let client = Client::new(&opts.http)?;
        Ok(Fetcher {
            trust: TrustStore::for_store(store.root()),
            store,
            client,
            opts,
            reporter,
            active: HashSet::new(),
        })
    }

    /// Fetches `what`: an `https://`, `http://` or `file://` URL of an ACI, or an image name
    /// `NAME[:VERSION][,LABEL=VALUE…]`.
    pub fn fetch(&mut self, what: &str) -> Result<Fetched> {
        if let Some(r) = jetpack_oci::ImageRef::parse(what)? {
            return self.fetch_oci(&r, what);
        }
        if what.contains("://") {
            self.fetch_url(what)
        } else {
            self.fetch_request(&ImageRequest::parse(what)?, None, 0)
        }
    }

    /// An OCI or Docker image: pulled from its registry (`docker://`), or imported from disk.
    /// With the `new` policy a stored image of that name and tag is used as it is; `update`
    /// asks the registry for the manifest and downloads only if the image is not stored. An
    /// image named by digest cannot change, so a stored one is used under every policy.
    fn fetch_oci(&mut self, r: &jetpack_oci::ImageRef, what: &str) -> Result<Fetched> {
        let by_digest = matches!(r, jetpack_oci::ImageRef::Docker(d) if d.digest.is_some());
        if (self.opts.pull != PullPolicy::Update || by_digest)
            && let Ok(row) = self.store.lookup(what, jetpack_store::Pick::Newest)
        {
            return Ok(Fetched {
                id: row.id,
                name: row.name,
                signer: None,
                how: How::InStore,
            });
        }
        if self.opts.pull == PullPolicy::Never {
            return Err(Error::Invalid(format!(
                "{what} is not in the store, and the pull policy is never"
            )));
        }
        let imported = match r {
            jetpack_oci::ImageRef::Docker(d) => {
                let registry = crate::registry::Registry::for_ref(d, &self.opts.http)?;
                crate::registry::pull(&registry, d, self.store, self.reporter)?
            }
            local => self.store.import_local(local)?,
        };
        Ok(Fetched {
            id: imported.id,
            name: imported.name,
            signer: None,
            how: How::Downloaded {
                url: what.to_string(),
                existed: imported.existed,
            },
        })
    }

    /// The newest stored image matching `req`, if any.
    pub fn stored(&self, req: &ImageRequest) -> Result<Option<(String, String)>> {
        Ok(self
            .store
            .images()?
            .into_iter()
            .find(|r| req.matches_row(r))
            .map(|r| (r.id, r.name)))
    }

    fn fetch_url(&mut self, url: &str) -> Result<Fetched> {
        self.client.check_url(url)?;
        if self.opts.pull != PullPolicy::Update
            && let Some(hit) = self.cached(url)?
        {
            return Ok(self.with_name(Fetched {
                id: hit.image_id,
                name: String::new(),
                signer: None,
                how: How::InStore,
            }));
        }
        if self.opts.pull == PullPolicy::Never {
            return Err(Error::Refused(format!(
                "{url} was never fetched and --pull-policy=never forbids fetching it"
            )));
        }
        self.get_image(
            &AciEndpoint {
                aci: url.to_string(),
                asc: format!("{url}.asc"),
            },
            None,
            None,
            0,
        )
    }

    fn fetch_request(
        &mut self,
        req: &ImageRequest,
        expect_id: Option<&str>,
        depth: usize,
    ) -> Result<Fetched> {
        // A dependency pinned by ID was looked up by ID already; a namesake would not do.
        if self.opts.pull != PullPolicy::Update
            && expect_id.is_none()
            && let Some((id, name)) = self.stored(req)?
        {
            return Ok(Fetched {
                id,
                name,
                signer: None,
                how: How::InStore,
            });
        }
        if self.opts.pull == PullPolicy::Never {
            return Err(Error::Refused(format!(
                "{req} is not in the store and --pull-policy=never forbids fetching it"
            )));
        }
        if depth > MAX_DEPTH || !self.active.insert(req.name.clone()) {
            return Err(Error::Invalid(format!(
                "{req}: the dependencies form a cycle or are nested too deeply"
            )));
        }
        let result = self.discover_and_get(req, expect_id, depth);
        self.active.remove(&req.name);
        result
    }

    fn discover_and_get(
        &mut self,
        req: &ImageRequest,
        expect_id: Option<&str>,
        depth: usize,
    ) -> Result<Fetched> {
        self.reporter.note(&format!("discovering {req}"));
        let labels = req.template_labels();
        let client = &self.client;
        let endpoints = discovery::discover(
            &req.name,
            |url| client.get_discovery_page(url),
            |m| discovery::image_endpoints(m, &req.name, &labels),
            "ac-discovery template",
        )?;
        let mut failures = Vec::new();
        for ep in &endpoints {
            if let Err(e) = self.client.check_remote_url(&ep.aci) {
                failures.push(e);
                continue;
            }
            match self.get_image(ep, Some(req), expect_id, depth) {
                // Another endpoint may serve the image; any other failure is final.
                Err(e @ (Error::Http { .. } | Error::NotFound { .. })) if !is_signature(&e, ep) => {
                    failures.push(e)
                }
                other => return other,
            }
        }
        if failures.len() == 1 {
            return Err(failures.remove(0));
        }
        Err(Error::Discovery {
            name: req.to_string(),
            tried: failures.iter().map(|e| e.to_string()).collect(),
        })
    }

    /// Downloads, verifies, checks and imports one image.
    fn get_image(
        &mut self,
        ep: &AciEndpoint,
        req: Option<&ImageRequest>,
        expect_id: Option<&str>,
        depth: usize,
    ) -> Result<Fetched> {
        let scratch = self.store.scratch()?;
        let aci = scratch.path().join("image.aci");
        let cached = match self.opts.pull {
            PullPolicy::Update => self.cached(&ep.aci)?,
            _ => None,
        };
        let validators = cached.as_ref().map(|c| Validators {
            etag: c.etag.clone(),
            last_modified: c.last_modified.clone(),
        });
        self.reporter.note(&format!("downloading {}", ep.aci));
        let got = self
            .client
            .download(&ep.aci, &aci, validators.as_ref(), self.reporter)?;
        let validators = match (got, cached) {
            (Downloaded::NotModified, Some(c)) => {
                self.store.remember_download(&CacheEntry {
                    fetched: now(),
                    ..c.clone()
                })?;
                return Ok(self.with_name(Fetched {
                    id: c.image_id,
                    name: String::new(),
                    signer: None,
                    how: How::NotModified(ep.aci.clone()),
                }));
            }
            (Downloaded::NotModified, None) => unreachable!("304 only answers validators"),
            (Downloaded::Body { validators, .. }, _) => validators,
        };
        let signature = if self.opts.insecure.signature {
            self.reporter.note(&format!(
                "warning: not checking the signature of {} (--insecure-options=signature)",
                ep.aci
            ));
            None
        } else {
            Some(self.get_signature(&ep.asc, scratch.path())?)
        };
        // By name, the signature is checked before the archive is even parsed; by URL the
        // name (which says which keys count) comes from the manifest.
        let mut signer = None;
        if let (Some(req), Some(sig)) = (req, &signature) {
            signer = Some(self.verify(sig, &ep.asc, &aci, &req.name)?);
        }
        let (manifest, id) = read_manifest(&aci, &ep.aci)?;
        if let Some(req) = req {
            req.check_manifest(&manifest, &ep.aci)?;
        }
        if let (None, Some(sig)) = (req, &signature) {
            signer = Some(self.verify(sig, &ep.asc, &aci, manifest.name.as_str())?);
        }
        if let Some(s) = &signer {
            self.reporter.note(&format!(
                "signed by {} ({}), trusted for {}",
                s.fingerprint,
                s.user_id.as_deref().unwrap_or("no user ID"),
                s.scope
            ));
        }
        if let Some(want) = expect_id
            && !(id == want || (want.len() < id.len() && id.starts_with(want)))
        {
            return Err(Error::Mismatch(format!(
                "{} has image ID {id}, but the dependent image requires {want}",
                ep.aci
            )));
        }
        self.fetch_dependencies(&manifest, depth)?;
        let imported = self.store.import_with(
            Source::File(aci.clone()),
            &ImportOptions {
                signer: signer.as_ref().map(|s| s.fingerprint.clone()),
                ..ImportOptions::default()
            },
        )?;
        if !ep.aci.starts_with("file://") {
            self.store.remember_download(&CacheEntry {
                url: ep.aci.clone(),
                etag: validators.etag,
                last_modified: validators.last_modified,
                image_id: imported.id.clone(),
                fetched: now(),
            })?;
        }
        Ok(Fetched {
            id: imported.id,
            name: imported.name,
            signer,
            how: How::Downloaded {
                url: ep.aci.clone(),
                existed: imported.existed,
            },
        })
    }

    fn get_signature(&self, url: &str, dir: &Path) -> Result<Vec<u8>> {
        let path = dir.join("image.aci.asc");
        match self.client.download(url, &path, None, &Silent) {
            Ok(_) => Ok(std::fs::read(&path).at(&path)?),
            Err(Error::NotFound { .. }) => Err(Error::Refused(format!(
                "{url}: no signature there, so the image is unsigned; fetch it anyway with \
                 --insecure-options=signature"
            ))),
            Err(e) => Err(e),
        }
    }

    fn verify(&self, sig: &[u8], sig_url: &str, aci: &Path, name: &str) -> Result<Signer> {
        let trusted = self.trust.keys_for(name)?;
        let all = self.trust.list()?;
        Ok(verify::verify(
            sig,
            sig_url,
            aci,
            name,
            &trusted,
            &all,
            now(),
        )?)
    }

    fn fetch_dependencies(&mut self, m: &ImageManifest, depth: usize) -> Result<()> {
        for d in &m.dependencies {
            let req = ImageRequest::from_dependency(d);
            let rows = self.store.images()?;
            let present = match &d.image_id {
                Some(id) => rows.iter().any(|r| r.id.starts_with(id.as_str())),
                None => rows.iter().any(|r| req.matches_row(r)),
            };
            if present {
                continue;
            }
            self.reporter
                .note(&format!("fetching dependency {req} of {}", m.name));
            self.fetch_request(&req, d.image_id.as_ref().map(|i| i.as_str()), depth + 1)
                .map_err(|e| Error::Invalid(format!("dependency {req} of {}: {e}", m.name)))?;
        }
        Ok(())
    }

    /// The cache entry of `url` if its image is still stored.
    fn cached(&self, url: &str) -> Result<Option<CacheEntry>> {
        Ok(self.store.cached_download(url)?)
    }

    fn with_name(&self, mut f: Fetched) -> Fetched {
        if let Ok(Some(row)) = self.store.get(&f.id) {
            f.name = row.name;
        }
        f
    }
}

/// Whether a failure concerns the signature URL (missing signatures are final).
fn is_signature(e: &Error, ep: &AciEndpoint) -> bool {
    matches!(e, Error::Http { url, .. } | Error::NotFound { url, .. } if *url == ep.asc)
}

/// Reads and checks the whole archive without writing anything; returns its manifest and ID.
fn read_manifest(aci: &Path, url: &str) -> Result<(ImageManifest, String)> {
    let f = File::open(aci).at(aci)?;
    let (manifest, stats) = jetpack_store::validate_aci(std::io::BufReader::new(f))
        .map_err(|e| Error::Mismatch(format!("{url}: not a valid image: {e}")))?;
    Ok((manifest, stats.image_id()))
}
