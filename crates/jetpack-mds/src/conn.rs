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
use std::io::ErrorKind;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::key::HostKey;
use crate::pod::Origin;
use crate::registry::Registry;

mod head;
mod session;
use session::serve_connection;
pub(crate) use session::{Wire, serve};

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
