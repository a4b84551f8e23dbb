//! Undoing a jail pod's start: step by step as it was made ([`Up`], when the run ends), or
//! all of it from the teardown file after a killed run ([`JailEngine::tear_down`]).

use std::path::Path;

use jetpack_jail::JailPlan;
use jetpack_runtime::freebsd as sys;

use super::{JailEngine, run_cmd, runtime};
use crate::engine::teardown::{self, Teardown};
use crate::error::Result;

/// What a started pod holds, undone in reverse when dropped.
pub(super) struct Up<'a> {
    pub(super) plan: &'a JailPlan,
    pub(super) mounted: usize,
    pub(super) net: bool,
    pub(super) jid: Option<i32>,
    pub(super) rctl: bool,
    pub(super) pf: bool,
}

impl Drop for Up<'_> {
    fn drop(&mut self) {
        if self.pf {
            let _ = run_cmd(&self.plan.pf_commands().1, None);
        }
        if self.rctl {
            let _ = run_cmd(&self.plan.rctl_commands().1, None);
        }
        if let Some(jid) = self.jid {
            let _ = sys::jail_remove(jid);
        }
        if self.net {
            for c in &self.plan.net.down {
                let _ = run_cmd(c, None);
            }
        }
        for m in self.plan.mounts[..self.mounted].iter().rev() {
            if let Err(e) = sys::unmount(&m.fspath, false) {
                tracing::warn!("unmounting {}: {e}", m.fspath.display());
            }
        }
    }
}

impl JailEngine {
    /// Undoes what a start left in the pod directory `dir` described, if it left anything:
    /// the jail goes (with its processes), then its pf anchor, rctl rules and network, then
    /// every mount below `dir`, deepest first. True if there was a teardown file.
    pub(super) fn tear_down(&self, dir: &Path) -> Result<bool> {
        let file = dir.join(teardown::FILE);
        let name = || file.display().to_string();
        let t: Teardown = match std::fs::read(&file) {
            Ok(text) => serde_json::from_slice(&text).map_err(|e| runtime(&name(), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(runtime(&name(), e)),
        };
        if let Ok(jid) = sys::jail_id(&t.jail) {
            sys::jail_remove(jid).map_err(|e| runtime(&t.jail, e))?;
        }
        // Each one fails harmlessly where the run undid it before it ended.
        for c in &t.commands {
            let _ = run_cmd(c, None);
        }
        jetpack_storage::unmount_below(dir).map_err(|e| runtime("unmounting", e))?;
        std::fs::remove_file(&file).map_err(|e| runtime(&name(), e))?;
        Ok(true)
    }
}
