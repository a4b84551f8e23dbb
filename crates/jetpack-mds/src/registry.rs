//! The registered pods, and the service's life cycle (idle exit, shutdown).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use crate::SHUTTING_DOWN;
use crate::error::Error;
use crate::pod::Pod;

#[derive(Default)]
pub(crate) struct Registry {
    /// By token. Read by every HTTP request, written only on (un)registration.
    pods: RwLock<HashMap<String, Arc<Pod>>>,
    life: Mutex<Life>,
    changed: Condvar,
}

#[derive(Default)]
struct Life {
    /// Since when no pod has been registered; `None` while some are.
    empty_since: Option<Instant>,
    stopping: bool,
    /// Why the service stops, if it failed.
    failure: Option<Error>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    pub fn new() -> Self {
        let r = Self::default();
        lock(&r.life).empty_since = Some(Instant::now());
        r
    }

    pub fn get(&self, token: &str) -> Option<Arc<Pod>> {
        let pods = self.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.get(token).cloned()
    }

    /// Whether `ip` is an address of some registered pod.
    pub fn knows(&self, ip: IpAddr) -> bool {
        let pods = self.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.values().any(|p| p.allows(ip))
    }

    /// Registers `pod`, replacing a registration of the same UUID. The life
    /// lock is taken first so that an idle exit cannot pass in between.
    pub fn insert(&self, pod: Arc<Pod>) -> Result<(), String> {
        let mut life = lock(&self.life);
        if life.stopping {
            return Err(SHUTTING_DOWN.into());
        }
        let mut pods = self.pods.write().unwrap_or_else(|e| e.into_inner());
        if pods.get(&pod.token).is_some_and(|p| p.uuid != pod.uuid) {
            return Err("token: already used by another pod".into());
        }
        pods.retain(|_, p| p.uuid != pod.uuid);
        pods.insert(pod.token.clone(), pod);
        life.empty_since = None;
        Ok(())
    }

    /// Unregisters `pod` unless it was replaced meanwhile.
    pub fn remove(&self, pod: &Arc<Pod>) {
        let mut life = lock(&self.life);
        let mut pods = self.pods.write().unwrap_or_else(|e| e.into_inner());
        if pods.get(&pod.token).is_some_and(|p| Arc::ptr_eq(p, pod)) {
            pods.remove(&pod.token);
        }
        if pods.is_empty() && life.empty_since.is_none() {
            life.empty_since = Some(Instant::now());
            self.changed.notify_all();
        }
    }

    /// Asks the service to stop, with the reason if it failed.
    pub fn stop(&self, failure: Option<Error>) {
        let mut life = lock(&self.life);
        life.stopping = true;
        if life.failure.is_none() {
            life.failure = failure;
        }
        self.changed.notify_all();
    }

    pub fn stopping(&self) -> bool {
        lock(&self.life).stopping
    }

    /// Blocks until [`stop`](Self::stop) is called or no pod has been
    /// registered for `idle` (then the service is marked stopping, so no
    /// registration slips in). Returns the failure, if any.
    pub fn wait_for_stop(&self, idle: Option<Duration>) -> Option<Error> {
        let mut life = lock(&self.life);
        loop {
            if life.stopping {
                return life.failure.take();
            }
            life = match (idle, life.empty_since) {
                (Some(idle), Some(since)) => {
                    let left = idle.saturating_sub(since.elapsed());
                    if left.is_zero() {
                        life.stopping = true;
                        tracing::info!("no pod registered for {idle:?}: exiting");
                        continue;
                    }
                    self.changed
                        .wait_timeout(life, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                _ => self.changed.wait(life).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}
