//! Digests of registry content, and a reader that checks a blob's size and digest as it is
//! read, so that a caller extracting in one pass never accepts bytes the image did not name.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256, Sha512};

/// A running hash for `sha256:` or `sha512:` digests.
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// The hasher for the algorithm of `digest`; `None` for one Jetpack does not know.
    pub fn for_digest(digest: &str) -> Option<Hasher> {
        match digest.split_once(':')?.0 {
            "sha256" => Some(Hasher::Sha256(Sha256::new())),
            "sha512" => Some(Hasher::Sha512(Sha512::new())),
            _ => None,
        }
    }

    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// The digest of `bytes` in the algorithm of `like` (sha256 unless `like` is a sha512 digest).
pub(crate) fn digest_like(bytes: &[u8], like: &str) -> String {
    let mut h = Hasher::for_digest(like).unwrap_or(Hasher::Sha256(Sha256::new()));
    h.update(bytes);
    h.finish()
}

/// Reads a blob and fails, with an error naming the blob, when it is longer than `size`,
/// shorter at its end, or its digest is not `digest`. Bytes are handed on as they come; only
/// a read that returned 0 (end of blob) vouches for them.
pub struct VerifyingReader<R> {
    inner: R,
    what: String,
    digest: String,
    size: u64,
    read: u64,
    hasher: Option<Hasher>,
}

impl<R: Read> VerifyingReader<R> {
    /// `what` names the blob in errors (`HOST/REPO@DIGEST`); `digest` must have a known
    /// algorithm (checked by the caller).
    pub(crate) fn new(inner: R, what: String, digest: &str, size: u64) -> VerifyingReader<R> {
        VerifyingReader {
            inner,
            what,
            hasher: Hasher::for_digest(digest),
            digest: digest.to_string(),
            size,
            read: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    fn fail(&self, msg: String) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {msg}", self.what))
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        // Ask for one byte more than is left, to notice a blob that runs over.
        let left = self.size - self.read;
        let want = buf
            .len()
            .min(usize::try_from(left + 1).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let reason = crate::http::io_reason(&e);
                return Err(self.fail(format!(
                    "truncated blob: the download failed after {} of {} bytes ({reason}); \
                     try again",
                    self.read, self.size
                )));
            }
        };
        if n as u64 > left {
            return Err(self.fail(format!(
                "the registry sent more than the {} bytes the manifest names",
                self.size
            )));
        }
        hasher.update(&buf[..n]);
        self.read += n as u64;
        if n > 0 {
            return Ok(n);
        }
        if self.read != self.size {
            return Err(self.fail(format!(
                "truncated blob: the registry sent {} of {} bytes; try again",
                self.read, self.size
            )));
        }
        let got = self.hasher.take().expect("checked above").finish();
        if got != self.digest {
            return Err(self.fail(format!(
                "digest mismatch: the registry sent content with digest {got}; the image \
                 names {}. The registry's copy is damaged or was replaced: do not use it",
                self.digest
            )));
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(data: &[u8], digest: &str, size: u64) -> io::Result<Vec<u8>> {
        let mut r = VerifyingReader::new(data, "blob".into(), digest, size);
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        // Reading past a verified end stays at the end.
        assert_eq!(r.read(&mut [0u8; 4])?, 0);
        Ok(out)
    }

    #[test]
    fn blobs_are_checked_as_they_are_read() {
        let data = b"hello layer".to_vec();
        let d = digest_like(&data, "sha256:");
        assert_eq!(check(&data, &d, 11).unwrap(), data);
        let e = check(&data[..5], &d, 11).unwrap_err().to_string();
        assert!(e.contains("truncated blob") && e.contains("5 of 11"), "{e}");
        let e = check(&data, &d, 5).unwrap_err().to_string();
        assert!(e.contains("more than the 5 bytes"), "{e}");
        let e = check(b"hello LAYER", &d, 11).unwrap_err().to_string();
        assert!(e.contains("digest mismatch"), "{e}");
        let d512 = digest_like(&data, "sha512:x");
        assert!(d512.starts_with("sha512:") && d512.len() == 7 + 128);
        assert_eq!(check(&data, &d512, 11).unwrap(), data);
        assert!(Hasher::for_digest("md5:00").is_none());
    }
}
