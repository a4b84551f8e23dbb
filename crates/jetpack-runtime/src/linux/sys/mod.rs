//! Thin wrappers over the system calls the engine makes between fork and exec. They take
//! pre-built C strings, allocate nothing and return `io::Result`, so the callers read like the
//! sequence of calls they are. Every `unsafe` block in the engine that is not about a specific
//! data structure lives here, split by what the calls act on: [`process`] (fork, clone, exec,
//! wait, descriptors to close), [`ns`] (namespaces, hostname, loopback), [`fs`] (mounts, files,
//! device nodes), [`signal`] (masks, dispositions, signalfd), [`rw`] (raw reads and writes) and
//! [`creds`] (identities, capabilities, no_new_privs, seccomp). Everything is re-exported here,
//! so callers keep writing `sys::name`.

mod creds;
mod fs;
mod ns;
mod process;
mod rw;
mod signal;

pub use creds::*;
pub use fs::*;
pub use ns::*;
pub use process::*;
pub use rw::*;
pub use signal::*;

use std::ffi::CStr;
use std::io;
use std::ptr;

use libc::{c_char, c_int};

fn cvt(r: c_int) -> io::Result<c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_long(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn opt_ptr(s: Option<&CStr>) -> *const c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}
