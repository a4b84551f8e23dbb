//! `generate systemd` and `generate rc.d`: a pod's boot service. The text is made by
//! `jetpack_pod::service`; this reads the command line and prints or writes it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use jetpack_pod::Pods;
use jetpack_pod::RestartPolicy;
use jetpack_pod::service::{self, Service, ServicePod};
use jetpack_store::{Config, Store};

use crate::cli::{GenerateArgs, GenerateCommand};
use crate::podargs;

/// The global options every command of the service repeats: `--config` (made absolute: a
/// service runs in `/`) and each `-o`.
pub fn global_options(config: Option<&Path>, sets: &[String]) -> Result<Vec<String>> {
    let mut v = Vec::new();
    if let Some(c) = config {
        let abs = std::path::absolute(c).with_context(|| format!("--config {}", c.display()))?;
        let Some(text) = abs.to_str() else {
            bail!("--config {}: a service needs a UTF-8 path", abs.display());
        };
        v.extend(["--config".to_string(), text.to_string()]);
    }
    for s in sets {
        v.extend(["-o".to_string(), s.clone()]);
    }
    Ok(v)
}

pub fn run(cfg: &Config, global: Vec<String>, cmd: GenerateCommand) -> Result<ExitCode> {
    let (args, rcd) = match cmd {
        GenerateCommand::Systemd(a) => (a, false),
        GenerateCommand::RcD(a) => (a, true),
    };
    let (args, rest) = own_options(args)?;
    let given = args
        .restart
        .as_deref()
        .map(|r| r.parse::<RestartPolicy>())
        .transpose()
        .map_err(|e| anyhow::anyhow!("--restart: {e}"))?;
    let exe = std::env::current_exe().context("cannot find the jetpack binary's path")?;
    let (pod, recorded) = pod(cfg, &rest)?;
    let restart = match (given, recorded) {
        (Some(r), _) if rcd && matches!(pod, ServicePod::Existing { .. }) && !r.is_no() => bail!(
            "--restart: an existing pod keeps the policy it was prepared with (its supervisor \
             applies it); give it to a service that makes its pod (--name NAME IMAGE...)"
        ),
        (Some(r), _) => r,
        // systemd restarts a prepared pod as its policy says (`run` in the foreground does
        // not); under rc.d its supervisor applies it.
        (None, Some(r)) if !rcd => r,
        _ => RestartPolicy::No,
    };
    let s = Service {
        exe,
        global,
        pod,
        restart,
        stop_timeout: args.stop_timeout,
    };
    let (name, text, dir, mode) = if rcd {
        let dir = "/usr/local/etc/rc.d";
        (
            service::rcd::script_name(&s),
            service::rcd::script(&s)?,
            dir,
            0o755,
        )
    } else {
        let dir = "/etc/systemd/system";
        (
            service::systemd::unit_name(&s),
            service::systemd::unit(&s)?,
            dir,
            0o644,
        )
    };
    if !args.files {
        if args.dir.is_some() {
            bail!("--dir is where --files writes: give --files too");
        }
        out!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(dir));
    if !dir.is_dir() {
        bail!("--dir {}: not a directory", dir.display());
    }
    let path = dir.join(name);
    jetpack_fs::AtomicWrite::new(&path)
        .mode(mode)
        .bytes(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    outln!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Takes generate's own options out of the pod's arguments, where they may follow a pod
/// option that clap does not know (`--name web --files img`): everything up to the first
/// `--`, after which arguments are the apps'.
fn own_options(mut a: GenerateArgs) -> Result<(GenerateArgs, Vec<String>)> {
    let mut rest = Vec::new();
    let mut it = std::mem::take(&mut a.pod).into_iter();
    let mut apps = false;
    while let Some(arg) = it.next() {
        if apps || arg == "--" {
            apps = true;
            rest.push(arg);
            continue;
        }
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| match inline.clone().or_else(|| it.next()) {
            Some(v) => Ok(v),
            None => Err(anyhow::anyhow!("{name} needs a value")),
        };
        match key.as_str() {
            "--files" if inline.is_none() => a.files = true,
            "--dir" => a.dir = Some(value("--dir")?.into()),
            "--restart" => a.restart = Some(value("--restart")?),
            "--stop-timeout" => {
                let v = value("--stop-timeout")?;
                a.stop_timeout = v
                    .parse()
                    .with_context(|| format!("--stop-timeout {v:?}: expected seconds"))?;
            }
            _ => rest.push(arg),
        }
    }
    Ok((a, rest))
}

/// The service's pod: an existing one (a single argument), with its recorded restart policy,
/// or one made from images.
fn pod(cfg: &Config, args: &[String]) -> Result<(ServicePod, Option<RestartPolicy>)> {
    if let [one] = args
        && !one.starts_with('-')
    {
        let store = Store::open(cfg)?;
        let rec = Pods::new(store.root()).find(one).with_context(|| {
            format!("a service for a pod made from images needs --name NAME (`--name web {one}`)")
        })?;
        let policy = rec.service.restart_policy;
        let pod = ServicePod::Existing {
            uuid: rec.uuid,
            name: rec.name,
        };
        return Ok((pod, Some(policy)));
    }
    // `run` options end at the apps' arguments.
    let mut options = args.iter().take_while(|a| *a != "--");
    if options.any(|a| matches!(a.as_str(), "-d" | "--detach")) {
        bail!("the service decides how the pod runs: leave out -d/--detach");
    }
    let p = podargs::parse(args, true)?;
    let Some(name) = p.name.clone() else {
        bail!(
            "a service for a pod made from images needs --name NAME: the name is its handle \
             on the pod, made at each start"
        );
    };
    if p.rm || p.tty || p.interactive {
        bail!(
            "--rm, -t and -i do not apply: the service destroys its pod when it stops, and \
             runs it without a terminal or input"
        );
    }
    let relative = |f: &Path| f.is_relative();
    if p.pod_manifest
        .as_deref()
        .map(Path::new)
        .is_some_and(relative)
        || p.uuid_file.as_deref().is_some_and(relative)
    {
        bail!("--pod-manifest and --uuid-file-save need absolute paths: a service runs in /");
    }
    // `--name NAME` goes first in the service's `run`; the rest as given.
    let at = args
        .iter()
        .position(|a| a == "--name" || a.starts_with("--name="))
        .unwrap_or(0);
    let skip = if args[at] == "--name" { 2 } else { 1 };
    let rest = args[..at]
        .iter()
        .chain(&args[at + skip..])
        .cloned()
        .collect();
    Ok((ServicePod::New { name, args: rest }, None))
}
