//! A fresh file system on a loop device, mounted on a temporary directory.

use std::path::{Path, PathBuf};

use crate::mounts::unmount_below;
use crate::{must_run, run};

/// Dropping it unmounts everything below the mount point, detaches the loop device and removes
/// the backing file.
pub struct LoopFs {
    mount_point: PathBuf,
    image: PathBuf,
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
            image: image.clone(),
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

    /// The file backing the loop device.
    pub fn image(&self) -> &Path {
        &self.image
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
        if let Some(dev) = &self.device {
            if let Err(e) = run("losetup", &["-d", dev]) {
                eprintln!("LoopFs: {e}");
            }
            // A device still open (udev probing it) is only marked for autoclear; wait until it
            // lets go so that the backing file is really released.
            let start = std::time::Instant::now();
            while self.attached(dev) && start.elapsed() < std::time::Duration::from_secs(10) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            if self.attached(dev) {
                eprintln!("LoopFs: {dev} still attached to {}", self.image.display());
            }
        }
    }
}

impl LoopFs {
    fn attached(&self, dev: &str) -> bool {
        let name = dev.trim_start_matches("/dev/");
        std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file"))
            .is_ok_and(|f| Path::new(f.trim_end()) == self.image)
    }
}
