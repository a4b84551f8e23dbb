//! `import`: one streaming pass (decompress, hash, extract), then render dependencies, apply the
//! whitelist, seal, and index. Until the final index commit nothing is visible; a crash at any
//! point leaves only temporary entries that the next import or `gc` removes.

pub mod compress;
pub mod extract;
mod layers;
pub mod layout;
pub(crate) use layers::is_layer;
pub mod oci;
pub mod pipeline;
pub mod render;

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use jetpack_settings::Layout;
use jetpack_storage::writer::TreeWriter;

use crate::error::{Error, IoContext, Result};
use crate::index::ImageRow;
use crate::store::{Store, lock_file, now, short_id};
pub use compress::Compression;
pub use pipeline::Streamed;

/// Set to `1`, imports skip syncing the extracted tree before sealing it. For measuring that
/// cost only (`bench/import.sh`): a power cut can then leave truncated files in a sealed image.
pub const NO_SYNC_ENV: &str = "JETPACK_IMPORT_NO_SYNC";

/// Where an image comes from.
pub enum Source {
    File(PathBuf),
    /// A stream such as stdin; `label` names it in messages.
    Reader {
        reader: Box<dyn Read + Send>,
        label: String,
    },
}

/// How an image came to be trusted, recorded in its index row.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Fingerprint of the OpenPGP key whose signature was verified; `None` records the image
    /// as unsigned.
    pub signer: Option<String>,
    /// What to do when another stored image has the same name and labels.
    pub on_duplicate: OnDuplicate,
}

/// What an import does when the store holds other images of the same name and the same
/// labels (another content: an image with the same ID is the same image).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnDuplicate {
    /// Store it too: it is the newest, which a plain name finds; tags stay where they are.
    /// What `import` and `fetch` do (a newer image under the same name is an update).
    #[default]
    Keep,
    /// Refuse it, storing nothing: what `build` does without `--replace`.
    Refuse,
    /// Store it and move the others' tags to it (`--replace`); they stay stored.
    Replace,
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    pub id: String,
    pub name: String,
    /// True if the image was already in the store (nothing was added).
    pub existed: bool,
    pub stats: Streamed,
    pub entries: u64,
    /// The other stored images with the same name and labels (for `Replace`: those whose
    /// tags moved to this one).
    pub duplicates: Vec<String>,
    /// The tags moved to this image (`Replace`), sorted.
    pub moved_tags: Vec<String>,
}

/// What [`Store::seal_and_index`] did.
pub(crate) struct Sealed {
    /// Another import stored the image meanwhile; nothing changed.
    pub existed: bool,
    pub duplicates: Vec<String>,
    pub moved_tags: Vec<String>,
}

/// Checks an ACI without writing anything: archive layout, entry names, manifest.
pub fn validate_aci(reader: impl Read + Send) -> Result<(appc::ImageManifest, Streamed)> {
    let (walked, stats) = pipeline::stream(reader, None, |r| extract::walk(r, None))?;
    let bytes = walked.manifest.ok_or_else(|| {
        Error::BadImage("no manifest entry: an ACI must contain `manifest`".into())
    })?;
    // Worded as import words it (see `in_file`), so both give the same reason.
    let manifest = appc::ImageManifest::from_slice(&bytes)
        .map_err(|e| Error::BadImage(format!("invalid image manifest: {e}")))?;
    Ok((manifest, stats))
}

impl Store {
    /// Imports an ACI as unsigned. Returns the image ID (of the uncompressed tar).
    pub fn import(&mut self, source: Source) -> Result<Imported> {
        self.import_with(source, &ImportOptions::default())
    }

    /// Imports an ACI, recording `opts.signer`. An image already in the store without a signer
    /// gets this one.
    pub fn import_with(&mut self, source: Source, opts: &ImportOptions) -> Result<Imported> {
        self.staged_import(|store, name, meta, temps, written| {
            store.import_staged(name, meta, source, temps, opts, written)
        })
    }

    /// Runs an import under its own lock in the store's temporary area: `stage` gets the
    /// import's name, its metadata directory, the temporary trees it made (discarded after,
    /// unless sealed) and what it has written (for the message of a failure).
    fn staged_import<T>(
        &mut self,
        stage: impl FnOnce(&mut Store, &str, &Path, &mut Vec<String>, &mut Written) -> Result<T>,
    ) -> Result<T> {
        // The import's own lock is taken before the writers' lock is released: a cleaner (the
        // next import, `gc`) holds the writers' lock while it scans, so it never sees the lock
        // file free between its creation and its `flock`, and never removes a live import.
        let name = uuid::Uuid::new_v4().simple().to_string();
        let lock_path = self.layout().tmp_lock(&name);
        let lock = {
            let _w = self.write_lock()?;
            self.clean_temporaries()?;
            lock_file(&lock_path, true)?.expect("blocking lock")
        };
        let meta = self.layout().tmp_meta(&name);
        let mut temps = Vec::new();
        let mut written = Written::default();
        // Becomes `images/<id>/`: root only, like the original file (it may hold secrets).
        let result = std::os::unix::fs::DirBuilderExt::mode(&mut fs::DirBuilder::new(), 0o700)
            .create(&meta)
            .at(&meta)
            .map_err(Error::from)
            .and_then(|()| stage(self, &name, &meta, &mut temps, &mut written))
            .map_err(|e| nothing_kept(e, &written));
        // Whatever was not sealed is discarded; a killed process leaves it to gc instead.
        for t in &temps {
            if let Err(e) = self.storage.discard_temp(t) {
                tracing::warn!("cannot discard temporary tree {t}: {e}");
            }
        }
        let _ = fs::remove_dir_all(&meta);
        let _ = fs::remove_file(&lock_path);
        drop(lock);
        result
    }

    fn import_staged(
        &mut self,
        name: &str,
        meta: &Path,
        source: Source,
        temps: &mut Vec<String>,
        opts: &ImportOptions,
        written: &mut Written,
    ) -> Result<Imported> {
        let name = name.to_string();
        let layer = self.storage.create_temp(&name)?;
        temps.push(name.clone());

        let raw_copy = std::os::unix::fs::OpenOptionsExt::mode(
            fs::OpenOptions::new().write(true).create_new(true),
            0o600,
        )
        .open(meta.join(Layout::ACI))
        .at(meta.join(Layout::ACI))?;
        let (input, label): (Box<dyn Read + Send>, String) = match source {
            Source::File(p) => (Box::new(File::open(&p).at(&p)?), p.display().to_string()),
            Source::Reader { reader, label } => (reader, label),
        };
        let mut writer = TreeWriter::open(&layer).at(&layer)?;
        let mut walked = extract::Walked::default();
        let max = self.settings().store.import_max_size;
        let streamed =
            pipeline::stream_limited(input, Some(raw_copy), max, &mut written.progress, |r| {
                extract::walk_into(r, Some(&mut writer), &mut walked)
            });
        written.files = walked.file_bytes;
        let ((), stats) = streamed.map_err(|e| in_file(&label, e))?;
        if writer.skipped_xattrs > 0 {
            tracing::warn!(
                "{label}: {} extended attributes were not stored: the {} storage's filesystem does not support them",
                writer.skipped_xattrs,
                self.storage.kind()
            );
        }
        writer.finish().at(&layer)?;
        let manifest_bytes = walked.manifest.ok_or_else(|| {
            in_file(
                &label,
                Error::BadImage("no manifest entry: an ACI must contain `manifest`".into()),
            )
        })?;
        let manifest = appc::ImageManifest::from_slice(&manifest_bytes)
            .map_err(|e| in_file(&label, e.into()))?;
        let id = stats.image_id();
        if self.index()?.contains(&id)? {
            if let Some(signer) = &opts.signer {
                self.index_mut()?.set_signer(&id, signer)?;
            }
            return Ok(Imported {
                id,
                name: manifest.name.to_string(),
                existed: true,
                stats,
                entries: walked.entries,
                duplicates: Vec::new(),
                moved_tags: Vec::new(),
            });
        }

        let deps = self.resolve_dependencies(&manifest)?;
        let whitelist = render::whitelist_set(&manifest.path_whitelist);
        let (rendered, rendered_path) = if deps.is_empty() {
            if !whitelist.is_empty() {
                render::apply_whitelist(&layer, &whitelist, None)?;
            }
            (name.clone(), layer.clone())
        } else {
            let base_name = format!("{name}.base");
            // One dependency and no whitelist: the image's own files go over the
            // dependency's tree as it is (on overlay stacked on it, nothing copied; a clone
            // elsewhere). Otherwise a clone the others and the whitelist are applied to.
            let base = if deps.len() == 1 && whitelist.is_empty() {
                self.storage.temp_over(&deps[0], &base_name)?
            } else {
                self.storage.clone_to_temp(&deps[0], &base_name)?
            };
            temps.push(base_name.clone());
            for d in &deps[1..] {
                jetpack_storage::tree::merge_copy(&self.storage.image_path(d), &base).at(&base)?;
            }
            let own = if whitelist.is_empty() {
                None
            } else {
                Some(render::directories(&layer)?)
            };
            jetpack_storage::tree::merge_move(&layer, &base).at(&base)?;
            self.storage.discard_temp(&name)?;
            temps.retain(|t| t != &name);
            if let Some(own) = own {
                render::apply_whitelist(&base, &whitelist, Some(&own))?;
            }
            (base_name, base)
        };
        let tree_size = jetpack_storage::tree::tree_size(&rendered_path).at(&rendered_path)?;
        fs::write(meta.join(Layout::MANIFEST), &manifest_bytes).at(meta.join(Layout::MANIFEST))?;
        // Everything extracted and the kept original reach the disk before the seal: after a
        // power cut a sealed image is whole (the rename is journaled after the data).
        if std::env::var_os(NO_SYNC_ENV).is_none_or(|v| v != "1") {
            jetpack_storage::sync_filesystem(&rendered_path)?;
            jetpack_storage::sync_filesystem(meta)?;
        }

        let row = ImageRow {
            id: id.clone(),
            name: manifest.name.to_string(),
            labels: manifest
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.clone()))
                .collect(),
            aci_size: stats.raw_bytes,
            tree_size,
            compression: stats.compression.as_str().into(),
            imported: now(),
            last_used: None,
            signer: opts.signer.clone(),
            deps: deps.clone(),
            tags: Vec::new(),
        };
        let sealed = self.seal_and_index(&rendered, meta, &row, temps, opts.on_duplicate)?;
        if sealed.existed
            && let Some(signer) = &opts.signer
        {
            self.index_mut()?.set_signer(&id, signer)?;
        }
        Ok(Imported {
            id,
            name: row.name,
            existed: sealed.existed,
            stats,
            entries: walked.entries,
            duplicates: sealed.duplicates,
            moved_tags: sealed.moved_tags,
        })
    }

    /// Seals the temporary tree `rendered` as image `row.id`, moves `meta` to its metadata
    /// directory and commits `row` to the index, under the writers' lock, as `on_duplicate`
    /// says for other images of the same name and labels. Changes nothing if another import
    /// stored the image meanwhile (`existed`).
    pub(crate) fn seal_and_index(
        &mut self,
        rendered: &str,
        meta: &Path,
        row: &ImageRow,
        temps: &mut Vec<String>,
        on_duplicate: OnDuplicate,
    ) -> Result<Sealed> {
        let id = &row.id;
        let _w = self.write_lock()?;
        if self.index()?.contains(id)? {
            return Ok(Sealed {
                existed: true,
                duplicates: Vec::new(),
                moved_tags: Vec::new(),
            });
        }
        let same = self.same_name_and_labels(row)?;
        if on_duplicate == OnDuplicate::Refuse
            && let Some(other) = same.first()
        {
            return Err(duplicate_error(row, other));
        }
        let duplicates: Vec<String> = same.into_iter().map(|r| r.id).collect();
        // Leftovers of an interrupted import of the same image are not visible; replace them.
        if self.storage.images()?.contains(id) {
            self.storage.remove_image(id)?;
        }
        let dest = self.image_dir(id);
        if dest.exists() {
            fs::remove_dir_all(&dest).at(&dest)?;
        }
        self.storage.seal(rendered, id)?;
        temps.retain(|t| t != rendered);
        fs::rename(meta, &dest).at(&dest)?;
        // The renames are durable before the index row that makes them visible.
        for dir in [self.storage.image_path(id), dest.clone()] {
            if let Some(parent) = dir.parent() {
                jetpack_storage::sync_dir(parent)?;
            }
        }
        let moved_tags = match on_duplicate {
            OnDuplicate::Replace => self.index_mut()?.insert_replacing(row, &duplicates)?,
            _ => {
                self.index_mut()?.insert(row)?;
                Vec::new()
            }
        };
        Ok(Sealed {
            existed: false,
            duplicates,
            moved_tags,
        })
    }

    /// The stored images other than `row` with its name and exactly its labels, newest first.
    fn same_name_and_labels(&self, row: &ImageRow) -> Result<Vec<ImageRow>> {
        let mut want = row.labels.clone();
        want.sort();
        Ok(self
            .index()?
            .by_name(&row.name)?
            .into_iter()
            .filter(|r| r.id != row.id)
            .filter(|r| {
                let mut l = r.labels.clone();
                l.sort();
                l == want
            })
            .collect())
    }

    /// Resolves each dependency to an image in the store: by ID when given (which then must
    /// match), else the newest image with that name whose labels match.
    pub fn resolve_dependencies(&self, m: &appc::ImageManifest) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for d in &m.dependencies {
            let labels: Vec<(String, String)> = d
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.clone()))
                .collect();
            let found = match &d.image_id {
                Some(id) => self.index()?.by_prefix(id.as_str())?.into_iter().find(|r| {
                    r.id == id.as_str() || (!id.is_full() && r.id.starts_with(id.as_str()))
                }),
                None => self
                    .index()?
                    .by_name(d.image_name.as_str())?
                    .into_iter()
                    .find(|r| r.has_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            };
            let Some(row) = found else {
                let mut what = d.image_name.to_string();
                for (k, v) in &labels {
                    what.push_str(&format!(",{k}={v}"));
                }
                if let Some(id) = &d.image_id {
                    what.push_str(&format!(" (image ID {})", short_id(id.as_str())));
                }
                return Err(Error::NotFound(format!(
                    "dependency {what} of {} is not in the store: import it first",
                    m.name
                )));
            };
            if let Some(size) = d.size.filter(|s| *s != row.aci_size) {
                // The spec's size guards downloads; locally a mismatch means another file of
                // the same image (e.g. recompressed), which the matching ID already vouches for.
                tracing::warn!(
                    "dependency {} of {}: the manifest gives size {size}, the stored file has {} bytes",
                    d.image_name,
                    m.name,
                    row.aci_size
                );
            }
            out.push(row.id);
        }
        Ok(out)
    }
}

/// How much a failed import had written to the store: the kept copy of the file and the
/// extracted files' contents.
#[derive(Debug, Default)]
pub(crate) struct Written {
    progress: pipeline::Progress,
    files: u64,
}

/// True if `e` comes from a full disk or an exhausted quota.
fn disk_full(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => extract::is_full(source),
        Error::Index(rusqlite::Error::SqliteFailure(f, _)) => {
            f.code == rusqlite::ErrorCode::DiskFull
        }
        Error::Storage(s) => {
            let mut src: Option<&dyn std::error::Error> = Some(s);
            while let Some(e) = src {
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(extract::is_full)
                {
                    return true;
                }
                src = e.source();
            }
            false
        }
        _ => false,
    }
}

/// The error of a failed import, saying how much it had written when it is about size (the
/// `import.max-size` limit, a full disk): all of it was removed again.
fn nothing_kept(e: Error, w: &Written) -> Error {
    let summary = || {
        if w.progress.raw_bytes == 0 && w.files == 0 {
            return "nothing was written".to_string();
        }
        format!(
            "{} bytes of the file and {} bytes of extracted files had been written ({} bytes of \
             the uncompressed archive read); nothing was kept",
            w.progress.raw_bytes, w.files, w.progress.tar_bytes
        )
    };
    match e {
        Error::BadImage(m) if m.contains("import.max-size") => {
            Error::BadImage(format!("{m}: {}", summary()))
        }
        e if disk_full(&e) => Error::Other(format!(
            "{e}: the store's file system is full: {}; free space and import again",
            summary()
        )),
        e => e,
    }
}

/// The refusal of an image whose name and labels `other` has.
fn duplicate_error(row: &ImageRow, other: &ImageRow) -> Error {
    let mut what = row.name.clone();
    for (k, v) in &row.labels {
        what.push_str(&format!(",{k}={v}"));
    }
    let tags = if other.tags.is_empty() {
        String::new()
    } else {
        format!(" (tags: {})", other.tags.join(", "))
    };
    Error::Duplicate(format!(
        "{what} is already stored as image {}{tags}: use --replace to store the new image \
         and move that image's tags to it (it stays stored until `jetpack image rm`), or give \
         the new one another version (-l version=...)",
        short_id(&other.id)
    ))
}

pub(crate) fn in_file(label: &str, e: Error) -> Error {
    match e {
        Error::BadImage(m) => Error::BadImage(format!("{label}: {m}")),
        Error::Manifest(m) => Error::BadImage(format!("{label}: invalid image manifest: {m}")),
        other => other,
    }
}
