//! What is wrong with a store root that commands fail on, in words that say what to do.

use std::fs;
use std::io::ErrorKind;

use jetpack_settings::Layout;

/// What is wrong with the store root, if anything, and what to do: for a command on the
/// store that failed with an error of the file system or the index, whose message names a
/// file inside the store ("store.json: Not a directory") when the cause is the root.
pub fn root_problem(layout: &Layout) -> Option<String> {
    let root = layout.root();
    let fix = "set `root` in the configuration file or -o root=DIR to a directory";
    match fs::metadata(root) {
        Ok(m) if !m.is_dir() => {
            return Some(format!(
                "the store root {} is not a directory: {fix}, or move it away and run `jetpack \
                 init`",
                root.display()
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotADirectory => {
            return Some(format!(
                "the store root {}: part of the path is not a directory: {fix}",
                root.display()
            ));
        }
        Err(_) => return None,
    }
    // Jetpack writes to its store even to read it (the index's journal, pod locks).
    let probe = layout.write_check();
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            None
        }
        Err(e) if e.kind() == ErrorKind::ReadOnlyFilesystem => Some(format!(
            "the store root {} is on a read-only file system; jetpack writes to its store for \
             every command, even to list: remount it read-write, or use another store with -o \
             root=DIR",
            root.display()
        )),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => None,
        Err(e) => Some(format!(
            "the store root {} cannot be written ({e}): jetpack writes to its store for \
             nearly every command: make it writable for root, or use another store with -o root=DIR",
            root.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_wrong_with_the_root() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(root_problem(&Layout::new(dir.path())), None);
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let e = root_problem(&Layout::new(&file)).unwrap();
        assert!(e.contains("is not a directory"), "{e}");
        let e = root_problem(&Layout::new(file.join("store"))).unwrap();
        assert!(e.contains("part of the path is not a directory"), "{e}");
        assert_eq!(root_problem(&Layout::new(dir.path().join("none"))), None);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the probe is removed"
        );
    }
}
