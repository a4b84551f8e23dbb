//! The FreeBSD engine: one jail per pod, planned by `jetpack-jail` and made through
//! `jetpack_runtime::freebsd` (jail_set, nmount, jail_attach, jail_remove). The only module of
//! this crate that calls it. Built on FreeBSD; type-checked from Linux by
//! `scripts/check-freebsd.sh`; never run on this project's Linux hosts.
//!
//! Differences from the Linux engine: no pod init (the apps are children of `jetpack run`,
//! as in Jetpack; the pod's lock is held by this process while they run), no user or network
//! namespaces (`--net=host` shares the host's addresses, other pods get an alias on the jail
//! interface), isolators as rctl rules and `allow.*` parameters.

mod helpers;
mod output;
mod undo;

pub use helpers::*;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jetpack_jail::params::{Jailsys, Value};
use jetpack_jail::{JailPlan, Settings};
use jetpack_runtime::freebsd::{self as sys, JailValue};
use jetpack_runtime::rooted::RootedProcess;
use jetpack_runtime::{IdMap, PodSpec};

use super::teardown::{self, Teardown};
use super::{AppStart, Engine, EnterSpec, OnReady, Signal};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::pods::PodLock;
use undo::Up;

#[derive(Debug, Clone, Default)]
pub struct JailEngine {
    pub settings: Settings,
    /// The store's root: its pods' directories are found there again after a killed run.
    pub root: PathBuf,
    /// The store's dataset when it is on ZFS: empty volumes become its datasets
    /// `pods/<uuid>/volume.<n>` (Jetpack's), destroyed with the pod.
    pub zfs_dataset: Option<String>,
}

fn runtime(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Runtime(format!("{what}: {e}"))
}

/// Runs a command of the plan; its failure is an error naming it.
fn run_cmd(argv: &[String], stdin: Option<&str>) -> Result<String> {
    use std::io::Write;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| runtime("command", "empty"))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| runtime(prog, e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| runtime(prog, e))?;
    }
    let out = child.wait_with_output().map_err(|e| runtime(prog, e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(runtime(
            &argv.join(" "),
            format!("{}: {}", out.status, err.trim()),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The jail's kernel parameters in `jail_set(2)`'s representation.
fn jail_values(plan: &JailPlan) -> Vec<(String, JailValue)> {
    plan.jail_set
        .iter()
        .map(|(n, v)| {
            let v = match v {
                Value::Bool(b) => JailValue::Flag(*b),
                Value::Int(i) => JailValue::Int(*i as i32),
                Value::Str(s) => JailValue::Str(s.clone()),
                Value::Jailsys(j) => JailValue::Int(match j {
                    Jailsys::Disable => 0,
                    Jailsys::New => 1,
                    Jailsys::Inherit => 2,
                }),
                Value::Ip4(a) => JailValue::Ip4(a.clone()),
            };
            (n.clone(), v)
        })
        .collect()
}

/// `zfs ARGS...`.
fn zfs(args: &[&str]) -> Result<String> {
    let argv: Vec<String> = std::iter::once("zfs")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    run_cmd(&argv, None)
}

impl JailEngine {
    /// The jail pods' address leases: the default network's lease directory, as on Linux.
    fn leases(&self) -> jetpack_jail::lease::Leases {
        let dir = jetpack_store::Layout::new(&self.root).net_leases();
        jetpack_jail::lease::Leases::new(&dir.join(jetpack_net::DEFAULT_NETWORK))
    }

    fn start(
        &self,
        spec: &PodSpec,
        on_pid: &mut dyn FnMut(i32),
        on_ready: Option<OnReady>,
    ) -> Result<i32> {
        if spec.tty {
            return Err(Error::Invalid(
                "-t: the jail engine gives apps no terminal yet; run without -t (-i gives an \
                 app the caller's stdin)"
                    .into(),
            ));
        }
        let pod = super::jail::jail_pod(spec).map_err(|e| runtime("jail plan", e))?;
        let address = match (pod.net, spec.address) {
            (jetpack_jail::NetMode::Alias | jetpack_jail::NetMode::Vnet, None) => {
                return Err(runtime("jail network", "no address was leased for the pod"));
            }
            (_, Some(std::net::IpAddr::V4(a))) => Some(a),
            (_, Some(a)) => return Err(runtime("jail network", format!("{a} is not IPv4"))),
            (_, None) => None,
        };
        self.start_with(spec, &pod, address, on_pid, on_ready)
    }

    fn start_with(
        &self,
        spec: &PodSpec,
        pod: &jetpack_jail::Pod,
        address: Option<std::net::Ipv4Addr>,
        on_pid: &mut dyn FnMut(i32),
        on_ready: Option<OnReady>,
    ) -> Result<i32> {
        let plan = jetpack_jail::plan(pod, &self.settings, address)
            .map_err(|e| runtime("jail plan", e))?;
        if let Some(store) = &self.zfs_dataset {
            let zfs = |args: &[&str]| zfs(args).map_err(|e| e.to_string());
            super::jail::volume_datasets(store, pod, &zfs)
                .map_err(|e| runtime("volume datasets", e))?;
        }
        // An earlier run of this pod killed with -9 left its jail and mounts: they go first
        // (not its lease, which stage0 has just taken again).
        self.tear_down(&spec.dir)?;
        // Before the first of it is made: what a killed run leaves is undone from this.
        let teardown = serde_json::to_vec(&Teardown::of(&plan)).expect("plain data");
        jetpack_fs::atomic_write(&spec.dir.join(teardown::FILE), &teardown)?;
        jetpack_fs::atomic_write(&spec.dir.join("jail.conf"), plan.conf.as_bytes())?;
        jetpack_fs::atomic_write(&spec.dir.join("fstab"), plan.fstab.as_bytes())?;
        let mut up = Up {
            plan: &plan,
            mounted: 0,
            net: false,
            jid: None,
            rctl: false,
            pf: false,
        };
        let roots: Vec<PathBuf> = pod
            .apps
            .iter()
            .map(|a| jetpack_jail::mounts::app_root(pod, &a.name))
            .collect();
        for m in &plan.mounts {
            mount_point(&roots, &m.fspath)?;
            sys::nmount(&m.nmount()).map_err(|e| runtime(&m.fstab_line(), e))?;
            up.mounted += 1;
        }
        up.net = true;
        for c in &plan.net.up {
            run_cmd(c, None)?;
        }
        up.jid = Some(sys::jail_create(&jail_values(&plan)).map_err(|e| runtime(&plan.name, e))?);
        let (add, _) = plan.rctl_commands();
        up.rctl = !add.is_empty();
        for c in &add {
            run_cmd(c, None)?;
        }
        if !plan.pf_rules.is_empty() {
            up.pf = true;
            run_cmd(&plan.pf_commands().0, Some(&plan.pf_rules))?;
        }
        let jid = up.jid.expect("created");
        let several = spec.apps.len() > 1;
        let mut children = Vec::new();
        for (i, app) in spec.apps.iter().enumerate() {
            let fail = |e: &dyn std::fmt::Display| runtime(&format!("app {}", app.name), e);
            let (dir, log) =
                jetpack_runtime::appdir::prepare(&spec.dir, &app.name).map_err(|e| fail(&e))?;
            let prefix = several.then_some(app.name.as_str());
            let out = output::app_output(log, spec.quiet, prefix).map_err(|e| fail(&e))?;
            let root = format!("/app/{}", app.name);
            let p = RootedProcess {
                root: Path::new(&root),
                working_dir: &app.working_dir,
                uid: app.uid,
                gid: app.gid,
                groups: &app.supplementary_gids,
                argv: &app.exec,
                env: &app.env,
            };
            let nnp = app.security.no_new_privileges;
            // `-i`: the attached app reads the caller's stdin; the others read nothing.
            let stdin = if spec.interactive && i == spec.attached_app {
                Stdio::inherit()
            } else {
                Stdio::null()
            };
            let child =
                sys::spawn(jid, nnp, &p, [stdin, out.stdout, out.stderr]).map_err(|e| fail(&e))?;
            if children.is_empty() {
                on_pid(child.id() as i32);
            }
            children.push((app.name.clone(), dir, child, out.copier));
        }
        // Every app is a child of this process once spawned: each has exec'd (a failed exec
        // fails the spawn, above).
        if let Some(f) = on_ready {
            f(vec![AppStart::Running; children.len()]);
        }
        // Each app's exit record as the Linux engine writes it, so that `status`, `list` and
        // `logs` read jail pods alike.
        let mut codes = Vec::new();
        let mut copiers = Vec::new();
        for (name, dir, mut child, copier) in children {
            let status = child
                .wait()
                .map_err(|e| runtime(&format!("app {name}"), e))?;
            let exit = jetpack_runtime::AppExit::from_wait_status(
                std::os::unix::process::ExitStatusExt::into_raw(status),
            );
            copiers.extend(copier);
            jetpack_runtime::appdir::record_exit(&dir, exit.to_file_contents().as_bytes());
            codes.push(exit.code);
        }
        // Removing the jail ends whatever the apps left running there, the last writers of
        // their output: then every line is in the logs.
        drop(up);
        // Undone by the drop: nothing is left for a later teardown.
        let _ = std::fs::remove_file(spec.dir.join(teardown::FILE));
        for c in copiers {
            let _ = c.join();
        }
        Ok(jetpack_runtime::exit::pod_code(codes.len() == 1, &codes))
    }
}

/// Makes the directory `path` to mount on. Below an app's root (the clone, which the image
/// filled) every component must be a directory or missing (then made), never a symlink: an
/// image's `dev -> /` must not get the host's root mounted over. Above it is the pod directory.
fn mount_point(roots: &[PathBuf], path: &Path) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| runtime(&format!("mount point {}", path.display()), e);
    let below = roots.iter().find_map(|r| {
        let rest = path.strip_prefix(r).ok()?;
        (!rest.as_os_str().is_empty()).then_some((r, rest))
    });
    let Some((root, rest)) = below else {
        return std::fs::create_dir_all(path).map_err(|e| fail(&e));
    };
    let mut at = root.clone();
    for c in rest.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => return Err(fail(&format!("{} is not a directory", at.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&at).map_err(|e| fail(&e))?
            }
            Err(e) => return Err(fail(&e)),
        }
    }
    Ok(())
}

/// The jail the process `pid` runs in (`ps -o jid=`).
fn jail_of(pid: i32) -> Option<i32> {
    let out = run_cmd(
        &[
            "ps".into(),
            "-o".into(),
            "jid=".into(),
            "-p".into(),
            pid.to_string(),
        ],
        None,
    )
    .ok()?;
    out.trim().parse().ok().filter(|j| *j > 0)
}

impl Engine for JailEngine {
    /// An alias on the jail interface, or VNET: planned from the spec, no CNI.
    fn plans_networks(&self) -> bool {
        true
    }

    /// The lowest free address of `jail.subnet` (Jetpack's allocation), under the lease lock,
    /// for pods on `default` or `vnet`.
    fn lease_address(&self, spec: &PodSpec) -> Result<Option<std::net::IpAddr>> {
        let pod = super::jail::jail_pod(spec).map_err(|e| runtime("jail plan", e))?;
        if !matches!(
            pod.net,
            jetpack_jail::NetMode::Alias | jetpack_jail::NetMode::Vnet
        ) {
            return Ok(None);
        }
        let probe = |a: std::net::Ipv4Addr| {
            let plan = jetpack_jail::net::alias(&self.settings, a);
            plan.probe.is_some_and(|p| run_cmd(&p, None).is_ok())
        };
        let ifc = self.settings.interface.clone();
        let a = self
            .leases()
            .acquire(&self.settings.subnet, &spec.uuid, &ifc, probe)
            .map_err(|e| runtime("lease", e))?;
        Ok(Some(a.into()))
    }

    fn release_address(&self, spec: &PodSpec) {
        if let Err(e) = self.leases().release(&spec.uuid) {
            tracing::warn!("releasing the address of pod {}: {e}", spec.uuid);
        }
    }

    fn host(&self) -> Host {
        let racct = run_cmd(
            &["sysctl".into(), "-n".into(), "kern.racct.enable".into()],
            None,
        )
        .is_ok_and(|v| v.trim() == "1");
        let rctl = racct.then(|| "rctl (kern.racct.enable=1)".to_string());
        Host {
            memory: rctl.clone(),
            cpu: rctl,
            apparmor: false,
            selinux: false,
            sys_resource: true,
            net_bandwidth: None,
        }
    }

    fn user_namespace(&self, _map: IdMap) -> Result<OwnedFd> {
        Err(runtime("--private-users", "FreeBSD has no user namespaces"))
    }

    fn create_netns(&self, path: &Path) -> Result<()> {
        Err(runtime(
            &path.display().to_string(),
            "jails use no network namespace",
        ))
    }

    fn netns_bound(&self, _path: &Path) -> bool {
        false
    }

    fn remove_netns(&self, path: &Path) -> Result<()> {
        let _ = std::fs::remove_file(path);
        Ok(())
    }

    fn run(
        &self,
        spec: &PodSpec,
        _lock: &PodLock,
        on_pid: &mut dyn FnMut(i32),
        on_ready: Option<OnReady>,
    ) -> Result<i32> {
        self.start(spec, on_pid, on_ready)
    }

    fn signal(&self, pid: i32, signal: Signal) -> Result<()> {
        let Some(jid) = jail_of(pid) else {
            return Ok(());
        };
        match signal {
            Signal::Kill => sys::jail_remove(jid).map_err(|e| runtime("jail_remove", e)),
            Signal::Term => {
                let argv = [
                    "pkill".to_string(),
                    "-TERM".into(),
                    "-j".into(),
                    jid.to_string(),
                ];
                // pkill exits 1 when nothing matched: the pod ended meanwhile.
                let _ = run_cmd(&argv, None);
                Ok(())
            }
        }
    }

    fn enter(&self, pid: i32, spec: &EnterSpec<'_>) -> Result<i32> {
        let jid = jail_of(pid).ok_or_else(|| runtime(spec.uuid, "the pod is not running"))?;
        let root = format!("/app/{}", spec.app);
        let p = RootedProcess {
            root: Path::new(&root),
            working_dir: &spec.working_dir,
            uid: spec.uid,
            gid: spec.gid,
            groups: &spec.groups,
            argv: spec.argv,
            env: spec.env,
        };
        let nnp = spec.security.as_ref().is_some_and(|s| s.no_new_privileges);
        let status = sys::spawn(
            jid,
            nnp,
            &p,
            [Stdio::inherit(), Stdio::inherit(), Stdio::inherit()],
        )
        .and_then(|mut c| c.wait())
        .map_err(|e| runtime(&format!("enter {}", spec.app), e))?;
        Ok(status.code().unwrap_or(128))
    }

    /// What a killed run left, from the teardown file its start wrote in the pod's directory
    /// (hidden by `destroy` or not); the address lease goes too.
    fn remove_leftovers(&self, uuid: &str) -> Result<bool> {
        let layout = jetpack_store::Layout::new(&self.root);
        let mut found = false;
        for dir in [layout.pod(uuid), layout.pod_destroy(uuid)] {
            if self.tear_down(&dir)? {
                found = true;
                let _ = self.leases().release(uuid);
            }
        }
        Ok(found)
    }

    fn tidy(&self) {}
}
