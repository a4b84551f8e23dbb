//! `generate systemd` and `generate rc.d`: the text of units and scripts, read back the way
//! systemd and sh read it, checked by `systemd-analyze verify` and `sh -n`, and run: the
//! unit's ExecStart/ExecStop for real under a notification socket of the test's, the rc.d
//! script's start/stop/status against a stub rc.subr that records what they call.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{BB, Env};

/// Arguments that systemd and sh read specially, each of which must reach `jetpack run` as is.
const ODD: [&str; 9] = [
    "a b",
    "100%",
    "%n",
    "$HOME ${X}",
    "say \"hi\"",
    "it's",
    "back\\slash",
    ";",
    "",
];

/// The words of a systemd command line (systemd.syntax(7), systemd.service(5)), written here
/// apart from the generator: quotes, C escapes, `%%` and `$$`. Any other specifier or variable
/// fails the test: the generator must double them.
fn systemd_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        if chars.peek().is_none() {
            return words;
        }
        let mut w = String::new();
        let mut quote = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                (' ' | '\t', None) => break,
                ('"' | '\'', None) => quote = Some(c),
                (q, Some(open)) if q == open => quote = None,
                ('\\', _) => match chars.next().expect("escape at the end") {
                    'n' => w.push('\n'),
                    't' => w.push('\t'),
                    'r' => w.push('\r'),
                    'x' => {
                        let hex: String = (0..2).map(|_| chars.next().unwrap()).collect();
                        w.push(u8::from_str_radix(&hex, 16).unwrap() as char);
                    }
                    e @ ('\\' | '"' | '\'' | ';') => w.push(e),
                    e => panic!("unknown escape \\{e} in {line}"),
                },
                ('%', _) => match chars.next() {
                    Some('%') => w.push('%'),
                    s => panic!("specifier %{s:?} left in {line}"),
                },
                ('$', _) => match chars.next() {
                    Some('$') => w.push('$'),
                    s => panic!("variable ${s:?} left in {line}"),
                },
                (c, _) => w.push(c),
            }
        }
        assert!(quote.is_none(), "unbalanced quotes in {line}");
        words.push(w);
    }
}

/// The command of the unit's `key=` line, its `-` prefix taken off.
fn exec_line(unit: &str, key: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in\n{unit}"));
    systemd_words(line.strip_prefix('-').unwrap_or(line))
}

/// What `systemd-analyze verify` says of `unit` (as `dir/name`): empty when it is right.
fn verify(dir: &Path, name: &str, unit: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, unit).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.success() {
        said
    } else {
        format!("exit {}: {said}", o.status)
    }
}

fn run_args(name: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "--name",
        name,
        "--net",
        "host",
        BB,
        "--exec",
        "/bin/echo",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(ODD.iter().map(|s| s.to_string()));
    v
}

/// A unit for a pod made from images: its commands read back word for word as given, with
/// the store's options; systemd-analyze finds nothing wrong with it, and does find a fault put
/// in it.
#[test]
fn unit_for_a_new_pod() {
    let e = Env::bare("dir");
    let mut args = vec!["generate".to_string(), "systemd".into()];
    args.extend(["--restart".into(), "on-failure:3".into()]);
    args.extend(run_args("web-1"));
    let unit = e.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let mut jetpack = vec![e.bin().to_str().unwrap().to_string()];
    jetpack.extend(e.flags());
    let with = |rest: &[String]| -> Vec<String> { jetpack.iter().chain(rest).cloned().collect() };
    let mut run = vec!["run".to_string()];
    run.extend(run_args("web-1"));
    assert_eq!(exec_line(&unit, "ExecStart"), with(&run));
    let cmd = |c: &[&str]| with(&c.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(exec_line(&unit, "ExecStartPre"), cmd(&["destroy", "web-1"]));
    assert_eq!(
        exec_line(&unit, "ExecStop"),
        cmd(&["stop", "--timeout", "10", "web-1"])
    );
    assert_eq!(exec_line(&unit, "ExecStopPost"), cmd(&["destroy", "web-1"]));
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "KillMode=mixed",
        "Restart=on-failure",
        "StartLimitBurst=4",
        "After=network-online.target jetpack-mds.service",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in\n{unit}");
    }
    assert!(
        !unit.contains("--restart"),
        "systemd restarts, not run:\n{unit}"
    );

    let dir = tempfile::tempdir().unwrap();
    assert_eq!(verify(dir.path(), "jetpack-web-1.service", &unit), "");
    // The check bites: a bad value, an unbalanced quote.
    let bad = unit.replace("Restart=on-failure", "Restart=sometimes");
    assert!(verify(dir.path(), "jetpack-web-1.service", &bad).contains("sometimes"));
    let bad = unit.replace("\"a b\"", "\"a b");
    assert!(!verify(dir.path(), "jetpack-web-1.service", &bad).is_empty());
    assert!(!e.root().exists(), "no store is touched");
}

/// Bad requests are refused before anything is written.
#[test]
fn refusals() {
    let e = Env::bare("dir");
    for (args, says) in [
        (
            &["generate", "systemd", BB, "--exec", "/bin/sh"][..],
            "--name",
        ),
        (&["generate", "systemd", "--name", "a", "--rm", BB], "--rm"),
        (&["generate", "systemd", "--name", "a", "-i", BB], "-i"),
        (&["generate", "systemd", "--name", "a", "-d", BB], "-d"),
        (
            &[
                "generate",
                "systemd",
                "--restart",
                "sometimes",
                "--name",
                "a",
                BB,
            ],
            "on-failure",
        ),
        (
            &["generate", "rc.d", "--dir", "/tmp", "--name", "a", BB],
            "--files",
        ),
        (
            &[
                "generate",
                "systemd",
                "--name",
                "a",
                "--pod-manifest",
                "p.json",
            ],
            "absolute",
        ),
    ] {
        let err = e.err(args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// `--files`: the file in --dir (0644 for a unit, 0755 for a script), its path printed, the
/// same text as printed without it.
#[test]
fn files_are_written_into_dir() {
    use std::os::unix::fs::PermissionsExt;
    let e = Env::bare("dir");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (kind, file, mode) in [
        ("systemd", "jetpack-web.service", 0o644),
        ("rc.d", "jetpack_web", 0o755),
    ] {
        let printed = e.ok(&["generate", kind, "--name", "web", BB]);
        let said = e.ok(&["generate", kind, "--files", "--dir", d, "--name", "web", BB]);
        let path = dir.path().join(file);
        assert_eq!(said, format!("{}\n", path.display()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), printed);
        let m = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{file}");
        // Given after a pod option, --files is still generate's.
        e.ok(&["generate", kind, "--name", "web", "--files", "--dir", d, BB]);
    }
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "no temporary file left");
}

/// The commands are in `help`, the completions (still valid bash) and the man pages.
#[test]
fn help_completion_and_man() {
    let e = Env::bare("dir");
    let help = e.ok(&["help"]);
    assert!(help.contains("generate"), "{help}");
    let help = e.ok(&["help", "generate"]);
    assert!(help.contains("systemd") && help.contains("rc.d"), "{help}");
    let bash = e.ok(&["completion", "bash"]);
    assert!(bash.contains("generate") && bash.contains("--stop-timeout"));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("jetpack.bash");
    std::fs::write(&f, &bash).unwrap();
    let st = Command::new("bash").arg("-n").arg(&f).status().unwrap();
    assert!(st.success(), "bash -n refuses the completion script");
    let man = dir.path().join("man1");
    e.ok(&["man", man.to_str().unwrap()]);
    for page in [
        "jetpack-generate.1",
        "jetpack-generate-systemd.1",
        "jetpack-generate-rc.d.1",
    ] {
        assert!(man.join(page).is_file(), "{page}");
    }
}

/// A child process killed and reaped when dropped (a test that fails half-way).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The messages that arrive on `sock` within `wait`.
fn messages(sock: &UnixDatagram, wait: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    got
}

/// Runs `argv` as systemd would run an ExecStart, with `NOTIFY_SOCKET`; its stdout lines.
fn exec_start(argv: &[String], socket: &Path) -> (Reaped, mpsc::Receiver<String>) {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env("NOTIFY_SOCKET", socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    (Reaped(child), rx)
}

fn state(e: &Env, pod: &str) -> serde_json::Value {
    serde_json::from_str(&e.ok(&["status", "--json", pod])).unwrap()
}

/// A unit for a prepared pod, run for real: ExecStart sends READY=1 with its own pid once
/// every app has started (the pod's state records it, the app's process is there), and the
/// app's output follows; ExecStop ends it (STOPPING=1), and the pod is exited, kept for the
/// next start. The pod's restart policy becomes the unit's, and `run` in the foreground leaves
/// restarting to systemd.
#[jetpack_testutil::root_test]
fn unit_runs_a_prepared_pod() {
    let e = Env::new("dir");
    let script = "echo up; exec sleep 600";
    let mut args = vec!["prepare", "--restart=on-failure:2", "--name", "svc", BB];
    args.extend(["--exec", "/bin/sh", "--", "-c", script]);
    let uuid = e.ok(&args).trim().to_string();
    let unit = e.ok(&["generate", "systemd", "svc"]);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(verify(dir.path(), "jetpack-svc.service", &unit), "");
    for line in ["Restart=on-failure", "StartLimitBurst=3"] {
        assert!(unit.lines().any(|l| l == line), "{line} in\n{unit}");
    }
    let always = e.ok(&["generate", "systemd", "--restart", "always", "svc"]);
    assert!(always.lines().any(|l| l == "Restart=always"), "{always}");
    let start = exec_line(&unit, "ExecStart");
    assert_eq!(start[start.len() - 2..], ["run".to_string(), uuid.clone()]);

    let socket = dir.path().join("notify");
    let sock = UnixDatagram::bind(&socket).unwrap();
    let (mut run, out) = exec_start(&start, &socket);
    let ready = messages(&sock, Duration::from_secs(60));
    assert_eq!(
        ready.first().map(String::as_str),
        Some(format!("READY=1\nMAINPID={}", run.0.id()).as_str()),
        "{ready:?}"
    );
    let st = state(&e, &uuid);
    assert!(
        st["state"] == "running" && st["pid"].is_number() && st["ready"].is_number(),
        "at READY: {st}"
    );
    let ps: serde_json::Value = serde_json::from_str(&e.ok(&["ps", "--json", &uuid])).unwrap();
    assert!(
        ps.as_array().unwrap().iter().any(|p| p["app"] == "busybox"),
        "the app runs at READY: {ps}"
    );
    // Not before READY: an app started may not have written yet.
    assert_eq!(out.recv_timeout(Duration::from_secs(30)).unwrap(), "up");

    let stop = exec_line(&unit, "ExecStop");
    let o = Command::new(&stop[0]).args(&stop[1..]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let status = run.0.wait().unwrap();
    // sleep ended by the SIGTERM the init forwarded.
    assert_eq!(status.code(), Some(128 + 15), "{status}");
    assert_eq!(messages(&sock, Duration::from_secs(5)), ["STOPPING=1"]);
    let st = state(&e, &uuid);
    assert_eq!(st["state"], "exited", "not restarted by run: {st}");
    // ExecStop on a pod that ended on its own fails: the unit ignores it (its `-`).
    assert!(unit.contains("\nExecStop=-"), "{unit}");
}

/// A unit for a pod made at each start, run for real: ExecStartPre clears a leftover pod of
/// its name, ExecStart makes and runs the pod with the odd arguments intact, ExecStop and
/// ExecStopPost end it and leave no pod.
#[jetpack_testutil::root_test]
fn unit_makes_and_destroys_its_pod() {
    let e = Env::new("dir");
    // A pod of the name left behind (a host that went down).
    e.ok(&["prepare", "--name", "svc", BB]);
    let mut args = vec![
        "generate", "systemd", "--name", "svc", BB, "--exec", "/bin/sh",
    ];
    args.extend([
        "--",
        "-c",
        "printf '[%s]' \"$@\"; echo; exec sleep 600",
        "sh",
    ]);
    args.extend(ODD);
    let unit = e.ok(&args);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(verify(dir.path(), "jetpack-svc.service", &unit), "");
    let run_cmd = |key: &str| {
        let c = exec_line(&unit, key);
        Command::new(&c[0]).args(&c[1..]).output().unwrap()
    };
    run_cmd("ExecStartPre");
    assert_eq!(e.ok(&["list", "-q"]), "", "the leftover pod is gone");

    let socket = dir.path().join("notify");
    let sock = UnixDatagram::bind(&socket).unwrap();
    let (mut run, out) = exec_start(&exec_line(&unit, "ExecStart"), &socket);
    let ready = messages(&sock, Duration::from_secs(60));
    assert!(
        ready.first().is_some_and(|m| m.starts_with("READY=1\n")),
        "{ready:?}"
    );
    let expected: String = ODD.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(out.recv_timeout(Duration::from_secs(30)).unwrap(), expected);
    assert_eq!(state(&e, "svc")["state"], "running");

    assert!(run_cmd("ExecStop").status.success());
    run.0.wait().unwrap();
    assert!(run_cmd("ExecStopPost").status.success());
    assert_eq!(e.ok(&["list", "-q"]), "", "the pod is destroyed");
}

/// The stub rc.subr: rc.conf from the test's directory, the rcvar check, and the commands.
const RC_SUBR: &str = r#"
load_rc_config() { . "$RC_TEST_DIR/rc.conf"; }
checkyesno() { eval "_v=\$$1"; case "$_v" in [Yy][Ee][Ss]) return 0;; *) return 1;; esac; }
run_rc_command() {
	case "$1" in
	start|stop) checkyesno "$rcvar" || { echo "$name is disabled"; return 0; } ;;
	esac
	case "$1" in
	start) eval "$start_cmd" ;;
	stop) eval "$stop_cmd" ;;
	status) eval "$status_cmd" ;;
	*) echo "unknown command $1"; return 1 ;;
	esac
}
"#;

/// The stub jetpack's first part: records each call, one bracketed word per argument.
const RECORD: &str = r#"#!/bin/sh
for a in "$@"; do printf '[%s]' "$a"; done >> "$RC_TEST_DIR/calls"
echo >> "$RC_TEST_DIR/calls"
"#;

/// The stub jetpack's second part: `status` prints the pod's state from the file `state` if
/// there is one (else fails, as for no pod).
const FAKE_STATUS: &str = r#"case " $* " in
*" status "*) [ -f "$RC_TEST_DIR/state" ] || exit 1; printf 'UUID:     x\nState:    %s\n' "$(cat "$RC_TEST_DIR/state")" ;;
esac
"#;

/// The rc.d script with `/etc/rc.subr` replaced by the stub, in `dir`.
fn rc_script(dir: &Path, script: &str, name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(script.matches(". /etc/rc.subr\n").count(), 1, "{script}");
    let subr = dir.join("rc.subr");
    std::fs::write(&subr, RC_SUBR).unwrap();
    let stub = dir.join("jetpack");
    std::fs::write(&stub, format!("{RECORD}{FAKE_STATUS}")).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join("rc.conf"),
        format!("{name}_enable=YES\n{name}_bin='{}'\n", stub.display()),
    )
    .unwrap();
    let path = dir.join(name);
    std::fs::write(
        &path,
        script.replace("/etc/rc.subr", subr.to_str().unwrap()),
    )
    .unwrap();
    path
}

/// Runs `sh SCRIPT cmd`; its exit code, its output and the jetpack calls it made.
fn rc(dir: &Path, script: &Path, cmd: &str) -> (i32, String, Vec<String>) {
    let _ = std::fs::remove_file(dir.join("calls"));
    let o = Command::new("sh")
        .arg(script)
        .arg(cmd)
        .env("RC_TEST_DIR", dir)
        .output()
        .unwrap();
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let calls = std::fs::read_to_string(dir.join("calls")).unwrap_or_default();
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
        calls.lines().map(String::from).collect(),
    )
}

fn bracketed(words: &[&str]) -> String {
    words.iter().map(|w| format!("[{w}]")).collect()
}

/// The rc.d script of a pod made from images: `sh -n` accepts it; start runs `run -d` with
/// every argument intact (the restart policy the pod's), after clearing a leftover pod, and
/// not when the pod runs; stop stops and destroys; status answers from `jetpack status`.
#[test]
fn rcd_script_for_a_new_pod() {
    let e = Env::bare("dir");
    let mut args = vec!["generate", "rc.d", "--restart=always", "--name", "web-1"];
    args.extend([BB, "--exec", "/bin/echo", "--"]);
    args.extend(ODD);
    let script = e.ok(&args);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = rc_script(d, &script, "jetpack_web_1");
    let st = Command::new("sh").arg("-n").arg(&path).status().unwrap();
    assert!(st.success(), "sh -n refuses\n{script}");

    let flags: Vec<String> = e.flags();
    let jp = |rest: &[&str]| -> String {
        let mut w: Vec<&str> = flags.iter().map(String::as_str).collect();
        w.extend(rest);
        bracketed(&w)
    };
    let (code, said, calls) = rc(d, &path, "status");
    assert_eq!(
        (code, said.as_str()),
        (1, "jetpack_web_1 is not running (no pod).\n")
    );
    assert_eq!(calls, [jp(&["status", "web-1"])]);

    let (code, _, calls) = rc(d, &path, "start");
    assert_eq!(code, 0);
    let mut run = vec![
        "run",
        "-d",
        "--restart=always",
        "--name",
        "web-1",
        BB,
        "--exec",
    ];
    run.extend(["/bin/echo", "--"]);
    run.extend(ODD);
    assert_eq!(
        calls,
        [
            jp(&["status", "web-1"]),
            jp(&["destroy", "web-1"]),
            jp(&run)
        ]
    );

    std::fs::write(d.join("state"), "running").unwrap();
    let (code, said, calls) = rc(d, &path, "start");
    assert_eq!(
        (code, said.as_str()),
        (0, "jetpack_web_1 is already running.\n")
    );
    assert_eq!(calls, [jp(&["status", "web-1"])]);
    assert_eq!(rc(d, &path, "status").0, 0);
    let (code, _, calls) = rc(d, &path, "stop");
    assert_eq!(code, 0);
    assert_eq!(
        calls,
        [
            jp(&["status", "web-1"]),
            jp(&["stop", "--timeout", "10", "web-1"]),
            jp(&["destroy", "web-1"])
        ]
    );

    // Between two runs of its supervisor the pod counts as running: stop ends its policy.
    std::fs::write(d.join("state"), "restarting").unwrap();
    let (code, said, _) = rc(d, &path, "status");
    assert_eq!((code, said.as_str()), (0, "jetpack_web_1 is restarting.\n"));
    assert_eq!(
        rc(d, &path, "start").1,
        "jetpack_web_1 is already running.\n"
    );
    assert_eq!(rc(d, &path, "stop").2.len(), 3);

    // Not enabled in rc.conf: nothing is called.
    std::fs::write(d.join("rc.conf"), "jetpack_web_1_enable=NO\n").unwrap();
    let (_, said, calls) = rc(d, &path, "start");
    assert_eq!(
        (said.as_str(), calls.len()),
        ("jetpack_web_1 is disabled\n", 0)
    );
}

/// The rc.d script of a prepared pod: `run -d UUID`, `stop UUID`, and no destroy.
#[jetpack_testutil::root_test]
fn rcd_script_for_a_prepared_pod() {
    let e = Env::new("dir");
    let uuid = e.ok(&["prepare", BB]).trim().to_string();
    let script = e.ok(&["generate", "rc.d", &uuid[..8]]);
    let name = format!("jetpack_{}", uuid.replace('-', "_"));
    assert!(
        script.contains(&format!("\n# PROVIDE: {name}\n")),
        "{script}"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = rc_script(d, &script, &name);
    let st = Command::new("sh").arg("-n").arg(&path).status().unwrap();
    assert!(st.success());
    let jp = |rest: &[&str]| -> String {
        let flags = e.flags();
        let mut w: Vec<&str> = flags.iter().map(String::as_str).collect();
        w.extend(rest);
        bracketed(&w)
    };
    let (_, _, calls) = rc(d, &path, "start");
    assert_eq!(calls, [jp(&["status", &uuid]), jp(&["run", "-d", &uuid])]);
    std::fs::write(d.join("state"), "running").unwrap();
    let (_, _, calls) = rc(d, &path, "stop");
    assert_eq!(
        calls,
        [
            jp(&["status", &uuid]),
            jp(&["stop", "--timeout", "10", &uuid])
        ]
    );
    let err = e.err(&["generate", "rc.d", "--restart", "always", &uuid]);
    assert!(err.contains("existing pod"), "{err}");
}

/// The rc.d script run for real on the test's store: the stub jetpack records each call and
/// runs the real one. start starts the pod detached, start again leaves it, status says it
/// runs, stop stops it and removes it.
#[jetpack_testutil::root_test]
fn rcd_script_runs_a_pod() {
    use std::os::unix::fs::PermissionsExt;
    let e = Env::new("dir");
    let mut args = vec!["generate", "rc.d", "--name", "svc", BB, "--exec", "/bin/sh"];
    args.extend(["--", "-c", "echo up; exec sleep 600"]);
    let script = e.ok(&args);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = rc_script(d, &script, "jetpack_svc");
    // The stub records, then the real jetpack answers.
    let real = format!("{RECORD}exec '{}' \"$@\"\n", e.bin().display());
    let stub = d.join("jetpack");
    std::fs::write(&stub, real).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();

    let (code, said, _) = rc(d, &path, "start");
    assert_eq!((code, said.as_str()), (0, "Starting jetpack_svc.\n"));
    let st = state(&e, "svc");
    assert!(st["state"] == "running" && st["ready"].is_number(), "{st}");
    let (code, said, calls) = rc(d, &path, "start");
    assert_eq!(
        (code, said.as_str()),
        (0, "jetpack_svc is already running.\n")
    );
    assert_eq!(calls.len(), 1, "{calls:?}");
    let (code, said, _) = rc(d, &path, "status");
    assert_eq!((code, said.as_str()), (0, "jetpack_svc is running.\n"));
    assert_eq!(e.ok(&["logs", "svc"]), "up\n");
    let (code, said, calls) = rc(d, &path, "stop");
    assert_eq!((code, said.as_str()), (0, "Stopping jetpack_svc.\n"));
    assert_eq!(calls.len(), 3, "status, stop, destroy: {calls:?}");
    assert_eq!(e.ok(&["list", "-q"]), "", "the pod is gone");
    let (code, said, _) = rc(d, &path, "status");
    assert_eq!(
        (code, said.as_str()),
        (1, "jetpack_svc is not running (no pod).\n")
    );
}
