//! Boot services for pods: the systemd unit ([`systemd`]) and the FreeBSD rc.d script
//! ([`rcd`]) that `jetpack generate` writes. Both call the `jetpack` binary; this module only
//! makes their text.
//!
//! A service names its pod in one of two ways:
//! - [`ServicePod::Existing`]: a prepared pod, run as prepared at every start (an exited pod
//!   runs again from fresh clones). `gc` removes a pod exited longer than its grace, and the
//!   service with it: this suits a pod kept by hand.
//! - [`ServicePod::New`]: a pod made at every start from images (`run --name NAME ...`) and
//!   destroyed when the service stops. Nothing of it outlives the service, so neither a reboot
//!   nor `gc` can leave the service without its pod; images are resolved at each start (a name
//!   finds the newest stored match). The name is the service's handle on its pod (`stop NAME`,
//!   `destroy NAME`): pod names are unique in a store, and a pod of that name left behind by a
//!   host that went down is destroyed before the next start.

pub mod rcd;
pub mod systemd;

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::restart::RestartPolicy;

/// Which pod a service runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServicePod {
    /// A prepared pod, by UUID, and its name if it has one.
    Existing { uuid: String, name: Option<String> },
    /// A pod made at each start: `run --name NAME ARGS...`, ARGS being the pod options (but
    /// `--name`), images and app options of `run`.
    New { name: String, args: Vec<String> },
}

/// Everything a boot service of a pod says.
#[derive(Debug, Clone)]
pub struct Service {
    /// The `jetpack` binary (an absolute path).
    pub exe: PathBuf,
    /// The options given before every command: `--config FILE`, `-o KEY=VALUE`...
    pub global: Vec<String>,
    pub pod: ServicePod,
    pub restart: RestartPolicy,
    /// `stop --timeout`: seconds between SIGTERM and SIGKILL.
    pub stop_timeout: u64,
}

impl Service {
    /// The pod's name, or its UUID: what the service's own name is made of.
    pub fn pod_name(&self) -> &str {
        match &self.pod {
            ServicePod::Existing { uuid, name } => name.as_deref().unwrap_or(uuid),
            ServicePod::New { name, .. } => name,
        }
    }

    /// How the commands name the pod: by UUID (an existing pod) or by name (a new one).
    fn handle(&self) -> &str {
        match &self.pod {
            ServicePod::Existing { uuid, .. } => uuid,
            ServicePod::New { name, .. } => name,
        }
    }

    /// `jetpack [GLOBAL] ARGS...`, each word apart.
    fn command<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let exe = self.exe.to_str().unwrap_or_default();
        std::iter::once(exe)
            .chain(self.global.iter().map(String::as_str))
            .chain(args.iter().copied())
            .collect()
    }

    /// The arguments of `run` after `run`. `detach` adds `-d`, and for a new pod the restart
    /// policy, which the pod's supervisor applies (under systemd, systemd restarts the pod).
    fn run_args(&self, detach: bool) -> Vec<String> {
        let mut v = Vec::new();
        if detach {
            v.push("-d".to_string());
        }
        match &self.pod {
            ServicePod::Existing { uuid, .. } => v.push(uuid.clone()),
            ServicePod::New { name, args } => {
                if detach && self.restart != RestartPolicy::No {
                    v.push(format!("--restart={}", self.restart));
                }
                v.extend(["--name".to_string(), name.clone()]);
                v.extend(args.iter().cloned());
            }
        }
        v
    }

    /// Checks what both kinds of files need: an absolute binary path in UTF-8.
    fn check(&self) -> Result<()> {
        match self.exe.to_str() {
            Some(p) if self.exe.is_absolute() && !p.contains('\n') => Ok(()),
            _ => Err(Error::Invalid(format!(
                "{}: a service needs the jetpack binary's absolute path, in UTF-8 and on one line",
                self.exe.display()
            ))),
        }
    }
}
