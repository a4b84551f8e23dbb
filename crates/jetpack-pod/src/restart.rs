//! Restart policies of detached pods (`--restart`), and what the pod's supervisor records
//! about them in the pod's state.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// When the supervisor of a detached pod runs it again after it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Never.
    #[default]
    No,
    /// After a non-zero exit, at most `max` times in a row (unbounded when `None`).
    OnFailure(Option<u32>),
    /// After every end, until `stop`.
    Always,
}

impl RestartPolicy {
    /// Whether a pod that ended with `code` after `restarts` restarts in a row runs again.
    pub fn restarts_after(self, code: i32, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|m| restarts < m),
            RestartPolicy::Always => true,
        }
    }

    pub fn is_no(&self) -> bool {
        *self == RestartPolicy::No
    }
}

/// The wait before restart number `n` (0-based): 100 ms, doubling, at most 30 s. A run that
/// lasted long enough resets `n` (see [`STABLE`]).
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << n.min(9))).min(Duration::from_secs(30))
}

/// A run at least this long counts as a success for the backoff: the next failure waits
/// 100 ms again.
pub const STABLE: Duration = Duration::from_secs(10);

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::OnFailure(None) => f.write_str("on-failure"),
            RestartPolicy::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
            RestartPolicy::Always => f.write_str("always"),
        }
    }
}

impl FromStr for RestartPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "bad restart policy {s:?}: use no, on-failure, on-failure:MAX (MAX > 0) or always"
            )
        };
        Ok(match s {
            "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "on-failure" => RestartPolicy::OnFailure(None),
            _ => match s.strip_prefix("on-failure:") {
                Some(n) => match n.parse::<u32>() {
                    Ok(n) if n > 0 => RestartPolicy::OnFailure(Some(n)),
                    _ => return Err(bad()),
                },
                None => return Err(bad()),
            },
        })
    }
}

impl Serialize for RestartPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What a pod's state records about its supervision (all absent for a pod run in the
/// foreground without a policy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supervision {
    #[serde(default, skip_serializing_if = "RestartPolicy::is_no")]
    pub restart_policy: RestartPolicy,
    /// Restarts by the policy since the pod was last started by a user.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u32,
    /// Host pid of the supervisor of a detached pod, while it lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<i32>,
    /// When every app of the current run had started (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<i64>,
    /// When the supervisor runs the pod again (unix seconds), while it waits to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_at: Option<i64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_print_and_decide() {
        for s in ["no", "always", "on-failure", "on-failure:3"] {
            assert_eq!(s.parse::<RestartPolicy>().unwrap().to_string(), s);
        }
        for s in [
            "",
            "yes",
            "on-failure:0",
            "on-failure:x",
            "on-failure:",
            "Always",
        ] {
            let e = s.parse::<RestartPolicy>().unwrap_err();
            assert!(e.contains("on-failure:MAX"), "{e}");
        }
        let p: RestartPolicy = "on-failure:2".parse().unwrap();
        assert!(p.restarts_after(1, 0) && p.restarts_after(1, 1));
        assert!(!p.restarts_after(1, 2) && !p.restarts_after(0, 0));
        assert!(RestartPolicy::Always.restarts_after(0, 1000));
        assert!(!RestartPolicy::No.restarts_after(1, 0));
    }

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(8), Duration::from_millis(25_600));
        assert_eq!(backoff(9), Duration::from_secs(30));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(30));
    }
}
