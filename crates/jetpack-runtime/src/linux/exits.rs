//! Each app's exit file, written by the caller of `run` on the init's word. The init holds no
//! descriptor of a host directory (a pod process able to act as the init could climb out of
//! one), so it sends each app's exit record down a pipe instead, and a thread of the caller
//! writes `<pod>/apps/<name>/exit` (atomically, see `jetpack_fs::atomic_write`) as each arrives.
//! The record is not synced to disk: `jetpack run` waits for it before it reports the pod's end,
//! and an `fsync` there costs every start a millisecond or more, for a file the pod's state
//! (not synced either) outweighs after a power cut.
//!
//! A frame is the app's index (`u16`), the length (`u32`) and the file's contents. Only the init
//! writes the pipe; the thread reads until every writer is gone, which the end of the init
//! guarantees (its death takes the whole pod with it).
//!
//! One frame of index [`READY`] says how every app's start went (one [`AppStart`] line per app),
//! once each has exec'd its main command or ended: the thread hands it to the caller's
//! `on_ready` hook.

use std::io::{self, Read};
use std::os::fd::{OwnedFd, RawFd};
use std::path::PathBuf;
use std::thread::JoinHandle;

use super::sys;
use crate::exit::AppStart;

/// The index of the start frame.
pub(super) const READY: usize = u16::MAX as usize;

/// What the caller does with the start frame.
pub(super) type OnReady = Box<dyn FnOnce(Vec<AppStart>) + Send>;

/// An exit record is two short lines; anything longer is not one.
const MAX_RECORD: usize = 64 * 1024;

/// The init's side: one app's exit record.
pub(super) fn send(fd: RawFd, app: usize, contents: &str) {
    let mut frame = Vec::with_capacity(6 + contents.len());
    frame.extend_from_slice(&(app as u16).to_le_bytes());
    frame.extend_from_slice(&(contents.len() as u32).to_le_bytes());
    frame.extend_from_slice(contents.as_bytes());
    // Nothing to do if this fails: the pod's exit code still says how it ended.
    let _ = sys::write_all(fd, &frame);
}

/// The caller's side: a thread writing the exit files.
pub(super) struct Recorder(JoinHandle<()>);

impl Recorder {
    /// `dirs[i]` is app `i`'s directory.
    pub fn start(
        pipe: OwnedFd,
        dirs: Vec<PathBuf>,
        on_ready: Option<OnReady>,
    ) -> io::Result<Recorder> {
        let thread = std::thread::Builder::new()
            .name("pod-exits".into())
            .spawn(move || record(std::fs::File::from(pipe), &dirs, on_ready))?;
        Ok(Recorder(thread))
    }

    /// Waits until every record sent has been written (call once the init is gone).
    pub fn finish(self) {
        let _ = self.0.join();
    }
}

fn record(mut pipe: std::fs::File, dirs: &[PathBuf], mut on_ready: Option<OnReady>) {
    let mut header = [0u8; 6];
    while pipe.read_exact(&mut header).is_ok() {
        let app = u16::from_le_bytes([header[0], header[1]]) as usize;
        let len = u32::from_le_bytes([header[2], header[3], header[4], header[5]]) as usize;
        if len > MAX_RECORD {
            return;
        }
        let mut contents = vec![0u8; len];
        if pipe.read_exact(&mut contents).is_err() {
            return;
        }
        if app == READY {
            if let Some(f) = on_ready.take() {
                let text = String::from_utf8_lossy(&contents);
                f(text.lines().map(AppStart::decode).collect());
            }
            continue;
        }
        let Some(dir) = dirs.get(app) else { continue };
        crate::appdir::record_exit(dir, &contents);
    }
}

/// The init's start frame (see `RunHooks::on_ready`): one line per app.
impl AppStart {
    /// One line of the frame the init sends (`r`, `x CODE`, `f MESSAGE`).
    pub(super) fn encode(&self) -> String {
        match self {
            AppStart::Running => "r".into(),
            AppStart::Exited(c) => format!("x {c}"),
            AppStart::Failed(m) => format!("f {}", m.replace('\n', " ")),
        }
    }

    pub(super) fn decode(line: &str) -> AppStart {
        match line.split_once(' ') {
            Some(("x", c)) => AppStart::Exited(c.parse().unwrap_or(-1)),
            Some(("f", m)) => AppStart::Failed(m.to_string()),
            _ if line == "r" => AppStart::Running,
            _ => AppStart::Failed(format!("unreadable start record {line:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn records_arrive_in_their_apps_directories() {
        let tmp = std::env::temp_dir().join(format!("jetpack-exits-{}", std::process::id()));
        let dirs: Vec<PathBuf> = (0..2).map(|i| tmp.join(format!("app{i}"))).collect();
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let ready: OnReady = Box::new(move |s| tx.send(s).unwrap());
        let rec = Recorder::start(r, dirs.clone(), Some(ready)).unwrap();
        send(w.as_raw_fd(), 1, "3\n{}\n");
        send(w.as_raw_fd(), READY, "r\nf exec /x: not found\nx 3");
        send(w.as_raw_fd(), 0, "0\n");
        send(w.as_raw_fd(), 1, "4\n");
        send(w.as_raw_fd(), 7, "9\n");
        drop(w);
        rec.finish();
        assert_eq!(
            rx.recv().unwrap(),
            [
                AppStart::Running,
                AppStart::Failed("exec /x: not found".into()),
                AppStart::Exited(3)
            ]
        );
        assert_eq!(
            std::fs::read_to_string(dirs[0].join("exit")).unwrap(),
            "0\n"
        );
        assert_eq!(
            std::fs::read_to_string(dirs[1].join("exit")).unwrap(),
            "4\n"
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
