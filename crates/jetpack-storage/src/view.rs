//! A read-only view of a sealed image's whole tree.

use std::path::{Path, PathBuf};

/// An image's whole tree at [`ImageView::path`]; a view that had to mount it (an overlay of
/// the image's layers) unmounts it and removes its mount point when dropped.
#[derive(Debug)]
pub struct ImageView {
    path: PathBuf,
    mounted: bool,
}

impl ImageView {
    /// A tree that is whole where it is.
    pub(crate) fn plain(path: PathBuf) -> ImageView {
        ImageView {
            path,
            mounted: false,
        }
    }

    /// A tree mounted at `path` (an empty directory made for it) for the view's life (overlay's
    /// stacked images: Linux only).
    #[cfg(target_os = "linux")]
    pub(crate) fn mounted(path: PathBuf) -> ImageView {
        ImageView {
            path,
            mounted: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ImageView {
    fn drop(&mut self) {
        if !self.mounted {
            return;
        }
        if let Err(e) = crate::sys::unmount(&self.path, true) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot unmount image view");
            return;
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}
