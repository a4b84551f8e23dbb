//! `os/linux/capabilities-retain-set` and `-remove-set`: the app's bounding, permitted,
//! effective and inheritable sets; appc's default 14 when the app has neither.

use appc::Isolator;
use jetpack_runtime::{Security, caps};

use super::report::{Entry, Status};
use super::scope::{Scope, Verdict};
use crate::engine::native as engine;
use crate::error::Result;

pub(super) fn apply(_: &Scope, iso: &Isolator, sec: &mut Security) -> Result<Verdict> {
    let (retain, names) = match iso {
        Isolator::CapabilitiesRetainSet(n) => (true, n),
        Isolator::CapabilitiesRemoveSet(n) => (false, n),
        _ => unreachable!("dispatched on a capability set"),
    };
    let (mask, unknown) = caps::mask(names);
    sec.capabilities = if retain {
        mask
    } else {
        caps::DEFAULT_SET & !mask
    };
    let (whole, mut detail) = engine::describe_capabilities(sec.capabilities);
    if unknown.is_empty() {
        let status = if whole {
            Status::Enforced
        } else {
            Status::Modified
        };
        return Ok((status, detail));
    }
    detail.push_str(&format!(
        "; unknown capabilities left out: {}",
        unknown.join(", ")
    ));
    Ok((Status::Modified, detail))
}

/// The capability set an app's isolators give it (the last capability isolator, else the
/// default set), as [`apply`] computes it.
pub(super) fn of(list: &[Isolator]) -> u64 {
    list.iter()
        .rev()
        .find_map(|i| match i {
            Isolator::CapabilitiesRetainSet(n) => Some(caps::mask(n).0),
            Isolator::CapabilitiesRemoveSet(n) => Some(caps::DEFAULT_SET & !caps::mask(n).0),
            _ => None,
        })
        .unwrap_or(caps::DEFAULT_SET)
}

/// The report's entry for an app without a capability isolator, which gets the default set.
pub(super) fn default_entry(app: &str, list: &[Isolator]) -> Option<Entry> {
    let given = list.iter().any(|i| {
        matches!(
            i,
            Isolator::CapabilitiesRetainSet(_) | Isolator::CapabilitiesRemoveSet(_)
        )
    });
    (!given).then(|| Entry {
        app: Some(app.into()),
        name: appc::isolator_names::CAPABILITIES_RETAIN_SET.into(),
        value: serde_json::json!({ "set": caps::names(caps::DEFAULT_SET) }),
        status: Status::Enforced,
        detail: format!(
            "the default set (the app has no capability isolator): {}",
            engine::describe_capabilities(caps::DEFAULT_SET).1
        ),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use jetpack_runtime::caps;

    use crate::isolators::testing::{find, host, manifest};
    use crate::isolators::*;

    #[test]
    fn security_isolators() {
        let r = resolve(
            &manifest(
                json!([]),
                json!([{"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_PONIES"]}},
                       {"name": "os/linux/no-new-privileges", "value": true},
                       {"name": "os/linux/seccomp-remove-set", "value": {"set": ["mkdir"], "errno": "EPERM"}},
                       {"name": "os/linux/oom-score-adj", "value": 300}]),
            ),
            &host(),
        )
        .unwrap();
        let sec = &r.apps[0].1;
        assert_eq!(sec.capabilities, caps::DEFAULT_SET & !1);
        assert!(sec.no_new_privileges);
        assert_eq!(sec.seccomp.as_ref().unwrap().errno, Some(libc::EPERM));
        assert_eq!(sec.oom_score_adj, Some(300));
        let c = find(&r, Some("web"), "os/linux/capabilities-remove-set");
        assert_eq!(c.status, Status::Modified);
        assert!(c.detail.contains("CAP_PONIES"), "{}", c.detail);
        assert!(
            r.report
                .isolators
                .iter()
                .all(|e| e.name != "os/linux/capabilities-retain-set"),
            "no default entry when a capability isolator is given"
        );
    }
}
