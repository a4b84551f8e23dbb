//! A fresh file system on a loop device, mounted on a temporary directory.

use std::path::{Path, PathBuf};

use crate::mounts::unmount_below;
use crate::{must_run, run};

/// Dropping it unmounts everything below the mount point, detaches the loop device and removes
/// the backing file.
pub struct LoopFs {
    mount_point: PathBuf,
    device: Option<String>,
    mounted: bool,
    // Dropped last: holds the backing file and the mount point.
    _dir: tempfile::TempDir,
}

impl LoopFs {
    pub fn btrfs(size: u64) -> LoopFs {
        LoopFs::new("btrfs", size, &["mkfs.btrfs", "-q"])
    }

    pub fn ext4(size: u64) -> LoopFs {
        LoopFs::new("ext4", size, &["mkfs.ext4", "-q", "-F"])
    }

    fn new(fs: &str, size: u64, mkfs: &[&str]) -> LoopFs {
        let dir = tempfile::Builder::new()
            .prefix("jptest-loop")
            .tempdir()
            .expect("tempdir");
        let image = dir.path().join(format!("{fs}.img"));
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(size))
            .expect("create image file");
        let mount_point = dir.path().join("mnt");
        std::fs::create_dir(&mount_point).expect("mkdir mount point");
        // From here on, Drop cleans up whatever was done.
        let mut guard = LoopFs {
            mount_point,
            device: None,
            mounted: false,
            _dir: dir,
        };
        let device = must_run(
            "losetup",
            &["-f", "--show", image.to_str().expect("utf-8 path")],
        );
        let device = device.trim().to_string();
        guard.device = Some(device.clone());
        let (tool, args) = mkfs.split_first().expect("mkfs command");
        let mut args = args.to_vec();
        args.push(&device);
        must_run(tool, &args);
        let mp = guard.mount_point.to_str().expect("utf-8 path").to_string();
        must_run("mount", &["-t", fs, &device, &mp]);
        guard.mounted = true;
        guard
    }

    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    pub fn device(&self) -> &str {
        self.device.as_deref().unwrap_or("")
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if self.mounted {
            for e in unmount_below(&self.mount_point) {
                eprintln!("LoopFs {}: {e}", self.mount_point.display());
            }
        }
        if let Some(dev) = &self.device
            && let Err(e) = run("losetup", &["-d", dev])
        {
            eprintln!("LoopFs: {e}");
        }
    }
}
