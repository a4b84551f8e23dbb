//! Each app's output, as the Linux engine gives it: appended to the app's log
//! (`jetpack_runtime::appdir`) and, unless the pod is quiet (detached), copied live to the
//! caller's stdout, each line after the app's name when the pod has several apps.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::process::Stdio;
use std::thread::JoinHandle;

/// Where an app's stdout and stderr go, and the thread copying them (joined once the app ends).
pub struct AppOutput {
    pub stdout: Stdio,
    pub stderr: Stdio,
    pub copier: Option<JoinHandle<()>>,
}

pub fn app_output(log: File, quiet: bool, prefix: Option<&str>) -> io::Result<AppOutput> {
    if quiet {
        return Ok(AppOutput {
            stdout: log.try_clone()?.into(),
            stderr: log.into(),
            copier: None,
        });
    }
    let (reader, writer) = io::pipe()?;
    let prefix = prefix.map(|p| format!("{p}: "));
    let copier = std::thread::Builder::new()
        .name("app-output".into())
        .spawn(move || copy_lines(reader, log, prefix.as_deref()))?;
    Ok(AppOutput {
        stdout: writer.try_clone()?.into(),
        stderr: writer.into(),
        copier: Some(copier),
    })
}

/// Copies until every writer (the app and its children) is gone. The log gets every byte; the
/// caller stops getting lines once writing to it fails (it went away).
fn copy_lines(reader: io::PipeReader, mut log: File, prefix: Option<&str>) {
    let mut reader = io::BufReader::new(reader);
    let mut out = Some(io::stdout());
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let _ = log.write_all(&line);
        if let Some(o) = &mut out {
            let mut o = o.lock();
            let shown = prefix
                .map_or(Ok(()), |p| o.write_all(p.as_bytes()))
                .and_then(|()| o.write_all(&line))
                .and_then(|()| o.flush());
            if shown.is_err() {
                out = None;
            }
        }
    }
}
