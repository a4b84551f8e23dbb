//! The pod spec turned, before any fork, into what the processes of the pod use: C strings,
//! argv/envp arrays, and the pod directory's files already open. The forked processes then
//! mostly pass pointers to system calls.

use std::ffi::{CString, c_char};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::cgroups::{self, AppCgroups, PodCgroups};
use super::seccomp;
use crate::caps::CAP_SYS_ADMIN;
use crate::error::{Error, Result};
use crate::spec::{AppSpec, NetMode, PodSpec, Resources, Security};

/// A null-terminated `char *[]` with the strings it points to.
pub(crate) struct CArgv {
    strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CArgv {
    pub fn new<S: AsRef<str>>(what: &str, items: impl IntoIterator<Item = S>) -> Result<CArgv> {
        let strings = items
            .into_iter()
            .map(|s| cstring(what, s.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        // The pointers stay valid when `strings` moves: each CString owns its heap buffer.
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(CArgv { strings, ptrs })
    }

    pub fn ptrs(&self) -> &[*const c_char] {
        &self.ptrs
    }

    pub fn first(&self) -> Option<&CString> {
        self.strings.first()
    }

    /// The strings, for error messages.
    pub fn display(&self) -> String {
        let v: Vec<_> = self.strings.iter().map(|s| s.to_string_lossy()).collect();
        v.join(" ")
    }
}

/// A command: its argv and, computed before any fork, the paths its exec tries (`argv[0]`
/// itself when it has a `/`, else `argv[0]` in each PATH directory), so that the exec, which
/// may run under a seccomp filter, allocates nothing.
pub(crate) struct Command {
    pub argv: CArgv,
    pub candidates: Vec<CString>,
}

impl Command {
    pub fn new(what: &str, argv: &[String], path_dirs: &[String]) -> Result<Command> {
        let argv = CArgv::new(what, argv)?;
        let name = argv.first().map(|s| s.to_string_lossy().into_owned());
        let candidates = match name {
            None => Vec::new(),
            Some(n) if n.contains('/') => vec![cstring(what, &n)?],
            Some(n) => path_dirs
                .iter()
                .map(|d| cstring(what, &format!("{d}/{n}")))
                .collect::<Result<_>>()?,
        };
        Ok(Command { argv, candidates })
    }

    /// Runs `program` (absolute, or searched like `argv[0]`) instead of `argv[0]`, which the
    /// program still sees.
    pub fn with_program(self, program: Option<&str>) -> Result<Command> {
        let Some(p) = program else {
            return Ok(self);
        };
        let candidates = if p.contains('/') {
            vec![cstring("program", p)?]
        } else {
            return Err(Error::Spec(format!(
                "program {p:?}: an absolute path is needed"
            )));
        };
        Ok(Command {
            argv: self.argv,
            candidates,
        })
    }

    pub fn display(&self) -> String {
        self.argv.display()
    }
}

/// The app's security isolators, ready to apply.
pub(crate) struct SecurityPlan {
    /// The capabilities kept in every set (bounding, permitted, effective, inheritable).
    pub capabilities: u64,
    /// The effective and permitted sets until the exec: the kept ones, plus CAP_SYS_ADMIN when
    /// a seccomp filter has to be installed without no_new_privs. The exec recomputes both
    /// from the bounding and inheritable sets, so the extra one never reaches the app.
    pub before_exec: u64,
    pub no_new_privs: bool,
    /// The compiled seccomp filter.
    pub filter: Option<Vec<libc::sock_filter>>,
    /// The text to write to `/proc/self/oom_score_adj`.
    pub oom_score_adj: Option<Vec<u8>>,
}

impl SecurityPlan {
    /// Compiles the seccomp filter; the error names what is wrong with it.
    pub fn new(sec: &Security) -> std::result::Result<SecurityPlan, String> {
        let filter = sec.seccomp.as_ref().map(seccomp::compile).transpose()?;
        let sys_admin = 1u64 << CAP_SYS_ADMIN;
        let before_exec = if filter.is_some() && !sec.no_new_privileges {
            sec.capabilities | sys_admin
        } else {
            sec.capabilities
        };
        Ok(SecurityPlan {
            capabilities: sec.capabilities,
            before_exec,
            no_new_privs: sec.no_new_privileges,
            filter,
            oom_score_adj: sec.oom_score_adj.map(|n| n.to_string().into_bytes()),
        })
    }
}

pub(crate) fn cstring(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Spec(format!("{what} {s:?} contains a NUL byte")))
}

/// One host volume or empty-volume directory to bind into the app's rootfs.
pub(crate) struct MountPlan {
    pub source: CString,
    /// Absolute path inside the rootfs.
    pub target: CString,
    pub read_only: bool,
    pub recursive: bool,
}

/// One app, ready for stage2.
pub(crate) struct AppPlan {
    pub name: String,
    pub rootfs: CString,
    pub exec: Command,
    pub env: CArgv,
    /// The absolute directories of the app's PATH, where `exec[0]` without a `/` is looked up.
    pub path_dirs: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
    pub working_dir: CString,
    pub mounts: Vec<MountPlan>,
    pub read_only_rootfs: bool,
    pub pre_start: Option<Command>,
    pub post_stop: Option<Command>,
    /// `<pod>/apps/<name>/log`, open for appending.
    pub log: OwnedFd,
    /// `<pod>/apps/<name>`, where the caller writes `exit` on the init's word.
    pub dir: std::path::PathBuf,
    /// How the app's processes join its cgroups (nothing when the pod has no limits).
    pub cgroups: AppCgroups,
    pub security: SecurityPlan,
    /// The pod's user namespace (the descriptor is [`PodPlan::userns`]).
    pub userns: Option<RawFd>,
    /// With one: the host uid and gid of the pod's root.
    pub pod_root: Option<u32>,
    /// The rootfs shows the pod's ids already (see `AppSpec::rootfs_mapped`).
    pub rootfs_mapped: bool,
}

/// The whole pod.
pub(crate) struct PodPlan {
    pub hostname: Vec<u8>,
    pub net: NetMode,
    /// The network namespace to join, open.
    pub netns: Option<OwnedFd>,
    pub tty: bool,
    /// The caller's stdin goes to the attached app through a pipe (`PodSpec::interactive`).
    pub interactive: bool,
    /// The app `tty` or `interactive` is for.
    pub attached: usize,
    pub apps: Vec<AppPlan>,
    /// With `tty`: the path of the pod terminal's slave, bound on the app's /dev/console.
    pub console: Option<CString>,
    /// The pod's cgroups, removed when the plan is dropped (in stage0, after the pod ended).
    pub cgroups: Option<PodCgroups>,
    /// The pod's user namespace, with its maps written.
    pub userns: Option<OwnedFd>,
}

impl PodPlan {
    pub fn any_post_stop(&self) -> bool {
        self.apps.iter().any(|a| a.post_stop.is_some())
    }

    /// Descriptors the init must keep open.
    pub fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.apps
            .iter()
            .flat_map(|a| {
                std::iter::once(a.log.as_raw_fd()).chain(a.cgroups.fds().map(|f| f.as_raw_fd()))
            })
            .chain(self.netns.as_ref().map(|f| f.as_raw_fd()))
            .chain(self.userns.as_ref().map(|f| f.as_raw_fd()))
            .chain(
                self.cgroups
                    .iter()
                    .flat_map(|c| c.init_tasks.iter().map(|f| f.as_raw_fd())),
            )
    }
}

/// Checks the spec and builds the plan. Creates `<pod>/apps/<name>/`, opens each log for
/// appending and removes a stale `exit` file, so a status left by an earlier run is never read
/// as this run's. Compiles the seccomp filters, and makes the pod's cgroups when the pod or an
/// app has limits.
pub(crate) fn build(spec: &PodSpec) -> Result<PodPlan> {
    validate(spec)?;
    let mut apps = spec
        .apps
        .iter()
        .map(|a| build_app(spec, a))
        .collect::<Result<Vec<_>>>()?;
    // Every pod has cgroups: its device rules, and its limits if it has any.
    let host = cgroups::Host::detect();
    if host.devices.is_none() {
        return Err(Error::Spec(
            "this host has no device cgroup (v1 `devices` or cgroup v2): pods cannot be \
             kept from the host's devices"
                .into(),
        ));
    }
    let list: Vec<(&str, &Resources)> = spec
        .apps
        .iter()
        .map(|a| (a.name.as_str(), &a.resources))
        .collect();
    let (made, joins) = cgroups::create(&host, &spec.uuid, &spec.resources, &list)?;
    for (a, j) in apps.iter_mut().zip(joins) {
        a.cgroups = j;
    }
    let cgroups = Some(made);
    let userns = spec
        .userns
        .map(super::userns::create)
        .transpose()
        .map_err(|e| Error::os("creating the pod's user namespace", e))?;
    for a in &mut apps {
        a.userns = userns.as_ref().map(|f| f.as_raw_fd());
        a.pod_root = spec.userns.map(|m| m.host);
    }
    let netns = match (&spec.netns, spec.net) {
        (Some(p), NetMode::Loopback) => Some(
            std::fs::File::open(p)
                .map(OwnedFd::from)
                .map_err(|e| Error::Spec(format!("network namespace {}: {e}", p.display())))?,
        ),
        (Some(_), NetMode::Host) => {
            return Err(Error::Spec(
                "a network namespace was given for a pod on the host network".into(),
            ));
        }
        (None, _) => None,
    };
    Ok(PodPlan {
        hostname: spec.hostname.as_bytes().to_vec(),
        net: spec.net,
        netns,
        tty: spec.tty,
        interactive: spec.interactive && !spec.tty,
        attached: spec.attached_app,
        apps,
        console: None,
        cgroups,
        userns,
    })
}

fn validate(spec: &PodSpec) -> Result<()> {
    let bad = |m: String| Err(Error::Spec(m));
    if spec.apps.is_empty() {
        return bad("the pod has no apps".into());
    }
    if (spec.tty || spec.interactive) && spec.attached_app >= spec.apps.len() {
        return bad(format!(
            "the attached app {} is not one of the pod's {} apps",
            spec.attached_app,
            spec.apps.len()
        ));
    }
    if spec.hostname.is_empty() || spec.hostname.len() > 64 {
        return bad(format!(
            "hostname {:?} must have 1 to 64 bytes",
            spec.hostname
        ));
    }
    for (i, a) in spec.apps.iter().enumerate() {
        if a.name.is_empty() || a.name.contains('/') || a.name.starts_with('.') {
            return bad(format!("app name {:?} cannot name a directory", a.name));
        }
        if spec.apps[..i].iter().any(|b| b.name == a.name) {
            return bad(format!("two apps are named {:?}", a.name));
        }
        if a.exec.is_empty() || a.exec[0].is_empty() {
            return bad(format!("app {}: exec is empty", a.name));
        }
        if !a.working_dir.starts_with('/') {
            return bad(format!(
                "app {}: working directory {:?} is not absolute",
                a.name, a.working_dir
            ));
        }
        if let Some(n) = a.security.oom_score_adj
            && !(-1000..=1000).contains(&n)
        {
            return bad(format!(
                "app {}: oom_score_adj {n} is outside -1000..1000",
                a.name
            ));
        }
        for m in &a.mounts {
            if !m.target.starts_with('/') {
                return bad(format!(
                    "app {}: mount target {:?} is not absolute",
                    a.name, m.target
                ));
            }
        }
    }
    Ok(())
}

fn build_app(spec: &PodSpec, a: &AppSpec) -> Result<AppPlan> {
    let what = |w: &str| format!("app {}: {w}", a.name);
    let env = CArgv::new(
        &what("environment variable"),
        a.env.iter().map(|(k, v)| format!("{k}={v}")),
    )?;
    // getenv (so execvp in the app) sees the first PATH of the environment.
    let path = a
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let mounts = a
        .mounts
        .iter()
        .map(|m| {
            Ok(MountPlan {
                source: cpath(&what("volume source"), &m.source)?,
                target: cstring(&what("mount target"), &m.target)?,
                read_only: m.read_only,
                recursive: m.recursive,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (dir, log) = crate::appdir::prepare(&spec.dir, &a.name)?;
    let path_dirs: Vec<String> = path
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| d.trim_end_matches('/').to_string())
        .collect();
    let command = |w: &str, argv: &[String]| Command::new(&what(w), argv, &path_dirs);
    let exec = command("exec", &a.exec)?;
    let pre_start = a
        .pre_start
        .as_ref()
        .map(|h| command("pre-start", h))
        .transpose()?;
    let post_stop = a
        .post_stop
        .as_ref()
        .map(|h| command("post-stop", h))
        .transpose()?;
    let security = SecurityPlan::new(&a.security).map_err(|e| Error::Spec(what(&e)))?;
    Ok(AppPlan {
        name: a.name.clone(),
        rootfs: cpath(&what("rootfs"), &a.rootfs)?,
        exec,
        env,
        uid: a.uid,
        gid: a.gid,
        groups: a.supplementary_gids.clone(),
        working_dir: cstring(&what("working directory"), &a.working_dir)?,
        mounts,
        read_only_rootfs: a.read_only_rootfs,
        pre_start,
        post_stop,
        path_dirs,
        log: log.into(),
        dir,
        cgroups: AppCgroups::default(),
        security,
        userns: None,
        pod_root: None,
        rootfs_mapped: a.rootfs_mapped,
    })
}

fn cpath(what: &str, p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Spec(format!("{what} {} contains a NUL byte", p.display())))
}
