//! `jetpack image show|cat-manifest|export|tag|untag|rm`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use jetpack_oci::ImageRef;
use jetpack_store::{Config, ImageRow, Imported, Pick, Store, TagSet, short_id};

use crate::cli::{ExportFormat, ImageCommand};
use crate::fmt;

pub fn run(cfg: &Config, c: ImageCommand) -> Result<ExitCode> {
    match c {
        ImageCommand::Show { image, json } => show(cfg, &image, json),
        ImageCommand::CatManifest { image } => {
            let store = Store::open(cfg)?;
            let row = store.lookup(&image, Pick::Newest)?;
            let bytes = store.manifest_bytes(&row.id)?;
            let mut out = crate::stdout();
            out.write_all(&bytes)?;
            if !bytes.ends_with(b"\n") {
                writeln!(out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::Export {
            format,
            flat,
            image,
            file,
        } => {
            if flat && format == ExportFormat::Oci {
                bail!("--flat writes an ACI; --format oci writes one layer, flat already");
            }
            let store = Store::open(cfg)?;
            let row = store.lookup(&image, Pick::Newest)?;
            match format {
                ExportFormat::Aci => export_aci(&store, &row.id, flat, file.as_deref())?,
                ExportFormat::Oci => export_oci(&store, &row, file.as_deref())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::Tag { image, tags } => {
            let mut store = Store::open(cfg)?;
            // Every tag is checked before any is set.
            for t in &tags {
                jetpack_store::check_tag(t)?;
            }
            let row = store.lookup(&image, Pick::Newest)?;
            tag(&mut store, &row, &tags)?;
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::Untag { image, tags } => untag(cfg, &image, &tags),
        ImageCommand::Rm { images, force } => {
            let mut store = Store::open(cfg)?;
            for image in images {
                let row = store.lookup(&image, Pick::Unique)?;
                store
                    .remove(&row.id, force)
                    .with_context(|| format!("cannot remove {image}"))?;
                let tags = if row.tags.is_empty() {
                    String::new()
                } else {
                    format!(" and its tags {}", row.tags.join(", "))
                };
                outln!("removed {} ({}){tags}", short_id(&row.id), row.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::Gc {
            older_than,
            keep,
            dry_run,
        } => prune(cfg, &older_than, keep, dry_run),
    }
}

/// `image gc`: what goes, one line each, then the space reclaimed.
fn prune(cfg: &Config, older_than: &str, keep: usize, dry_run: bool) -> Result<ExitCode> {
    let opts = jetpack_store::PruneOptions {
        older_than: super::pod::parse_duration(older_than)?.as_secs(),
        keep,
    };
    let mut store = Store::open(cfg)?;
    let rows = if dry_run {
        store.prunable(&opts)?
    } else {
        store.prune_images(&opts)?
    };
    let verb = if dry_run { "would remove" } else { "removed" };
    for r in &rows {
        outln!("{verb} {} ({})", short_id(&r.id), r.name);
    }
    let bytes: u64 = rows.iter().map(|r| r.aci_size + r.tree_size).sum();
    let what = if dry_run {
        "would reclaim"
    } else {
        "reclaimed"
    };
    outln!("{} images, {what} {}", rows.len(), fmt::size(bytes));
    Ok(ExitCode::SUCCESS)
}

/// Sets `tags` on `row`, saying where each was and what moved.
pub(crate) fn tag(store: &mut Store, row: &ImageRow, tags: &[String]) -> Result<()> {
    for t in tags {
        let what = format!("{}@{t}", row.name);
        match store.tag(&row.id, t)? {
            TagSet::Added => outln!("tagged {} as {what}", short_id(&row.id)),
            TagSet::Already => outln!("{what} already names {}", short_id(&row.id)),
            TagSet::Moved { from } => outln!(
                "moved {what} from {} to {} (the other image stays stored)",
                short_id(&from),
                short_id(&row.id)
            ),
        }
    }
    Ok(())
}

/// `untag IMAGE TAG...` (the tags of IMAGE's name) or `untag NAME@TAG`.
fn untag(cfg: &Config, image: &str, tags: &[String]) -> Result<ExitCode> {
    let mut store = Store::open(cfg)?;
    let (name, tags): (String, Vec<String>) = match (image.split_once('@'), tags) {
        (Some((name, t)), []) if !image.contains("://") => (name.to_string(), vec![t.to_string()]),
        (_, []) => bail!(
            "give the tags to remove: `jetpack image untag IMAGE TAG...` or `jetpack image \
             untag NAME@TAG`"
        ),
        _ => (store.lookup(image, Pick::Newest)?.name, tags.to_vec()),
    };
    for t in &tags {
        jetpack_store::check_tag(t)?;
    }
    for t in &tags {
        let id = store.untag(&name, t)?;
        outln!("removed tag {name}@{t} (it named {})", short_id(&id));
    }
    Ok(ExitCode::SUCCESS)
}

/// What an import did with other stored images of the same name and labels.
pub(crate) fn report_duplicates(imported: &Imported, replace: bool) {
    if imported.existed || imported.duplicates.is_empty() {
        return;
    }
    let others: Vec<String> = imported.duplicates.iter().map(|d| short_id(d)).collect();
    if !replace {
        eprintln!(
            "note: {} with the same labels is also stored as {}: a plain name finds the \
             newest; tags stay where they are (--replace moves them)",
            imported.name,
            others.join(", ")
        );
    } else if imported.moved_tags.is_empty() {
        eprintln!(
            "replaced {} (no tags to move; still stored until `jetpack image rm`)",
            others.join(", ")
        );
    } else {
        eprintln!(
            "moved tags {} from {} to {} (the old image stays stored until `jetpack image rm`)",
            imported.moved_tags.join(", "),
            others.join(", "),
            short_id(&imported.id)
        );
    }
}

fn show(cfg: &Config, image: &str, json: bool) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let row = store.lookup(image, Pick::Newest)?;
    let manifest = store.manifest(&row.id)?;
    let origin = store.origin(&row.id)?;
    if json {
        let v = serde_json::json!({
            "image": row,
            "origin": origin,
            "manifest": serde_json::from_str::<serde_json::Value>(&manifest.to_json_pretty())?,
            "rootfs": store.image_rootfs(&row.id),
            "layers": store.image_layer_chain_ids(&row.id)?,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let labels: Vec<String> = row.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    outln!("ID:          {}", row.id);
    outln!("Name:        {}", row.name);
    outln!("Labels:      {}", labels.join(","));
    if !row.tags.is_empty() {
        let tags: Vec<String> = row
            .tags
            .iter()
            .map(|t| format!("{}@{t}", row.name))
            .collect();
        outln!("Tags:        {}", tags.join(", "));
    }
    if let Some(o) = &origin {
        outln!("Reference:   {}", o.reference);
        outln!("Digest:      {}", o.digest);
        if let Some(i) = &o.index_digest {
            outln!("Index:       {i}");
        }
    }
    outln!("Imported:    {}", fmt::time(row.imported));
    outln!(
        "Signer:      {}",
        super::signer(row.signer.as_deref(), true)
    );
    outln!(
        "File:        {} ({})",
        fmt::size(row.aci_size),
        row.compression
    );
    outln!(
        "Rendered:    {} at {}",
        fmt::size(row.tree_size),
        store.image_rootfs(&row.id).display()
    );
    for (i, chain) in store.image_layer_chain_ids(&row.id)?.iter().enumerate() {
        outln!("Layer {i}:     {chain}");
    }
    for (i, d) in row.deps.iter().enumerate() {
        outln!("Dependency {i}: {}", short_id(d));
    }
    if let Some(app) = &manifest.app {
        outln!("Exec:        {:?}", app.exec);
        outln!("User:        {}:{}", app.user, app.group);
    }
    Ok(ExitCode::SUCCESS)
}

fn export_aci(store: &Store, id: &str, flat: bool, file: Option<&Path>) -> Result<()> {
    let export = |out: &mut dyn Write| {
        if flat {
            store.export_flat_aci(id, out)
        } else {
            store.export(id, out)
        }
    };
    let Some(path) = file else {
        export(&mut crate::stdout())?;
        return Ok(());
    };
    if let Some(s) = path.to_str()
        && (s.starts_with("oci:") || s.starts_with("oci-archive:"))
    {
        bail!("{s} names an OCI image: add --format oci to write one (or ./{s} for a file)");
    }
    // Written atomically, so a failed export leaves no partial file.
    let mut failed = None;
    let written = jetpack_fs::AtomicWrite::new(path).with(|f| {
        export(f).map(drop).map_err(|e| {
            failed = Some(e);
            std::io::Error::other("export failed")
        })
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    written.with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn export_oci(store: &Store, row: &ImageRow, dest: Option<&Path>) -> Result<()> {
    const USAGE: &str = "--format oci writes to oci:DIR[:TAG] or oci-archive:FILE[:TAG]";
    let Some(dest) = dest else {
        bail!("{USAGE}: give one");
    };
    let text = dest
        .to_str()
        .with_context(|| format!("{}: not UTF-8", dest.display()))?;
    let default_tag = || {
        row.labels
            .iter()
            .find(|(k, _)| k == "version")
            .map_or("latest".to_string(), |(_, v)| v.clone())
    };
    let done = match ImageRef::parse(text)? {
        Some(ImageRef::OciLayout { dir, tag }) => {
            let tag = tag.unwrap_or_else(default_tag);
            store
                .export_oci_layout(&row.id, &dir, &tag)
                .with_context(|| format!("cannot export to {text}"))?
        }
        Some(ImageRef::OciArchive { file, tag }) => {
            let tag = tag.unwrap_or_else(default_tag);
            store
                .export_oci_archive(&row.id, &file, &tag)
                .with_context(|| format!("cannot export to {text}"))?
        }
        _ => bail!("{text}: {USAGE}"),
    };
    for field in &done.left_out {
        tracing::warn!("{field} of the appc manifest has no place in an OCI image: left out");
    }
    outln!("{}", done.digest);
    Ok(())
}
