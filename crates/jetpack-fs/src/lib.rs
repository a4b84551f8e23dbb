//! Low-level file helpers shared by every Jetpack crate: atomic writes (temp file, `fsync`,
//! rename, `fsync` of the directory), `flock` lock files, the `/proc/self/mountinfo` parser, a
//! reader of kernel-generated files and an I/O error that carries what it happened to. Plain `std`, no `unsafe`.

#![forbid(unsafe_code)]

mod atomic;
mod error;
mod lock;
pub mod mountinfo;
mod procfs;

pub use atomic::{AtomicWrite, atomic_write};
pub use error::{IoContext, IoError};
pub use lock::{Lock, LockFile, read_pid};
pub use procfs::read_proc;
