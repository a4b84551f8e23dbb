//! overlayfs: images are plain directories (as in the dir backend) and a pod tree is an overlay
//! mount with the image as its lower layer, so it costs nothing until the pod writes.
//!
//! A pod tree is `pods/<name>/{upper,work,rootfs}`, with the overlay mounted on `rootfs` only
//! while its pod runs ([`Storage::mount_pod_tree`] when it starts, [`Storage::unmount_pod_tree`]
//! when it ends): a prepared or exited pod holds no mount, and a reboot loses nothing.

use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
use rustix::mount::{MountFlags, mount};

use crate::area::{self, IMAGES, PODS};
use crate::error::{Error, Result};
use crate::{Kind, Storage, dir, idmapped, mounts};

/// Where a user-namespace pod's idmapped image is attached while its overlay is mounted (the
/// overlay's `lowerdir`), and the file naming that image, for [`OverlayStorage::users_of`].
const MAPPED_LOWER: &str = ".lower";
const LOWER_OF: &str = "lower-image";

pub struct OverlayStorage {
    root: PathBuf,
}

impl OverlayStorage {
    pub fn new(root: &Path) -> Self {
        OverlayStorage {
            root: root.to_path_buf(),
        }
    }

    /// Makes the directories of the new pod tree `pod` of `image` (the layers of a plain
    /// overlay); [`Self::mount_pod`] mounts them.
    fn make_pod(&self, image: &str, pod: &Path) -> Result<PathBuf> {
        let lower = mounts::canonical(&area::path(&self.root, IMAGES, image)?);
        let (upper, work, rootfs) = (pod.join("upper"), pod.join("work"), pod.join("rootfs"));
        for dir in [&upper, &work, &rootfs] {
            std::fs::create_dir(dir).map_err(|e| Error::io(dir, e))?;
        }
        // The merged root directory shows the upper directory's attributes: give it the image's.
        copy_root_attributes(&lower, &upper)?;
        Ok(rootfs)
    }

    /// Mounts the overlay of the existing pod tree `pod` on its `rootfs`.
    fn mount_pod(&self, image: &str, pod: &Path) -> Result<()> {
        let lower = mounts::canonical(&area::path(&self.root, IMAGES, image)?);
        area::ensure_image(&lower, image)?;
        let (upper, work, rootfs) = (pod.join("upper"), pod.join("work"), pod.join("rootfs"));
        mount_overlay(&overlay_options(&lower, &upper, &work)?, &rootfs)
    }

    /// Makes the pod tree `name` of `image`, its layers made by `make` (not mounted); on
    /// failure nothing is left.
    fn new_pod_tree(
        &self,
        image: &str,
        name: &str,
        make: impl FnOnce(&Path) -> Result<PathBuf>,
    ) -> Result<PathBuf> {
        area::ensure_image(&area::path(&self.root, IMAGES, image)?, image)?;
        let pod = area::path(&self.root, PODS, name)?;
        match std::fs::create_dir(&pod) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(pod.display().to_string()));
            }
            Err(e) => return Err(Error::io(&pod, e)),
        }
        make(&pod).inspect_err(|_| {
            if let Err(e) = area::remove_plain(&pod) {
                tracing::warn!(path = %pod.display(), error = %e, "cannot remove failed pod tree");
            }
        })
    }

    /// Mount points of the overlays that use `image` as a lower layer (directly, or through
    /// an idmapped mount of it, whose image `LOWER_OF` names).
    fn users_of(&self, image: &Path) -> Result<Vec<PathBuf>> {
        let image = mounts::canonical(image);
        let uses = |l: &str| {
            let l = Path::new(l);
            l == image
                || (l.file_name() == Some(MAPPED_LOWER.as_ref())
                    && l.parent().is_some_and(|pod| {
                        std::fs::read(pod.join(LOWER_OF))
                            .is_ok_and(|p| Path::new(std::ffi::OsStr::from_bytes(&p)) == image)
                    }))
        };
        Ok(mounts::read()?
            .into_iter()
            .filter(|m| m.fs_type == "overlay" && lowerdirs(&m.super_options).any(uses))
            .map(|m| m.mount_point)
            .collect())
    }

    /// [`Self::make_pod`] for a pod with a user namespace (see [`Self::mount_pod_mapped`]).
    fn make_pod_mapped(&self, image: &str, pod: &Path) -> Result<PathBuf> {
        let lower = mounts::canonical(&area::path(&self.root, IMAGES, image)?);
        let (upper, work, rootfs) = (pod.join("upper"), pod.join("work"), pod.join("rootfs"));
        for dir in [&upper, &work, &rootfs] {
            std::fs::create_dir(dir).map_err(|e| Error::io(dir, e))?;
        }
        copy_root_attributes(&lower, &upper)?;
        let record = pod.join(LOWER_OF);
        std::fs::write(&record, lower.as_os_str().as_bytes()).map_err(|e| Error::io(&record, e))?;
        Ok(rootfs)
    }

    /// [`Self::mount_pod`] for a pod with a user namespace: the layers are idmapped mounts (the
    /// image with `userns`'s mapping, and the pod's upper and work directories likewise), so the
    /// overlay shows the pod's ids (an overlay itself cannot be idmapped). The idmapped layers
    /// are attached at `pod/.lower` and `pod/.mapped` only while the overlay is mounted: it
    /// keeps private clones of its layers.
    fn mount_pod_mapped(
        &self,
        image: &str,
        pod: &Path,
        userns: BorrowedFd,
        pod_root: u32,
    ) -> Result<()> {
        let lower = mounts::canonical(&area::path(&self.root, IMAGES, image)?);
        area::ensure_image(&lower, image)?;
        let rootfs = pod.join("rootfs");
        let (mapped_lower, mapped) = (pod.join(MAPPED_LOWER), pod.join(".mapped"));
        // Mount points made for this mount only (detaching removes them).
        for dir in [&mapped_lower, &mapped] {
            match std::fs::create_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::io(dir, e));
                }
                _ => {}
            }
        }
        idmapped::attach(&lower, &mapped_lower, userns)?;
        let made = idmapped::attach(pod, &mapped, userns).and_then(|()| {
            let options =
                overlay_options(&mapped_lower, &mapped.join("upper"), &mapped.join("work"))?;
            // The overlay writes to its upper layer with its mounter's credentials.
            idmapped::as_ids(pod_root, || mount_overlay(&options, &rootfs))
        });
        for m in [&mapped, &mapped_lower] {
            idmapped::detach(m);
        }
        made
    }
}

/// Unmounts the overlay of pod tree `pod` and whatever else is mounted in it (what a killed
/// run left: its overlay, idmapped layers). Not mounted is fine.
fn unmount_pod(pod: &Path) -> Result<()> {
    mounts::unmount_below(pod, true)
}

/// `lowerdir=…,upperdir=…,workdir=…`.
fn overlay_options(lower: &Path, upper: &Path, work: &Path) -> Result<String> {
    let mut options = String::new();
    for (key, dir) in [("lowerdir", lower), ("upperdir", upper), ("workdir", work)] {
        let dir = dir
            .to_str()
            .filter(|s| !s.contains([',', ':', '\\']))
            .ok_or_else(|| {
                Error::Config(format!(
                    "{}: overlay cannot use paths with ',', ':', '\\' or non-UTF-8 bytes; \
                     choose another data directory",
                    dir.display()
                ))
            })?;
        if !options.is_empty() {
            options.push(',');
        }
        options.push_str(&format!("{key}={dir}"));
    }
    Ok(options)
}

fn mount_overlay(options: &str, rootfs: &Path) -> Result<()> {
    let data = std::ffi::CString::new(options).expect("paths checked for NUL");
    mount(
        "overlay",
        rootfs,
        "overlay",
        MountFlags::empty(),
        data.as_c_str(),
    )
    .map_err(|e| Error::Mount {
        what: format!("overlay ({options})"),
        target: rootfs.to_path_buf(),
        source: e.into(),
    })
}

/// The lower layers listed in overlay mount options (`lowerdir=a:b`, newer kernels may also
/// show `lowerdir+=a`).
fn lowerdirs(options: &str) -> impl Iterator<Item = &str> {
    options
        .split(',')
        .filter_map(|o| {
            o.strip_prefix("lowerdir=")
                .or_else(|| o.strip_prefix("lowerdir+="))
        })
        .flat_map(|l| l.split(':'))
}

fn copy_root_attributes(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::metadata(from).map_err(|e| Error::io(from, e))?;
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| Error::io(to, e))?;
    let mode = std::os::unix::fs::PermissionsExt::from_mode(meta.mode() & 0o7777);
    std::fs::set_permissions(to, mode).map_err(|e| Error::io(to, e))?;
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        },
    };
    utimensat(CWD, to, &times, AtFlags::empty()).map_err(|e| Error::io(to, e.into()))
}

impl Storage for OverlayStorage {
    fn kind(&self) -> Kind {
        Kind::Overlay
    }

    fn root(&self) -> &Path {
        &self.root
    }

    fn init(&self) -> Result<()> {
        area::create_areas(&self.root)
    }

    fn create_temp(&self, name: &str) -> Result<PathBuf> {
        dir::create_temp(&self.root, name)
    }

    fn clone_to_temp(&self, image: &str, name: &str) -> Result<PathBuf> {
        dir::clone_to_temp(&self.root, image, name)
    }

    fn seal(&self, name: &str, image: &str) -> Result<PathBuf> {
        dir::seal(&self.root, name, image)
    }

    /// Refuses while a pod overlay uses the image: changing a lower layer under a mounted
    /// overlay is undefined behaviour.
    fn remove_image(&self, image: &str) -> Result<()> {
        self.check_remove_image(image)?;
        area::remove_plain(&area::path(&self.root, IMAGES, image)?)
    }

    fn check_remove_image(&self, image: &str) -> Result<()> {
        let path = area::path(&self.root, IMAGES, image)?;
        let users = self.users_of(&path)?;
        if !users.is_empty() {
            let users = users
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>();
            return Err(Error::Busy {
                what: format!("image {image}"),
                users: users.join(", "),
            });
        }
        Ok(())
    }

    fn clone_for_pod_mapped(
        &self,
        image: &str,
        name: &str,
        userns: BorrowedFd,
        pod_root: u32,
    ) -> Result<(PathBuf, bool)> {
        // Used when the tree is mounted (`mount_pod_tree`).
        let _ = (userns, pod_root);
        let rootfs = self.new_pod_tree(image, name, |pod| self.make_pod_mapped(image, pod))?;
        Ok((rootfs, true))
    }

    fn clone_for_pod(&self, image: &str, name: &str) -> Result<PathBuf> {
        self.new_pod_tree(image, name, |pod| self.make_pod(image, pod))
    }

    fn mount_pod_tree(
        &self,
        image: &str,
        name: &str,
        mapped: Option<(BorrowedFd, u32)>,
    ) -> Result<()> {
        let pod = area::path(&self.root, PODS, name)?;
        if !pod.join("rootfs").is_dir() {
            return Err(Error::NotFound(format!("pod tree {}", pod.display())));
        }
        // A run killed with SIGKILL left its mounts: the tree is mounted afresh.
        unmount_pod(&pod)?;
        match mapped {
            None => self.mount_pod(image, &pod),
            Some((userns, pod_root)) => self.mount_pod_mapped(image, &pod, userns, pod_root),
        }
    }

    fn unmount_pod_tree(&self, name: &str) -> Result<()> {
        let pod = area::path(&self.root, PODS, name)?;
        if !pod.exists() {
            return Ok(());
        }
        unmount_pod(&pod)
    }
}

#[cfg(test)]
mod tests {
    use super::lowerdirs;

    #[test]
    fn lists_lower_layers() {
        let opts = "rw,relatime,lowerdir=/a/b:/c,upperdir=/u,workdir=/w,lowerdir+=/d";
        assert_eq!(lowerdirs(opts).collect::<Vec<_>>(), ["/a/b", "/c", "/d"]);
    }
}
