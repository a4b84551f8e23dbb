//! Pod commands: prepare, run, logs, stop, kill, destroy (the views are in `pod_view`).

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use jetpack_pod::{PodOptions, PodRecord, Pods};
use jetpack_store::{Config, Store};

use crate::podargs::{self, PodArgs};

/// `30s`, `15m`, `2h`, `1d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("bad duration {s:?} (e.g. 30s, 15m, 2h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => bail!("bad duration {s:?} (e.g. 30s, 15m, 2h)"),
    };
    Ok(Duration::from_secs(secs))
}

fn help_requested(args: &[String], cmd: &str) -> Option<ExitCode> {
    if args.iter().any(|a| a == "--help" || a == "-h") && !args.iter().any(|a| a == "--") {
        let _ = std::process::Command::new(std::env::current_exe().ok()?)
            .args(["help", cmd])
            .status();
        return Some(ExitCode::SUCCESS);
    }
    None
}

/// The pod manifest of `--pod-manifest FILE` or of the images, resolved against the store.
fn reified(store: &Store, a: &PodArgs) -> Result<appc::PodManifest> {
    Ok(match &a.pod_manifest {
        Some(f) => {
            let bytes = super::read_capped(f.as_ref(), super::MANIFEST_LIMIT, "a pod manifest")?;
            let mut m = appc::PodManifest::from_slice(&bytes)
                .with_context(|| format!("{f}: invalid pod manifest"))?;
            jetpack_pod::reify::resolve_manifest(store, &mut m, a.request.image_privileges)
                .with_context(|| f.to_string())?;
            m
        }
        None => jetpack_pod::reify(store, &a.request)?.0,
    })
}

fn prepare_from(store: &Store, a: &PodArgs) -> Result<PodRecord> {
    let manifest = reified(store, a)?;
    let net = a
        .net
        .clone()
        .unwrap_or_else(|| jetpack_net::DEFAULT_NETWORK.into());
    Ok(jetpack_pod::prepare(
        store,
        &manifest,
        &PodOptions {
            name: a.name.clone(),
            net,
            dns: a.dns.clone(),
            ports: a.ports.clone(),
            private_users: a
                .private_users
                .unwrap_or(store.settings().store.private_users),
            etc: a.etc.clone(),
            restart: a.restart.unwrap_or_default(),
        },
    )?)
}

/// True for a pod UUID written out in full (`8-4-4-4-12` hex digits): such an argument names a
/// pod, never an image to discover on the network.
fn uuid_shaped(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Refuses a pod UUID given where `prepare`/`run` expect images: it names a pod (or none), and
/// the options given with it only apply when a pod is made from images (`run UUID` alone starts
/// that pod).
fn refuse_pod_as_image(pods: &Pods, a: &PodArgs, args: &[String], cmd: &str) -> Result<()> {
    let Some(app) = a.request.apps.iter().find(|x| uuid_shaped(&x.image)) else {
        return Ok(());
    };
    let uuid = app.image.as_str();
    if pods.find(uuid).is_err() {
        bail!(
            "no pod {uuid}: a UUID names a pod, not an image (see `jetpack list` for pods, \
             `jetpack images` for images)"
        );
    }
    let pos = args.iter().position(|x| x == uuid).unwrap_or(args.len());
    let options = |from: &[String]| -> Vec<String> {
        let mut out = Vec::new();
        let mut it = from.iter();
        while let Some(x) = it.next() {
            let key = x.split('=').next().unwrap_or(x);
            match key {
                // `run`'s own: how to attach, not how to make a pod.
                "--rm" | "-t" | "--tty" | "-i" | "--interactive" | "-d" | "--detach" => {}
                "--app" if !x.contains('=') => {
                    it.next();
                }
                "--app" => {}
                k if k.starts_with('-') => out.push(k.to_string()),
                _ => {}
            }
        }
        out
    };
    if cmd == "prepare" {
        bail!(
            "{uuid} is a prepared pod, not an image: start it with `jetpack run {uuid}`, or \
             prepare a new pod from an image"
        );
    }
    if a.request.apps.len() > 1 {
        bail!(
            "{uuid} is a prepared pod, not an image: a pod cannot be combined with images; run \
             it as prepared with `jetpack run {uuid}`"
        );
    }
    let after = options(&args[(pos + 1).min(args.len())..]);
    if !after.is_empty() {
        bail!(
            "{uuid} is a prepared pod: app options ({}) apply only to a pod made from images; \
             run it as prepared with `jetpack run {uuid}`, or make a new pod with \
             `jetpack run IMAGE {}`",
            after.join(" "),
            after.join(" ")
        );
    }
    let before = options(&args[..pos]);
    if !before.is_empty() {
        bail!(
            "{uuid} is a prepared pod: pod options ({}) apply only to a pod made from images; \
             run it as prepared with `jetpack run {uuid}`",
            before.join(" ")
        );
    }
    Ok(())
}

pub fn prepare(cfg: &Config, args: &[String]) -> Result<ExitCode> {
    if let Some(c) = help_requested(args, "prepare") {
        return Ok(c);
    }
    let a = podargs::parse(args, false)?;
    if a.dry_run && a.uuid_file.is_some() {
        bail!("--dry-run prepares no pod: there is no UUID for --uuid-file-save");
    }
    if let Some(f) = &a.uuid_file {
        check_uuid_file(f)?;
    }
    let store = Store::open(cfg)?;
    refuse_pod_as_image(&Pods::new(store.root()), &a, args, "prepare")?;
    if a.dry_run {
        return dry_run(&store, &a);
    }
    super::fetch::ensure_images(cfg, &store, &a.request, a.insecure, a.pull)?;
    let rec = prepare_from(&store, &a)?;
    save_uuid(&store, &rec, a.uuid_file.as_deref())?;
    outln!("{}", rec.uuid);
    Ok(ExitCode::SUCCESS)
}

/// `prepare --dry-run`: the pod manifest `prepare` would write, from stored images only.
fn dry_run(store: &Store, a: &PodArgs) -> Result<ExitCode> {
    // Fetching would store images: a dry run names the ones missing instead.
    for app in &a.request.apps {
        store
            .lookup(&app.image, jetpack_store::Pick::Newest)
            .with_context(|| {
                format!(
                    "--dry-run uses stored images only (fetch or import {} first)",
                    app.image
                )
            })?;
    }
    let manifest = jetpack_pod::with_ports(&reified(store, a)?, &a.ports)?;
    outln!("{}", manifest.to_json_pretty());
    // What the pod's state gets besides the manifest (stdout stays the manifest alone).
    for line in etc_summary(&a.etc) {
        eprintln!("jetpack: {line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The pod-wide settings kept in the pod's state rather than its manifest, one per line.
fn etc_summary(etc: &jetpack_pod::EtcOptions) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(h) = &etc.hostname {
        out.push(format!("hostname {h}"));
    }
    if etc.host_hosts {
        out.push("/etc/hosts: the host's".into());
    }
    for (ip, host) in &etc.hosts_entries {
        out.push(format!("/etc/hosts: {ip} {host}"));
    }
    if !etc.dns_search.is_empty() {
        out.push(format!(
            "/etc/resolv.conf: search {}",
            etc.dns_search.join(" ")
        ));
    }
    if !etc.dns_options.is_empty() {
        out.push(format!(
            "/etc/resolv.conf: options {}",
            etc.dns_options.join(" ")
        ));
    }
    out
}

/// Refuses, before any work, a `--uuid-file-save` path that cannot be a file: a directory, or
/// one in a directory that does not exist.
fn check_uuid_file(f: &Path) -> Result<()> {
    let what = || format!("--uuid-file-save {}", f.display());
    if f.is_dir() {
        bail!("{}: a directory, not a file", what());
    }
    let dir = f
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{}: {} is not a directory", what(), dir.display()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot use {}", what(), dir.display())),
    }
}

/// Writes the new pod's UUID to `file` (atomically: a reader sees all of it or nothing). A pod
/// whose UUID cannot be saved is destroyed, since the caller would not know it.
fn save_uuid(store: &Store, rec: &PodRecord, file: Option<&Path>) -> Result<()> {
    let Some(f) = file else {
        return Ok(());
    };
    if let Err(e) = jetpack_fs::atomic_write(f, format!("{}\n", rec.uuid).as_bytes()) {
        if let Err(d) = jetpack_pod::destroy(store, &rec.uuid) {
            eprintln!("jetpack: cannot remove pod {}: {d:#}", rec.uuid);
        }
        return Err(e).with_context(|| format!("cannot write {}", f.display()));
    }
    Ok(())
}

pub fn run(cfg: &Config, args: &[String]) -> Result<ExitCode> {
    if let Some(c) = help_requested(args, "run") {
        return Ok(c);
    }
    let a = podargs::parse(args, true)?;
    if a.detach && (a.tty || a.interactive) {
        bail!(
            "{} gives the pod this terminal or input, and -d leaves them: choose one",
            if a.tty { "-t" } else { "-i" }
        );
    }
    if a.restart.is_some_and(|r| !r.is_no()) && !a.detach {
        bail!(
            "--restart applies to detached pods (run -d): in the foreground, the service \
             manager restarts (see `jetpack generate systemd`)"
        );
    }
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    refuse_pod_as_image(&pods, &a, args, "run")?;
    // A single bare argument naming an existing pod runs that pod.
    let existing = match a.request.apps.as_slice() {
        [one] if a.pod_manifest.is_none() && one.exec.is_none() && one.args.is_none() => {
            pods.find(&one.image).ok()
        }
        _ => None,
    };
    let new = existing.is_none();
    let rec = match existing {
        Some(_) if a.uuid_file.is_some() => {
            bail!(
                "--uuid-file-save saves the UUID of a new pod; {} exists",
                args.join(" ")
            )
        }
        Some(r) => r,
        None => {
            if let Some(f) = &a.uuid_file {
                check_uuid_file(f)?;
            }
            super::fetch::ensure_images(cfg, &store, &a.request, a.insecure, a.pull)?;
            let rec = prepare_from(&store, &a)?;
            // Saved before the pod starts, so that another process can follow it.
            save_uuid(&store, &rec, a.uuid_file.as_deref())?;
            rec
        }
    };
    if a.detach {
        return super::detach::start(cfg, &store, &rec, a.rm);
    }
    let tty = a.tty;
    if tty && !std::io::stdin().is_terminal() {
        bail!("-t needs a terminal on standard input (give -i to pass a pipe or a file)");
    }
    let attach = jetpack_pod::Attach {
        tty,
        interactive: a.interactive,
        app: a.app.clone(),
    };
    let names: Vec<&str> = rec.apps.iter().map(|x| x.name.as_str()).collect();
    if let Err(e) = attach.app_index(&names) {
        // Refused before it runs: a pod made for this run is not left behind.
        if new && let Err(d) = jetpack_pod::destroy(&store, &rec.uuid) {
            eprintln!("jetpack: cannot remove pod {}: {d:#}", rec.uuid);
        }
        return Err(e.into());
    }
    let result = jetpack_pod::run_attached(&store, &rec, &attach);
    if a.rm {
        let removed = jetpack_pod::destroy(&store, &rec.uuid)
            .with_context(|| format!("cannot remove pod {}", rec.uuid));
        match (&result, removed) {
            (_, Ok(())) => {}
            (Ok(_), Err(e)) => return Err(e),
            // The reason the pod failed matters more; say both.
            (Err(_), Err(e)) => eprintln!("jetpack: {e:#}"),
        }
    }
    let code = result.with_context(|| format!("pod {}", rec.uuid))?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// The apps of `rec` named by `app` (all when `None`).
fn app_names(rec: &PodRecord, app: Option<&str>) -> Result<Vec<String>> {
    Ok(match app {
        Some(a) if rec.apps.iter().any(|x| x.name == a) => vec![a.to_string()],
        Some(a) => bail!(
            "pod {} has no app {a:?} (its apps: {})",
            rec.uuid,
            rec.apps
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => rec.apps.iter().map(|a| a.name.clone()).collect(),
    })
}

pub fn logs(cfg: &Config, pod: &str, app: Option<&str>, follow: bool) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let rec = pods.find(pod)?;
    let names = app_names(&rec, app)?;
    let mut out = crate::stdout();
    if follow {
        jetpack_pod::follow(&pods, &rec, &names, true, &mut out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for n in names {
        let p = pods.log_path(&rec.uuid, &n);
        match std::fs::File::open(&p) {
            Ok(mut f) => {
                std::io::copy(&mut f, &mut out)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn attach(cfg: &Config, pod: &str, app: Option<&str>) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let rec = pods.find(pod)?;
    let names = app_names(&rec, app)?;
    let status = pods.status(&pods.load(&rec.uuid)?)?;
    if !matches!(
        status,
        jetpack_pod::Status::Running | jetpack_pod::Status::Restarting
    ) {
        bail!(
            "pod {} is {status}: there is nothing to attach to (`jetpack logs {}` shows what it \
             wrote)",
            rec.uuid,
            rec.uuid
        );
    }
    jetpack_pod::follow(&pods, &rec, &names, false, &mut crate::stdout())?;
    Ok(ExitCode::SUCCESS)
}

/// `status --wait[=T]` and `--wait-ready[=T]`: false on timeout (said on stderr).
pub fn wait(cfg: &Config, pod: &str, timeout: &str, ready: bool) -> Result<bool> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let rec = pods.find(pod)?;
    let limit = match timeout {
        "" => None,
        t => Some(parse_duration(t).context("--wait")?),
    };
    let done = match ready {
        true => jetpack_pod::wait_ready(&pods, &rec.uuid, limit)?,
        false => jetpack_pod::wait_ended(&pods, &rec.uuid, limit)?,
    };
    if !done {
        let what = if ready {
            "its apps to start"
        } else {
            "it to end"
        };
        eprintln!(
            "jetpack: pod {}: timed out after {timeout} waiting for {what}",
            rec.uuid
        );
    }
    Ok(done)
}

pub fn stop(cfg: &Config, list: &[String], timeout: u64) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    for p in list {
        let rec = pods.find(p)?;
        jetpack_pod::stop(&store, &rec, Duration::from_secs(timeout))?;
        outln!("stopped {}", rec.uuid);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn kill(cfg: &Config, list: &[String]) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    for p in list {
        let rec = pods.find(p)?;
        jetpack_pod::kill(&store, &rec)?;
        outln!("killed {}", rec.uuid);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn destroy(cfg: &Config, list: &[String]) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    for p in list {
        // An aborted prepare may lack a readable state: accept its full UUID too.
        let uuid = match pods.find(p) {
            Ok(rec) => rec.uuid,
            Err(_) if pods.dir(p).is_dir() => p.clone(),
            Err(e) => return Err(e.into()),
        };
        // One destroy at a time in a store: another one of the same pod waits here, then finds
        // it gone instead of failing half-way through the removal on missing files.
        let guard = pods
            .lock_destroys()
            .context("cannot lock the pods directory")?;
        if !pods.dir(&uuid).exists() {
            outln!("pod {uuid} already destroyed");
            continue;
        }
        match jetpack_pod::destroy(&store, &uuid) {
            Ok(()) => outln!("destroyed {uuid}"),
            // Removed meanwhile by a process that does not take the lock (`run --rm`, `gc`).
            Err(_) if !pods.dir(&uuid).exists() => outln!("pod {uuid} already destroyed"),
            Err(e) => return Err(e).with_context(|| format!("cannot destroy pod {uuid}")),
        }
        drop(guard);
    }
    Ok(ExitCode::SUCCESS)
}
