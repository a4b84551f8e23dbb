//! Reading the kernel's generated files (`/proc/self/mountinfo`, `/proc/net/route`, ...).
//!
//! They report a size of 0, so `fs::read_to_string` starts with a 32-byte read and doubles
//! from there: eight `read` calls for a 3 KiB mount table, each of which makes the kernel
//! walk the table again up to where the last one stopped. One buffer of 16 KiB takes such a
//! file in one call (and one more to see its end); a larger one grows as before.

use std::io::{self, Read};
use std::path::Path;

/// What a first read of a kernel file takes at once.
const FIRST_READ: usize = 16 * 1024;

/// The whole text of a kernel-generated file.
pub fn read_proc(path: impl AsRef<Path>) -> io::Result<String> {
    let mut text = String::with_capacity(FIRST_READ);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_files_of_any_size() {
        let d = tempfile::tempdir().unwrap();
        for len in [0, 1, FIRST_READ - 1, FIRST_READ, 3 * FIRST_READ + 7] {
            let p = d.path().join(format!("f{len}"));
            let want: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            std::fs::write(&p, &want).unwrap();
            assert_eq!(read_proc(&p).unwrap(), want);
        }
        let mounts = read_proc("/proc/self/mountinfo").unwrap();
        assert!(mounts.lines().any(|l| l.contains(" / / ")), "{mounts}");
        let e = read_proc(d.path().join("missing")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
