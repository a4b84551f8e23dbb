//! Isolators judged without being enforced: block I/O, sysctl and unknown names.

use appc::Isolator;
use jetpack_runtime::Resources;

use super::report::Status;
use super::scope::{Scope, Verdict};
use crate::error::Result;

/// `resource/block-bandwidth`, `resource/block-iops`.
pub(super) fn block_io(_: &Scope, _: &Isolator, _: &mut Resources) -> Verdict {
    (
        Status::Ignored,
        "not implemented: block I/O throttling needs per-device rules".into(),
    )
}

/// `os/linux/sysctl`, a pod isolator.
pub(super) fn sysctl(_: &Scope, _: &Isolator) -> Verdict {
    (Status::Ignored, "sysctl is not implemented yet".into())
}

/// A name this executor does not know: reported, as the spec requires, and not enforced.
pub(super) fn unknown(_: &Scope, _: &Isolator) -> Result<Verdict> {
    Ok((Status::Ignored, "unknown isolator".into()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::isolators::testing::{find, host, manifest};
    use crate::isolators::*;

    #[test]
    fn what_cannot_be_enforced_is_ignored_with_a_reason() {
        let no_cgroups = Host {
            memory: None,
            cpu: None,
            sys_resource: false,
            net_bandwidth: None,
            ..host()
        };
        let r = resolve(
            &manifest(
                json!([{"name": "os/unix/sysctl", "value": {"net.ipv4.ip_forward": "1"}},
                       {"name": "os/linux/no-new-privileges", "value": true},
                       {"name": "example.com/pod-thing", "value": 1}]),
                json!([{"name": "resource/memory", "value": {"limit": "1G"}},
                       {"name": "resource/network-bandwidth", "value": {"default": true, "limit": "1M"}},
                       {"name": "resource/block-iops", "value": {"default": true, "limit": 10}},
                       {"name": "os/linux/oom-score-adj", "value": -100},
                       {"name": "os/linux/selinux-context", "value": {"user": "u", "role": "r", "type": "t", "level": "s0"}},
                       {"name": "os/linux/apparmor-profile", "value": {"profile": "p"}},
                       {"name": "example.com/thing", "value": {"x": 1}}]),
            ),
            &no_cgroups,
        )
        .unwrap();
        let ignored: Vec<(Option<&str>, &str)> = r
            .report
            .isolators
            .iter()
            .filter(|e| e.status == Status::Ignored)
            .map(|e| (e.app.as_deref(), e.name.as_str()))
            .collect();
        for want in [
            (None, "os/unix/sysctl"),
            (None, "os/linux/no-new-privileges"),
            (None, "example.com/pod-thing"),
            (Some("web"), "resource/memory"),
            (Some("web"), "resource/network-bandwidth"),
            (Some("web"), "resource/block-iops"),
            (Some("web"), "os/linux/oom-score-adj"),
            (Some("web"), "os/linux/selinux-context"),
            (Some("web"), "os/linux/apparmor-profile"),
            (Some("web"), "example.com/thing"),
        ] {
            assert!(
                ignored.contains(&want),
                "{want:?} not ignored: {:#?}",
                r.report
            );
        }
        assert!(r.apps[0].0.is_empty());
        assert_eq!(r.apps[0].1.oom_score_adj, None);
        assert_eq!(
            find(&r, Some("web"), "example.com/thing").value,
            json!({"x": 1})
        );
    }
}
