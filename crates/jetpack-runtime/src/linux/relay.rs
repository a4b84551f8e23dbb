//! Copies one app stream (stdout or stderr, a pipe) to the app's log and, live, to the caller.
//! With several apps, caller-side lines get the app's name as a prefix; partial lines wait for
//! their end (up to a bound) so that apps writing at once do not mix inside a line.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::sys;

/// A partial line longer than this is shown without waiting for its end.
const MAX_PENDING: usize = 8192;

pub(super) struct Relay {
    fd: OwnedFd,
    log: RawFd,
    /// The caller's stream; `None` once writing to it failed (the caller went away).
    out: Option<RawFd>,
    prefix: Option<Vec<u8>>,
    pending: Vec<u8>,
    log_ok: bool,
    /// The caller's stream is a terminal in raw mode (another app has the pod terminal): lines
    /// end with "\r\n" there.
    crlf: bool,
}

impl Relay {
    pub fn new(fd: OwnedFd, log: RawFd, out: RawFd, prefix: Option<&str>) -> Relay {
        Relay {
            fd,
            log,
            out: Some(out),
            prefix: prefix.map(|p| format!("{p}: ").into_bytes()),
            pending: Vec::new(),
            log_ok: true,
            crlf: false,
        }
    }

    pub fn crlf(mut self, yes: bool) -> Relay {
        self.crlf = yes;
        self
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Copies whatever is available now (the pipe is non-blocking).
    pub fn pump(&mut self, buf: &mut [u8]) {
        while let Ok(Some(n)) = sys::read(self.fd.as_raw_fd(), buf) {
            if n == 0 {
                break;
            }
            self.emit(&buf[..n]);
            if n < buf.len() {
                break;
            }
        }
    }

    fn emit(&mut self, data: &[u8]) {
        // A failing log (disk full) must not stop the app or the live output.
        if self.log_ok && sys::write_all(self.log, data).is_err() {
            self.log_ok = false;
        }
        let Some(prefix) = &self.prefix else {
            write_out(&mut self.out, self.crlf, data);
            return;
        };
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let mut line = Vec::with_capacity(prefix.len() + self.pending.len() + i + 1);
            line.extend_from_slice(prefix);
            line.append(&mut self.pending);
            line.extend_from_slice(&rest[..=i]);
            write_out(&mut self.out, self.crlf, &line);
            rest = &rest[i + 1..];
        }
        self.pending.extend_from_slice(rest);
        if self.pending.len() > MAX_PENDING {
            self.flush();
        }
    }

    /// Shows a pending partial line (at the end, or when it grew too long).
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut line = self.prefix.clone().unwrap_or_default();
        line.append(&mut self.pending);
        line.push(b'\n');
        write_out(&mut self.out, self.crlf, &line);
    }
}

fn write_out(out: &mut Option<RawFd>, crlf: bool, data: &[u8]) {
    let converted;
    let data = if crlf && data.contains(&b'\n') {
        converted = data
            .split_inclusive(|&b| b == b'\n')
            .flat_map(|l| match l.strip_suffix(b"\n") {
                Some(body) => [body, b"\r\n"].concat(),
                None => l.to_vec(),
            })
            .collect::<Vec<u8>>();
        &converted[..]
    } else {
        data
    };
    if let Some(fd) = *out
        && sys::write_all(fd, data).is_err()
    {
        *out = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn run(prefix: Option<&str>, chunks: &[&[u8]]) -> (String, String) {
        let (r, w) = rustix::pipe::pipe().unwrap();
        rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::NONBLOCK).unwrap();
        let log = tempfile::tempfile().unwrap();
        let out = tempfile::tempfile().unwrap();
        let mut relay = Relay::new(r, log.as_raw_fd(), out.as_raw_fd(), prefix);
        let mut buf = vec![0u8; 16];
        for c in chunks {
            sys::write_all(w.as_raw_fd(), c).unwrap();
            relay.pump(&mut buf);
        }
        relay.flush();
        let read = |mut f: std::fs::File| {
            use std::io::Seek;
            f.rewind().unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            s
        };
        (read(log), read(out))
    }

    #[test]
    fn plain_copy() {
        let (log, out) = run(None, &[b"hel", b"lo\nwor", b"ld"]);
        assert_eq!(log, "hello\nworld");
        assert_eq!(out, "hello\nworld");
    }

    #[test]
    fn crlf_for_a_raw_terminal() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::NONBLOCK).unwrap();
        let log = tempfile::tempfile().unwrap();
        let mut out = tempfile::tempfile().unwrap();
        let mut relay = Relay::new(r, log.as_raw_fd(), out.as_raw_fd(), Some("a")).crlf(true);
        sys::write_all(w.as_raw_fd(), b"one\ntwo\n").unwrap();
        relay.pump(&mut [0u8; 64]);
        use std::io::Seek;
        out.rewind().unwrap();
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        assert_eq!(s, "a: one\r\na: two\r\n");
    }

    #[test]
    fn prefixed_lines() {
        let (log, out) = run(
            Some("web"),
            &[b"hel", b"lo\nwor", b"ld\nline three is long\n", b"tail"],
        );
        assert_eq!(log, "hello\nworld\nline three is long\ntail");
        assert_eq!(
            out,
            "web: hello\nweb: world\nweb: line three is long\nweb: tail\n"
        );
    }
}
