//! `run -d`: the pod is handed to a supervisor process of its own (this binary's hidden
//! `supervise` command, in its own session), which tells this process on a pipe how the
//! start went, then owns the pod until it ends for good (see `jetpack_pod::supervise`).

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};
use jetpack_pod::{PodRecord, Pods};
use jetpack_store::{Config, Store};

/// The supervisor's descriptor for its report.
const READY_FD: i32 = 3;

/// Starts the supervisor of `rec` and waits until its apps run (or failed to start); prints
/// the pod's UUID.
pub fn start(cfg: &Config, store: &Store, rec: &PodRecord, rm: bool) -> Result<ExitCode> {
    let pods = Pods::new(store.root());
    let log_path = pods.files(&rec.uuid).supervisor_log();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let exe = std::env::current_exe().context("cannot find this program to start a supervisor")?;
    let (mut report, w) = std::io::pipe().context("pipe")?;
    let mut c = Command::new(exe);
    c.args(cfg.to_args());
    c.args(["supervise", "--report-fd", &READY_FD.to_string()]);
    if rm {
        c.arg("--rm");
    }
    c.arg(&rec.uuid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let mut child = jetpack_pod::detach::spawn_detached(&mut c, w.as_fd(), READY_FD)
        .context("cannot start the pod's supervisor")?;
    drop(w);
    drop(c);
    let mut text = String::new();
    report
        .read_to_string(&mut text)
        .context("reading the supervisor's report")?;
    if text.trim_end() == "ok" {
        outln!("{}", rec.uuid);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(why) = text.strip_prefix("error: ") {
        bail!("pod {}: {}", rec.uuid, why.trim_end());
    }
    // It closed the pipe without a word (it died): its log says why. Never wait for it: a
    // supervisor still alive goes on with the pod.
    let status = match child.try_wait() {
        Ok(Some(s)) => s.to_string(),
        _ => "still running".into(),
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let last = log.lines().last().unwrap_or("no message");
    bail!(
        "pod {}: its supervisor ended before the pod started ({status}): {last} (log: {})",
        rec.uuid,
        log_path.display()
    )
}

/// The hidden `supervise` command: runs the pod as its restart policy says and reports the
/// first start on descriptor `fd`.
pub fn supervise(cfg: &Config, pod: &str, fd: i32, rm: bool) -> Result<ExitCode> {
    let report = jetpack_pod::detach::take_passed_fd(fd)
        .with_context(|| format!("--report-fd {fd}: not an open descriptor"))?;
    let mut report = std::fs::File::from(report);
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let rec = pods.find(pod)?;
    let tell: jetpack_pod::Report = Box::new(move |r| {
        let line = match r {
            Ok(()) => "ok\n".to_string(),
            Err(e) => format!("error: {e}\n"),
        };
        // The starter may be gone (killed): nothing changes for the pod.
        let _ = report.write_all(line.as_bytes());
    });
    let result = jetpack_pod::supervise(&store, &rec, tell);
    if rm && let Err(e) = jetpack_pod::destroy(&store, &rec.uuid) {
        eprintln!("jetpack: cannot remove pod {}: {e:#}", rec.uuid);
    }
    let code = result.with_context(|| format!("pod {}", rec.uuid))?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
