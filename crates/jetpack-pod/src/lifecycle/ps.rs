//! `ps POD`: a running pod's processes as the host sees them. They are the pod's init (its
//! recorded pid) and every descendant, found through the parent links in `/proc`, whatever
//! cgroups the pod has (a pod without limits may have none of its own). A child of the init
//! belongs to the app its environment names (`AC_APP_NAME`, which the init sets for each app,
//! as `enter` finds an app's process); its descendants belong to the same app. `top POD` adds
//! each process's CPU use over an interval and its resident memory.

use std::collections::HashMap;

use serde::Serialize;

use super::stop::running_pid;
use crate::error::{Error, Result};
use crate::pods::{PodRecord, Pods};

/// One process of a pod, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    /// Host pid.
    pub pid: i32,
    pub ppid: i32,
    /// The app it belongs to; `None` for the pod's init.
    pub app: Option<String>,
    /// Real user id on the host (a pod with its own user namespace shows shifted ids).
    pub uid: u32,
    /// Its command line, or `[comm]` for a process without one.
    pub command: String,
}

/// The processes of a running pod, the init first, then by pid.
pub fn processes(pods: &Pods, rec: &PodRecord) -> Result<Vec<Process>> {
    let Some(init) = running_pid(pods, rec)? else {
        let status = pods.status(&pods.load(&rec.uuid)?)?;
        return Err(Error::Invalid(format!(
            "pod {} is not running ({status}): it has no processes",
            rec.uuid
        )));
    };
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let rd = std::fs::read_dir("/proc").map_err(|e| Error::Runtime(format!("/proc: {e}")))?;
    for entry in rd.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut queue = vec![(init, None::<String>)];
    while let Some((pid, app)) = queue.pop() {
        // A process that ended meanwhile is left out.
        let Some(p) = describe(pid, app.clone()) else {
            continue;
        };
        for &child in children.get(&pid).into_iter().flatten() {
            let child_app = if pid == init {
                app_name(child)
            } else {
                app.clone()
            };
            queue.push((child, child_app));
        }
        out.push(p);
    }
    out.sort_by_key(|p| (p.pid != init, p.pid));
    Ok(out)
}

/// The parent pid, from `/proc/PID/stat` (after the command name, which may hold anything).
fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The app a child of the init runs: the last `AC_APP_NAME` of its environment.
fn app_name(pid: i32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let v = environ
        .split(|&b| b == 0)
        .rfind(|v| v.starts_with(b"AC_APP_NAME="))?;
    Some(String::from_utf8_lossy(&v["AC_APP_NAME=".len()..]).into_owned())
}

fn describe(pid: i32, app: Option<String>) -> Option<Process> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next().map(str::to_string))
    };
    let uid = field("Uid:")?.parse().ok()?;
    let ppid = field("PPid:")?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let command = if words.is_empty() {
        format!("[{}]", field("Name:").unwrap_or_default())
    } else {
        words.join(" ")
    };
    Some(Process {
        pid,
        ppid,
        app,
        uid,
        command,
    })
}

/// A process of a pod with what it used over a sampling interval (`top`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    #[serde(flatten)]
    pub process: Process,
    /// CPU time over the interval, in percent of one core (a busy process on two cores: 200).
    pub cpu_percent: f64,
    /// Resident memory at the end of the interval, in bytes.
    pub rss_bytes: u64,
}

/// The pod's processes with their CPU use over `interval` (sampled from `/proc` at its start
/// and end) and their resident memory. A process started during the interval counts from its
/// start; one that ended is left out.
pub fn usage(pods: &Pods, rec: &PodRecord, interval: std::time::Duration) -> Result<Vec<Usage>> {
    let first: HashMap<i32, u64> = processes(pods, rec)?
        .iter()
        .filter_map(|p| Some((p.pid, cpu_ns(p.pid)?)))
        .collect();
    let start = std::time::Instant::now();
    std::thread::sleep(interval);
    let procs = processes(pods, rec)?;
    let elapsed = start.elapsed().as_nanos().max(1) as f64;
    Ok(procs
        .into_iter()
        .filter_map(|p| {
            let now = cpu_ns(p.pid)?;
            let used = now.saturating_sub(first.get(&p.pid).copied().unwrap_or(0));
            Some(Usage {
                cpu_percent: (used as f64 * 100.0 / elapsed * 10.0).round() / 10.0,
                rss_bytes: rss(p.pid).unwrap_or(0),
                process: p,
            })
        })
        .collect())
}

/// CPU time of the process so far, in nanoseconds: `/proc/PID/schedstat` (exact), else user
/// and system time from `/proc/PID/stat` in clock ticks (USER_HZ, 100 on Linux).
fn cpu_ns(pid: i32) -> Option<u64> {
    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        && let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok())
    {
        return Some(ns);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let utime: u64 = rest.nth(11)?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

/// Resident memory (`VmRSS`), in bytes; `None` for a process without (a zombie).
fn rss(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}
