//! One streaming pass over an ACI: read (and keep a raw copy if asked) → decompress → SHA-512
//! of the uncompressed tar → the consumer (extraction or validation).
//!
//! Decompression, hashing and extraction run on three threads joined by bounded channels of
//! shared chunks, so both cores work: the decoder never waits for the disk and the extractor
//! never waits for the hash.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use sha2::{Digest, Sha512};

use super::compress::{Compression, decoder, sniff};
use crate::error::{Error, Result};

const CHUNK: usize = 512 * 1024;
const DEPTH: usize = 8;
/// Bytes decoded after the consumer failed, looking for the decode error that caused it.
const DRAIN: u64 = 64 << 20;

type Chunk = Arc<Vec<u8>>;

/// What the pass saw besides what the consumer returned.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub digest: [u8; 64],
    /// Bytes of the file as given (compressed).
    pub raw_bytes: u64,
    /// Bytes of the uncompressed tar.
    pub tar_bytes: u64,
    pub compression: Compression,
}

impl Streamed {
    /// Nothing streamed (an image already stored, or one made of several streams).
    pub fn empty() -> Streamed {
        Streamed {
            digest: [0; 64],
            raw_bytes: 0,
            tar_bytes: 0,
            compression: Compression::None,
        }
    }

    pub fn image_id(&self) -> String {
        format!("sha512-{}", hex::encode(self.digest))
    }
}

/// How far a pass got, known whether it succeeded or not (for the message of a failed import).
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Bytes of the file read (and copied, if a copy is kept).
    pub raw_bytes: u64,
    /// Bytes of uncompressed tar decoded.
    pub tar_bytes: u64,
}

/// Counts (and optionally copies) the raw bytes as the decoder pulls them.
struct Tee<R> {
    inner: R,
    copy: Option<std::fs::File>,
    count: u64,
    /// The copy's write error: the decoder reports whatever its reader failed with as corrupt
    /// data, so the cause (such as a full disk) is kept here.
    copy_error: Option<io::Error>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(f) = &mut self.copy
            && let Err(e) = f.write_all(&buf[..n])
        {
            let kept = io::Error::new(e.kind(), e.to_string());
            self.copy_error = Some(e);
            return Err(kept);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads chunks from the decoder thread; ends at EOF or at the decoder's error.
pub struct ChunkReader {
    rx: Receiver<std::result::Result<Chunk, String>>,
    cur: Chunk,
    pos: usize,
    done: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Ok(Err(msg)) => {
                    self.done = true;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn decode_err(c: Compression, e: &io::Error) -> String {
    format!("corrupt or truncated {} data: {e}", c.as_str())
}

/// Runs `consume` over the uncompressed tar stream of `input`, hashing it on the side.
/// `raw_copy`, if given, receives the exact input bytes (used to keep stdin imports).
pub fn stream<R, T, F>(
    input: R,
    raw_copy: Option<std::fs::File>,
    consume: F,
) -> Result<(T, Streamed)>
where
    R: Read + Send,
    F: FnOnce(&mut ChunkReader) -> Result<T>,
{
    stream_limited(input, raw_copy, None, &mut Progress::default(), consume)
}

/// [`stream`], refusing an uncompressed tar larger than `max_tar` bytes as it is decoded
/// (before the consumer sees the bytes beyond it), and recording in `progress` how far it got.
pub fn stream_limited<R, T, F>(
    input: R,
    raw_copy: Option<std::fs::File>,
    max_tar: Option<u64>,
    progress: &mut Progress,
    consume: F,
) -> Result<(T, Streamed)>
where
    R: Read + Send,
    F: FnOnce(&mut ChunkReader) -> Result<T>,
{
    let mut tee = Tee {
        inner: input,
        copy: raw_copy,
        count: 0,
        copy_error: None,
    };
    let result = stream_tee(&mut tee, max_tar, progress, consume);
    progress.raw_bytes = tee.count;
    if let Some(e) = tee.copy_error {
        return Err(Error::Io {
            path: "the kept copy of the image".into(),
            source: e,
        });
    }
    result.map(|(v, mut st)| {
        st.raw_bytes = tee.count;
        (v, st)
    })
}

fn stream_tee<R, T, F>(
    tee: &mut Tee<R>,
    max_tar: Option<u64>,
    progress: &mut Progress,
    consume: F,
) -> Result<(T, Streamed)>
where
    R: Read + Send,
    F: FnOnce(&mut ChunkReader) -> Result<T>,
{
    let (head, rest) =
        sniff(tee).map_err(|e| Error::BadImage(format!("cannot read image: {e}")))?;
    let compression = Compression::detect(&head).ok_or_else(|| {
        Error::BadImage(if head.is_empty() {
            "the file is empty".into()
        } else {
            "unknown file type: not a tar archive, nor gzip, bzip2, xz or zstd compressed".into()
        })
    })?;

    // Set when the consumer failed: the hash of a refused image is never used, so the rest of
    // the stream is decoded only up to DRAIN bytes, to find a decode error that explains the
    // failure (corrupt data read as a bad tar header), not whole (a decompression bomb).
    let abort = std::sync::atomic::AtomicBool::new(false);
    let abort = &abort;
    let (tx_tar, rx_tar) = sync_channel::<std::result::Result<Chunk, String>>(DEPTH);
    let (tx_hash, rx_hash) = sync_channel::<Chunk>(DEPTH);

    std::thread::scope(|s| {
        let decoder_thread = s.spawn(move || -> (u64, std::result::Result<(), String>) {
            let mut dec = match decoder(compression, rest) {
                Ok(d) => d,
                Err(e) => return (0, Err(decode_err(compression, &e))),
            };
            let mut tar_bytes = 0u64;
            // Once the consumer is done (end-of-archive blocks seen) the rest still goes to the
            // hash: the image ID covers the whole stream, padding included.
            let mut tar_open = true;
            let mut drained = 0u64;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = match fill(&mut dec, &mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let msg = decode_err(compression, &e);
                        let _ = tx_tar.send(Err(msg.clone()));
                        return (tar_bytes, Err(msg));
                    }
                };
                if n == 0 {
                    break;
                }
                buf.truncate(n);
                if abort.load(std::sync::atomic::Ordering::Relaxed) {
                    // Only to find a decode error that explains the consumer's.
                    drained += n as u64;
                    if drained > DRAIN {
                        return (tar_bytes, Ok(()));
                    }
                    continue;
                }
                if let Some(max) = max_tar.filter(|m| tar_bytes + n as u64 > *m) {
                    let msg = format!(
                        "the uncompressed archive is larger than import.max-size ({max} bytes)"
                    );
                    let _ = tx_tar.send(Err(msg.clone()));
                    return (tar_bytes, Err(msg));
                }
                tar_bytes += n as u64;
                let chunk = Arc::new(buf);
                if tar_open && tx_tar.send(Ok(chunk.clone())).is_err() {
                    tar_open = false;
                }
                if tx_hash.send(chunk).is_err() {
                    return (tar_bytes, Err("hash thread stopped".into()));
                }
            }
            (tar_bytes, Ok(()))
        });
        let hash_thread = s.spawn(move || {
            let mut h = Sha512::new();
            for c in rx_hash {
                h.update(&c[..]);
            }
            let d: [u8; 64] = h.finalize().into();
            d
        });

        let mut reader = ChunkReader {
            rx: rx_tar,
            cur: Arc::new(Vec::new()),
            pos: 0,
            done: false,
        };
        let consumed = consume(&mut reader);
        if consumed.is_err() {
            abort.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        drop(reader);
        let decoded = decoder_thread
            .join()
            .map_err(|_| Error::Other("decoder thread panicked".into()))?;
        let digest = hash_thread
            .join()
            .map_err(|_| Error::Other("hash thread panicked".into()))?;
        // A decode error explains a consumer error (a truncated archive), so it comes first.
        let (tar_bytes, decoded) = decoded;
        progress.tar_bytes = tar_bytes;
        decoded.map_err(Error::BadImage)?;
        let value = consumed?;
        Ok((
            value,
            Streamed {
                digest,
                raw_bytes: 0,
                tar_bytes,
                compression,
            },
        ))
    })
}
