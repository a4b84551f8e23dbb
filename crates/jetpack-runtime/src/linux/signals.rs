//! While `run` waits, the signals that would stop the caller (SIGTERM, SIGINT, …) go to the
//! pod's init instead, which forwards them to the apps: `kill <jetpack pid>` and Ctrl-C stop
//! the pod the way `stop` does, post-stop handlers included, and `run` still returns the
//! pod's status. Several pods may run at once in one process (tests), so the handler forwards
//! to every registered init.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signals the init forwards to the apps (and `run` to the init).
pub const FORWARDED_SIGNALS: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

const SLOTS: usize = 64;
static TARGETS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];

/// How many registrations are live, and the dispositions to restore after the last one.
static INSTALLED: Mutex<(usize, Vec<(libc::c_int, libc::sigaction)>)> = Mutex::new((0, Vec::new()));

extern "C" fn forward(sig: libc::c_int) {
    // SAFETY: errno is thread-local; it is restored so the interrupted code does not see the
    // handler's. kill(2) is async-signal-safe.
    unsafe {
        let errno = *libc::__errno_location();
        for t in &TARGETS {
            let pid = t.load(Ordering::Relaxed);
            if pid > 0 {
                libc::kill(pid, sig);
            }
        }
        *libc::__errno_location() = errno;
    }
}

/// Forwarding to one init, for as long as this lives.
pub(super) struct Forwarding {
    slot: Option<usize>,
}

impl Forwarding {
    pub fn start(pid: libc::pid_t) -> Forwarding {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        let slot = TARGETS.iter().position(|t| {
            t.compare_exchange(0, pid, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        });
        if slot.is_some() {
            if installed.0 == 0 {
                installed.1 = FORWARDED_SIGNALS.iter().map(|&s| (s, install(s))).collect();
            }
            installed.0 += 1;
        }
        Forwarding { slot }
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        let Some(slot) = self.slot else { return };
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        TARGETS[slot].store(0, Ordering::Relaxed);
        installed.0 -= 1;
        if installed.0 == 0 {
            for (sig, old) in installed.1.drain(..) {
                // SAFETY: restores a disposition saved by `install`.
                unsafe { libc::sigaction(sig, &old, std::ptr::null_mut()) };
            }
        }
    }
}

fn install(sig: libc::c_int) -> libc::sigaction {
    // SAFETY: sigaction is plain data; `forward` only does async-signal-safe work.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = forward as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, &sa, &mut old);
        old
    }
}
