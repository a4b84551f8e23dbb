//! `resource/cpu` (a CFS quota for the limit, `cpu.shares` for the request) and
//! `os/linux/cpu-shares`, which sets the weight whatever the request says.

use appc::Isolator;
use jetpack_runtime::Resources;

use super::report::{Entry, Status};
use super::scope::{Scope, Verdict, lower, quantities};
use crate::engine::native as engine;
use crate::host::Host;

const NO_CONTROLLER: &str = "this host has no cpu cgroup controller (v1 or v2)";

/// `resource/cpu`.
pub(super) fn apply(scope: &Scope, iso: &Isolator, r: &mut Resources) -> Verdict {
    let Isolator::ResourceCpu(v) = iso else {
        unreachable!("dispatched on resource/cpu")
    };
    let Some(ctl) = &scope.host.cpu else {
        return (Status::Ignored, NO_CONTROLLER.into());
    };
    let (limit, request) = quantities(v, |q| q.milli_value());
    if limit.is_none() && request.is_none() {
        return (Status::Ignored, "neither a limit nor a request".into());
    }
    let mut modified = Vec::new();
    let (mut limit, lowered) = lower(limit, scope.pod.and_then(|p| p.cpu_limit_milli));
    if lowered {
        modified.push("limit lowered to the pod's".to_string());
    }
    if let Some(l) = limit
        && l < 10
    {
        limit = Some(10);
        modified.push(format!("limit {l}m raised to 10m, the smallest CFS quota"));
    }
    r.cpu_limit_milli = limit;
    let mut d = Vec::new();
    if let Some(l) = limit {
        let (quota, period) = engine::cpu_quota_us(l);
        d.push(format!("limit {l}m (CFS quota {quota} us per {period} us)"));
    }
    if let Some(q) = request {
        let shares = (q.saturating_mul(1024) / 1000).clamp(2, 262_144);
        r.cpu_shares = Some(shares);
        d.push(format!("request {q}m as cpu.shares {shares}"));
    }
    if modified.is_empty() {
        (Status::Enforced, format!("{}, {ctl}", d.join(", ")))
    } else {
        let detail = format!("{}, {ctl}; {}", d.join(", "), modified.join("; "));
        (Status::Modified, detail)
    }
}

/// `os/linux/cpu-shares`.
pub(super) fn shares(scope: &Scope, iso: &Isolator, r: &mut Resources) -> Verdict {
    let Isolator::CpuShares(n) = iso else {
        unreachable!("dispatched on os/linux/cpu-shares")
    };
    let Some(ctl) = &scope.host.cpu else {
        return (Status::Ignored, NO_CONTROLLER.into());
    };
    r.cpu_shares = Some(*n as u64);
    (Status::Enforced, format!("cpu.shares {n}, {ctl}"))
}

/// `os/linux/cpu-shares` sets the weight whatever a `resource/cpu` request says: once a
/// scope's list is applied, the request's entry (`request_entry`) says so.
pub(super) fn shares_over_request(
    list: &[Isolator],
    host: &Host,
    r: &mut Resources,
    request_entry: Option<&mut Entry>,
) {
    let Some(e) = request_entry else { return };
    let last_shares = list
        .iter()
        .rev()
        .find(|x| matches!(x, Isolator::CpuShares(_)));
    if let (Some(Isolator::CpuShares(n)), Some(_)) = (last_shares, &host.cpu) {
        e.status = Status::Modified;
        e.detail
            .push_str("; request not applied: os/linux/cpu-shares sets the weight");
        r.cpu_shares = Some(*n as u64);
    }
}

/// Whether `iso` is a `resource/cpu` with a request that [`apply`] turned into shares.
pub(super) fn has_request(iso: &Isolator, status: Status) -> bool {
    match iso {
        Isolator::ResourceCpu(v) => {
            status != Status::Ignored && quantities(v, |q| q.milli_value()).1.is_some()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::isolators::testing::{find, host, manifest};
    use crate::isolators::*;

    #[test]
    fn limits_pod_bounds_app_and_units() {
        let r = resolve(
            &manifest(
                json!([{"name": "resource/memory", "value": {"limit": "100Mi"}},
                       {"name": "resource/cpu", "value": {"limit": "1"}}]),
                json!([{"name": "resource/memory", "value": {"limit": "200Mi", "request": "50Mi"}},
                       {"name": "resource/cpu", "value": {"limit": "5m", "request": "250m"}},
                       {"name": "os/linux/cpu-shares", "value": 100}]),
            ),
            &host(),
        )
        .unwrap();
        assert_eq!(r.pod.memory_limit, Some(100 << 20));
        assert_eq!(
            r.pod.memory_request,
            Some(100 << 20),
            "request defaults to limit"
        );
        assert_eq!(r.pod.cpu_limit_milli, Some(1000));
        assert_eq!(r.pod.cpu_shares, Some(1024));
        let (res, _) = &r.apps[0];
        assert_eq!(res.memory_limit, Some(100 << 20));
        assert_eq!(res.memory_request, Some(50 << 20));
        assert_eq!(res.cpu_limit_milli, Some(10));
        assert_eq!(
            res.cpu_shares,
            Some(100),
            "cpu-shares wins over the request"
        );
        let mem = find(&r, Some("web"), "resource/memory");
        assert_eq!(mem.status, Status::Modified);
        assert!(
            mem.detail.contains("lowered to the pod's limit"),
            "{}",
            mem.detail
        );
        let cpu = find(&r, Some("web"), "resource/cpu");
        assert_eq!(cpu.status, Status::Modified);
        assert!(cpu.detail.contains("raised to 10m"), "{}", cpu.detail);
        assert!(cpu.detail.contains("request not applied"), "{}", cpu.detail);
        assert_eq!(find(&r, None, "resource/memory").status, Status::Enforced);
    }
}
