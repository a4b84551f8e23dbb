//! One function per command.

mod build;
mod cp;
mod detach;
mod docs;
mod exec;
pub(crate) mod fetch;
mod generate;
pub(crate) mod image;
mod pod;
mod pod_view;
mod ps;
mod system;
pub(crate) mod trust;
mod validate;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use jetpack_store::{Config, Source, Store, short_id};

use crate::cli::{Cli, Command, SystemCommand};
use crate::fmt::{self, View};

pub fn run(cli: Cli) -> Result<ExitCode> {
    let mut cfg = Config::load(cli.config.as_deref(), &cli.set)?;
    if cli.debug {
        cfg.set("debug", "on", "--debug")?;
    }
    let uses_store = !matches!(
        cli.command,
        Command::Validate { .. }
            | Command::Config { .. }
            | Command::Mds { .. }
            | Command::Completion { .. }
            | Command::Man { .. }
    );
    let result = command(&cfg, (cli.config.as_deref(), &cli.set), cli.command);
    match result {
        Err(e) if uses_store && from_the_system(&e) && !crate::broken_pipe(&e) => {
            match jetpack_store::root_problem(&cfg.layout()) {
                // The store's own error names a file inside it ("store.json: Not a directory",
                // "unable to open database file"); the cause is the root.
                Some(problem) => {
                    tracing::debug!("{e:#}");
                    Err(anyhow::anyhow!(problem))
                }
                None => Err(e),
            }
        }
        r => r,
    }
}

/// True for a failure of a file system call or of the index (not "no pod", "no image"). Some
/// errors reach here as text only (those of a fetch done for `prepare`).
fn from_the_system(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("(os error ")
        || text.contains("unable to open database file")
        || e.chain().any(|c| {
            c.is::<std::io::Error>()
                || matches!(
                    c.downcast_ref::<jetpack_store::Error>(),
                    Some(jetpack_store::Error::Index(_))
                )
        })
}

/// `global`: the `--config` and `-o` options as given, which a generated service repeats.
fn command(
    cfg: &Config,
    global: (Option<&std::path::Path>, &[String]),
    command: Command,
) -> Result<ExitCode> {
    match command {
        Command::Init => init(cfg),
        Command::Import {
            file,
            quiet,
            replace,
        } => import(cfg, &file, quiet, replace),
        Command::Fetch(a) => fetch::run(cfg, a),
        Command::Trust(a) => trust::run(cfg, a),
        Command::Images {
            json,
            quiet,
            no_legend,
            format,
            no_trunc,
            digest,
        } => {
            let view = View::new(json, quiet, no_legend, format);
            images(cfg, &view, no_trunc, digest.as_deref())
        }
        Command::Image(c) => image::run(cfg, c),
        Command::System(SystemCommand::Df { json }) => system::df(cfg, json),
        Command::Gc { grace } => gc(cfg, &grace),
        Command::Prepare { args } => pod::prepare(cfg, &args),
        Command::Run { args } => pod::run(cfg, &args),
        Command::Build {
            dir,
            cp,
            flat,
            name,
            labels,
            save_id,
            net,
            keep,
            replace,
            tags,
            parent,
            command,
        } => build::run(
            cfg,
            &build::Args {
                dir,
                cp,
                flat,
                name,
                labels,
                save_id,
                net,
                keep,
                replace,
                tags,
                parent,
                command,
            },
        ),
        Command::List {
            json,
            quiet,
            no_legend,
            format,
        } => pod_view::list(cfg, &View::new(json, quiet, no_legend, format)),
        Command::Status {
            pod,
            json,
            wait,
            wait_ready,
        } => {
            if let Some(t) = &wait
                && !pod::wait(cfg, &pod, t, false)?
            {
                return Ok(ExitCode::from(2));
            }
            if let Some(t) = &wait_ready
                && !pod::wait(cfg, &pod, t, true)?
            {
                return Ok(ExitCode::from(2));
            }
            pod_view::status(cfg, &pod, json)
        }
        Command::Ps { pod, json } => ps::run(cfg, &pod, json),
        Command::Top {
            pod,
            delay,
            iterations,
            json,
        } => ps::top(cfg, &pod, delay, iterations, json),
        Command::Manifest { pod } => pod_view::manifest(cfg, &pod),
        Command::Logs { pod, app, follow } => pod::logs(cfg, &pod, app.as_deref(), follow),
        Command::Attach { pod, app } => pod::attach(cfg, &pod, app.as_deref()),
        Command::Enter {
            user,
            privileged,
            pod,
            app,
            command,
        } => {
            let opts = jetpack_pod::EnterOptions {
                user,
                privileged,
                ..Default::default()
            };
            exec::enter(cfg, &pod, app.as_deref(), &command, &opts)
        }
        Command::Exec {
            target,
            user,
            working_dir,
            env,
            tty,
            command,
        } => exec::exec(
            cfg,
            &exec::ExecArgs {
                target: &target,
                user,
                working_dir,
                env: &env,
                tty,
                command: &command,
            },
        ),
        Command::Console { target, user } => exec::console(cfg, &target, user),
        Command::Cp { src, dst } => cp::run(cfg, &src, &dst),
        Command::Stop { pods, timeout } => pod::stop(cfg, &pods, timeout),
        Command::Kill { pods } => pod::kill(cfg, &pods),
        Command::Destroy { pods } => pod::destroy(cfg, &pods),
        Command::Validate { files } => validate::run(&files),
        Command::Mds { idle_exit } => mds(cfg, idle_exit.as_deref()),
        Command::Supervise { report_fd, rm, pod } => detach::supervise(cfg, &pod, report_fd, rm),
        Command::Config { keys } => config(cfg, &keys),
        Command::Completion { shell } => docs::completion(shell),
        Command::Man { dir } => docs::man(dir.as_deref().unwrap_or(std::path::Path::new("."))),
        Command::Generate(g) => {
            generate::run(cfg, generate::global_options(global.0, global.1)?, g)
        }
    }
}

/// The most a manifest file given on the command line may hold (pod manifests, image manifests
/// given to `validate`): real ones are a few KiB.
pub(crate) const MANIFEST_LIMIT: u64 = 1 << 20;

/// Reads a whole file named by the user, refusing one larger than `limit` bytes without reading
/// more than that (`/dev/zero`, a fifo, a huge file by mistake).
pub(crate) fn read_capped(path: &std::path::Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > limit {
        anyhow::bail!(
            "{}: larger than {}, the limit for {what}: is it the right file?",
            path.display(),
            if limit.is_multiple_of(1 << 20) {
                format!("{} MiB", limit >> 20)
            } else {
                format!("{limit} bytes")
            }
        );
    }
    Ok(bytes)
}

/// The most a key file or CA file given by the user may hold (they are read whole by the
/// libraries that parse them).
pub(crate) const KEY_FILE_LIMIT: u64 = 4 << 20;

/// Checks, before a library reads it whole, that a file named by the user is a regular file no
/// larger than `limit` (not `/dev/zero`, a fifo or a huge file by mistake).
pub(crate) fn check_small_file(path: &std::path::Path, limit: u64, what: &str) -> Result<()> {
    let m = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !m.is_file() {
        anyhow::bail!(
            "{}: not a regular file; {what} must be a file of at most {} MiB",
            path.display(),
            limit >> 20
        );
    }
    if m.len() > limit {
        anyhow::bail!(
            "{}: larger than {} MiB, the limit for {what}: is it the right file?",
            path.display(),
            limit >> 20
        );
    }
    Ok(())
}

fn init(cfg: &Config) -> Result<ExitCode> {
    let net = &cfg.settings().net;
    let dir = net.dir.as_path();
    let (bridge, subnet) = (&net.default_bridge, net.default_subnet);
    // Another store's default network, bridge or subnet is refused before this store is made.
    jetpack_net::check_default(dir, bridge, subnet, cfg.layout().root())?;
    let store = Store::init(cfg)?;
    outln!(
        "store at {} ready (storage: {})",
        store.root().display(),
        store.storage_kind()
    );
    jetpack_pod::metadata::init(store.root())?;
    match jetpack_net::claim_default(dir, bridge, subnet, store.root())? {
        jetpack_net::Claim::Written => outln!(
            "default network: bridge {bridge} on {subnet}, in {}",
            dir.display()
        ),
        jetpack_net::Claim::TakenOver { previous } => outln!(
            "default network in {}: now this store's (it was written for the store at {})",
            dir.display(),
            previous.display()
        ),
        jetpack_net::Claim::Kept => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn import(cfg: &Config, file: &str, quiet: bool, replace: bool) -> Result<ExitCode> {
    let mut store = Store::open(cfg)?;
    let source = if file == "-" {
        Source::Reader {
            reader: Box::new(std::io::stdin()),
            label: "<stdin>".into(),
        }
    } else {
        Source::File(file.into())
    };
    let started = std::time::Instant::now();
    let oci = jetpack_oci::ImageRef::parse(file)?;
    let opts = jetpack_store::ImportOptions {
        on_duplicate: if replace {
            jetpack_store::OnDuplicate::Replace
        } else {
            jetpack_store::OnDuplicate::Keep
        },
        ..Default::default()
    };
    let imported = match &oci {
        Some(r) => store.import_local_with(r, &opts),
        None => store.import_with(source, &opts),
    }
    .with_context(|| format!("cannot import {file}"))?;
    image::report_duplicates(&imported, replace);
    if !quiet {
        let verb = if imported.existed {
            "already in the store"
        } else {
            "imported"
        };
        eprintln!(
            "{} {verb}: {} entries, {} {} → {} tar, {:.2}s",
            imported.name,
            imported.entries,
            fmt::size(imported.stats.raw_bytes),
            imported.stats.compression.as_str(),
            fmt::size(imported.stats.tar_bytes),
            started.elapsed().as_secs_f64()
        );
    }
    outln!("{}", imported.id);
    Ok(ExitCode::SUCCESS)
}

/// Every field of `images --format`, and the default columns (the first nine).
const IMAGE_FIELDS: [&str; 14] = [
    "id",
    "name",
    "labels",
    "tags",
    "size",
    "imported",
    "signer",
    "digest",
    "reference",
    "aci_size",
    "compression",
    "last_used",
    "deps",
    "index_digest",
];

fn images(cfg: &Config, view: &View, no_trunc: bool, digest: Option<&str>) -> Result<ExitCode> {
    let cols = view.columns(&IMAGE_FIELDS, &IMAGE_FIELDS[..9], "id")?;
    let store = Store::open(cfg)?;
    let origins = store.origins()?;
    let mut rows = store.images()?;
    if let Some(d) = digest {
        let d = d.to_ascii_lowercase();
        rows.retain(|r| {
            origins.get(&r.id).is_some_and(|o| {
                o.digest.starts_with(&d)
                    || o.index_digest.as_ref().is_some_and(|i| i.starts_with(&d))
            })
        });
    }
    let mut out = crate::stdout();
    if view.json {
        // Each row, with the reference and digests of OCI images (absent for ACIs).
        let mut listed = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut v = serde_json::to_value(row)?;
            if let (Some(o), Some(m)) = (origins.get(&row.id), v.as_object_mut()) {
                m.insert("reference".into(), o.reference.clone().into());
                m.insert("digest".into(), o.digest.clone().into());
                m.insert("index_digest".into(), o.index_digest.clone().into());
            }
            listed.push(v);
        }
        serde_json::to_writer_pretty(&mut out, &listed)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    // `-q` prints IDs for scripts: always whole.
    let full = no_trunc || view.quiet;
    let dash = |s: String| if s.is_empty() { "-".into() } else { s };
    let table: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| {
            let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let origin = origins.get(&r.id);
            let deps: Vec<String> = r
                .deps
                .iter()
                .map(|d| if full { d.clone() } else { short_id(d) })
                .collect();
            vec![
                if full { r.id.clone() } else { short_id(&r.id) },
                r.name,
                dash(labels.join(",")),
                dash(r.tags.join(",")),
                fmt::size(r.tree_size),
                fmt::time(r.imported),
                signer(r.signer.as_deref(), full),
                origin.map_or("-".into(), |o| short_digest(&o.digest, full)),
                origin.map_or("-".into(), |o| o.reference.clone()),
                fmt::size(r.aci_size),
                r.compression,
                r.last_used.map_or("-".into(), fmt::time),
                dash(deps.join(",")),
                origin
                    .and_then(|o| o.index_digest.as_deref())
                    .map_or("-".into(), |d| short_digest(d, full)),
            ]
        })
        .collect();
    write!(
        out,
        "{}",
        fmt::columns(&IMAGE_FIELDS, &cols, table, view.legend)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `sha256:` and the digest's first 12 hex digits, unless `full`.
pub(crate) fn short_digest(d: &str, full: bool) -> String {
    match d.split_once(':') {
        Some((alg, hex)) if !full && hex.len() > 12 => format!("{alg}:{}", &hex[..12]),
        _ => d.to_string(),
    }
}

/// The signing key's fingerprint (its last 16 digits unless `full`), or `unsigned`.
pub(crate) fn signer(fpr: Option<&str>, full: bool) -> String {
    match fpr {
        Some(f) if full => f.to_string(),
        Some(f) => f[f.len().saturating_sub(16)..].to_string(),
        None => "unsigned".into(),
    }
}

fn gc(cfg: &Config, grace: &str) -> Result<ExitCode> {
    let grace = pod::parse_duration(grace)?;
    let mut store = Store::open(cfg)?;
    let pods = jetpack_pod::gc(&store, grace)?;
    for p in &pods {
        outln!("removed pod {p}");
    }
    let report = store.gc()?;
    for r in &report.removed {
        outln!("removed {r}");
    }
    if report.removed.is_empty() && pods.is_empty() {
        outln!("nothing to remove");
    }
    Ok(ExitCode::SUCCESS)
}

fn config(cfg: &Config, keys: &[String]) -> Result<ExitCode> {
    if keys.is_empty() {
        for (k, v, origin) in cfg.entries() {
            outln!("{k} = {v}\t# {origin}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    for k in keys {
        match cfg.entries().into_iter().find(|(key, _, _)| key == k) {
            Some((_, v, _)) => outln!("{v}"),
            None => anyhow::bail!("unknown configuration key {k:?}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn mds(cfg: &Config, idle_exit: Option<&str>) -> Result<ExitCode> {
    let idle = idle_exit.map(pod::parse_duration).transpose()?;
    let Some(daemon) = jetpack_mds::Daemon::start(cfg.settings(), idle)? else {
        // Started on demand while another one started: that one serves.
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!(
        "metadata service on http://{}, as {}",
        daemon.local_addr(),
        daemon.running_as()
    );
    daemon.serve()?;
    Ok(ExitCode::SUCCESS)
}
