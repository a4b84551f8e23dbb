//! The control files and values for a pod's or an app's memory and CPU limits on v1 and v2,
//! pure so that they are unit-tested apart from the hierarchies they are written to.

use super::{CPU_PERIOD_US, MIN_CPU_QUOTA_US, Version};
use crate::spec::Resources;

/// One control file write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub file: &'static str,
    pub value: String,
    /// Skipped when the file does not exist (no swap accounting, no swap support).
    pub optional: bool,
}

fn w(file: &'static str, value: impl ToString) -> Write {
    Write {
        file,
        value: value.to_string(),
        optional: false,
    }
}

/// The files and values for the memory limits `r` on a hierarchy of version `v`. Swap is held
/// at the limit (v1 `memsw` = limit; v2 `swap.max` = 0), so that reaching it means the OOM
/// killer and not swapping.
pub fn memory_writes(v: Version, r: &Resources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(limit) = r.memory_limit {
        match v {
            Version::V1 => {
                out.push(w("memory.limit_in_bytes", limit));
                out.push(Write {
                    optional: true,
                    ..w("memory.memsw.limit_in_bytes", limit)
                });
            }
            Version::V2 => {
                out.push(w("memory.max", limit));
                out.push(Write {
                    optional: true,
                    ..w("memory.swap.max", 0)
                });
            }
        }
    }
    if let Some(request) = r.memory_request {
        out.push(match v {
            Version::V1 => w("memory.soft_limit_in_bytes", request),
            Version::V2 => w("memory.low", request),
        });
    }
    out
}

/// The CFS quota for a limit in milli-cores: `milli * 100` µs per 100 ms, at least 1 ms.
pub fn cpu_quota_us(milli: u64) -> u64 {
    milli
        .saturating_mul(CPU_PERIOD_US / 1000)
        .max(MIN_CPU_QUOTA_US)
}

/// v1 `cpu.shares` as v2 `cpu.weight` (the conversion of runc and the appc reference).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// The files and values for the CPU limits `r` on a hierarchy of version `v`.
pub fn cpu_writes(v: Version, r: &Resources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(milli) = r.cpu_limit_milli {
        let quota = cpu_quota_us(milli);
        match v {
            Version::V1 => {
                out.push(w("cpu.cfs_period_us", CPU_PERIOD_US));
                out.push(w("cpu.cfs_quota_us", quota));
            }
            Version::V2 => out.push(w("cpu.max", format!("{quota} {CPU_PERIOD_US}"))),
        }
    }
    if let Some(shares) = r.cpu_shares {
        out.push(match v {
            Version::V1 => w("cpu.shares", shares.clamp(2, 262_144)),
            Version::V2 => w("cpu.weight", shares_to_weight(shares)),
        });
    }
    out
}

/// An app's limits bounded by the pod's: a child cgroup cannot get more than its parent (v1
/// even refuses a child CPU quota above the parent's).
pub fn bounded(app: &Resources, pod: &Resources) -> Resources {
    let min = |a: Option<u64>, p: Option<u64>| match (a, p) {
        (Some(a), Some(p)) => Some(a.min(p)),
        (a, _) => a,
    };
    Resources {
        memory_limit: min(app.memory_limit, pod.memory_limit),
        memory_request: min(app.memory_request, pod.memory_limit),
        cpu_limit_milli: min(app.cpu_limit_milli, pod.cpu_limit_milli),
        cpu_shares: app.cpu_shares,
    }
}
