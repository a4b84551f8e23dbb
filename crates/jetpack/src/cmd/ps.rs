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

/// `jetpack top POD`: [`jetpack_pod::lifecycle::ps::usage`] every `delay` seconds.
pub fn top(
    cfg: &Config,
    pod: &str,
    delay: f64,
    iterations: Option<u64>,
    json: bool,
) -> Result<ExitCode> {
    use std::io::IsTerminal;
    if !(delay.is_finite() && delay > 0.0) {
        anyhow::bail!("-d {delay}: give a number of seconds above 0, e.g. 1 or 0.5");
    }
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let rec = pods.find(pod)?;
    let terminal = std::io::stdout().is_terminal();
    let n = iterations.unwrap_or(if terminal { u64::MAX } else { 1 });
    let interval = std::time::Duration::from_secs_f64(delay);
    for i in 0..n {
        let usage = jetpack_pod::lifecycle::ps::usage(&pods, &rec, interval)?;
        if json {
            let text = if n == 1 {
                serde_json::to_string_pretty(&usage)?
            } else {
                serde_json::to_string(&usage)?
            };
            outln!("{text}");
            continue;
        }
        if terminal && n > 1 {
            // Each table replaces the last, as top(1) does.
            out!("\x1b[H\x1b[2J");
        } else if i > 0 {
            outln!();
        }
        let width = usage
            .iter()
            .filter_map(|u| u.process.app.as_ref().map(String::len))
            .max()
            .unwrap_or(0)
            .max(3);
        outln!(
            "{:<8} {:<width$} {:>6} {:>9} COMMAND",
            "PID",
            "APP",
            "CPU%",
            "RSS"
        );
        for u in &usage {
            let p = &u.process;
            outln!(
                "{:<8} {:<width$} {:>6.1} {:>9} {}",
                p.pid,
                p.app.as_deref().unwrap_or("-"),
                u.cpu_percent,
                crate::fmt::size(u.rss_bytes),
                p.command
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
