//! `resource/memory`: the cgroup's memory limit (swap held to it) and request, an app's
//! bounded by the pod's.

use appc::{Isolator, Resource};
use jetpack_runtime::Resources;

use super::report::Status;
use super::scope::{Scope, Verdict, bytes, lower, quantities};

pub(super) fn apply(scope: &Scope, iso: &Isolator, r: &mut Resources) -> Verdict {
    let Isolator::ResourceMemory(v) = iso else {
        unreachable!("dispatched on resource/memory")
    };
    limit(scope, v, r)
}

fn limit(scope: &Scope, v: &Resource, r: &mut Resources) -> Verdict {
    let Some(ctl) = &scope.host.memory else {
        return (
            Status::Ignored,
            "this host has no memory cgroup controller (v1 or v2)".into(),
        );
    };
    let (limit, request) = quantities(v, |q| q.value());
    if limit.is_none() && request.is_none() {
        return (Status::Ignored, "neither a limit nor a request".into());
    }
    let bound = scope.pod.and_then(|p| p.memory_limit);
    let (limit, lowered) = lower(limit, bound);
    let (request, _) = lower(request, bound);
    r.memory_limit = limit;
    r.memory_request = request;
    let mut d = Vec::new();
    if let Some(l) = limit {
        d.push(format!("limit {} (swap held to it)", bytes(l)));
    }
    if let Some(q) = request {
        d.push(format!("request {}", bytes(q)));
    }
    let mut detail = format!("{}, {ctl}", d.join(", "));
    if lowered {
        detail.push_str(", lowered to the pod's limit");
        (Status::Modified, detail)
    } else {
        (Status::Enforced, detail)
    }
}
