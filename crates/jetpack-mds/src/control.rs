//! Server side of the control socket: one thread per connection, and the
//! pod stays registered for exactly as long as its connection is open.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::pod::Pod;
use crate::registry::Registry;
use crate::{Registration, SHUTTING_DOWN};

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
pub(crate) fn accept_loop(listener: UnixListener, reg: Arc<Registry>, conns: Arc<Connections>) {
    for stream in listener.incoming() {
        if reg.stopping() {
            break;
        }
        match stream {
            Ok(s) => {
                let (reg, conns) = (reg.clone(), conns.clone());
                let spawned = thread::Builder::new()
                    .name("mds-control".into())
                    .spawn(move || serve_connection(s, &reg, &conns));
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

fn serve_connection(stream: UnixStream, reg: &Registry, conns: &Connections) {
    let Some(id) = conns.add(&stream) else { return };
    // Re-check after `add`, or a `close_all` that just ran would miss us.
    if reg.stopping() {
        answer(&stream, &format!("error: {SHUTTING_DOWN}\n"));
    } else if let Some(pod) = register(&stream, reg) {
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
        tracing::info!("pod {} unregistered", pod.uuid);
    }
    conns.forget(id);
}

/// Reads, validates and inserts one registration, and answers it.
fn register(stream: &UnixStream, reg: &Registry) -> Option<Arc<Pod>> {
    let _ = stream.set_read_timeout(Some(LINE_TIMEOUT));
    let mut line = Vec::new();
    let read = BufReader::new(stream.take(MAX_LINE)).read_until(b'\n', &mut line);
    let pod = match read {
        Ok(0) => return None,
        Ok(_) if line.last() != Some(&b'\n') => Err("registration: no complete line".to_owned()),
        Ok(_) => serde_json::from_slice::<Registration>(&line)
            .map_err(|e| format!("registration: {e}"))
            .and_then(Pod::build)
            .map(Arc::new)
            .and_then(|pod| reg.insert(pod.clone()).map(|()| pod)),
        Err(e) => Err(format!("registration: {e}")),
    };
    match pod {
        Ok(pod) => {
            if answer(stream, "ok\n") {
                tracing::info!("pod {} registered", pod.uuid);
                Some(pod)
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
