//! An app's process attributes: `os/linux/no-new-privileges` and `os/linux/oom-score-adj`.

use appc::Isolator;
use jetpack_runtime::Security;

use super::report::Status;
use super::scope::{Scope, Verdict};
use crate::error::Result;

pub(super) fn no_new_privileges(_: &Scope, iso: &Isolator, sec: &mut Security) -> Result<Verdict> {
    let Isolator::NoNewPrivileges(b) = iso else {
        unreachable!("dispatched on os/linux/no-new-privileges")
    };
    sec.no_new_privileges = *b;
    let detail = if *b {
        crate::engine::native::NO_NEW_PRIVS
    } else {
        "setuid and file capabilities work"
    };
    Ok((Status::Enforced, detail.into()))
}

pub(super) fn oom_score_adj(scope: &Scope, iso: &Isolator, sec: &mut Security) -> Result<Verdict> {
    let Isolator::OomScoreAdj(n) = iso else {
        unreachable!("dispatched on os/linux/oom-score-adj")
    };
    if let Some(why) = crate::engine::native::no_oom_score() {
        return Ok((Status::Ignored, why.into()));
    }
    if *n < 0 && !scope.host.sys_resource {
        return Ok((
            Status::Ignored,
            "lowering oom_score_adj needs CAP_SYS_RESOURCE, which jetpack does not have".into(),
        ));
    }
    sec.oom_score_adj = Some(*n);
    Ok((Status::Enforced, format!("/proc/<pid>/oom_score_adj = {n}")))
}
