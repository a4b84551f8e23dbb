//! The pod's mounts: each as the `nmount(2)` option list the engine passes and as the fstab(5)
//! line `jail -c` would mount from `mount.fstab`, in mount order (unmount: the reverse).
//!
//! The jail's root is `<pod>/rootfs`; app `<name>` lives at `rootfs/app/<name>`, a nullfs view
//! of its clone, so that every storage backend's clone can be an app root and stage 2 chroots
//! to `/app/<name>` inside the jail.

use std::path::{Path, PathBuf};

use crate::error::{Result, invalid};
use crate::pod::{App, Os, Pod, VolumeKind};

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub fstype: &'static str,
    /// What is mounted: a host directory for nullfs, the file system's name otherwise.
    pub from: String,
    /// The host path it is mounted on.
    pub fspath: PathBuf,
    /// Options after `rw`/`ro`, as `name` or `name=value`.
    pub options: Vec<String>,
    pub read_only: bool,
}

impl Mount {
    /// The `nmount(2)` name/value list: `fstype`, `fspath`, the source (nullfs reads its
    /// lower directory from `target`, as mount_nullfs(8) passes it; the others' `from`), then
    /// `ro` or `rw` and each option (a flag without a value is `None`).
    pub fn nmount(&self) -> Vec<(String, Option<String>)> {
        let source = if self.fstype == "nullfs" {
            "target"
        } else {
            "from"
        };
        let mut iov = vec![
            ("fstype".to_string(), Some(self.fstype.to_string())),
            ("fspath".to_string(), Some(path_str(&self.fspath))),
            (source.to_string(), Some(self.from.clone())),
            (if self.read_only { "ro" } else { "rw" }.to_string(), None),
        ];
        for o in &self.options {
            iov.push(match o.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (o.clone(), None),
            });
        }
        iov
    }

    /// The fstab(5) line: spaces and tabs in paths as `\040` and `\011`.
    pub fn fstab_line(&self) -> String {
        let mut opts = vec![if self.read_only { "ro" } else { "rw" }.to_string()];
        opts.extend(self.options.iter().cloned());
        format!(
            "{} {} {} {} 0 0",
            fstab_field(&self.from),
            fstab_field(&path_str(&self.fspath)),
            self.fstype,
            opts.join(",")
        )
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn fstab_field(s: &str) -> String {
    s.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
}

/// The jail's root directory.
pub fn jail_root(pod: &Pod) -> PathBuf {
    pod.dir.join("rootfs")
}

/// An app's root as seen from the host, and from inside the jail.
pub fn app_root(pod: &Pod, app: &str) -> PathBuf {
    jail_root(pod).join("app").join(app)
}

/// Where an empty volume lives on the host.
pub fn volume_dir(pod: &Pod, volume: &str) -> PathBuf {
    pod.dir.join("volumes").join(volume)
}

/// Every mount of the pod, app by app, in mount order. `devfs_ruleset` restricts each app's
/// `/dev`.
pub fn mounts(pod: &Pod, devfs_ruleset: i64) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    for app in &pod.apps {
        app_mounts(pod, app, devfs_ruleset, &mut out)?;
    }
    for m in &out {
        for s in [m.from.as_str(), &path_str(&m.fspath)] {
            if s.contains(['\n', '\0']) {
                return Err(invalid(
                    "mount path",
                    s,
                    "a newline or NUL cannot be in fstab",
                ));
            }
        }
    }
    Ok(out)
}

fn app_mounts(pod: &Pod, app: &App, ruleset: i64, out: &mut Vec<Mount>) -> Result<()> {
    let root = app_root(pod, &app.name);
    let fs = |fstype: &'static str, at: &str, options: Vec<String>| Mount {
        fstype,
        from: fstype.to_string(),
        fspath: root.join(at),
        options,
        read_only: false,
    };
    out.push(Mount {
        fstype: "nullfs",
        from: path_str(&app.rootfs),
        fspath: root.clone(),
        options: Vec::new(),
        read_only: false,
    });
    out.push(fs("devfs", "dev", vec![format!("ruleset={ruleset}")]));
    if app.os == Os::Linux {
        // Linux binaries read /proc and /sys in Linux's format, /dev/fd as links (linrdlnk)
        // and expect a tmpfs /dev/shm (glibc's shm_open).
        out.push(fs("linprocfs", "proc", Vec::new()));
        out.push(fs("linsysfs", "sys", Vec::new()));
        out.push(fs("fdescfs", "dev/fd", vec!["linrdlnk".to_string()]));
        out.push(fs("tmpfs", "dev/shm", vec!["mode=1777".to_string()]));
    }
    for m in &app.mounts {
        let target = relative_target(&m.target)?;
        let vol = pod
            .volumes
            .iter()
            .find(|v| v.name == m.volume)
            .ok_or_else(|| invalid("volume", &m.volume, "no such volume in the pod"))?;
        let from = match &vol.kind {
            VolumeKind::Host { source } => source.clone(),
            VolumeKind::Empty { .. } => volume_dir(pod, &vol.name),
        };
        out.push(Mount {
            fstype: "nullfs",
            from: path_str(&from),
            fspath: root.join(target),
            options: Vec::new(),
            read_only: m.read_only || vol.read_only,
        });
    }
    Ok(())
}

/// A mount target inside the rootfs, checked lexically: absolute, no `..`. (The engine still
/// resolves it inside the rootfs, refusing symlinks, as the Linux engine does.)
fn relative_target(target: &str) -> Result<&str> {
    let rel = target
        .strip_prefix('/')
        .ok_or_else(|| invalid("mount target", target, "not absolute"))?;
    if rel.split('/').any(|c| c == "..") {
        return Err(invalid("mount target", target, "contains .."));
    }
    Ok(rel.trim_end_matches('/'))
}
