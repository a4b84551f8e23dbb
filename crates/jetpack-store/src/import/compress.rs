//! Compression detection by magic bytes (never by file name) and decoders.

use std::io::{self, BufReader, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }

    /// Detects the format from the first bytes of a file (at least 262 for plain tar).
    pub fn detect(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(b"BZh") {
            Some(Compression::Bzip2)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Compression::Xz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.len() > 262 && &head[257..262] == b"ustar" {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// Reads the first bytes of `r` for detection and gives them back in front of the rest.
/// The sniffed head and a reader that replays it before the rest.
pub type Sniffed<R> = (Vec<u8>, io::Chain<io::Cursor<Vec<u8>>, R>);

pub fn sniff<R: Read>(mut r: R) -> io::Result<Sniffed<R>> {
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    Ok((head.clone(), io::Cursor::new(head).chain(r)))
}

/// A decoder for `c` over `r`. Multi-member streams are read whole, as gzip(1) does.
pub fn decoder<'a, R: Read + Send + 'a>(
    c: Compression,
    r: R,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    const BUF: usize = 256 * 1024;
    Ok(match c {
        Compression::None => Box::new(BufReader::with_capacity(BUF, r)),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            BUF, r,
        ))),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(BufReader::with_capacity(
            BUF, r,
        ))),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(
            BufReader::with_capacity(BUF, r),
        )),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(
            BufReader::with_capacity(BUF, r),
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::detect(b"BZh91AY"), Some(Compression::Bzip2));
        assert_eq!(
            Compression::detect(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]),
            Some(Compression::Xz)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Some(Compression::Zstd)
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(Compression::detect(&tar), Some(Compression::None));
        assert_eq!(Compression::detect(b"{\"acKind\":1}"), None);
        assert_eq!(Compression::detect(&[]), None);
    }
}
