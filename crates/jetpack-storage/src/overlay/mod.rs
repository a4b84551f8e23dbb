//! overlayfs: images are plain directories (as in the dir backend) and a pod tree is an overlay
//! mount with the image as its lower layer, so it costs nothing until the pod writes.
//!
//! An OCI layer is a tree of its own changes stacked on the layer below it (see [`stack`]); a
//! pod's overlay lists the whole stack as its lower layers.
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
use crate::{ImageView, Kind, LayerForm, Storage, dir, idmapped, mounts};

mod stack;
use stack::Records;

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
    fn records(&self) -> Records<'_> {
        Records::new(&self.root)
    }

    /// A new empty temporary tree, stacked on the sealed tree `below` if there is one (with
    /// its root directory's attributes, which an overlay takes from its top layer).
    fn stacked_temp(&self, below: Option<&str>, name: &str) -> Result<PathBuf> {
        let tree = dir::create_temp(&self.root, name)?;
        if let Some(below) = below {
            let made = area::path(&self.root, IMAGES, below).and_then(|b| {
                area::ensure_image(&b, below)?;
                copy_root_attributes(&b, &tree)?;
                self.records().stack_temp(name, below)
            });
            if let Err(e) = made {
                let _ = self.discard_temp(name);
                return Err(e);
            }
        }
        Ok(tree)
    }

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
        let lowers = self.records().layers(image)?;
        let (upper, work, rootfs) = (pod.join("upper"), pod.join("work"), pod.join("rootfs"));
        mount_overlay(&overlay_options(&lowers, Some((&upper, &work)))?, &rootfs)
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
                || (l
                    .file_name()
                    .is_some_and(|n| n.as_bytes().starts_with(MAPPED_LOWER.as_bytes()))
                    && l.parent().is_some_and(|pod| {
                        std::fs::read(pod.join(LOWER_OF)).is_ok_and(|p| {
                            p.split(|b| *b == b'\n')
                                .any(|p| Path::new(std::ffi::OsStr::from_bytes(p)) == image)
                        })
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
        let lowers = self.records().layers(image)?;
        let lines: Vec<&[u8]> = lowers.iter().map(|l| l.as_os_str().as_bytes()).collect();
        std::fs::write(&record, lines.join(&b'\n')).map_err(|e| Error::io(&record, e))?;
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
        let lowers = self.records().layers(image)?;
        let rootfs = pod.join("rootfs");
        let mapped_lowers: Vec<PathBuf> = (0..lowers.len())
            .map(|i| match i {
                0 => pod.join(MAPPED_LOWER),
                i => pod.join(format!("{MAPPED_LOWER}.{i}")),
            })
            .collect();
        let mapped = pod.join(".mapped");
        // Mount points made for this mount only (detaching removes them).
        for dir in mapped_lowers.iter().chain([&mapped]) {
            match std::fs::create_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::io(dir, e));
                }
                _ => {}
            }
        }
        let made = lowers
            .iter()
            .zip(&mapped_lowers)
            .try_for_each(|(lower, to)| idmapped::attach(lower, to, userns))
            .and_then(|()| idmapped::attach(pod, &mapped, userns))
            .and_then(|()| {
                let upper = (&mapped.join("upper"), &mapped.join("work"));
                let options = overlay_options(&mapped_lowers, Some((upper.0, upper.1)))?;
                // The overlay writes to its upper layer with its mounter's credentials.
                idmapped::as_ids(pod_root, || mount_overlay(&options, &rootfs))
            });
        for m in [&mapped].into_iter().chain(&mapped_lowers) {
            idmapped::detach(m);
        }
        made
    }
}

/// Where read-only views of stacked images are mounted (see [`Storage::view_image`]).
const VIEWS: &str = "views";

/// A name no other view of this or another process has.
fn view_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{t}-{n}", std::process::id())
}

/// Whether the process that made view `name` ([`view_name`]) is running. A reused pid only
/// keeps a leftover view until that process ends.
fn view_owner_lives(name: &str) -> bool {
    name.split('-')
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// Unmounts the overlay of pod tree `pod` and whatever else is mounted in it (what a killed
/// run left: its overlay, idmapped layers). Not mounted is fine.
fn unmount_pod(pod: &Path) -> Result<()> {
    mounts::unmount_below(pod, true)
}

/// `lowerdir=top:…:bottom[,upperdir=…,workdir=…]`; without an upper layer the overlay is
/// read-only.
fn overlay_options(lowers: &[PathBuf], upper: Option<(&Path, &Path)>) -> Result<String> {
    let text = |dir: &Path| {
        dir.to_str()
            .filter(|s| !s.contains([',', ':', '\\']))
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Config(format!(
                    "{}: overlay cannot use paths with ',', ':', '\\' or non-UTF-8 bytes; \
                     choose another data directory",
                    dir.display()
                ))
            })
    };
    let lowers = lowers.iter().map(|l| text(l)).collect::<Result<Vec<_>>>()?;
    let mut options = format!("lowerdir={}", lowers.join(":"));
    if let Some((upper, work)) = upper {
        options.push_str(&format!(
            ",upperdir={},workdir={}",
            text(upper)?,
            text(work)?
        ));
    }
    // mount(2) takes one page of options.
    if options.len() >= 4096 {
        return Err(Error::Config(format!(
            "an overlay of {} layers under {} needs more than a page of mount options; \
             choose a shorter data directory",
            lowers.len(),
            lowers.last().map(String::as_str).unwrap_or_default()
        )));
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

    /// A stacked image is copied from its view: the copy is a whole tree.
    fn clone_to_temp(&self, image: &str, name: &str) -> Result<PathBuf> {
        if self.records().below(image)?.is_none() {
            return dir::clone_to_temp(&self.root, image, name);
        }
        let view = self.view_image(image)?;
        area::copy_new(
            view.path(),
            &area::path(&self.root, area::TMP, name)?,
            image,
        )
    }

    fn seal(&self, name: &str, image: &str) -> Result<PathBuf> {
        area::ensure_absent(&area::path(&self.root, IMAGES, image)?)?;
        self.records().seal(name, image)?;
        dir::seal(&self.root, name, image)
    }

    fn discard_temp(&self, name: &str) -> Result<()> {
        self.remove_tree(crate::Area::Tmp, name)?;
        self.records().discard_temp(name)
    }

    /// Refuses while a pod overlay uses the image: changing a lower layer under a mounted
    /// overlay is undefined behaviour.
    fn remove_image(&self, image: &str) -> Result<()> {
        self.check_remove_image(image)?;
        area::remove_plain(&area::path(&self.root, IMAGES, image)?)?;
        self.records().remove(image)
    }

    /// A layer holds its own changes only, on an empty tree that records the layer below.
    fn layer_temp(&self, below: Option<&str>, name: &str) -> Result<(PathBuf, LayerForm)> {
        let tree = self.stacked_temp(below, name)?;
        Ok((tree, LayerForm::Diff))
    }

    /// An empty tree stacked on `top`: constant time, nothing copied.
    fn temp_over(&self, top: &str, name: &str) -> Result<PathBuf> {
        self.stacked_temp(Some(top), name)
    }

    fn below(&self, image: &str) -> Result<Vec<String>> {
        let mut chain = self.records().chain(image)?;
        chain.remove(0);
        Ok(chain)
    }

    fn view_image(&self, image: &str) -> Result<ImageView> {
        let lowers = self.records().layers(image)?;
        if lowers.len() == 1 {
            return Ok(ImageView::plain(lowers[0].clone()));
        }
        let views = self.root.join(VIEWS);
        area::create_private_dir(&views)?;
        let at = views.join(view_name());
        std::fs::create_dir(&at).map_err(|e| Error::io(&at, e))?;
        // Read-only: an overlay without an upper layer.
        if let Err(e) = mount_overlay(&overlay_options(&lowers, None)?, &at) {
            let _ = std::fs::remove_dir(&at);
            return Err(e);
        }
        Ok(ImageView::mounted(at))
    }

    fn collect(&self) -> Result<()> {
        self.records().collect()?;
        // Views a killed process left mounted. A live process's view (its pid leads the
        // name) is in use: an export or import is reading the image through it.
        let views = self.root.join(VIEWS);
        for name in area::list(&views)? {
            if view_owner_lives(&name) {
                continue;
            }
            area::remove_plain(&views.join(name))?;
        }
        Ok(())
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
        let above = self.records().above(image)?;
        if !above.is_empty() {
            return Err(Error::Busy {
                what: format!("image {image}"),
                users: format!("the images stacked on it: {}", above.join(", ")),
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
