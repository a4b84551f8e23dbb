//! One connection's session: reading each request head and body within the size and time
//! limits, answering it, and deciding whether the connection stays open (keep-alive) or closes,
//! lingering so the client reads an early answer. It is the part that does a connection's I/O,
//! apart from the accepting and admission in `conn` and the byte-level parsing in `head`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::head::{Head, Stop, find, parse_head, reason};
use super::{LINGER_BYTES, LINGER_TIME, Limits};
use crate::http::{Reply, answer};
use crate::key::HostKey;
use crate::pod::Origin;
use crate::registry::Registry;

/// What a connection is served over: a TCP stream, or bytes in memory (`crate::fuzzing`).
pub(crate) trait Wire: Read + Write {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    fn shutdown_write(&self) -> io::Result<()>;
}

impl Wire for &TcpStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, t)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

struct Conn<'a, S> {
    stream: S,
    limits: &'a Limits,
    /// Unconsumed input is `buf[start..end]`; `buf.len()` is `max_head`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The read timeout currently set on the socket.
    timeout: Option<Duration>,
    /// The current request's.
    deadline: Instant,
    out: Vec<u8>,
}

pub(super) fn serve_connection(
    stream: &TcpStream,
    source: IpAddr,
    origin: Origin,
    limits: &Limits,
    reg: &Registry,
    key: &HostKey,
) {
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    serve(stream, source, origin, limits, reg, key);
}

/// Serves the requests that arrive on `stream` until it is done.
pub(crate) fn serve<S: Wire>(
    stream: S,
    source: IpAddr,
    origin: Origin,
    limits: &Limits,
    reg: &Registry,
    key: &HostKey,
) {
    let mut c = Conn {
        stream,
        limits,
        buf: vec![0; limits.max_head.max(64)],
        start: 0,
        end: 0,
        timeout: None,
        deadline: Instant::now(),
        out: Vec::with_capacity(1024),
    };
    loop {
        match c.request(origin, reg, key) {
            Ok(true) => {}
            Ok(false) | Err(Stop::Quiet) => return,
            Err(Stop::Answer(status, msg)) => {
                tracing::debug!("{source}: {status} {msg}; closing the connection");
                let reply = Reply::text(status, msg);
                if c.respond(&reply, false, true, false).is_ok() {
                    c.linger();
                }
                return;
            }
        }
    }
}

impl<S: Wire> Conn<'_, S> {
    /// Reads, answers one request. `Ok(false)`: the connection is done.
    fn request(&mut self, origin: Origin, reg: &Registry, key: &HostKey) -> Result<bool, Stop> {
        let Some(head) = self.read_head()? else {
            return Ok(false);
        };
        let body = self.read_body(&head, self.deadline)?;
        let reply = answer(&head.method, &head.target, &body, origin, reg, key);
        let keep = !head.close && (!head.http10 || head.keep_alive) && !reg.stopping();
        self.respond(&reply, head.method == "HEAD", !keep, head.http10 && keep)?;
        Ok(keep)
    }

    fn set_timeout(&mut self, t: Duration) -> io::Result<()> {
        // Zero means "no timeout" to the socket; the caller checks it first.
        let t = t.max(Duration::from_millis(1));
        if self.timeout != Some(t) {
            self.stream.set_read_timeout(Some(t))?;
            self.timeout = Some(t);
        }
        Ok(())
    }

    /// Reads more input, within `deadline`. `Ok(0)`: end of input.
    fn fill(&mut self, deadline: Instant) -> Result<usize, Stop> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        debug_assert!(self.end < self.buf.len());
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stop::Answer(408, "request timeout"));
        }
        self.set_timeout(left)?;
        match self.stream.read(&mut self.buf[self.end..]) {
            Ok(n) => {
                self.end += n;
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(Stop::Answer(408, "request timeout"))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(self.fill(deadline)?),
            Err(_) => Err(Stop::Quiet),
        }
    }

    /// The next request head; `None` once the client is done.
    fn read_head(&mut self) -> Result<Option<Head>, Stop> {
        // Idle: waiting for a request to begin.
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.set_timeout(self.limits.idle_timeout)?;
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.end = n,
                // Idle too long, reset, or shut down by a stopping service.
                Err(_) => return Ok(None),
            }
        }
        // From the first byte of the request to the last of its body.
        let deadline = Instant::now() + self.limits.request_timeout;
        self.deadline = deadline;
        // Bytes past `start` already searched for the blank line: relative to `start`, since
        // `fill` moves the unconsumed input (a pipelined request's) to the front.
        let mut scanned: usize = 0;
        loop {
            // Empty lines before a request line are ignored (RFC 9112 §2.2).
            while self.buf[self.start..self.end].starts_with(b"\r\n") {
                self.start += 2;
                scanned = scanned.saturating_sub(2);
            }
            let from = self.start + scanned.saturating_sub(3);
            if let Some(i) = find(&self.buf[from..self.end], b"\r\n\r\n") {
                let head_end = from + i;
                let head = parse_head(&self.buf[self.start..head_end])?;
                self.start = head_end + 4;
                return Ok(Some(head));
            }
            scanned = self.end - self.start;
            if self.start == 0 && self.end == self.buf.len() {
                return Err(if find(&self.buf[..self.end], b"\r\n").is_none() {
                    Stop::Answer(414, "request line too long")
                } else {
                    Stop::Answer(431, "request header fields too large")
                });
            }
            if self.fill(deadline)? == 0 {
                return Ok(None);
            }
        }
    }

    fn read_body(&mut self, head: &Head, deadline: Instant) -> Result<Vec<u8>, Stop> {
        let too_large = Stop::Answer(413, "request body too large");
        let max = self.limits.max_body;
        if head.chunked {
            if head.expect_continue {
                self.continue_100()?;
            }
            return self.read_chunked(deadline);
        }
        let len = match head.content_length {
            None | Some(0) => return Ok(Vec::new()),
            Some(n) if n > max as u64 => return Err(too_large),
            Some(n) => n as usize,
        };
        if head.expect_continue {
            self.continue_100()?;
        }
        let mut body = Vec::with_capacity(len);
        self.take(&mut body, len, deadline)?;
        Ok(body)
    }

    fn continue_100(&mut self) -> Result<(), Stop> {
        self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        Ok(())
    }

    /// Moves `n` bytes of input into `body`.
    fn take(&mut self, body: &mut Vec<u8>, mut n: usize, deadline: Instant) -> Result<(), Stop> {
        while n > 0 {
            if self.start == self.end && self.fill(deadline)? == 0 {
                return Err(Stop::Quiet);
            }
            let k = n.min(self.end - self.start);
            body.extend_from_slice(&self.buf[self.start..self.start + k]);
            self.start += k;
            n -= k;
        }
        Ok(())
    }

    /// One CRLF-terminated line of chunked framing (without the CRLF).
    fn line(&mut self, deadline: Instant) -> Result<Vec<u8>, Stop> {
        const MAX_LINE: usize = 1024;
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(i) = find(avail, b"\r\n") {
                let line = avail[..i].to_vec();
                self.start += i + 2;
                return Ok(line);
            }
            // Checked before the buffer is full, however small `max_head`.
            if avail.len() > MAX_LINE.min(self.buf.len() - 2) {
                return Err(Stop::Answer(400, "malformed chunked body"));
            }
            if self.fill(deadline)? == 0 {
                return Err(Stop::Quiet);
            }
        }
    }

    fn read_chunked(&mut self, deadline: Instant) -> Result<Vec<u8>, Stop> {
        let bad = || Stop::Answer(400, "malformed chunked body");
        let mut body = Vec::new();
        loop {
            let line = self.line(deadline)?;
            let size = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size).map_err(|_| bad())?.trim();
            if size.is_empty() || size.len() > 8 {
                return Err(bad());
            }
            let size = usize::from_str_radix(size, 16).map_err(|_| bad())?;
            if size == 0 {
                break;
            }
            if body.len() + size > self.limits.max_body {
                return Err(Stop::Answer(413, "request body too large"));
            }
            self.take(&mut body, size, deadline)?;
            if !self.line(deadline)?.is_empty() {
                return Err(bad());
            }
        }
        // Trailer fields, ignored; bounded like the head.
        let mut trailers = 0;
        loop {
            let line = self.line(deadline)?;
            if line.is_empty() {
                return Ok(body);
            }
            trailers += line.len();
            if trailers > self.limits.max_head {
                return Err(Stop::Answer(431, "request header fields too large"));
            }
        }
    }

    fn respond(
        &mut self,
        r: &Reply,
        head_only: bool,
        close: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        let out = &mut self.out;
        out.clear();
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            r.status,
            reason(r.status),
            r.content_type(),
            r.body.len()
        );
        if let Some(allow) = r.allow {
            let _ = write!(out, "Allow: {allow}\r\n");
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if keep_alive {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&r.body);
        }
        let res = self.stream.write_all(out);
        if out.capacity() > 64 << 10 {
            *out = Vec::with_capacity(1024);
        }
        res
    }

    /// Half-closes, then discards a bounded amount of unread input, so the
    /// client reads our answer rather than a reset.
    fn linger(&mut self) {
        let _ = self.stream.shutdown_write();
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = self.end - self.start;
        while discarded < LINGER_BYTES {
            self.start = 0;
            self.end = 0;
            match self.fill(deadline) {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    }
}
