//! The HTTP/1.1 front: accepts connections, admits them within per-source
//! and total caps, reads each request within size and time limits, and
//! answers it with [`crate::http::answer`].
//!
//! Nothing is allocated according to what a client announces: a request
//! head is read into one buffer of [`Limits::max_head`] bytes per
//! connection, and a body is read only once its length (declared, or
//! counted while decoding chunks) is known to be within
//! [`Limits::max_body`]. One thread serves one connection; the caps bound
//! the threads and descriptors, and the timeouts bound how long a
//! connection holds its slot.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::http::{Reply, answer};
use crate::key::HostKey;
use crate::pod::Origin;
use crate::registry::Registry;

/// What one client, and all of them together, may cost the service.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections open at once, in all. Also held under half the
    /// descriptor limit (`RLIMIT_NOFILE`), so that accepting never runs out.
    pub max_connections: usize,
    /// Connections open at once from one source address of a registered
    /// pod, so that one pod cannot take the slots of the others; and from
    /// all the addresses of no registered pod together (a pod that makes
    /// itself more addresses gets no more connections). The loopback
    /// listener (the host and its host-network pods) counts as one source,
    /// and so does each pod's own listener.
    pub max_per_source: usize,
    /// Request line and headers, in bytes; larger is 431 (414 when the
    /// request line alone does not fit).
    pub max_head: usize,
    /// Request body, in bytes; larger is 413, before any of it is read.
    pub max_body: usize,
    /// How long a connection may wait for (the first byte of) a request.
    pub idle_timeout: Duration,
    /// From the first byte of a request to the last of its body; slower is
    /// 408 (slowloris).
    pub request_timeout: Duration,
    /// For writing one response to a client that does not read.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_per_source: 64,
            max_head: 16 << 10,
            max_body: 64 << 10,
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// After an answer that closes the connection early (413, 431, 408...), the
/// unread rest of the request is discarded for at most this long and this
/// many bytes, so that closing does not reset the connection before the
/// client has read the answer.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 << 10;

/// Stack of a connection thread: it parses, looks up and signs; nothing deep.
const STACK: usize = 256 << 10;

/// The open connections, by source address; also what a stopping service
/// shuts down.
#[derive(Default)]
pub(crate) struct Tracker {
    open: Mutex<Open>,
    emptied: Condvar,
}

/// Where connections are counted: `None` for every address of no
/// registered pod on the main listener.
type Source = Option<Origin>;

#[derive(Default)]
struct Open {
    next: u64,
    streams: HashMap<u64, (Arc<TcpStream>, Source)>,
    per_source: HashMap<Source, usize>,
    closing: bool,
}

/// A connection's place in the [`Tracker`], given back on drop.
struct Slot {
    tracker: Arc<Tracker>,
    id: u64,
    source: Source,
}

impl Tracker {
    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits `stream` from `source` unless that exceeds a cap.
    fn admit(
        self: &Arc<Self>,
        stream: &Arc<TcpStream>,
        source: Source,
        max_total: usize,
        max_per_source: usize,
    ) -> Option<Slot> {
        let mut open = self.lock();
        if open.closing || open.streams.len() >= max_total {
            return None;
        }
        let n = open.per_source.entry(source).or_insert(0);
        if *n >= max_per_source {
            return None;
        }
        *n += 1;
        let id = open.next;
        open.next += 1;
        open.streams.insert(id, (stream.clone(), source));
        Some(Slot {
            tracker: self.clone(),
            id,
            source,
        })
    }

    /// Shuts every open connection down (their threads then end), refuses
    /// new ones, and waits up to `wait` for the threads to be done.
    pub(crate) fn close_all(&self, wait: Duration) {
        let mut open = self.lock();
        open.closing = true;
        for (s, _) in open.streams.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + wait;
        while !open.streams.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            open = self
                .emptied
                .wait_timeout(open, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Tracker {
    /// Shuts down the open connections that came through a pod's own
    /// listener (their threads then end), once the pod is gone.
    pub(crate) fn close_listener(&self, listener: u64) {
        let open = self.lock();
        let mine = Some(Origin::Listener(listener));
        for (s, _) in open.streams.values().filter(|(_, src)| *src == mine) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.tracker.lock();
        open.streams.remove(&self.id);
        if let Some(n) = open.per_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                open.per_source.remove(&self.source);
            }
        }
        if open.streams.is_empty() {
            self.tracker.emptied.notify_all();
        }
    }
}

/// The soft `RLIMIT_NOFILE`, raised to the hard one first: descriptors are
/// what a flood of connections exhausts.
pub(crate) fn raise_nofile() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        let raised = rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => lim = getrlimit(Resource::Nofile),
            Err(e) => tracing::debug!("raising RLIMIT_NOFILE: {e}"),
        }
    }
    lim.current
}

/// What every listener's accept loop shares.
pub(crate) struct Front {
    pub tracker: Arc<Tracker>,
    pub limits: Arc<Limits>,
    pub reg: Arc<Registry>,
    pub key: Arc<HostKey>,
    /// [`Limits::max_connections`], held under half the descriptor limit.
    max_total: usize,
    /// Whether the service listens on loopback, for token-only pods.
    pub loopback: bool,
}

impl Front {
    pub fn new(limits: Limits, reg: Arc<Registry>, key: Arc<HostKey>, loopback: bool) -> Self {
        let max_total = match raise_nofile() {
            Some(n) => limits
                .max_connections
                .min(usize::try_from(n / 2).unwrap_or(usize::MAX))
                .max(1),
            None => limits.max_connections,
        };
        Self {
            tracker: Arc::new(Tracker::default()),
            limits: Arc::new(limits),
            reg,
            key,
            max_total,
            loopback,
        }
    }
}

/// Which listener an accept loop serves.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Listener {
    /// The main one (the pod bridge's address): requests are attributed by
    /// their source address.
    Main,
    /// `127.0.0.1` in the host's network namespace.
    Loopback,
    /// A pod's own, by number: ends when the pod's registration does.
    Pod(u64),
}

/// Accepts connections until `reg` is stopping (or, for a pod's listener,
/// until it is shut down). Accept errors (`EMFILE`, `ENFILE`, `ENOBUFS`...)
/// never end it: it backs off, up to a second, and tries again, as the
/// pending connections stay queued meanwhile.
pub(crate) fn accept_loop(listener: TcpListener, which: Listener, front: Arc<Front>) {
    let reg = &front.reg;
    let mut backoff = Duration::ZERO;
    let mut refused: u64 = 0;
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(_) if reg.stopping() => return,
            Err(e) => {
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionAborted | ErrorKind::Interrupted
                ) {
                    continue;
                }
                // The listener itself is unusable (or shut down): retrying
                // would not help.
                use rustix::io::Errno;
                let errno = Errno::from_io_error(&e);
                if [Errno::BADF, Errno::INVAL, Errno::NOTSOCK, Errno::OPNOTSUPP]
                    .iter()
                    .any(|&x| Some(x) == errno)
                {
                    match which {
                        // Shut down when its pod went away.
                        Listener::Pod(_) => {}
                        _ => reg.stop(Some(Error::io("HTTP listener", e))),
                    }
                    return;
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                if backoff >= Duration::from_secs(1) || backoff == Duration::from_millis(5) {
                    tracing::warn!("accepting a connection: {e}; retrying in {backoff:?}");
                }
                thread::sleep(backoff);
                continue;
            }
        };
        backoff = Duration::ZERO;
        if reg.stopping() {
            return;
        }
        let source = peer.ip().to_canonical();
        let (origin, counted) = match which {
            Listener::Main => {
                let o = Origin::Address(source);
                (o, Some(o).filter(|_| reg.knows(source)))
            }
            Listener::Loopback => (Origin::Loopback, Some(Origin::Loopback)),
            Listener::Pod(id) => {
                // Set on the listener by whoever made it, or not.
                let _ = stream.set_nodelay(true);
                (Origin::Listener(id), Some(Origin::Listener(id)))
            }
        };
        let stream = Arc::new(stream);
        let limits = &front.limits;
        let Some(slot) =
            front
                .tracker
                .admit(&stream, counted, front.max_total, limits.max_per_source)
        else {
            // Over a cap: closed at once, unread; the client may retry later.
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    "{refused} connections refused so far (last from {source} on {which:?}): over the limit"
                );
            }
            continue;
        };
        let front = front.clone();
        let spawned = thread::Builder::new()
            .name("mds-conn".into())
            .stack_size(STACK)
            .spawn(move || {
                let _slot = slot;
                serve_connection(
                    &stream,
                    source,
                    origin,
                    &front.limits,
                    &front.reg,
                    &front.key,
                );
            });
        if let Err(e) = spawned {
            // The closure (slot and stream) is dropped: the connection closes.
            tracing::warn!("starting a connection thread: {e}");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Why a connection stops being served.
enum Stop {
    /// Closed without an answer: the client left, or idled out between
    /// requests, or the service is stopping.
    Quiet,
    /// Answered with this status, then closed.
    Answer(u16, &'static str),
}

impl From<io::Error> for Stop {
    fn from(_: io::Error) -> Self {
        Stop::Quiet
    }
}

/// A parsed request head.
struct Head {
    method: String,
    target: String,
    /// HTTP/1.0.
    http10: bool,
    close: bool,
    keep_alive: bool,
    content_length: Option<u64>,
    chunked: bool,
    expect_continue: bool,
}

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

fn serve_connection(
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_head(raw: &[u8]) -> Result<Head, Stop> {
    let bad = || Stop::Answer(400, "bad request");
    let text = std::str::from_utf8(raw).map_err(|_| bad())?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !is_token(method) || target.is_empty() {
        return Err(bad());
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        v if v.starts_with("HTTP/") => {
            return Err(Stop::Answer(505, "HTTP version not supported"));
        }
        _ => return Err(bad()),
    };
    let mut head = Head {
        method: method.to_owned(),
        target: target.to_owned(),
        http10,
        close: false,
        keep_alive: false,
        content_length: None,
        chunked: false,
        expect_continue: false,
    };
    for line in lines {
        // Obsolete line folding, a field without a colon, or whitespace
        // before the colon: rejected (RFC 9112 §5).
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        if !is_token(name) {
            return Err(bad());
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            // Saturates: anything that large is over the cap anyway.
            let n = value.parse::<u64>().unwrap_or(u64::MAX);
            if head.content_length.is_some_and(|m| m != n) {
                return Err(bad());
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("chunked") || head.chunked {
                return Err(Stop::Answer(501, "transfer coding not implemented"));
            }
            head.chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for opt in value.split(',').map(str::trim) {
                head.close |= opt.eq_ignore_ascii_case("close");
                head.keep_alive |= opt.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return Err(Stop::Answer(417, "expectation failed"));
            }
            head.expect_continue = true;
        }
    }
    // Both framings at once is how requests are smuggled.
    if head.chunked && head.content_length.is_some() {
        return Err(bad());
    }
    Ok(head)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
