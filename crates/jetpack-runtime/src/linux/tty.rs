//! The pod terminal (`run -t`, `enter -t`): a pty allocated by the caller, whose slave becomes
//! the app's controlling terminal and whose master the caller relays to and from its own
//! terminal, in raw mode, with window size changes forwarded.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::{self, OptionalActions, Termios};

use super::sys;
use crate::error::{Error, Result};

pub(super) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    /// The slave's path, to bind it on the app's /dev/console: `open_tree` clones only mounts
    /// of the caller's own mount namespace, so the app looks the path up in its copy of it.
    pub path: CString,
}

impl Pty {
    /// A new pty, sized like the terminal on `caller` if it is one.
    pub fn open(caller: BorrowedFd) -> Result<Pty> {
        let err = |what: &str, e: rustix::io::Errno| Error::os(what, e.into());
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = rustix::pty::openpt(flags).map_err(|e| err("opening a pty", e))?;
        rustix::pty::grantpt(&master).map_err(|e| err("grantpt", e))?;
        rustix::pty::unlockpt(&master).map_err(|e| err("unlockpt", e))?;
        let name = rustix::pty::ptsname(&master, Vec::new()).map_err(|e| err("ptsname", e))?;
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err(&format!("opening {}", show(&name)), e))?;
        if let Ok(size) = termios::tcgetwinsize(caller) {
            let _ = termios::tcsetwinsize(&slave, size);
        }
        Ok(Pty {
            master,
            slave,
            path: name,
        })
    }
}

fn show(s: &CStr) -> String {
    s.to_string_lossy().into_owned()
}

/// The caller's terminal in raw mode while it lives; restored on drop, on every path out.
struct RawMode {
    fd: RawFd,
    saved: Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd) -> Option<RawMode> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd, OptionalActions::Now, &raw).ok()?;
        Some(RawMode {
            fd: fd.as_raw_fd(),
            saved,
        })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: the descriptor is the caller's stdin, open for the whole relay.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = termios::tcsetattr(fd, OptionalActions::Drain, &self.saved);
    }
}

/// Write end of the self-pipe the SIGWINCH handler writes to (-1: none).
static WINCH_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: errno is thread-local; saving and restoring it keeps the interrupted code's
        // view intact. write(2) is async-signal-safe; a full pipe just drops the byte.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, b"w".as_ptr().cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// SIGWINCH delivered to a self-pipe while it lives; the previous handler is restored on drop.
struct WinchWatch {
    read: OwnedFd,
    _write: OwnedFd,
    old: libc::sigaction,
}

impl WinchWatch {
    fn start() -> Option<WinchWatch> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
        rustix::fs::fcntl_setfl(&read, OFlags::NONBLOCK).ok()?;
        rustix::fs::fcntl_setfl(&write, OFlags::NONBLOCK).ok()?;
        WINCH_PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
        // SAFETY: sigaction is plain data; the handler only does async-signal-safe work.
        let old = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_winch as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGWINCH, &sa, &mut old);
            old
        };
        Some(WinchWatch {
            read,
            _write: write,
            old,
        })
    }
}

impl Drop for WinchWatch {
    fn drop(&mut self) {
        // SAFETY: restores the disposition saved in `start`.
        unsafe { libc::sigaction(libc::SIGWINCH, &self.old, std::ptr::null_mut()) };
        WINCH_PIPE.store(-1, Ordering::Relaxed);
    }
}

/// Relays between the caller's terminal and the pty master until `child` (a pidfd) ends:
/// `input` → master, master → `output` and `log`. The caller's terminal is in raw mode
/// meanwhile, so keys like Ctrl-C reach the app's terminal instead of the caller.
pub(super) fn relay(
    master: &OwnedFd,
    input: BorrowedFd,
    output: RawFd,
    log: Option<RawFd>,
    child: &OwnedFd,
) {
    let _raw = RawMode::enter(input);
    let winch = WinchWatch::start();
    let _ = rustix::fs::fcntl_setfl(master, OFlags::NONBLOCK);
    let mut buf = vec![0u8; 32 * 1024];
    let mut input_open = true;
    let mut log_ok = true;
    let mut copy_out = |data: &[u8]| {
        let _ = sys::write_all(output, data);
        if let Some(log) = log
            && log_ok
        {
            log_ok = sys::write_all(log, data).is_ok();
        }
    };
    loop {
        let mut fds = vec![
            PollFd::new(master, PollFlags::IN),
            PollFd::new(child, PollFlags::IN),
        ];
        if let Some(w) = &winch {
            fds.push(PollFd::new(&w.read, PollFlags::IN));
        }
        if input_open {
            fds.push(PollFd::from_borrowed_fd(input, PollFlags::IN));
        }
        if rustix::event::poll(&mut fds, None).is_err() {
            continue;
        }
        let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
        drop(fds);
        let mut done = !ready[1].is_empty();
        if !ready[0].is_empty() {
            // EIO: every slave is closed, the pod's side is gone.
            match sys::read(master.as_raw_fd(), &mut buf) {
                Ok(Some(0)) | Err(_) => done = true,
                Ok(Some(n)) => copy_out(&buf[..n]),
                Ok(None) => {}
            }
        }
        let mut next = 2;
        if let Some(w) = &winch {
            if !ready[next].is_empty() {
                while let Ok(Some(n)) = sys::read(w.read.as_raw_fd(), &mut [0u8; 64]) {
                    if n == 0 {
                        break;
                    }
                }
                if let Ok(size) = termios::tcgetwinsize(input) {
                    let _ = termios::tcsetwinsize(master, size);
                }
            }
            next += 1;
        }
        if input_open && !ready[next].is_empty() {
            match sys::read(input.as_raw_fd(), &mut buf) {
                Ok(Some(0)) | Err(_) => input_open = false,
                Ok(Some(n)) => {
                    let _ = sys::write_all(master.as_raw_fd(), &buf[..n]);
                }
                Ok(None) => {}
            }
        }
        if done {
            // The child ended: show what it wrote last.
            while let Ok(Some(n)) = sys::read(master.as_raw_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                copy_out(&buf[..n]);
            }
            return;
        }
    }
}
