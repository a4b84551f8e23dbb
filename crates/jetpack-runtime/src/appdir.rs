//! An app's directory in its pod's, `<pod>/apps/<name>/`, as every engine writes it and
//! `logs`, `status` and `list` read it: `log` (the app's output, appended to across runs) and
//! `exit` (how it ended, see [`crate::exit`]). Plain file I/O, the same on every OS.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Makes the app's directory (0700: what an app writes may be secret, see the store layout),
/// removes the exit record of an earlier run, and opens the log for appending (0600, a log of
/// an earlier version made so too). Returns the directory and the log.
pub fn prepare(pod_dir: &Path, app: &str) -> Result<(PathBuf, File)> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let dir = pod_dir.join("apps").join(app);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::os(format!("creating {}", dir.display()), e))?;
    match std::fs::remove_file(dir.join("exit")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::os(format!("removing {}/exit", dir.display()), e));
        }
        _ => {}
    }
    let log_path = dir.join("log");
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| Error::os(format!("opening {}", log_path.display()), e))?;
    log.set_permissions(PermissionsExt::from_mode(0o600))
        .map_err(|e| Error::os(format!("chmod {}", log_path.display()), e))?;
    Ok((dir, log))
}

/// Writes the app's exit record (`contents`, see [`crate::AppExit::to_file_contents`]):
/// atomically, 0600, not synced (the caller waits for it before it reports the pod's end; the
/// pod's state, not synced either, outweighs it after a power cut). A failure is logged: the
/// pod's exit code still says how it ended.
pub fn record_exit(app_dir: &Path, contents: &[u8]) {
    let exit = app_dir.join("exit");
    if let Err(e) = jetpack_fs::AtomicWrite::new(&exit)
        .mode(0o600)
        .unsynced()
        .bytes(contents)
    {
        let e = e.source;
        tracing::warn!("cannot record how app {} ended: {e}", app_dir.display());
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn app_directory_log_and_exit_record() {
        let pod = tempfile::tempdir().unwrap();
        let (dir, log) = super::prepare(pod.path(), "web").unwrap();
        assert_eq!(dir, pod.path().join("apps/web"));
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!((mode(&dir), mode(&dir.join("log"))), (0o700, 0o600));
        std::io::Write::write_all(&mut &log, b"one\n").unwrap();
        super::record_exit(&dir, b"3\n");
        assert_eq!(std::fs::read_to_string(dir.join("exit")).unwrap(), "3\n");
        assert_eq!(mode(&dir.join("exit")), 0o600);
        // A new run: the exit record goes, the log is appended to.
        std::fs::set_permissions(dir.join("log"), PermissionsExt::from_mode(0o644)).unwrap();
        let (_, log) = super::prepare(pod.path(), "web").unwrap();
        std::io::Write::write_all(&mut &log, b"two\n").unwrap();
        assert!(!dir.join("exit").exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("log")).unwrap(),
            "one\ntwo\n"
        );
        assert_eq!(mode(&dir.join("log")), 0o600);
    }
}
