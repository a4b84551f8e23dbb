//! Detached pods: one supervisor process per pod (no daemon for all pods) owns what a
//! foreground `jetpack run` owns — the pod's lock and state, the apps' exit records, the
//! metadata registration, the networks' teardown — and applies the pod's restart policy.
//!
//! The supervisor keeps the pod's lock from its first start to its last end, across restarts,
//! so `gc` and `destroy` leave a restarting pod alone, and `status --wait` ends when the
//! supervisor does. `stop` and `kill` leave a stop request (`PodDir::stop_request`) before they
//! signal the pod: the supervisor then does not restart it, and ends a backoff at once.
//!
//! Whoever started the supervisor hears once how the first start went ([`Report`]): ready
//! when every app runs; a failure when an app could not start or ended non-zero before all
//! had started — after the pod ended, so that its state says `exited`, unless other apps of
//! the pod still run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jetpack_store::Store;

use super::run::{ReadyHook, RunOptions, lock_for_run, run_locked};
use crate::engine::{AppStart, Engine};
use crate::error::Result;
use crate::pods::{PodRecord, Pods, now};
use crate::restart::{STABLE, backoff};

/// The first start's outcome, for whoever started the supervisor: `Ok` once every app runs,
/// else what went wrong.
pub type Report = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// Runs the pod, and again as its restart policy says, until it ends for good or is stopped.
/// Returns the last run's exit status.
pub fn supervise_with(
    engine: &dyn Engine,
    store: &Store,
    rec: &PodRecord,
    report: Report,
) -> Result<i32> {
    let pods = Pods::new(store.root());
    let report = Arc::new(Mutex::new(Some(report)));
    let tell = |r: std::result::Result<(), String>| {
        if let Some(f) = take(&report) {
            f(r)
        }
    };
    let lock = match lock_for_run(&pods, rec) {
        Ok(l) => l,
        Err(e) => {
            tell(Err(e.to_string()));
            return Err(e);
        }
    };
    let stop = pods.files(&rec.uuid).stop_request();
    let _ = std::fs::remove_file(&stop);
    let mut r = pods.load(&rec.uuid)?;
    r.service.supervisor = Some(std::process::id() as i32);
    r.service.restarts = 0;
    r.service.restart_at = None;
    pods.save(&r)?;
    let policy = r.service.restart_policy;
    let mut streak = 0u32;
    let pending: Arc<Mutex<Option<String>>> = Arc::default();
    let code = loop {
        let started = Instant::now();
        let opts = RunOptions {
            attach: Default::default(),
            on_ready: Some(first_start(report.clone(), pending.clone())),
            quiet: true,
        };
        let result = run_locked(engine, store, &lock, &rec.uuid, opts);
        if let Some(why) = take(&pending) {
            let more = match policy.is_no() {
                true => String::new(),
                false => format!(" (restarting it as its policy {policy} says)"),
            };
            tell(Err(format!("{why}{more}")));
        }
        let code = match result {
            Ok(code) => code,
            // Whatever fails the first start is the starter's to hear; a later one is a
            // failed run like any other.
            Err(e) if is_set(&report) => {
                tell(Err(e.to_string()));
                break Err(e);
            }
            Err(e) => {
                tracing::error!("pod {}: {e}", rec.uuid);
                -1
            }
        };
        // A first run that ended with no word on its apps' start (its init died before they
        // ran): the starter hears it, rather than a supervisor that went quiet.
        tell(Err(format!(
            "the pod ended (status {code}) before its apps had started"
        )));
        if started.elapsed() >= STABLE {
            streak = 0;
        }
        let mut r = pods.load(&rec.uuid)?;
        if stop.exists() || !policy.restarts_after(code, r.service.restarts) {
            break Ok(code);
        }
        let wait = backoff(streak);
        streak += 1;
        r.service.restarts += 1;
        r.service.restart_at = Some(now() + wait.as_secs_f64().ceil() as i64);
        pods.save(&r)?;
        tracing::info!(
            "pod {} ended with {code}; restart {} in {wait:?} ({policy})",
            rec.uuid,
            r.service.restarts
        );
        if !sleep_unless(&stop, wait) {
            break Ok(code);
        }
    };
    if let Ok(mut r) = pods.load(&rec.uuid) {
        r.service.supervisor = None;
        r.service.restart_at = None;
        pods.save(&r)?;
    }
    let _ = std::fs::remove_file(&stop);
    drop(lock);
    code
}

/// The first run's ready hook: reports at once when every app runs, or when some failed while
/// others run; otherwise (nothing runs) leaves the failure for after the pod's end.
fn first_start(
    report: Arc<Mutex<Option<Report>>>,
    pending: Arc<Mutex<Option<String>>>,
) -> ReadyHook {
    Box::new(move |starts| {
        let failures: Vec<String> = starts
            .iter()
            .filter_map(|(name, s)| match s {
                AppStart::Running | AppStart::Exited(0) => None,
                AppStart::Exited(c) => Some(format!("app {name} exited at once with status {c}")),
                AppStart::Failed(e) => Some(format!("app {name} failed to start: {e}")),
            })
            .collect();
        let running = starts.iter().any(|(_, s)| *s == AppStart::Running);
        let Some(f) = take(&report) else { return };
        match (failures.is_empty(), running) {
            (true, _) => f(Ok(())),
            (false, true) => f(Err(format!(
                "{}; the pod's other apps run (see `jetpack status`, `jetpack stop`)",
                failures.join("; ")
            ))),
            (false, false) => {
                // Back in the slot: the supervisor reports once the pod's end is recorded.
                put(&report, f);
                *pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(failures.join("; "));
            }
        }
    })
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

fn put<T>(slot: &Mutex<Option<T>>, v: T) {
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
}

fn is_set<T>(slot: &Mutex<Option<T>>) -> bool {
    slot.lock().unwrap_or_else(|p| p.into_inner()).is_some()
}

/// Sleeps `wait`, unless a stop is requested meanwhile; true if the whole wait passed.
fn sleep_unless(stop: &std::path::Path, wait: Duration) -> bool {
    let end = Instant::now() + wait;
    while Instant::now() < end {
        if stop.exists() {
            return false;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    !stop.exists()
}
