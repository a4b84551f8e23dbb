//! The HTTP front without sockets, for the fuzz targets (`fuzz/`): a connection's bytes are
//! read from memory and its answers collected, through the same reading, parsing, routing and
//! answering as a TCP connection. Not a stable interface.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::conn::{Wire, serve};
use crate::key::HostKey;
use crate::pod::{Origin, Pod};
use crate::registry::Registry;
use crate::{Limits, Registration};

/// A service with registered pods that serves connections given as bytes.
pub struct Service {
    reg: Registry,
    key: HostKey,
    limits: Limits,
}

impl Service {
    /// Registers `pods`; the error is the registration's.
    pub fn new(pods: Vec<Registration>, key: HostKey, limits: Limits) -> Result<Self, String> {
        let reg = Registry::new();
        for p in pods {
            reg.insert(Arc::new(Pod::build(p)?))?;
        }
        Ok(Self { reg, key, limits })
    }

    /// Serves one connection whose client sent `input`, delivered in reads of at most `chunk`
    /// bytes, from `source` on the main listener (`None`: the loopback listener). Returns
    /// every byte written back.
    pub fn serve(&self, input: &[u8], chunk: usize, source: Option<IpAddr>) -> Vec<u8> {
        let (ip, origin) = match source {
            Some(ip) => (ip, Origin::Address(ip.to_canonical())),
            None => (IpAddr::from([127, 0, 0, 1]), Origin::Loopback),
        };
        let mut wire = Memory {
            input,
            chunk: chunk.max(1),
            out: Vec::new(),
        };
        serve(&mut wire, ip, origin, &self.limits, &self.reg, &self.key);
        wire.out
    }
}

struct Memory<'a> {
    input: &'a [u8],
    chunk: usize,
    out: Vec<u8>,
}

impl Read for Memory<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Memory<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Wire for &mut Memory<'_> {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}
