//! The toolkit's CLI environment ([`jetpack_testutil::Env`]) on this crate's `jetpack` binary.
// Each test binary uses its own part of this module.
#![allow(dead_code, unused_imports)]

use std::path::Path;

pub use jetpack_testutil::{BB, repo, wait_file};

/// A store of its own for `jetpack`: see [`jetpack_testutil::Env`].
pub struct Env(jetpack_testutil::Env);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_jetpack"))
}

impl Env {
    /// A store on `kind` with the busybox image imported.
    pub fn new(kind: &str) -> Env {
        Env(jetpack_testutil::Env::new(bin(), kind))
    }

    /// A store on `kind`, not yet initialized.
    pub fn bare(kind: &str) -> Env {
        Env(jetpack_testutil::Env::bare(bin(), kind))
    }
}

impl std::ops::Deref for Env {
    type Target = jetpack_testutil::Env;
    fn deref(&self) -> &jetpack_testutil::Env {
        &self.0
    }
}

impl std::ops::DerefMut for Env {
    fn deref_mut(&mut self) -> &mut jetpack_testutil::Env {
        &mut self.0
    }
}
