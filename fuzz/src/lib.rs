//! What the fuzz targets share.

use std::path::{Path, PathBuf};

const PREFIX: &str = "jetpack-fuzz-";

/// A scratch directory on tmpfs when there is one (`/dev/shm`), so that targets that write
/// files each iteration cost no disk I/O. It is named after the process: libFuzzer exits
/// without dropping statics, so the directories of processes that are gone are removed here.
pub fn scratch_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix(PREFIX));
            if pid.is_some_and(|p| !Path::new("/proc").join(p).exists()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).expect("scratch directory");
    dir
}
