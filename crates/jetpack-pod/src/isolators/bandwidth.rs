//! `resource/network-bandwidth`: one limit, the lowest of the pod's and its apps', on each of
//! the pod's network interfaces (its apps share them), where every network of the pod has a
//! plugin with the `bandwidth` capability.

use appc::{Isolator, Resource};
use jetpack_runtime::Resources;

use super::report::Status;
use super::scope::{Scope, Verdict, bytes};

/// A network bandwidth limit in bytes per second (at least 1).
pub(super) fn limit(r: &Resource) -> Option<u64> {
    r.limit
        .as_ref()
        .and_then(|q| q.value())
        .map(|v| v.max(1) as u64)
}

pub(super) fn apply(scope: &Scope, iso: &Isolator, _: &mut Resources) -> Verdict {
    let Isolator::ResourceNetworkBandwidth(v) = iso else {
        unreachable!("dispatched on resource/network-bandwidth")
    };
    let Some(limit) = limit(v) else {
        return (Status::Ignored, "no limit given".into());
    };
    match scope.host.net_bandwidth {
        None => (
            Status::Ignored,
            "the pod has no network interface of its own (--net=host or none)".to_string(),
        ),
        Some(false) => (
            Status::Ignored,
            "not every network of the pod has a plugin with the bandwidth capability (such \
             as the CNI bandwidth plugin)"
                .to_string(),
        ),
        Some(true) => {
            let eff = scope.network_bandwidth.unwrap_or(limit);
            let what = format!(
                "{}/s in and out of each of the pod's network interfaces (CNI bandwidth \
                 plugin; loopback, between its apps, is not limited)",
                bytes(eff)
            );
            match (scope.app, eff < limit) {
                (None, false) => (Status::Enforced, what),
                (None, true) => (
                    Status::Modified,
                    format!("lowered by an app's limit: {what}"),
                ),
                // The apps share the pod's interfaces: an app's limit is the pod's.
                (Some(_), false) => (
                    Status::Modified,
                    format!("for the whole pod, whose apps share its interfaces: {what}"),
                ),
                (Some(_), true) => (
                    Status::Modified,
                    format!("a lower limit of the pod or another app applies: {what}"),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::isolators::testing::{find, host, manifest};
    use crate::isolators::*;

    #[test]
    fn network_bandwidth_is_the_lowest_limit_for_the_whole_pod() {
        let m = manifest(
            json!([{"name": "resource/network-bandwidth", "value": {"default": true, "limit": "2M"}}]),
            json!([{"name": "resource/network-bandwidth", "value": {"default": true, "limit": "1M"}}]),
        );
        let r = resolve(&m, &host()).unwrap();
        assert_eq!(r.network_bandwidth, Some(1_000_000));
        let pod = find(&r, None, "resource/network-bandwidth");
        assert_eq!(pod.status, Status::Modified, "{pod:?}");
        assert!(
            pod.detail
                .starts_with("lowered by an app's limit: 1000000 bytes/s"),
            "{pod:?}"
        );
        let app = find(&r, Some("web"), "resource/network-bandwidth");
        assert_eq!(app.status, Status::Modified, "{app:?}");
        assert!(app.detail.contains("whole pod"), "{app:?}");
        for net in [None, Some(false)] {
            let h = Host {
                net_bandwidth: net,
                ..host()
            };
            let r = resolve(&m, &h).unwrap();
            assert_eq!(r.network_bandwidth, None);
            let pod = find(&r, None, "resource/network-bandwidth");
            assert_eq!(pod.status, Status::Ignored, "{pod:?}");
        }
    }
}
