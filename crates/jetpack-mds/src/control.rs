//! Server side of the control socket: one thread per connection, and the
//! pod stays registered for exactly as long as its connection is open. A
//! registration may come with a listening TCP socket of the pod's own
//! (`SCM_RIGHTS`), served for as long as the registration lasts.

use std::collections::HashMap;
use std::io::{ErrorKind, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::{Shutdown, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use serde::{Deserialize, Serialize};

use crate::conn::{self, Front, Listener};
use crate::pod::Pod;
use crate::{Registration, SHUTTING_DOWN};

/// The registration line: a [`Registration`], and whether a listener comes
/// with it (in the ancillary data of its first bytes).
#[derive(Serialize, Deserialize)]
pub(crate) struct Wire<R> {
    #[serde(flatten)]
    pub registration: R,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listener: bool,
}

/// Numbers the pods' own listeners.
static NEXT_LISTENER: AtomicU64 = AtomicU64::new(1);

/// Manifests are small; this only bounds what a broken client can make us buffer.
const MAX_LINE: u64 = 16 << 20;
/// A client that connects must send its registration promptly.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// Open control connections, so that a stopping service can close them and
/// registered clients notice (`Registered::wait_closed`).
#[derive(Default)]
pub(crate) struct Connections {
    next: AtomicU64,
    open: Mutex<HashMap<u64, UnixStream>>,
}

impl Connections {
    fn add(&self, s: &UnixStream) -> Option<u64> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let clone = s.try_clone().ok()?;
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, clone);
        Some(id)
    }

    fn forget(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    pub fn close_all(&self) {
        for (_, s) in self.open.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Accepts control connections until the registry stops.
pub(crate) fn accept_loop(listener: UnixListener, front: Arc<Front>, conns: Arc<Connections>) {
    for stream in listener.incoming() {
        if front.reg.stopping() {
            break;
        }
        match stream {
            Ok(s) => {
                let (front, conns) = (front.clone(), conns.clone());
                let spawned = thread::Builder::new()
                    .name("mds-control".into())
                    .spawn(move || serve_connection(s, &front, &conns));
                if let Err(e) = spawned {
                    tracing::warn!("control connection: cannot start a thread: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!("control socket: accept: {e}");
                // Out of descriptors or similar: don't spin.
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn answer(mut s: &UnixStream, line: &str) -> bool {
    s.write_all(line.as_bytes()).is_ok()
}

fn serve_connection(stream: UnixStream, front: &Arc<Front>, conns: &Connections) {
    let reg = &front.reg;
    let Some(id) = conns.add(&stream) else { return };
    // Re-check after `add`, or a `close_all` that just ran would miss us.
    if reg.stopping() {
        answer(&stream, &format!("error: {SHUTTING_DOWN}\n"));
    } else if let Some((pod, listener)) = register(&stream, front) {
        // Served from its own thread until the registration ends.
        let served = listener.map(|(n, l)| {
            let stopper = l.try_clone();
            let front = front.clone();
            let t = thread::Builder::new()
                .name("mds-http-pod".into())
                .spawn(move || conn::accept_loop(l, Listener::Pod(n), front));
            (n, stopper, t)
        });
        // Registered until EOF (or an error) on the connection.
        let _ = stream.set_read_timeout(None);
        let mut sink = [0u8; 512];
        loop {
            match (&stream).read(&mut sink) {
                Ok(0) => break,
                Err(e) if e.kind() != ErrorKind::Interrupted => break,
                _ => {}
            }
        }
        reg.remove(&pod);
        if let Some((n, stopper, t)) = served {
            // shutdown(2) wakes the blocked accept (Linux); once that thread
            // is done, no new connection comes, and the open ones close.
            if let Ok(l) = &stopper {
                let _ = socket2::SockRef::from(l).shutdown(Shutdown::Read);
            }
            match t {
                Ok(t) if stopper.is_ok() => {
                    let _ = t.join();
                }
                Ok(_) => tracing::warn!("pod {}: cannot stop its listener", pod.uuid),
                Err(e) => tracing::warn!("pod {}: cannot serve its listener: {e}", pod.uuid),
            }
            front.tracker.close_listener(n);
        }
        tracing::info!("pod {} unregistered", pod.uuid);
    }
    conns.forget(id);
}

/// A registration line, and the descriptors that came with it.
fn read_line(stream: &UnixStream) -> Result<(Vec<u8>, Vec<OwnedFd>), String> {
    let mut line = Vec::new();
    let mut fds = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    while line.last() != Some(&b'\n') {
        if line.len() as u64 >= MAX_LINE {
            return Err("registration: line too long".into());
        }
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut anc = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            stream,
            &mut [IoSliceMut::new(&mut buf)],
            &mut anc,
            RecvFlags::CMSG_CLOEXEC,
        );
        for msg in anc.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = msg {
                fds.extend(received);
            }
        }
        match got {
            // Closed before a word: nothing to answer.
            Ok(m) if m.bytes == 0 && line.is_empty() => return Ok((line, fds)),
            Ok(m) if m.bytes == 0 => {
                return Err("registration: no complete line".into());
            }
            Ok(m) => line.extend_from_slice(&buf[..m.bytes]),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("registration: {e}")),
        }
    }
    Ok((line, fds))
}

/// Checks that `fd` is a listening TCP socket, and takes it.
fn tcp_listener(fd: OwnedFd) -> Result<TcpListener, String> {
    let s = socket2::Socket::from(fd);
    let listening = s.is_listener().map_err(|e| format!("listener: {e}"))?;
    let tcp = s.r#type().ok() == Some(socket2::Type::STREAM)
        && s.local_addr().ok().is_some_and(|a| a.as_socket().is_some());
    if !tcp || !listening {
        return Err("listener: not a listening TCP socket".into());
    }
    Ok(s.into())
}

type PodListener = (u64, TcpListener);

/// Reads, validates and inserts one registration, and answers it.
fn register(stream: &UnixStream, front: &Front) -> Option<(Arc<Pod>, Option<PodListener>)> {
    let reg = &front.reg;
    let _ = stream.set_read_timeout(Some(LINE_TIMEOUT));
    let built = read_line(stream).and_then(|(line, mut fds)| {
        if line.is_empty() {
            return Ok(None);
        }
        let wire: Wire<Registration> =
            serde_json::from_slice(&line).map_err(|e| format!("registration: {e}"))?;
        let listener = match (wire.listener, fds.len()) {
            (false, 0) => None,
            (true, 1) => Some(tcp_listener(fds.pop().expect("one"))?),
            _ => return Err("registration: unexpected descriptors".into()),
        };
        let r = &wire.registration;
        if listener.is_some() && (r.token_only || !r.ips.is_empty()) {
            return Err(
                "a pod with its own listener has no addresses and is not token-only".into(),
            );
        }
        if r.token_only && !front.loopback {
            return Err("token-only pod: the service has no loopback listener".into());
        }
        let mut pod = Pod::build(wire.registration)?;
        let listener = listener.map(|l| (NEXT_LISTENER.fetch_add(1, Ordering::Relaxed), l));
        pod.listener = listener.as_ref().map(|(n, _)| *n);
        let pod = Arc::new(pod);
        reg.insert(pod.clone())?;
        Ok(Some((pod, listener)))
    });
    match built {
        Ok(None) => None,
        Ok(Some((pod, listener))) => {
            if answer(stream, "ok\n") {
                tracing::info!("pod {} registered", pod.uuid);
                Some((pod, listener))
            } else {
                reg.remove(&pod);
                None
            }
        }
        Err(why) => {
            tracing::warn!("registration refused: {why}");
            answer(stream, &format!("error: {}\n", why.replace('\n', " ")));
            None
        }
    }
}
