//! Watching a pod from another process: waiting for its end (`status --wait`), for its apps to
//! have started (`status --wait-ready`), and following its logs (`logs -f`, `attach`).
//!
//! A pod lives while its lock is held (by its init, and between runs by its supervisor), so
//! the end is a blocking shared `flock` on that lock, taken and let go at once: no polling.
//! Readiness and log growth are polled (every 20 ms and 100 ms): the pod's state file is
//! replaced by renames and its logs are appended to by the pod's init, which notifies nobody.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::pods::{PodRecord, Pods, Status};

/// Waits until nothing holds the pod's lock (it is not running, starting or between restarts),
/// at most `timeout` (forever when `None`); true if it ended.
pub fn wait_ended(pods: &Pods, uuid: &str, timeout: Option<Duration>) -> Result<bool> {
    let path = pods.files(uuid).lock();
    let (tx, rx) = mpsc::channel();
    // A thread, so that the wait can time out; a thread still waiting when the caller gives
    // up ends with the process.
    std::thread::spawn(move || {
        let got = jetpack_fs::LockFile::new(&path)
            .shared()
            .existing()
            .wait()
            .map(drop);
        let _ = tx.send(got);
    });
    let got = match timeout {
        Some(t) => match rx.recv_timeout(t) {
            Ok(got) => got,
            Err(_) => return Ok(false),
        },
        None => rx
            .recv()
            .map_err(|_| Error::Runtime("waiting for the pod: no answer".into()))?,
    };
    got?;
    Ok(true)
}

/// Waits until every app of the pod's current run has started (see `RunOptions::on_ready`), at
/// most `timeout`; `Ok(false)` on timeout. A pod that is not running (and not about to run
/// again) is an error that says so.
pub fn wait_ready(pods: &Pods, uuid: &str, timeout: Option<Duration>) -> Result<bool> {
    let start = Instant::now();
    loop {
        let rec = pods.load(uuid)?;
        let status = pods.status(&rec)?;
        match status {
            Status::Running if rec.service.ready.is_some() => return Ok(true),
            Status::Running | Status::Restarting | Status::Preparing => {}
            // A run may be starting (the lock is taken before the state says so).
            Status::Prepared | Status::Exited if pods.is_locked(uuid)? => {}
            _ => {
                return Err(Error::Invalid(format!(
                    "pod {uuid} is {status}, not running: its apps will not start (see `jetpack \
                     logs {uuid}`)"
                )));
            }
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One app's log being followed.
struct Followed {
    name: String,
    path: PathBuf,
    offset: u64,
    /// An incomplete last line, held back until its end arrives (with several apps, lines
    /// are prefixed with the app's name).
    partial: Vec<u8>,
}

/// Writes the logs of `apps` of the pod to `out` as they grow, until the pod has ended (and
/// is not restarting). `from_start`: everything logged so far first (`logs -f`), else only
/// what comes from now on (`attach`). With several apps each line is prefixed `app | `.
pub fn follow(
    pods: &Pods,
    rec: &PodRecord,
    apps: &[String],
    from_start: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut logs: Vec<Followed> = apps
        .iter()
        .map(|a| {
            let path = pods.log_path(&rec.uuid, a);
            let offset = match from_start {
                true => 0,
                false => std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            };
            Followed {
                name: a.clone(),
                path,
                offset,
                partial: Vec::new(),
            }
        })
        .collect();
    let prefix = apps.len() > 1;
    loop {
        // Whether it lives is asked before the last read, so nothing written before its end
        // is missed.
        let alive = pods.is_locked(&rec.uuid)?;
        for f in &mut logs {
            pump(f, prefix, out)?;
        }
        out.flush().at(&logs[0].path)?;
        if !alive {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for f in &mut logs {
        if !f.partial.is_empty() {
            f.partial.push(b'\n');
            emit(&f.name, &f.partial, prefix, out).at(&f.path)?;
        }
    }
    out.flush().at(&logs[0].path)?;
    Ok(())
}

fn pump(f: &mut Followed, prefix: bool, out: &mut dyn Write) -> Result<()> {
    let mut file = match std::fs::File::open(&f.path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at(&f.path).map_err(Error::from),
    };
    let len = file.metadata().at(&f.path)?.len();
    if len < f.offset {
        // Truncated by someone: start over.
        f.offset = 0;
    }
    file.seek(SeekFrom::Start(f.offset)).at(&f.path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).at(&f.path)?;
        if n == 0 {
            return Ok(());
        }
        f.offset += n as u64;
        if !prefix {
            out.write_all(&buf[..n]).at(&f.path)?;
            continue;
        }
        f.partial.extend_from_slice(&buf[..n]);
        if let Some(end) = f.partial.iter().rposition(|&b| b == b'\n') {
            let rest = f.partial.split_off(end + 1);
            emit(&f.name, &f.partial, true, out).at(&f.path)?;
            f.partial = rest;
        }
    }
}

fn emit(name: &str, lines: &[u8], prefix: bool, out: &mut dyn Write) -> std::io::Result<()> {
    if !prefix {
        return out.write_all(lines);
    }
    for line in lines.split_inclusive(|&b| b == b'\n') {
        write!(out, "{name} | ")?;
        out.write_all(line)?;
    }
    Ok(())
}
