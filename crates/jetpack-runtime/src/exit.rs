//! How apps and pods end, and the exit file the pod's init writes for each app.
//!
//! `<pod dir>/apps/<name>/exit` is written (temporary file + rename) as soon as the app's main
//! process ends, and rewritten once its post-stop handler has run. Two lines:
//!
//! ```text
//! 3
//! {"code":3,"signal":null,"error":null}
//! ```
//!
//! The first line is the exit code as a shell reports it (`128 + n` when signal `n` ended the
//! app), so `read code < exit` works in scripts. The second is the JSON form of [`AppExit`].

use std::path::Path;

use serde::{Deserialize, Serialize};

/// How one app ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppExit {
    /// The exit code, or `128 + signal` when a signal ended the app. When the app never ran its
    /// main command ([`AppExit::error`] is set): 127 if the command was not found, 126 if it
    /// could not be executed, 125 for any other failure (mounts, credentials, working directory,
    /// a failing pre-start handler).
    pub code: i32,
    /// The signal that ended the main process, if one did.
    pub signal: Option<i32>,
    /// Why the main command did not run (e.g. `exec /bin/nope: No such file or directory`).
    pub error: Option<String>,
    /// Exit code of the post-stop handler, once it has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_stop: Option<i32>,
    /// Why the post-stop handler did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_stop_error: Option<String>,
}

impl AppExit {
    /// From a `waitpid` status.
    pub fn from_wait_status(status: i32) -> AppExit {
        let (code, signal) = decode_wait_status(status);
        AppExit {
            code,
            signal,
            error: None,
            post_stop: None,
            post_stop_error: None,
        }
    }

    /// The exit file's contents.
    pub fn to_file_contents(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        format!("{}\n{json}\n", self.code)
    }

    /// Parses an exit file. A file holding only the code line is accepted too.
    pub fn parse(text: &str) -> Option<AppExit> {
        let mut lines = text.lines();
        let code: i32 = lines.next()?.trim().parse().ok()?;
        match lines.next().map(str::trim).filter(|l| !l.is_empty()) {
            Some(json) => serde_json::from_str(json).ok(),
            None => Some(AppExit {
                code,
                signal: None,
                error: None,
                post_stop: None,
                post_stop_error: None,
            }),
        }
    }

    /// Reads `<app dir>/exit`: `Ok(None)` if the app has not ended (or never started).
    pub fn read(app_dir: &Path) -> std::io::Result<Option<AppExit>> {
        match std::fs::read_to_string(app_dir.join("exit")) {
            Ok(text) => Ok(AppExit::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `(code, signal)` from a `waitpid` status: the exit code, or `128 + n` for signal `n`.
pub fn decode_wait_status(status: i32) -> (i32, Option<i32>) {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        (128 + sig, Some(sig))
    } else {
        (libc::WEXITSTATUS(status), None)
    }
}

/// How a pod ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodExit {
    /// The init's exit code: the app's code for a one-app pod; otherwise 0 when every app exited
    /// 0, else the code of the first app (in the order they ended) that did not. `128 + n` if
    /// signal `n` killed the init itself (then some apps may have no recorded status).
    pub code: i32,
    /// Each app of the spec, in order, with its status; `None` if none was recorded (the init
    /// was killed before the app ended).
    pub apps: Vec<(String, Option<AppExit>)>,
}

impl PodExit {
    /// One line per app that failed to start its main command or post-stop handler, ready to
    /// show: `app web: exec /bin/nope: No such file or directory`.
    pub fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, exit) in &self.apps {
            let Some(exit) = exit else { continue };
            if let Some(e) = &exit.error {
                out.push(format!("app {name}: {e}"));
            }
            if let Some(e) = &exit.post_stop_error {
                out.push(format!("app {name}: post-stop: {e}"));
            }
        }
        out
    }
}

/// The pod's exit code from its apps' codes in the order they ended (see [`PodExit::code`]).
pub fn pod_code(single_app: bool, codes_in_end_order: &[i32]) -> i32 {
    if single_app {
        return codes_in_end_order.first().copied().unwrap_or(0);
    }
    codes_in_end_order
        .iter()
        .copied()
        .find(|&c| c != 0)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_file_round_trip() {
        let e = AppExit {
            code: 127,
            signal: None,
            error: Some("exec /bin/nope: No such file or directory".into()),
            post_stop: Some(0),
            post_stop_error: None,
        };
        let text = e.to_file_contents();
        assert!(text.starts_with("127\n{"), "{text}");
        assert_eq!(AppExit::parse(&text), Some(e));
        assert_eq!(AppExit::parse("3\n").map(|e| e.code), Some(3));
        assert_eq!(AppExit::parse("x\n"), None);
    }

    #[test]
    fn wait_status_decoding() {
        assert_eq!(decode_wait_status(3 << 8), (3, None));
        assert_eq!(decode_wait_status(libc::SIGKILL), (137, Some(9)));
    }

    #[test]
    fn pod_code_policy() {
        assert_eq!(pod_code(true, &[3]), 3);
        assert_eq!(pod_code(false, &[0, 0]), 0);
        assert_eq!(pod_code(false, &[0, 2, 1]), 2);
    }
}

/// How an app's start went, as the pod's init saw it once every app had either exec'd its main
/// command or ended (see `RunHooks::on_ready`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppStart {
    /// Its main command runs.
    Running,
    /// It ran and ended already, with this code.
    Exited(i32),
    /// It never ran its main command: setup, pre-start or exec failed.
    Failed(String),
}
