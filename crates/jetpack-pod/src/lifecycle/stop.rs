//! `stop` and `kill`: a running pod signalled through its init, then reaped (its lock freed).

use std::time::{Duration, Instant};

use jetpack_store::Store;

use crate::engine::{Engine, Signal};
use crate::error::{Error, Result};
use crate::pods::{PodRecord, Pods, Status};

/// Sends SIGTERM, then SIGKILL after `timeout`; returns once the pod has exited.
pub fn stop_with(
    engine: &dyn Engine,
    store: &Store,
    rec: &PodRecord,
    timeout: Duration,
) -> Result<()> {
    let pods = Pods::new(store.root());
    let Some(pid) = stopping_pid(&pods, rec)? else {
        // Between two runs: the supervisor ends its wait.
        wait_unlocked(&pods, &rec.uuid, Duration::from_secs(10))?;
        return Ok(());
    };
    engine.signal(pid, Signal::Term)?;
    if wait_unlocked(&pods, &rec.uuid, timeout)? {
        return Ok(());
    }
    engine.signal(pid, Signal::Kill)?;
    wait_unlocked(&pods, &rec.uuid, Duration::from_secs(10))?;
    Ok(())
}

/// SIGKILL to the pod's init: the kernel ends every process of the pod.
pub fn kill_with(engine: &dyn Engine, store: &Store, rec: &PodRecord) -> Result<()> {
    let pods = Pods::new(store.root());
    let Some(pid) = stopping_pid(&pods, rec)? else {
        wait_unlocked(&pods, &rec.uuid, Duration::from_secs(10))?;
        return Ok(());
    };
    engine.signal(pid, Signal::Kill)?;
    wait_unlocked(&pods, &rec.uuid, Duration::from_secs(10))?;
    Ok(())
}

/// The init's pid of a pod to stop, after asking a detached pod's supervisor not to restart it;
/// `None` for a pod between two runs. An error for a pod that does not run.
fn stopping_pid(pods: &Pods, rec: &PodRecord) -> Result<Option<i32>> {
    let rec = pods.load(&rec.uuid)?;
    let status = pods.status(&rec)?;
    if !matches!(status, Status::Running | Status::Restarting) {
        return Err(Error::Invalid(format!(
            "pod {} is not running ({status})",
            rec.uuid
        )));
    }
    if rec.service.supervisor.is_some() {
        let stop = pods.files(&rec.uuid).stop_request();
        crate::state::write_private(&stop, b"")?;
    }
    Ok(match status {
        Status::Running => rec.pid,
        _ => None,
    })
}

pub(crate) fn running_pid(pods: &Pods, rec: &PodRecord) -> Result<Option<i32>> {
    let rec = pods.load(&rec.uuid)?;
    Ok(match pods.status(&rec)? {
        Status::Running => rec.pid,
        _ => None,
    })
}

fn wait_unlocked(pods: &Pods, uuid: &str, timeout: Duration) -> Result<bool> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !pods.is_locked(uuid)? {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(false)
}
