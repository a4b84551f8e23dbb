//! The caller's stdin fed to one app (`run -i`) by the init: the app reads a pipe of the
//! pod's, never a descriptor of the host (a file or a terminal it could reopen through
//! `/proc/self/fd`). The init reads the caller's stdin only when the pipe has room for what it
//! holds, so a slow reader slows the caller's writer and the init holds at most one buffer.
//! EOF on the caller's stdin closes the pipe; an app that closes its end stops the relay.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};

use rustix::event::PollFlags;

use super::sys;

pub(super) struct StdinRelay {
    /// The caller's stdin (left blocking: its file description is the caller's too; it is
    /// read only once poll says it has data or EOF).
    from: RawFd,
    /// Write end of the app's stdin pipe (non-blocking).
    to: OwnedFd,
    pending: Vec<u8>,
    /// How much of `pending` is written.
    done: usize,
}

impl StdinRelay {
    pub fn new(from: RawFd, to: OwnedFd) -> StdinRelay {
        StdinRelay {
            from,
            to,
            pending: Vec::new(),
            done: 0,
        }
    }

    /// What to wait for: data from the caller, or room in the pipe for what is pending.
    pub fn poll_on(&self) -> (BorrowedFd<'_>, PollFlags) {
        if self.done < self.pending.len() {
            (self.to.as_fd(), PollFlags::OUT)
        } else {
            // SAFETY: `from` is the caller's stdin, kept open by the init for the pod's life.
            (unsafe { BorrowedFd::borrow_raw(self.from) }, PollFlags::IN)
        }
    }

    /// Moves what it can after poll reported `poll_on`'s descriptor ready; false once the
    /// relay is over (EOF from the caller, or the app closed its stdin), when it is dropped
    /// and the pipe with it.
    pub fn pump(&mut self, buf: &mut [u8]) -> bool {
        if self.done == self.pending.len() {
            match sys::read(self.from, buf) {
                Ok(Some(0)) | Err(_) => return false,
                Ok(None) => return true,
                Ok(Some(n)) => {
                    self.pending.clear();
                    self.pending.extend_from_slice(&buf[..n]);
                    self.done = 0;
                }
            }
        }
        while self.done < self.pending.len() {
            match rustix::io::write(&self.to, &self.pending[self.done..]) {
                Ok(n) => self.done += n,
                Err(rustix::io::Errno::AGAIN) => return true,
                Err(rustix::io::Errno::INTR) => {}
                // EPIPE: the app closed its stdin or ended.
                Err(_) => return false,
            }
        }
        true
    }
}
