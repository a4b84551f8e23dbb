//! sd_notify(3): a service manager that started `jetpack run` with `NOTIFY_SOCKET` (systemd's
//! `Type=notify`, as in the units `jetpack generate systemd` writes) is told when every app of
//! the pod has started (`READY=1`) and when the pod ends (`STOPPING=1`).
//!
//! The protocol is one datagram of `KEY=VALUE` lines to the unix socket `NOTIFY_SOCKET` names:
//! a path, or an abstract address written `@name`. That is a few lines over std's
//! `UnixDatagram`, so no crate is needed. A failure to notify is logged, never fatal: the pod
//! runs the same.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// Every app has started: `READY=1`, with this process as the service's main one.
pub fn ready() {
    notify(&format!("READY=1\nMAINPID={}", std::process::id()));
}

/// The pod is ending (its processes have ended; its teardown follows).
pub fn stopping() {
    notify("STOPPING=1");
}

fn notify(message: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&socket, message) {
        tracing::warn!("NOTIFY_SOCKET {}: {e}", socket.to_string_lossy());
    }
}

/// Sends `message` to the notification socket `socket` (a path or `@abstract`).
pub fn send(socket: &OsStr, message: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let name = socket.as_bytes();
    let sent = match name.first() {
        Some(b'/') => sock.send_to(message.as_bytes(), socket)?,
        // Abstract socket names are Linux's (as is systemd).
        #[cfg(target_os = "linux")]
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name[1..])?;
            sock.send_to_addr(message.as_bytes(), &addr)?
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither an absolute path nor an @abstract address",
            ));
        }
    };
    if sent != message.len() {
        return Err(io::Error::other("message truncated"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), "READY=1").unwrap();
        assert_eq!(received(&listener), "READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("jetpack-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        send(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        assert_eq!(received(&listener), "STOPPING=1");
    }

    #[test]
    fn refuses_a_relative_address() {
        let e = send(OsStr::new("notify.sock"), "READY=1").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        // Nobody listens: an error, not a hang.
        assert!(send(OsStr::new("/nonexistent/notify"), "READY=1").is_err());
    }
}
