//! Errors of the runtime. Each says what failed and, where it helps, what to do; app-level
//! failures inside a running pod are not errors of `run` but part of its [`crate::PodExit`].

use std::io;

/// What can go wrong looking into an image, starting a pod, or reaching a running one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "user {user:?} is not in the image's /etc/passwd: use a user the image defines, a numeric uid, or an absolute path in the image whose owner to take"
    )]
    UnknownUser { user: String },

    #[error(
        "group {group:?} is not in the image's /etc/group: use a group the image defines, a numeric gid, or an absolute path in the image whose group to take"
    )]
    UnknownGroup { group: String },

    /// A path inside the image could not be opened or inspected.
    #[error("{path} in the image: {}", crate::errno_text(reason))]
    ImagePath { path: String, reason: io::Error },

    #[error("command {name:?} is not in the image (PATH searched: {path:?})")]
    ExecNotFound { name: String, path: String },

    #[error("exec {path}: {problem}")]
    ExecNotRunnable { path: String, problem: String },

    #[error(
        "exec {name:?} is a relative path: give an absolute path in the image, or a plain command name to look up in PATH"
    )]
    ExecRelative { name: String },

    #[error("working directory {path}: {problem}")]
    WorkingDir { path: String, problem: String },

    /// The pod spec cannot be run as given (a bug in the caller, or an input it did not check).
    #[error("invalid pod: {0}")]
    Spec(String),

    /// A system call made by `run`, `enter` or `signal_pod` itself failed.
    #[error("{what}: {}", crate::errno_text(reason))]
    Os { what: String, reason: io::Error },

    /// The pod's init could not set up the pod (namespaces, mounts, hostname, network).
    #[error("pod setup failed: {0}")]
    Init(String),

    /// The `RunHooks::on_init` callback refused the pod; it was killed before any app started.
    #[error("the pod was stopped before starting its apps: {0}")]
    Hook(String),

    #[error("process {pid} is not a running pod init; the pod has probably exited")]
    NotRunning { pid: i32 },

    #[error(
        "app {app:?} has no running process in the pod (init pid {pid}): it has exited, or the pod has no such app"
    )]
    AppNotRunning { app: String, pid: i32 },

    /// `enter` could not start the command in the pod.
    #[error("enter app {app}: {problem}")]
    Enter { app: String, problem: String },

    /// `cp` between the host and an app's rootfs refused or failed.
    #[error("{0}")]
    Copy(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn os(what: impl Into<String>, reason: io::Error) -> Error {
        Error::Os {
            what: what.into(),
            reason,
        }
    }
}

/// An OS error as a short phrase ("No such file or directory"), without Rust's
/// " (os error 2)" suffix, which means nothing to a user.
pub fn errno_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
