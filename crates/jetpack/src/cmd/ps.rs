//! `jetpack ps POD`: a running pod's processes from the host.

use std::process::ExitCode;

use anyhow::Result;
use jetpack_pod::Pods;
use jetpack_store::{Config, Store};

pub fn run(cfg: &Config, pod: &str, json: bool) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let rec = pods.find(pod)?;
    let procs = jetpack_pod::lifecycle::ps::processes(&pods, &rec)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&procs)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = procs
        .iter()
        .filter_map(|p| p.app.as_ref().map(String::len))
        .max()
        .unwrap_or(0)
        .max(3);
    outln!("{:<8} {:<width$} {:<6} COMMAND", "PID", "APP", "UID");
    for p in &procs {
        outln!(
            "{:<8} {:<width$} {:<6} {}",
            p.pid,
            p.app.as_deref().unwrap_or("-"),
            p.uid,
            p.command
        );
    }
    Ok(ExitCode::SUCCESS)
}
