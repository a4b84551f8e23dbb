//! Regular file contents: reflink, else in-kernel copy, else read/write; holes are kept.

use rustix::fd::BorrowedFd;
use rustix::fs::{SeekFrom, ftruncate, seek};
use rustix::io::{Errno, pread, pwrite};

use super::meta::{Fail, op};
use crate::sys;

/// Fallback read/write buffer; large enough to amortise syscalls on big files.
const BUF_SIZE: usize = 1 << 20;

/// Copy state for one tree operation: remembers which methods the filesystems refused so each
/// file does not retry them.
pub(super) struct Data {
    buf: Vec<u8>,
    reflink: bool,
    in_kernel: bool,
}

impl Data {
    pub(super) fn new() -> Self {
        Data {
            buf: Vec::new(),
            reflink: true,
            in_kernel: true,
        }
    }

    /// Copies `src` (of `size` bytes, `allocated` bytes on disk) into the empty `dst`; returns
    /// the bytes copied.
    pub(super) fn copy(
        &mut self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        size: u64,
        allocated: u64,
    ) -> Result<u64, Fail> {
        if size == 0 {
            return Ok(0);
        }
        if self.reflink {
            match sys::clone_file(dst, src) {
                Ok(()) => return Ok(size),
                // Not this filesystem (ext4, tmpfs) or not the same one: stop trying.
                Err(Errno::OPNOTSUPP | Errno::NOTTY | Errno::XDEV | Errno::NOSYS) => {
                    self.reflink = false
                }
                // Refused for this file only (e.g. btrfs nodatacow versus datacow).
                Err(Errno::INVAL | Errno::PERM) => {}
                Err(e) => return Err(op("clone file")(e)),
            }
        }
        if allocated >= size {
            return self.copy_range(src, dst, 0, size);
        }
        // Fewer blocks than bytes: copy only the data extents so holes stay holes.
        let mut copied = 0;
        let mut off = 0;
        while off < size {
            let data = match seek(src, SeekFrom::Data(off)) {
                Ok(data) => data,
                Err(Errno::NXIO) => break,
                Err(Errno::INVAL | Errno::OPNOTSUPP) if off == 0 => {
                    return self.copy_range(src, dst, 0, size);
                }
                Err(e) => return Err(op("seek data")(e)),
            };
            if data >= size {
                break;
            }
            let hole = seek(src, SeekFrom::Hole(data))
                .map_err(op("seek hole"))?
                .min(size);
            copied += self.copy_range(src, dst, data, hole)?;
            off = hole;
        }
        ftruncate(dst, size).map_err(op("truncate"))?;
        Ok(copied)
    }

    /// Copies bytes `start..end` at the same offsets; stops early if `src` is shorter.
    fn copy_range(
        &mut self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        start: u64,
        end: u64,
    ) -> Result<u64, Fail> {
        let mut pos = start;
        while self.in_kernel && pos < end {
            let (mut off_in, mut off_out) = (pos, pos);
            let len = (end - pos).min(1 << 30) as usize;
            match sys::copy_file_range(src, &mut off_in, dst, &mut off_out, len) {
                Ok(0) => break,
                Ok(n) => pos += n as u64,
                Err(Errno::INTR) => {}
                Err(Errno::XDEV | Errno::NOSYS | Errno::OPNOTSUPP) => self.in_kernel = false,
                Err(Errno::INVAL) => break,
                Err(e) => return Err(op("copy_file_range")(e)),
            }
        }
        if pos < end && self.buf.is_empty() {
            self.buf = vec![0; BUF_SIZE];
        }
        while pos < end {
            let want = (end - pos).min(BUF_SIZE as u64) as usize;
            let n = match pread(src, &mut self.buf[..want], pos) {
                Ok(0) => break,
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(op("read")(e)),
            };
            let mut done = 0;
            while done < n {
                match pwrite(dst, &self.buf[done..n], pos + done as u64) {
                    Ok(0) => return Err(op("write")(Errno::IO)),
                    Ok(w) => done += w,
                    Err(Errno::INTR) => {}
                    Err(e) => return Err(op("write")(e)),
                }
            }
            pos += n as u64;
        }
        Ok(pos - start)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileExt, MetadataExt};

    use super::*;

    /// Copies `content` (with a hole of `hole` bytes in front) using only the methods allowed.
    fn roundtrip(reflink: bool, in_kernel: bool, hole: u64, content: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let src = File::create(&a).unwrap();
        src.write_at(content, hole).unwrap();
        let src = File::open(&a).unwrap();
        let dst = File::create(&b).unwrap();
        let md = src.metadata().unwrap();
        let mut data = Data {
            buf: Vec::new(),
            reflink,
            in_kernel,
        };
        let n = data
            .copy(src.as_fd(), dst.as_fd(), md.size(), md.blocks() * 512)
            .unwrap();
        assert!(n >= content.len() as u64 && n <= md.size());
        let mut want = vec![0u8; hole as usize];
        want.extend_from_slice(content);
        assert_eq!(std::fs::read(&b).unwrap(), want);
    }

    #[test]
    fn every_method_copies_the_same_bytes() {
        let content: Vec<u8> = (0..(BUF_SIZE as u32 * 2 + 12345))
            .map(|i| (i % 253) as u8)
            .collect();
        for (reflink, in_kernel) in [(true, true), (false, true), (false, false)] {
            roundtrip(reflink, in_kernel, 0, &content);
            roundtrip(reflink, in_kernel, 4 << 20, b"after a hole");
        }
    }
}
