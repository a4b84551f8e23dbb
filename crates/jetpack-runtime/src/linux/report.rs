//! The channel on which an app's processes tell the init why they failed before their exec.
//! One pipe for the whole pod: each message is a single write of at most `PIPE_BUF` bytes, so
//! messages from concurrent writers never interleave. The read end is drained before each
//! reaped child is accounted for; a message is always written before its writer exits, so it
//! is there by then.

use std::os::fd::RawFd;

use super::sys;

/// Which process of the app failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Setup, pre-start, or the main exec.
    Main = 0,
    PostStop = 1,
}

const HEADER: usize = 5;
/// Messages are cut to fit one atomic pipe write.
const MAX_TEXT: usize = libc::PIPE_BUF - HEADER;

/// The write side, as held by one app's processes.
#[derive(Clone, Copy)]
pub(super) struct Reporter {
    pub fd: RawFd,
    pub app: u16,
}

impl Reporter {
    pub fn send(&self, kind: Kind, text: &str) {
        let mut end = text.len().min(MAX_TEXT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut msg = Vec::with_capacity(HEADER + end);
        msg.extend_from_slice(&self.app.to_le_bytes());
        msg.push(kind as u8);
        msg.extend_from_slice(&(end as u16).to_le_bytes());
        msg.extend_from_slice(&text.as_bytes()[..end]);
        // Nothing to do if this fails: the exit code still tells that the app failed.
        let _ = sys::write_all(self.fd, &msg);
    }
}

/// Reads everything available on the (non-blocking) read end and returns the complete
/// messages as `(app index, kind, text)`.
pub(super) fn drain(fd: RawFd, pending: &mut Vec<u8>) -> Vec<(usize, Kind, String)> {
    let mut buf = [0u8; libc::PIPE_BUF];
    while let Ok(Some(n)) = sys::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
    }
    let mut out = Vec::new();
    let mut at = 0;
    while pending.len() - at >= HEADER {
        let h = &pending[at..at + HEADER];
        let app = u16::from_le_bytes([h[0], h[1]]) as usize;
        let kind = if h[2] == Kind::PostStop as u8 {
            Kind::PostStop
        } else {
            Kind::Main
        };
        let len = u16::from_le_bytes([h[3], h[4]]) as usize;
        if pending.len() - at < HEADER + len {
            break;
        }
        let text = &pending[at + HEADER..at + HEADER + len];
        out.push((app, kind, String::from_utf8_lossy(text).into_owned()));
        at += HEADER + len;
    }
    pending.drain(..at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn messages_round_trip() {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::NONBLOCK).unwrap();
        let rep = Reporter {
            fd: w.as_raw_fd(),
            app: 3,
        };
        rep.send(Kind::Main, "exec /bin/nope: No such file or directory");
        rep.send(Kind::PostStop, &"é".repeat(5000));
        let mut pending = Vec::new();
        let msgs = drain(r.as_raw_fd(), &mut pending);
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0],
            (
                3,
                Kind::Main,
                "exec /bin/nope: No such file or directory".into()
            )
        );
        assert_eq!(msgs[1].1, Kind::PostStop);
        assert!(msgs[1].2.len() <= MAX_TEXT && msgs[1].2.starts_with("éé"));
        assert!(pending.is_empty());
    }
}
