//! The built image as an ACI: `manifest`, then `rootfs/` with the changed entries of the
//! build pod's tree, compressed as `build.compression` says.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use jetpack_settings::BuildCompression;
use jetpack_store::export::tree_tar;

use crate::diff::Changes;
use crate::error::{Error, Result};

/// Writes the ACI to `out`; returns the number of entries of `rootfs/`.
pub fn write(
    out: &Path,
    manifest: &[u8],
    rootfs: &Path,
    changes: &Changes,
    compression: BuildCompression,
    mtime: u64,
) -> Result<u64> {
    let keep = |rel: &[u8]| changes.contains(rel);
    write_with(out, manifest, rootfs, &keep, compression, mtime)
}

/// [`write`] of the entries of `rootfs` that `keep` accepts (paths without leading `/`).
pub fn write_with(
    out: &Path,
    manifest: &[u8],
    rootfs: &Path,
    keep: &dyn Fn(&[u8]) -> bool,
    compression: BuildCompression,
    mtime: u64,
) -> Result<u64> {
    let file = BufWriter::new(File::create(out).map_err(|e| Error::io(out, e))?);
    let enc = match compression {
        BuildCompression::Gzip => Enc::Gz(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        )),
        BuildCompression::Xz => Enc::Xz(liblzma::write::XzEncoder::new(file, 6)),
        BuildCompression::Zstd => {
            Enc::Zstd(zstd::Encoder::new(file, 3).map_err(|e| Error::io(out, e))?)
        }
        BuildCompression::None => Enc::Plain(file),
    };
    let mut b = tar::Builder::new(enc);
    tree_tar::append_manifest(&mut b, manifest, mtime).map_err(|e| Error::io(out, e))?;
    let stats = tree_tar::write_tree_filtered(&mut b, rootfs, b"rootfs/", true, keep)?;
    let enc = b.into_inner().map_err(|e| Error::io(out, e))?;
    enc.finish().map_err(|e| Error::io(out, e))?;
    Ok(stats.entries)
}

type Out = BufWriter<File>;

/// The compressed stream; [`Enc::finish`] ends it and reports what dropping would hide.
enum Enc {
    Gz(flate2::write::GzEncoder<Out>),
    Xz(liblzma::write::XzEncoder<Out>),
    Zstd(zstd::Encoder<'static, Out>),
    Plain(Out),
}

impl Enc {
    fn inner(&mut self) -> &mut dyn Write {
        match self {
            Enc::Gz(e) => e,
            Enc::Xz(e) => e,
            Enc::Zstd(e) => e,
            Enc::Plain(e) => e,
        }
    }

    fn finish(self) -> io::Result<()> {
        let mut file = match self {
            Enc::Gz(e) => e.finish()?,
            Enc::Xz(e) => e.finish()?,
            Enc::Zstd(e) => e.finish()?,
            Enc::Plain(f) => f,
        };
        file.flush()
    }
}

impl Write for Enc {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner().flush()
    }
}
