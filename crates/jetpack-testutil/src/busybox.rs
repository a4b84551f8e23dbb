//! The busybox image, built by the same script the README uses (`scripts/busybox-aci.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The name `scripts/busybox-aci.sh` gives the image by default.
pub const BB: &str = "example.com/busybox";

/// The repository's top directory.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes the busybox ACI named `name` (version `version`) to `out`.
pub fn busybox_aci(out: &Path, name: &str, version: &str) {
    let st = Command::new(repo().join("scripts/busybox-aci.sh"))
        .arg(out)
        .arg(name)
        .arg(version)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "busybox-aci.sh failed (is busybox-static installed?)"
    );
}
