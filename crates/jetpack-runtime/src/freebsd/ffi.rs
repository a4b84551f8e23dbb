//! The calls [`super`] makes: libc's on FreeBSD; elsewhere (feature `freebsd-check`, for
//! `cargo check` only) declarations with FreeBSD's signatures, which nothing links.

#[cfg(target_os = "freebsd")]
pub use libc::{
    JAIL_CREATE, MNT_FORCE, jail_attach, jail_get, jail_remove, jail_set, nmount, setgroups,
    unmount,
};

#[cfg(not(target_os = "freebsd"))]
pub const JAIL_CREATE: libc::c_int = 0x01;
#[cfg(not(target_os = "freebsd"))]
pub const MNT_FORCE: libc::c_int = 0x0008_0000;

#[cfg(not(target_os = "freebsd"))]
unsafe extern "C" {
    pub fn jail_set(iov: *mut libc::iovec, niov: libc::c_uint, flags: libc::c_int) -> libc::c_int;
    pub fn jail_get(iov: *mut libc::iovec, niov: libc::c_uint, flags: libc::c_int) -> libc::c_int;
    pub fn jail_attach(jid: libc::c_int) -> libc::c_int;
    pub fn jail_remove(jid: libc::c_int) -> libc::c_int;
    pub fn nmount(iov: *mut libc::iovec, niov: libc::c_uint, flags: libc::c_int) -> libc::c_int;
    pub fn unmount(path: *const libc::c_char, flags: libc::c_int) -> libc::c_int;
    /// FreeBSD's takes an `int` count (Linux's a `size_t`).
    pub fn setgroups(ngroups: libc::c_int, groups: *const libc::gid_t) -> libc::c_int;
}
