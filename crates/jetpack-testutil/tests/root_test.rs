//! `#[root_test]` skips with a message without root and fails under
//! `JETPACK_TEST_REQUIRE_ROOT=1`: this binary runs its own probe test again as `nobody`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// The probe: does nothing but needs root.
#[jetpack_testutil::root_test]
fn probe_needs_root() {}

/// Runs the probe as `nobody` from a copy of this binary (the build tree may not be readable
/// by others), its output captured as in any test run; whether it passed, and its output.
fn probe_as_nobody(require_root: bool) -> (bool, String) {
    // One probe at a time: a copy still open for writing in one thread would be inherited by
    // the other's fork and make its exec fail with ETXTBSY.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("probe");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    let mut c = Command::new("setpriv");
    c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", "probe_needs_root", "--test-threads=1"])
        .current_dir(dir.path())
        .env_remove("JETPACK_TEST_REQUIRE_ROOT");
    if require_root {
        c.env("JETPACK_TEST_REQUIRE_ROOT", "1");
    }
    let out = c.output().expect("setpriv (util-linux)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[jetpack_testutil::root_test]
fn without_root_a_root_test_is_skipped_with_a_message() {
    let (passed, out) = probe_as_nobody(false);
    assert!(passed, "{out}");
    assert!(out.contains("SKIP probe_needs_root: needs root"), "{out}");
}

#[jetpack_testutil::root_test]
fn without_root_a_root_test_fails_when_root_is_required() {
    let (passed, out) = probe_as_nobody(true);
    assert!(!passed, "{out}");
    assert!(
        out.contains("probe_needs_root needs root and JETPACK_TEST_REQUIRE_ROOT=1"),
        "{out}"
    );
}
