//! Running the `zfs` and `btrfs` tools. Backends go through [`CommandRunner`] so tests can record
//! the exact argument lists instead of running anything.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::error::{Error, Result};

pub trait CommandRunner: Send + Sync {
    /// Runs `program` with `args`; returns its stdout. A non-zero exit becomes
    /// [`Error::Command`] carrying the command line, exit status and stderr.
    fn run(&self, program: &str, args: &[&str]) -> Result<String>;
}

/// The command line as a user would type it, for messages.
pub fn cmdline(program: &str, args: &[&str]) -> String {
    let mut line = quote(program);
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    line
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs the real programs.
#[derive(Debug, Default, Clone)]
pub struct SystemRunner;

impl SystemRunner {
    pub fn new() -> Self {
        SystemRunner
    }

    /// Absolute path of `program`: PATH first, then the sbin directories that a non-login root
    /// shell (or a systemd unit) often lacks.
    pub fn locate(program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            return Some(PathBuf::from(program));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let extra = [
            "/usr/local/sbin",
            "/usr/sbin",
            "/sbin",
            "/usr/local/bin",
            "/usr/bin",
            "/bin",
        ];
        std::env::split_paths(&path)
            .chain(extra.iter().map(PathBuf::from))
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|p| is_executable(p))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl CommandRunner for SystemRunner {
    fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let line = cmdline(program, args);
        tracing::debug!(command = %line, "running");
        let exe = SystemRunner::locate(program).ok_or_else(|| Error::Spawn {
            program: program.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
        })?;
        let out = Command::new(&exe)
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                program: program.to_string(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if stderr.is_empty() {
            stderr = stdout.trim().to_string();
        }
        if stderr.is_empty() {
            stderr = "no output".to_string();
        }
        Err(Error::Command {
            cmdline: line,
            status: out.status.to_string(),
            stderr,
        })
    }
}

type Responder = Box<dyn Fn(&[String]) -> Result<String> + Send + Sync>;

/// Records every command line and answers from a queue of canned replies, then from a responder
/// (by default: success with empty output). For unit tests of the command sequences.
pub struct RecordingRunner {
    calls: Mutex<Vec<Vec<String>>>,
    replies: Mutex<VecDeque<Result<String>>>,
    responder: Responder,
}

impl Default for RecordingRunner {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingRunner {
    /// Every command succeeds with empty stdout.
    pub fn new() -> Self {
        Self::with_responder(|_| Ok(String::new()))
    }

    /// Answers each command with `f(argv)`, where `argv[0]` is the program.
    pub fn with_responder(f: impl Fn(&[String]) -> Result<String> + Send + Sync + 'static) -> Self {
        RecordingRunner {
            calls: Mutex::new(Vec::new()),
            replies: Mutex::new(VecDeque::new()),
            responder: Box::new(f),
        }
    }

    /// Queues a reply for the next command that has not been answered yet.
    pub fn push_reply(&self, reply: Result<String>) -> &Self {
        self.replies.lock().unwrap().push_back(reply);
        self
    }

    /// A failure as [`SystemRunner`] reports it (exit status 1), for canned replies.
    pub fn failure(argv: &[&str], stderr: &str) -> Error {
        let (program, args) = argv.split_first().expect("argv has a program");
        Error::Command {
            cmdline: cmdline(program, args),
            status: "exit status: 1".to_string(),
            stderr: stderr.to_string(),
        }
    }

    /// The recorded commands, each as its argument vector (program first).
    pub fn argv(&self) -> Vec<Vec<String>> {
        self.calls.lock().unwrap().clone()
    }

    /// The recorded commands as space-joined lines (no quoting), for compact assertions.
    pub fn lines(&self) -> Vec<String> {
        self.argv().iter().map(|a| a.join(" ")).collect()
    }

    /// Forgets the recorded commands.
    pub fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }
}

impl CommandRunner for RecordingRunner {
    fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let argv: Vec<String> = std::iter::once(program)
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        self.calls.lock().unwrap().push(argv.clone());
        let queued = self.replies.lock().unwrap().pop_front();
        match queued {
            Some(reply) => reply,
            None => (self.responder)(&argv),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_runner_reports_command_status_and_stderr() {
        let err = SystemRunner::new()
            .run("sh", &["-c", "echo out; echo 'bad thing' >&2; exit 3"])
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("sh -c 'echo out; echo '\\''bad thing'\\'' >&2; exit 3': bad thing"),
            "{msg}"
        );
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert_eq!(
            SystemRunner::new().run("sh", &["-c", "echo hi"]).unwrap(),
            "hi\n"
        );
    }

    #[test]
    fn system_runner_names_a_missing_program() {
        let err = SystemRunner::new()
            .run("jetpack-no-such-tool", &[])
            .unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err}");
        assert!(err.to_string().contains("jetpack-no-such-tool"));
    }

    #[test]
    fn sbin_tools_are_found_without_sbin_on_path() {
        // `ls` is in /usr/bin or /bin on every system; the lookup must not depend on PATH order.
        assert!(SystemRunner::locate("ls").is_some_and(|p| p.is_absolute()));
    }

    #[test]
    fn recording_runner_replays_queue_then_responder() {
        let r = RecordingRunner::with_responder(|argv| Ok(format!("{}\n", argv.len())));
        r.push_reply(Err(RecordingRunner::failure(&["zfs", "list"], "boom")));
        assert!(r.run("zfs", &["list"]).unwrap_err().command_says("boom"));
        assert_eq!(r.run("zfs", &["get", "x"]).unwrap(), "3\n");
        assert_eq!(r.lines(), ["zfs list", "zfs get x"]);
    }
}
