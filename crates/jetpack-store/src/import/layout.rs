//! OCI and Docker images on local disk: an OCI image layout directory (`oci:DIR[:TAG]`), the
//! same as a tar (`oci-archive:FILE[:TAG]`), and what `docker save`/`podman save` write
//! (`docker-archive:FILE[:REPO:TAG]`). Every document and blob is checked against its digest
//! before it is used; layers as they are streamed.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use jetpack_oci::manifest::{MAX_DOCUMENT, Parsed, parse_config, parse_manifest};
use jetpack_oci::{DockerRef, Platform, digest, media};
use oci_spec::image::Descriptor;

use super::Imported;
use super::oci::OciImage;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;

/// The annotation an OCI layout's index names an image's tag with.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn oci_err(e: jetpack_oci::Error) -> Error {
    Error::BadImage(e.to_string())
}

/// Reads a whole (small) file, refusing one past the document limit.
fn read_small(path: &Path) -> Result<Vec<u8>> {
    let f = File::open(path).at(path)?;
    let mut buf = Vec::new();
    f.take(MAX_DOCUMENT as u64 + 1)
        .read_to_end(&mut buf)
        .at(path)?;
    if buf.len() > MAX_DOCUMENT {
        return Err(Error::BadImage(format!(
            "{}: larger than {} MiB",
            path.display(),
            MAX_DOCUMENT >> 20
        )));
    }
    Ok(buf)
}

/// An OCI image layout directory.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn open(dir: &Path) -> Result<Layout> {
        if !dir.join("oci-layout").is_file() || !dir.join("index.json").is_file() {
            return Err(Error::BadImage(format!(
                "{}: not an OCI image layout (it needs `oci-layout` and `index.json`)",
                dir.display()
            )));
        }
        Ok(Layout { dir: dir.into() })
    }

    fn blob_path(&self, d: &Descriptor) -> Result<PathBuf> {
        let digest = d.digest().to_string();
        let (alg, hex) = digest
            .split_once(':')
            .ok_or_else(|| Error::BadImage(format!("bad digest {digest:?}")))?;
        jetpack_oci::reference::check_digest(&digest).map_err(Error::BadImage)?;
        Ok(self.dir.join("blobs").join(alg).join(hex))
    }

    /// A document blob, checked against its descriptor.
    fn document(&self, d: &Descriptor, what: &str) -> Result<Vec<u8>> {
        let bytes = read_small(&self.blob_path(d)?)?;
        digest::check(&bytes, d.digest().as_ref(), what).map_err(oci_err)?;
        Ok(bytes)
    }

    /// The image manifest for `tag` (or the only image) and the host's platform.
    fn resolve(&self, tag: Option<&str>, label: &str) -> Result<(Descriptor, Vec<u8>)> {
        let index = read_small(&self.dir.join("index.json"))?;
        let Parsed::Index(index) =
            parse_manifest(&index, Some(media::OCI_INDEX), "index.json").map_err(oci_err)?
        else {
            return Err(Error::BadImage("index.json is not an image index".into()));
        };
        let name_of = |d: &Descriptor| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME).cloned())
        };
        let entries = index.manifests();
        let picked: Vec<&Descriptor> = match tag {
            Some(t) => entries
                .iter()
                .filter(|d| name_of(d).as_deref() == Some(t))
                .collect(),
            None => entries.iter().collect(),
        };
        let tags: Vec<String> = entries.iter().filter_map(name_of).collect();
        let entry = match picked.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(Error::NotFound(format!(
                    "{label}: no image tagged {:?} in the layout (its tags: {})",
                    tag.unwrap_or_default(),
                    if tags.is_empty() {
                        "none".into()
                    } else {
                        tags.join(", ")
                    }
                )));
            }
            _ => {
                return Err(Error::Ambiguous(format!(
                    "{label}: the layout holds {} images: name one by its tag ({})",
                    picked.len(),
                    tags.join(", ")
                )));
            }
        };
        self.manifest_for_host(entry, label)
    }

    /// Follows an index entry to the image manifest for this host: (its descriptor, bytes).
    fn manifest_for_host(&self, mut d: Descriptor, label: &str) -> Result<(Descriptor, Vec<u8>)> {
        // An index may point to another index; two levels are plenty.
        for _ in 0..3 {
            let bytes = self.document(&d, label)?;
            match parse_manifest(&bytes, Some(d.media_type().as_ref()), label).map_err(oci_err)? {
                Parsed::Manifest(_) => return Ok((d, bytes)),
                Parsed::Index(i) => {
                    d = jetpack_oci::select(i.manifests(), &Platform::host(), label)
                        .map_err(oci_err)?
                        .clone();
                }
            }
        }
        Err(Error::BadImage(format!("{label}: indexes nested too deep")))
    }
}

/// What a source gives for one image: its configuration and layers, resolved.
struct Resolved {
    image: OciImage,
    /// The reference it is imported by (recorded with its digest).
    reference: String,
    /// The layers' files and descriptors (digest, size), bottom first.
    layers: Vec<(PathBuf, Option<Descriptor>)>,
}

impl Resolved {
    fn import(self, store: &mut Store) -> Result<Imported> {
        let layers = self.layers;
        let mut open = |i: usize| -> Result<(Box<dyn Read + Send>, Arc<AtomicBool>)> {
            let (path, d) = &layers[i];
            let f = File::open(path).at(path)?;
            match d {
                Some(d) => {
                    let what = format!("layer {}", d.digest());
                    let (r, ok) =
                        digest::Verify::new(f, d.digest().as_ref(), Some(d.size()), &what)
                            .map_err(oci_err)?;
                    Ok((Box::new(r), ok))
                }
                // A docker-archive's layers are named by no digest: the diff ID checks them.
                None => Ok((Box::new(f), Arc::new(AtomicBool::new(true)))),
            }
        };
        let origin = crate::index::OciOrigin {
            reference: self.reference,
            digest: self.image.digest.clone(),
            index_digest: None,
        };
        store.import_oci_from(&self.image, &origin, &mut open)
    }
}

/// The appc manifest and the diff IDs of an image whose configuration is `config`.
fn mapped(
    config: &[u8],
    name: &appc::AcIdentifier,
    tag: Option<&str>,
    layers: usize,
    label: &str,
) -> Result<(appc::ImageManifest, Vec<String>)> {
    let config = parse_config(config, label).map_err(oci_err)?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != layers {
        return Err(Error::BadImage(format!(
            "{label}: the configuration lists {} layers, the manifest {layers}",
            diff_ids.len()
        )));
    }
    let m = jetpack_oci::image_manifest(&config, name, tag).map_err(oci_err)?;
    Ok((m, diff_ids))
}

/// The name an image of a layout gets: `localhost/` and the directory's (or file's) name.
pub(crate) fn local_name(path: &Path) -> appc::AcIdentifier {
    let base = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    appc::AcIdentifier::sanitize(&format!("localhost/{base}"))
        .unwrap_or_else(|_| "localhost/image".parse().expect("a valid name"))
}

impl Store {
    /// Imports an image a local transport names (`oci:`, `oci-archive:`, `docker-archive:`).
    pub fn import_local(&mut self, r: &jetpack_oci::ImageRef) -> Result<Imported> {
        use jetpack_oci::ImageRef;
        match r {
            ImageRef::OciLayout { dir, tag } => self.import_oci_layout(dir, tag.as_deref()),
            ImageRef::OciArchive { file, tag } => self.import_oci_archive(file, tag.as_deref()),
            ImageRef::DockerArchive { file, image } => {
                self.import_docker_archive(file, image.as_ref())
            }
            ImageRef::Docker(d) => Err(Error::Other(format!(
                "{d} is in a registry, and pulling from registries is not supported yet: copy \
                 it to a layout first (`skopeo copy docker://{d} oci:DIR:TAG`) and import that"
            ))),
        }
    }

    /// [`Store::import_local`] as `opts` says for other images of the same name and labels
    /// (`Refuse` is not offered here: those imports keep them or replace them). With
    /// `Replace` the tags move right after the image is stored.
    pub fn import_local_with(
        &mut self,
        r: &jetpack_oci::ImageRef,
        opts: &crate::ImportOptions,
    ) -> Result<Imported> {
        if opts.on_duplicate == crate::OnDuplicate::Refuse {
            return Err(Error::Other(
                "OCI and Docker imports keep or replace images of the same name and labels".into(),
            ));
        }
        let mut imported = self.import_local(r)?;
        if opts.on_duplicate == crate::OnDuplicate::Replace && !imported.duplicates.is_empty() {
            imported.moved_tags = self.move_tags(&imported.duplicates, &imported.id)?;
        }
        Ok(imported)
    }

    /// Imports the image tagged `tag` (or the only one) of the OCI image layout at `dir`.
    pub fn import_oci_layout(&mut self, dir: &Path, tag: Option<&str>) -> Result<Imported> {
        let reference = jetpack_oci::ImageRef::OciLayout {
            dir: dir.into(),
            tag: tag.map(str::to_string),
        };
        self.import_layout_as(dir, tag, reference.to_string())
    }

    /// Imports from the layout at `dir`, recording `reference` as where the image came from.
    fn import_layout_as(
        &mut self,
        dir: &Path,
        tag: Option<&str>,
        reference: String,
    ) -> Result<Imported> {
        let label = format!(
            "oci:{}{}",
            dir.display(),
            tag.map(|t| format!(":{t}")).unwrap_or_default()
        );
        let layout = Layout::open(dir)?;
        let (d, bytes) = layout.resolve(tag, &label)?;
        let Parsed::Manifest(m) =
            parse_manifest(&bytes, Some(d.media_type().as_ref()), &label).map_err(oci_err)?
        else {
            unreachable!("resolved to a manifest");
        };
        let config = layout.document(m.config(), &format!("{label}: configuration"))?;
        let (manifest, diff_ids) = mapped(
            &config,
            &local_name(dir),
            Some(tag.unwrap_or("latest")),
            m.layers().len(),
            &label,
        )?;
        let layers = m
            .layers()
            .iter()
            .map(|l| Ok((layout.blob_path(l)?, Some(l.clone()))))
            .collect::<Result<Vec<_>>>()?;
        Resolved {
            image: OciImage {
                manifest,
                digest: d.digest().to_string(),
                diff_ids,
                label,
            },
            reference,
            layers,
        }
        .import(self)
    }

    /// Imports an OCI image layout kept as a tar (`oci-archive:`): unpacked into the store's
    /// temporary area first (a layout's blobs come in any order), then read as a layout.
    pub fn import_oci_archive(&mut self, file: &Path, tag: Option<&str>) -> Result<Imported> {
        let dir = self.unpack_archive(file)?;
        let reference = jetpack_oci::ImageRef::OciArchive {
            file: file.into(),
            tag: tag.map(str::to_string),
        };
        let r = self.import_layout_as(dir.path(), tag, reference.to_string());
        r.map_err(|e| relabel(e, dir.path(), file))
    }

    /// Imports an image of a `docker save` archive: the one named `image`, or the only one.
    pub fn import_docker_archive(
        &mut self,
        file: &Path,
        image: Option<&DockerRef>,
    ) -> Result<Imported> {
        let label = format!("docker-archive:{}", file.display());
        let dir = self.unpack_archive(file)?;
        let root = dir.path();
        let entries =
            jetpack_oci::parse_docker_archive_manifest(&read_small(&root.join("manifest.json"))?)
                .map_err(oci_err)?;
        let tag_of = |t: &String| DockerRef::parse(t).ok();
        let (entry, named) = match image {
            Some(want) => entries
                .iter()
                .find_map(|e| {
                    e.repo_tags
                        .iter()
                        .flatten()
                        .filter_map(tag_of)
                        .find(|r| r == want)
                        .map(|r| (e, Some(r)))
                })
                .ok_or_else(|| {
                    Error::NotFound(format!("{label}: no image {want} in the archive"))
                })?,
            None if entries.len() == 1 => {
                let e = &entries[0];
                (e, e.repo_tags.iter().flatten().find_map(tag_of))
            }
            None => {
                return Err(Error::Ambiguous(format!(
                    "{label}: the archive holds {} images: name one (docker-archive:FILE:REPO:TAG)",
                    entries.len()
                )));
            }
        };
        let config = read_small(&root.join(&entry.config))?;
        let (name, tag) = match &named {
            Some(r) => (r.appc_name(), r.tag.clone()),
            None => (local_name(file), None),
        };
        let (manifest, diff_ids) =
            mapped(&config, &name, tag.as_deref(), entry.layers.len(), &label)?;
        let resolved = Resolved {
            image: OciImage {
                manifest,
                // An archive has no manifest digest: its configuration's identifies the image.
                digest: digest::sha256(&config),
                diff_ids,
                label,
            },
            reference: jetpack_oci::ImageRef::DockerArchive {
                file: file.into(),
                image: named.clone(),
            }
            .to_string(),
            layers: entry.layers.iter().map(|l| (root.join(l), None)).collect(),
        };
        resolved.import(self)
    }

    /// Unpacks a tar (plain or compressed) into a scratch directory of the store's temporary
    /// area, removed when the returned guard drops.
    fn unpack_archive(&self, file: &Path) -> Result<crate::store::Scratch> {
        let dir = self.scratch()?;
        let input = File::open(file).at(file)?;
        let mut writer = jetpack_storage::writer::TreeWriter::open(dir.path()).at(dir.path())?;
        let mut walked = super::extract::Walked::default();
        super::pipeline::stream(input, None, |r| {
            super::extract::walk_mode(
                super::extract::Mode::Layer,
                r,
                Some(&mut writer),
                &mut walked,
            )
        })
        .map_err(|e| super::in_file(&file.display().to_string(), e))?;
        writer.finish().at(dir.path())?;
        Ok(dir)
    }
}

/// Names the archive, not the temporary directory it was unpacked into, in a message.
fn relabel(e: Error, tmp: &Path, file: &Path) -> Error {
    let (from, to) = (tmp.display().to_string(), file.display().to_string());
    match e {
        Error::BadImage(m) => Error::BadImage(m.replace(&from, &to)),
        Error::NotFound(m) => Error::NotFound(m.replace(&from, &to)),
        Error::Ambiguous(m) => Error::Ambiguous(m.replace(&from, &to)),
        e => e,
    }
}
