//! What every isolator handler gets and gives, and the quantity helpers they share.

use appc::Resource;
use jetpack_runtime::Resources;

use super::report::Status;
use crate::host::Host;

/// Where an isolator is resolved: for the pod (`app` none) or an app, on this host.
pub(crate) struct Scope<'a> {
    pub app: Option<&'a str>,
    pub host: &'a Host,
    /// The pod's limits, which bound an app's.
    pub pod: Option<&'a Resources>,
    /// The pod's network bandwidth limit, when its networks enforce one.
    pub network_bandwidth: Option<u64>,
}

/// What becomes of one isolator: its status and the report's detail.
pub(crate) type Verdict = (Status, String);

pub(super) fn bytes(n: u64) -> String {
    const MI: u64 = 1 << 20;
    if n >= MI && n.is_multiple_of(MI) {
        format!("{n} bytes ({} MiB)", n / MI)
    } else {
        format!("{n} bytes")
    }
}

/// A resource's (limit, request) as non-negative integers; a missing request is the limit.
pub(super) fn quantities(
    v: &Resource,
    f: impl Fn(&appc::Quantity) -> Option<i64>,
) -> (Option<u64>, Option<u64>) {
    let n = |q: &Option<appc::Quantity>| q.as_ref().and_then(&f).map(|x| x.max(0) as u64);
    let limit = n(&v.limit);
    (limit, n(&v.request).or(limit))
}

/// `v` lowered to `bound`, and whether it was.
pub(super) fn lower(v: Option<u64>, bound: Option<u64>) -> (Option<u64>, bool) {
    match (v, bound) {
        (Some(v), Some(b)) if v > b => (Some(b), true),
        (v, _) => (v, false),
    }
}
