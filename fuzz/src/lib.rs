//! What the fuzz targets share.

use std::path::Path;

/// A temporary directory on tmpfs when there is one (`/dev/shm`), so that targets that write
/// files each iteration cost no disk I/O.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new()
            .prefix("jetpack-fuzz-")
            .tempdir_in(shm)
        {
            return d;
        }
    }
    tempfile::tempdir().expect("temporary directory")
}
