//! `exec`, `console` and `enter`: commands in a running pod's app.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Result, bail};
use jetpack_pod::{EnterOptions, PodRecord, Pods};
use jetpack_store::{Config, Store};

/// `POD[:APP]`: the pod's record and the app (the only one when none is named).
pub(crate) fn target(pods: &Pods, target: &str) -> Result<(PodRecord, String)> {
    let (pod, app) = match target.split_once(':') {
        Some((pod, app)) => (pod, Some(app)),
        None => (target, None),
    };
    let rec = pods.find(pod)?;
    let app = app_of(&rec, app)?;
    Ok((rec, app))
}

/// The app named, or the pod's only one.
pub(crate) fn app_of(rec: &PodRecord, app: Option<&str>) -> Result<String> {
    Ok(match (app, rec.apps.as_slice()) {
        (Some(a), _) if rec.apps.iter().any(|r| r.name == a) => a.to_string(),
        (Some(a), _) => bail!(
            "pod {} has no app {a:?} (its apps: {})",
            rec.uuid,
            names(rec)
        ),
        (None, [one]) => one.name.clone(),
        (None, _) => bail!(
            "pod {} has several apps ({}): name one as POD:APP",
            rec.uuid,
            names(rec)
        ),
    })
}

fn names(rec: &PodRecord) -> String {
    let n: Vec<&str> = rec.apps.iter().map(|a| a.name.as_str()).collect();
    n.join(", ")
}

pub struct ExecArgs<'a> {
    pub target: &'a str,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub env: &'a [String],
    pub tty: bool,
    pub command: &'a [String],
}

pub fn exec(cfg: &Config, a: &ExecArgs) -> Result<ExitCode> {
    let mut env = Vec::new();
    for kv in a.env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => env.push((k.to_string(), v.to_string())),
            _ => bail!("-e {kv}: give NAME=VALUE"),
        }
    }
    let opts = EnterOptions {
        user: a.user.clone(),
        working_dir: a.working_dir.clone(),
        env,
        ..EnterOptions::default()
    };
    run(cfg, a.target, a.command, a.tty, &opts)
}

pub fn console(cfg: &Config, target: &str, user: Option<String>) -> Result<ExitCode> {
    let opts = EnterOptions {
        user,
        login: true,
        ..EnterOptions::default()
    };
    run(cfg, target, &[], std::io::stdin().is_terminal(), &opts)
}

pub fn enter(
    cfg: &Config,
    pod: &str,
    app: Option<&str>,
    command: &[String],
    opts: &EnterOptions,
) -> Result<ExitCode> {
    let target = match app {
        Some(app) => format!("{pod}:{app}"),
        None => pod.to_string(),
    };
    run(cfg, &target, command, std::io::stdin().is_terminal(), opts)
}

fn run(
    cfg: &Config,
    target: &str,
    command: &[String],
    tty: bool,
    opts: &EnterOptions,
) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let (rec, app) = self::target(&pods, target)?;
    let code = jetpack_pod::enter(&store, &rec, &app, command, tty, opts)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
