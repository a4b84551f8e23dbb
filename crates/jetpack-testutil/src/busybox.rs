//! The busybox image, built by the same Makefile the README uses (`images/busybox`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The name `images/busybox` gives the image by default.
pub const BB: &str = "example.com/busybox";

/// The repository's top directory.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `make -s -C DIR` (an image's directory, as in `images/`) with the repository's make helper
/// (`share/jetpack.image.mk`) and no make variables, flags or jobserver of whatever runs the
/// tests.
pub fn image_make(dir: &Path) -> Command {
    let mut c = Command::new("make");
    c.arg("-s")
        .arg("-C")
        .arg(dir)
        .arg(format!("JETPACK_SHARE={}", repo().join("share").display()));
    for v in [
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "MAKEFILES",
        "MAKEOVERRIDES",
    ] {
        c.env_remove(v);
    }
    c
}

/// Writes the busybox ACI named `name` (version `version`) to `out`.
pub fn busybox_aci(out: &Path, name: &str, version: &str) {
    let st = image_make(&repo().join("images/busybox"))
        .arg("aci")
        .arg(format!("ACI={}", out.display()))
        .arg(format!("NAME={name}"))
        .arg(format!("VERSION={version}"))
        .status()
        .unwrap();
    assert!(
        st.success(),
        "make -C images/busybox aci failed (are make and busybox-static installed?)"
    );
}
