//! Client side of the control socket, used by whoever runs a pod.

use std::io::{ErrorKind, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::control::Wire;
use crate::error::{Error, Result};
use crate::{Registration, SHUTTING_DOWN};

/// A live registration: the pod is registered exactly as long as this value
/// (its connection) exists. Dropping it unregisters the pod.
#[derive(Debug)]
pub struct Registered {
    stream: UnixStream,
}

/// An error of the conversation, where a vanished peer means "not running".
fn io_error(e: std::io::Error, what: &str) -> Error {
    match e.kind() {
        ErrorKind::NotFound
        | ErrorKind::ConnectionRefused
        | ErrorKind::ConnectionReset
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => Error::NotRunning,
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            Error::io(format!("metadata service: no answer while {what}"), e)
        }
        _ => Error::io(format!("metadata service: {what}"), e),
    }
}

/// Registers a pod with the service listening on `control`. Each step
/// (connect aside) may take up to `timeout`. [`Error::NotRunning`] means no
/// service is there (or it is exiting): start one and try again.
pub fn register(control: &Path, reg: &Registration, timeout: Duration) -> Result<Registered> {
    register_with_listener(control, reg, None, timeout)
}

/// [`register`], handing the service a listening TCP socket of the pod's
/// own (typically bound on loopback in the pod's network namespace): every
/// connection on it is the pod's, and its token is answered there and
/// nowhere else. The service keeps its copy for as long as the
/// registration lasts; the caller keeps its own, to register again with a
/// new service.
pub fn register_with_listener(
    control: &Path,
    reg: &Registration,
    listener: Option<BorrowedFd<'_>>,
    timeout: Duration,
) -> Result<Registered> {
    let stream = UnixStream::connect(control).map_err(|e| io_error(e, "connecting"))?;
    let timeout = Some(timeout).filter(|t| !t.is_zero());
    let set = |t| {
        stream
            .set_read_timeout(t)
            .and_then(|()| stream.set_write_timeout(t))
            .map_err(|e| Error::io("metadata service: socket options", e))
    };
    set(timeout)?;
    let wire = Wire {
        registration: reg,
        listener: listener.is_some(),
    };
    let mut line = serde_json::to_vec(&wire)
        .map_err(|e| Error::Protocol(format!("cannot encode the registration: {e}")))?;
    line.push(b'\n');
    let mut sent = 0;
    if let Some(fd) = listener {
        // The descriptor travels with the first bytes.
        let fds = [fd];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut anc = SendAncillaryBuffer::new(&mut space);
        anc.push(SendAncillaryMessage::ScmRights(&fds));
        sent = loop {
            match rustix::net::sendmsg(
                &stream,
                &[IoSlice::new(&line)],
                &mut anc,
                SendFlags::NOSIGNAL,
            ) {
                Err(rustix::io::Errno::INTR) => {}
                r => break r.map_err(|e| io_error(e.into(), "sending the registration"))?,
            }
        };
    }
    (&stream)
        .write_all(&line[sent..])
        .map_err(|e| io_error(e, "sending the registration"))?;

    let mut answer = Vec::new();
    let mut byte = [0u8];
    while answer.last() != Some(&b'\n') {
        match (&stream).read(&mut byte) {
            // Closed without an answer: the service is exiting.
            Ok(0) => return Err(Error::NotRunning),
            Ok(_) if answer.len() >= 64 * 1024 => {
                return Err(Error::Protocol("answer line too long".into()));
            }
            Ok(_) => answer.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(e, "waiting for the answer")),
        }
    }
    let answer = String::from_utf8_lossy(&answer[..answer.len() - 1]).into_owned();
    match answer.strip_prefix("error: ") {
        None if answer == "ok" => {
            set(None)?;
            Ok(Registered { stream })
        }
        None => Err(Error::Protocol(format!("unexpected answer {answer:?}"))),
        Some(SHUTTING_DOWN) => Err(Error::NotRunning),
        Some(why) => Err(Error::Refused(why.to_owned())),
    }
}

/// Ends a registration from another thread than the one holding
/// [`Registered`] (typically blocked in [`Registered::wait_closed`]).
#[derive(Debug)]
pub struct Closer(UnixStream);

impl Closer {
    /// Unregisters the pod and makes `wait_closed` return.
    pub fn close(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

impl Registered {
    /// A handle that ends this registration.
    pub fn closer(&self) -> std::io::Result<Closer> {
        self.stream.try_clone().map(Closer)
    }

    /// Blocks until the service closes the connection (it stopped or died),
    /// so that the caller can register again with a new service.
    pub fn wait_closed(&mut self) -> std::io::Result<()> {
        let mut buf = [0u8; 64];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}
