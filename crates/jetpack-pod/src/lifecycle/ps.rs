//! `ps POD`: a running pod's processes as the host sees them. They are the pod's init (its
//! recorded pid) and every descendant, found through the parent links in `/proc`, whatever
//! cgroups the pod has (a pod without limits may have none of its own). A child of the init
//! belongs to the app its environment names (`AC_APP_NAME`, which the init sets for each app,
//! as `enter` finds an app's process); its descendants belong to the same app.

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
