//! The pod spec turned, before any fork, into what the processes of the pod use: C strings,
//! argv/envp arrays, and the pod directory's files already open. The forked processes then
//! mostly pass pointers to system calls.

use std::ffi::{CString, c_char};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::spec::{AppSpec, NetMode, PodSpec};

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
    pub exec: CArgv,
    pub env: CArgv,
    /// The absolute directories of the app's PATH, where `exec[0]` without a `/` is looked up.
    pub path_dirs: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
    pub working_dir: CString,
    pub mounts: Vec<MountPlan>,
    pub read_only_rootfs: bool,
    pub pre_start: Option<CArgv>,
    pub post_stop: Option<CArgv>,
    /// `<pod>/apps/<name>/log`, open for appending.
    pub log: OwnedFd,
    /// `<pod>/apps/<name>`, where the init writes `exit`.
    pub dir: OwnedFd,
}

/// The whole pod.
pub(crate) struct PodPlan {
    pub hostname: Vec<u8>,
    pub net: NetMode,
    pub tty: bool,
    pub apps: Vec<AppPlan>,
    /// With `tty`: the path of the pod terminal's slave, bound on the app's /dev/console.
    pub console: Option<CString>,
}

impl PodPlan {
    pub fn any_post_stop(&self) -> bool {
        self.apps.iter().any(|a| a.post_stop.is_some())
    }

    /// Descriptors the init must keep open.
    pub fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.apps
            .iter()
            .flat_map(|a| [a.log.as_raw_fd(), a.dir.as_raw_fd()])
    }
}

/// Checks the spec and builds the plan. Creates `<pod>/apps/<name>/`, opens each log for
/// appending and removes a stale `exit` file, so a status left by an earlier run is never read
/// as this run's.
pub(crate) fn build(spec: &PodSpec) -> Result<PodPlan> {
    validate(spec)?;
    let apps = spec
        .apps
        .iter()
        .map(|a| build_app(spec, a))
        .collect::<Result<Vec<_>>>()?;
    Ok(PodPlan {
        hostname: spec.hostname.as_bytes().to_vec(),
        net: spec.net,
        tty: spec.tty,
        apps,
        console: None,
    })
}

fn validate(spec: &PodSpec) -> Result<()> {
    let bad = |m: String| Err(Error::Spec(m));
    if spec.apps.is_empty() {
        return bad("the pod has no apps".into());
    }
    if spec.tty && spec.apps.len() != 1 {
        return bad("a terminal can be attached only to a pod with a single app".into());
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
    let dir = spec.dir.join("apps").join(&a.name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::os(format!("creating {}", dir.display()), e))?;
    match std::fs::remove_file(dir.join("exit")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::os(format!("removing {}/exit", dir.display()), e));
        }
        _ => {}
    }
    let log_path = dir.join("log");
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&log_path)
        .map_err(|e| Error::os(format!("opening {}", log_path.display()), e))?;
    let dir_fd = std::fs::File::open(&dir)
        .map_err(|e| Error::os(format!("opening {}", dir.display()), e))?;
    Ok(AppPlan {
        name: a.name.clone(),
        rootfs: cpath(&what("rootfs"), &a.rootfs)?,
        exec: CArgv::new(&what("exec"), &a.exec)?,
        env,
        path_dirs: path
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| d.trim_end_matches('/').to_string())
            .collect(),
        uid: a.uid,
        gid: a.gid,
        groups: a.supplementary_gids.clone(),
        working_dir: cstring(&what("working directory"), &a.working_dir)?,
        mounts,
        read_only_rootfs: a.read_only_rootfs,
        pre_start: a
            .pre_start
            .as_ref()
            .map(|h| CArgv::new(&what("pre-start"), h))
            .transpose()?,
        post_stop: a
            .post_stop
            .as_ref()
            .map(|h| CArgv::new(&what("post-stop"), h))
            .transpose()?,
        log: log.into(),
        dir: dir_fd.into(),
    })
}

fn cpath(what: &str, p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Spec(format!("{what} {} contains a NUL byte", p.display())))
}
