//! Content digests (`sha256:…`) checked as a blob is read, so no byte of it is trusted
//! before the whole was seen and matched.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The `sha256:` digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Checks `bytes` (a whole document) against `digest`.
pub fn check(bytes: &[u8], digest: &str, what: &str) -> Result<()> {
    check_sha256(digest, what)?;
    let got = sha256(bytes);
    if got != digest {
        return Err(Error::Document {
            what: what.into(),
            msg: format!("content has digest {got}, not {digest}: corrupt or not this image's"),
        });
    }
    Ok(())
}

/// Reads a blob, failing at its end (or past its size) unless its size and SHA-256 match.
pub struct Verify<R> {
    inner: R,
    hash: Sha256,
    want: String,
    size: Option<u64>,
    seen: u64,
    what: String,
    ok: Arc<AtomicBool>,
}

impl<R: Read> Verify<R> {
    /// `digest` must be a `sha256:` digest; `size`, if known, is checked too. The returned
    /// flag turns true once the whole blob was read and matched.
    pub fn new(
        inner: R,
        digest: &str,
        size: Option<u64>,
        what: &str,
    ) -> Result<(Self, Arc<AtomicBool>)> {
        check_sha256(digest, what)?;
        let ok = Arc::new(AtomicBool::new(false));
        Ok((
            Verify {
                inner,
                hash: Sha256::new(),
                want: digest.into(),
                size,
                seen: 0,
                what: what.into(),
                ok: ok.clone(),
            },
            ok,
        ))
    }

    fn bad(&self, msg: String) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {msg}", self.what))
    }
}

fn check_sha256(digest: &str, what: &str) -> Result<()> {
    match crate::reference::check_digest(digest) {
        Ok(()) if digest.starts_with("sha256:") => Ok(()),
        Ok(()) => Err(Error::Document {
            what: what.into(),
            msg: format!("digest {digest}: only sha256 digests are supported"),
        }),
        Err(msg) => Err(Error::Document {
            what: what.into(),
            msg,
        }),
    }
}

impl<R: Read> Read for Verify<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        if let Some(s) = self.size
            && self.seen > s
        {
            return Err(self.bad(format!("longer than the {s} bytes its descriptor gives")));
        }
        if n == 0 && !buf.is_empty() && !self.ok.load(Ordering::Relaxed) {
            if let Some(s) = self.size.filter(|&s| s != self.seen) {
                return Err(self.bad(format!(
                    "{} bytes, not the {s} its descriptor gives: truncated",
                    self.seen
                )));
            }
            let got = format!("sha256:{}", hex::encode(self.hash.clone().finalize()));
            if got != self.want {
                return Err(self.bad(format!(
                    "content has digest {got}, not {}: corrupt or not this image's",
                    self.want
                )));
            }
            self.ok.store(true, Ordering::Relaxed);
        }
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: impl Read) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        let mut r = r;
        r.read_to_end(&mut v).map(|_| v)
    }

    #[test]
    fn blobs_are_checked_at_their_end() {
        let data = b"layer bytes".to_vec();
        let d = sha256(&data);
        let (r, ok) = Verify::new(&data[..], &d, Some(data.len() as u64), "blob").unwrap();
        assert!(!ok.load(Ordering::Relaxed));
        assert_eq!(read_all(r).unwrap(), data);
        assert!(ok.load(Ordering::Relaxed));

        let (r, ok) = Verify::new(&b"other bytes"[..], &d, None, "blob").unwrap();
        let e = read_all(r).unwrap_err().to_string();
        assert!(e.contains("corrupt or not this image's"), "{e}");
        assert!(!ok.load(Ordering::Relaxed));

        let (r, _) = Verify::new(&data[..5], &d, Some(data.len() as u64), "blob").unwrap();
        assert!(read_all(r).unwrap_err().to_string().contains("truncated"));
        let (r, _) = Verify::new(&data[..], &d, Some(3), "blob").unwrap();
        assert!(read_all(r).unwrap_err().to_string().contains("longer than"));
        assert!(Verify::new(&data[..], "md5:00", None, "blob").is_err());
        check(&data, &d, "doc").unwrap();
        assert!(check(b"x", &d, "doc").is_err());
    }
}
