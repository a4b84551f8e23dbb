//! Finding images by what users type: an ID prefix (`sha512-8d3f…`), an OCI image's digest
//! prefix (`sha256:4b1c…`), an OCI reference (`docker://REPO:TAG`, `docker://REPO@sha256:…`,
//! `oci:DIR:TAG`), a movable tag `NAME@TAG`, or an image reference
//! `NAME[:VERSION][,LABEL=VALUE…]`.

use crate::error::{Error, Result};
use crate::index::ImageRow;
use crate::store::{Store, short_id};

/// Shortest ID prefix accepted, after `sha512-`: short enough to type, long enough to be
/// unlikely to collide.
const MIN_HEX: usize = 4;

/// How to treat several images matching a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The newest import wins (what running or showing an image by name means).
    Newest,
    /// More than one match is an error (for removal).
    Unique,
}

impl Store {
    /// Resolves `reference` to one image.
    pub fn lookup(&self, reference: &str, pick: Pick) -> Result<ImageRow> {
        let reference = reference.trim();
        if let Some(hex) = reference.strip_prefix("sha512-") {
            if hex.len() < MIN_HEX || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::NotFound(format!(
                    "{reference:?} is not an image ID prefix: give `sha512-` and at least {MIN_HEX} hex digits"
                )));
            }
            let rows = self.index()?.by_prefix(&reference.to_ascii_lowercase())?;
            return match rows.len() {
                0 => Err(Error::NotFound(format!(
                    "no image with ID {reference} in the store (see `jetpack images`)"
                ))),
                1 => Ok(rows.into_iter().next().expect("one row")),
                n => Err(Error::Ambiguous(format!(
                    "{reference} matches {n} images ({}); give more digits",
                    rows.iter()
                        .map(|r| short_id(&r.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            };
        }
        if let Some(hex) = reference.strip_prefix("sha256:") {
            if hex.len() < MIN_HEX || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::NotFound(format!(
                    "{reference:?} is not a digest prefix: give `sha256:` and at least {MIN_HEX} hex digits"
                )));
            }
            let prefix = reference.to_ascii_lowercase();
            let rows = self.by_digest(&prefix, None)?;
            return pick_one(
                rows,
                pick,
                reference,
                "no image with digest",
                "name one by ID",
            );
        }
        match jetpack_oci::ImageRef::parse(reference) {
            Ok(Some(oci)) => return self.lookup_oci(reference, &oci, pick),
            // `@` in a reference with no transport is a tag (`docker://…@sha256:` is not).
            Ok(None) => {
                if let Some(found) = self.lookup_tag(reference) {
                    return found;
                }
            }
            Err(_) => {}
        }
        let r: appc::ImageRef = reference.parse().map_err(|e| {
            Error::NotFound(format!(
                "{reference:?} is neither an image ID nor an image name: {e}"
            ))
        })?;
        let rows: Vec<ImageRow> = self
            .index()?
            .by_name(r.name.as_str())?
            .into_iter()
            .filter(|row| {
                row.has_labels(r.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
            })
            .collect();
        pick_one(rows, pick, reference, "no image matching", "name one by ID")
    }

    /// Images whose manifest or index digest starts with `prefix`, named `name` if given,
    /// newest first. A prefix that matches more than one digest is ambiguous.
    fn by_digest(&self, prefix: &str, name: Option<&str>) -> Result<Vec<ImageRow>> {
        let origins = self.origins()?;
        let rows: Vec<ImageRow> = self
            .index()?
            .by_digest(prefix)?
            .into_iter()
            .filter(|r| name.is_none_or(|n| r.name == n))
            .collect();
        let mut digests: Vec<&str> = rows
            .iter()
            .filter_map(|r| origins.get(&r.id))
            .flat_map(|o| [Some(o.digest.as_str()), o.index_digest.as_deref()])
            .flatten()
            .filter(|d| d.starts_with(prefix))
            .collect();
        digests.sort_unstable();
        digests.dedup();
        if digests.len() > 1 {
            return Err(Error::Ambiguous(format!(
                "{prefix} matches {} digests ({}); give more digits",
                digests.len(),
                digests.join(", ")
            )));
        }
        Ok(rows)
    }

    /// A stored OCI or Docker image by its reference: the name and tag it was stored under.
    fn lookup_oci(
        &self,
        reference: &str,
        r: &jetpack_oci::ImageRef,
        pick: Pick,
    ) -> Result<ImageRow> {
        use jetpack_oci::ImageRef;
        let local = crate::import::layout::local_name;
        let (name, version) = match r {
            // A digest names the image whatever the tag (as in Docker and podman).
            ImageRef::Docker(d) if d.digest.is_some() => {
                let digest = d.digest.as_deref().expect("a digest");
                let name = d.appc_name();
                let rows = self.by_digest(digest, Some(name.as_str()))?;
                let what = format!("no image {name} with digest");
                return pick_one(rows, pick, digest, &what, "name one by ID");
            }
            ImageRef::Docker(d) => (d.appc_name(), d.tag.clone()),
            ImageRef::OciLayout { dir: p, tag } | ImageRef::OciArchive { file: p, tag } => (
                local(p),
                Some(tag.clone().unwrap_or_else(|| "latest".into())),
            ),
            ImageRef::DockerArchive { file, image } => match image {
                Some(d) => (d.appc_name(), d.tag.clone()),
                None => (local(file), None),
            },
        };
        let query = match version {
            Some(v) => format!("{name},version={v}"),
            None => name.to_string(),
        };
        self.lookup(&query, pick).map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(format!(
                "no image {reference} in the store (stored as {query}; see `jetpack images`)"
            )),
            e => e,
        })
    }
}

/// The one image of `rows` (newest first) that `pick` asks for; `missing` and `hint` word the
/// errors for `reference`.
fn pick_one(
    rows: Vec<ImageRow>,
    pick: Pick,
    reference: &str,
    missing: &str,
    hint: &str,
) -> Result<ImageRow> {
    match (rows.len(), pick) {
        (0, _) => Err(Error::NotFound(format!(
            "{missing} {reference} in the store (see `jetpack images`)"
        ))),
        (1, _) | (_, Pick::Newest) => Ok(rows.into_iter().next().expect("one row")),
        (n, Pick::Unique) => Err(Error::Ambiguous(format!(
            "{reference} matches {n} images ({}); {hint}",
            rows.iter()
                .map(|r| short_id(&r.id))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
