//! A recording engine for tests: every call is recorded, runs play back scripted outcomes,
//! and nothing needs root or namespaces. A network namespace is an empty file, a pod's init
//! a made-up pid that lives until the test's script lets it end.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use jetpack_runtime::{IdMap, PodSpec};

use super::{AppStart, Engine, EnterSpec, OnReady, Signal};
use crate::error::{Error, IoContext, Result};
use crate::host::Host;
use crate::pods::PodLock;

/// One call to the engine, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Host,
    UserNamespace(IdMap),
    CreateNetns(PathBuf),
    RemoveNetns(PathBuf),
    /// An address leased for the pod (engines that plan networks), and given back.
    LeaseAddress(String),
    ReleaseAddress(String),
    /// A pod started: its UUID, its apps' names and their rootfs.
    Run {
        uuid: String,
        apps: Vec<String>,
        rootfs: Vec<PathBuf>,
    },
    Signal(i32, Signal),
    Enter {
        pid: i32,
        app: String,
        argv: Vec<String>,
        uid: u32,
    },
    RemoveLeftovers(String),
    Tidy,
}

/// How a scripted run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The pod exits with this status as soon as it starts.
    Exit(i32),
    /// The engine fails to start the pod (before any init exists).
    Fail(String),
    /// The pod runs until it is signalled: SIGTERM ends it with 143 unless `ignore_term`,
    /// SIGKILL with 137.
    UntilSignal { ignore_term: bool },
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    /// Each run's whole spec, in order.
    specs: Vec<PodSpec>,
    outcomes: VecDeque<Outcome>,
    next_pid: i32,
    /// Signals sent to each running pid, for its run to see.
    signals: Vec<(i32, Signal)>,
    running: Vec<i32>,
}

/// See the module's documentation. Runs without a scripted outcome exit 0.
pub struct FakeEngine {
    host: Host,
    /// Plays an engine that gives pods their networks itself (see [`Engine::plans_networks`]).
    plans_networks: bool,
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl Default for FakeEngine {
    fn default() -> Self {
        FakeEngine::new()
    }
}

impl FakeEngine {
    /// An engine on a host with memory and CPU controllers.
    pub fn new() -> FakeEngine {
        FakeEngine::with_host(Host {
            memory: Some("fake memory controller".into()),
            cpu: Some("fake cpu controller".into()),
            sys_resource: true,
            ..Host::default()
        })
    }

    pub fn with_host(host: Host) -> FakeEngine {
        FakeEngine {
            host,
            plans_networks: false,
            inner: Mutex::new(Inner {
                next_pid: 1000,
                ..Inner::default()
            }),
            changed: Condvar::new(),
        }
    }

    /// An engine like the jail engine, which gives pods their networks itself.
    pub fn planning_networks(mut self) -> FakeEngine {
        self.plans_networks = true;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, call: Call) {
        self.lock().calls.push(call);
        self.changed.notify_all();
    }

    /// The outcome of the next run not yet scripted.
    pub fn script(&self, outcome: Outcome) {
        self.lock().outcomes.push_back(outcome);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The spec of every run so far, in order.
    pub fn specs(&self) -> Vec<PodSpec> {
        self.lock().specs.clone()
    }

    /// The pids of the pods running now.
    pub fn running(&self) -> Vec<i32> {
        self.lock().running.clone()
    }

    /// Waits until a pod runs (at most `timeout`) and returns its init pid.
    pub fn wait_running(&self, timeout: Duration) -> Option<i32> {
        let inner = self.lock();
        let (inner, _) = self
            .changed
            .wait_timeout_while(inner, timeout, |i| i.running.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        inner.running.first().copied()
    }
}

impl Engine for FakeEngine {
    fn plans_networks(&self) -> bool {
        self.plans_networks
    }

    /// 172.23.0.2 for a pod on a network, as the jail engine's first lease.
    fn lease_address(&self, spec: &PodSpec) -> Result<Option<std::net::IpAddr>> {
        if spec.networks.is_empty() {
            return Ok(None);
        }
        self.record(Call::LeaseAddress(spec.uuid.clone()));
        Ok(Some(std::net::Ipv4Addr::new(172, 23, 0, 2).into()))
    }

    fn release_address(&self, spec: &PodSpec) {
        self.record(Call::ReleaseAddress(spec.uuid.clone()));
    }

    fn host(&self) -> Host {
        self.record(Call::Host);
        self.host.clone()
    }

    fn user_namespace(&self, map: IdMap) -> Result<OwnedFd> {
        self.record(Call::UserNamespace(map));
        Err(Error::Runtime(
            "the fake engine makes no user namespaces".into(),
        ))
    }

    fn create_netns(&self, path: &Path) -> Result<()> {
        self.record(Call::CreateNetns(path.to_path_buf()));
        std::fs::write(path, b"")
            .at(path)
            .map_err(crate::error::Error::from)
    }

    fn netns_bound(&self, _path: &Path) -> bool {
        false
    }

    fn remove_netns(&self, path: &Path) -> Result<()> {
        self.record(Call::RemoveNetns(path.to_path_buf()));
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).at(path).map_err(crate::error::Error::from)
            }
            _ => Ok(()),
        }
    }

    fn run(
        &self,
        spec: &PodSpec,
        _lock: &PodLock,
        on_pid: &mut dyn FnMut(i32),
        on_ready: Option<OnReady>,
    ) -> Result<i32> {
        let outcome = {
            let mut inner = self.lock();
            inner.calls.push(Call::Run {
                uuid: spec.uuid.clone(),
                apps: spec.apps.iter().map(|a| a.name.clone()).collect(),
                rootfs: spec.apps.iter().map(|a| a.rootfs.clone()).collect(),
            });
            inner.specs.push(spec.clone());
            inner.outcomes.pop_front().unwrap_or(Outcome::Exit(0))
        };
        let pid = match &outcome {
            Outcome::Fail(why) => return Err(Error::Runtime(format!("pod {}: {why}", spec.uuid))),
            _ => {
                let mut inner = self.lock();
                inner.next_pid += 1;
                inner.next_pid
            }
        };
        on_pid(pid);
        if let Some(f) = on_ready {
            f(spec.apps.iter().map(|_| AppStart::Running).collect());
        }
        let code = match outcome {
            Outcome::Exit(code) => code,
            Outcome::UntilSignal { ignore_term } => {
                let mut inner = self.lock();
                inner.running.push(pid);
                self.changed.notify_all();
                let ends = |i: &Inner| {
                    i.signals.iter().find_map(|&(p, s)| match s {
                        Signal::Kill if p == pid => Some(137),
                        Signal::Term if p == pid && !ignore_term => Some(143),
                        _ => None,
                    })
                };
                let code = loop {
                    if let Some(code) = ends(&inner) {
                        break code;
                    }
                    inner = self.changed.wait(inner).unwrap_or_else(|p| p.into_inner());
                };
                inner.running.retain(|&p| p != pid);
                code
            }
            Outcome::Fail(_) => unreachable!("returned above"),
        };
        Ok(code)
    }

    fn signal(&self, pid: i32, signal: Signal) -> Result<()> {
        let mut inner = self.lock();
        inner.calls.push(Call::Signal(pid, signal));
        inner.signals.push((pid, signal));
        self.changed.notify_all();
        Ok(())
    }

    fn enter(&self, pid: i32, spec: &EnterSpec<'_>) -> Result<i32> {
        self.record(Call::Enter {
            pid,
            app: spec.app.to_string(),
            argv: spec.argv.to_vec(),
            uid: spec.uid,
        });
        Ok(0)
    }

    fn remove_leftovers(&self, uuid: &str) -> Result<bool> {
        self.record(Call::RemoveLeftovers(uuid.to_string()));
        Ok(false)
    }

    fn tidy(&self) {
        self.record(Call::Tidy);
    }
}
