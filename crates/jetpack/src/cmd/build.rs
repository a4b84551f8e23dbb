//! `jetpack build`: parses the options, fetches a missing parent, prints the new image's ID.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use jetpack_build::{BuildRequest, ManifestEdits};
use jetpack_store::{Config, Store, TagSet, short_id};

pub struct Args {
    pub dir: PathBuf,
    pub cp: Vec<PathBuf>,
    pub flat: bool,
    pub name: Option<String>,
    pub labels: Vec<String>,
    pub save_id: Option<PathBuf>,
    pub net: String,
    pub keep: bool,
    pub replace: bool,
    pub tags: Vec<String>,
    pub parent: String,
    pub command: Vec<String>,
}

pub fn run(cfg: &Config, a: &Args) -> Result<ExitCode> {
    let edits = ManifestEdits::parse(a.name.as_deref(), &a.labels)?;
    for t in &a.tags {
        jetpack_store::check_tag(t)?;
    }
    let (command, args) = a.command.split_first().context("no build command given")?;
    if !a.dir.is_dir() {
        anyhow::bail!("--dir {}: not a directory", a.dir.display());
    }
    // Before a missing parent is fetched: a bad --cp stores nothing.
    for p in &a.cp {
        std::fs::symlink_metadata(p).with_context(|| format!("--cp {}", p.display()))?;
    }
    let mut store = Store::open(cfg)?;
    let wanted = jetpack_pod::PodRequest {
        apps: vec![jetpack_pod::AppRequest {
            image: a.parent.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    super::fetch::ensure_images(cfg, &store, &wanted, Default::default(), Default::default())?;
    let req = BuildRequest {
        parent: a.parent.clone(),
        dir: a.dir.clone(),
        edits,
        net: a.net.clone(),
        keep: a.keep,
        replace: a.replace,
        command: command.clone(),
        args: args.to_vec(),
        flat: a.flat,
        cp: a.cp.clone(),
    };
    let built = match jetpack_build::build(&mut store, &req) {
        Ok(b) => b,
        Err(jetpack_build::Error::Failed { code, kept }) => {
            if let Some(pod) = kept {
                eprintln!("build pod kept: {pod}");
            }
            eprintln!(
                "jetpack: the build command failed with exit status {code}; no image was stored"
            );
            return Ok(ExitCode::from(code.clamp(1, 255) as u8));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(pod) = &built.kept_pod {
        eprintln!("build pod kept: {pod}");
    }
    if !built.replaced.is_empty() {
        let old: Vec<String> = built.replaced.iter().map(|r| short_id(r)).collect();
        let tags = if built.moved_tags.is_empty() {
            "no tags to move".to_string()
        } else {
            format!(
                "moved tags {} to the new image",
                built.moved_tags.join(", ")
            )
        };
        eprintln!(
            "replaced {} ({tags}; still stored until `jetpack image rm`)",
            old.join(", ")
        );
    }
    if !a.tags.is_empty() {
        let row = store
            .get(&built.id)?
            .context("the built image vanished from the store")?;
        // Tag messages go to stderr: stdout is the ID alone, for scripts.
        for t in &a.tags {
            let what = format!("{}@{t}", row.name);
            match store.tag(&row.id, t)? {
                TagSet::Moved { from } => {
                    eprintln!("moved {what} from {} to the new image", short_id(&from))
                }
                _ => eprintln!("tagged {what}"),
            }
        }
    }
    if let Some(f) = &a.save_id {
        jetpack_fs::atomic_write(f, format!("{}\n", built.id).as_bytes())
            .with_context(|| format!("cannot write {}", f.display()))?;
    }
    outln!("{}", built.id);
    Ok(ExitCode::SUCCESS)
}
