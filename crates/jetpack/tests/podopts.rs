//! Pod-wide options (`--hostname`, `--hosts-entry`, `--dns-search`, `--dns-opt`, `--set-env`
//! and `--set-env-file` for every app, `--inherit-env`, `--supplementary-gids`, `--mount` for
//! every app) seen from inside real pods, and the caller's stdin given to an app (`-i`).

mod common;

use common::{BB, Env};

/// The lines `app` printed, without its prefix.
fn lines_of<'a>(out: &'a str, app: &str) -> Vec<&'a str> {
    let prefix = format!("{app}: ");
    out.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

const REPORT: &str = "echo host=$(hostname); grep -E 'db|web' /etc/hosts; \
    sed 's/^/resolv: /' /etc/resolv.conf; \
    echo env=$POD,$APP,$FROMFILE,$PODOPTS_INHERITED,$HOME_IS_SET; echo groups=$(id -G)";

#[jetpack_testutil::root_test]
fn pod_wide_options_reach_every_app_at_every_run() {
    let e = Env::new("dir");
    let envfile = e.dir().join("env");
    std::fs::write(&envfile, "# pod-wide\nFROMFILE=file\n\nPOD=from-file\n").unwrap();
    let one = format!("{REPORT}; echo shared > /data/x.new && mv /data/x.new /data/x");
    let two = format!(
        "{REPORT}; i=0; while [ ! -e /data/x ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; \
         echo data=$(cat /data/x)"
    );
    let prepare = [
        "prepare",
        "--net",
        "none",
        "--hostname",
        "web-1.example",
        "--hosts-entry",
        "10.0.0.5=db",
        "--hosts-entry=10.0.0.5=db.example",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "a.example,b.example",
        "--dns-opt",
        "ndots:2",
        "--dns-opt=rotate",
        "--set-env-file",
        envfile.to_str().unwrap(),
        "--set-env",
        "POD=pod",
        "--inherit-env",
        "--supplementary-gids",
        "10,20",
        "--volume",
        "data,kind=empty",
        "--mount",
        "volume=data,target=/data",
        BB,
        "--app-name",
        "one",
        "--set-env",
        "APP=one",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        &one,
        "---",
        BB,
        "--app-name",
        "two",
        "--supplementary-gids",
        "30",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        &two,
    ];
    let o = e
        .cmd()
        .args(prepare)
        .env("PODOPTS_INHERITED", "inherited")
        .env("HOME_IS_SET", "yes")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let uuid = String::from_utf8(o.stdout).unwrap().trim().to_string();

    // Recorded at prepare: every run applies them (here two, from fresh clones).
    for _ in 0..2 {
        let out = e.ok(&["run", &uuid]);
        for app in ["one", "two"] {
            let l = lines_of(&out, app);
            assert!(l.contains(&"host=web-1.example"), "{app}: {out}");
            assert!(l.contains(&"10.0.0.5\tdb db.example"), "{app}: {out}");
            assert!(l.contains(&"127.0.1.1\tweb-1.example"), "{app}: {out}");
            assert!(l.contains(&"resolv: nameserver 192.0.2.53"), "{app}: {out}");
            assert!(
                l.contains(&"resolv: search a.example b.example"),
                "{app}: {out}"
            );
            assert!(
                l.contains(&"resolv: options ndots:2 rotate"),
                "{app}: {out}"
            );
        }
        let (l1, l2) = (lines_of(&out, "one"), lines_of(&out, "two"));
        // The pod's --set-env over its file, the app's over the pod's; the caller's under all.
        assert!(l1.contains(&"env=pod,one,file,inherited,yes"), "{out}");
        assert!(l2.contains(&"env=pod,,file,inherited,yes"), "{out}");
        assert!(l1.contains(&"groups=0 10 20"), "{out}");
        assert!(l2.contains(&"groups=0 30"), "{out}");
        assert!(l2.contains(&"data=shared"), "{out}");
    }

    // The manifest has what applies to apps; the state what applies to the pod.
    let m: serde_json::Value = serde_json::from_str(&e.ok(&["manifest", &uuid])).unwrap();
    let app = &m["apps"][0]["app"];
    assert_eq!(app["supplementaryGIDs"], serde_json::json!([10, 20]));
    assert_eq!(m["apps"][1]["mounts"][0]["path"], "/data");
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.pod_dir(&uuid).join("pod.json")).unwrap()).unwrap();
    assert_eq!(st["etc"]["hostname"], "web-1.example");
}

#[jetpack_testutil::root_test]
fn dry_run_shows_pod_wide_options() {
    let e = Env::new("dir");
    let o = e.out(&[
        "prepare",
        "-n",
        "--hostname",
        "h1",
        "--hosts-entry",
        "host",
        "--dns-search",
        "x.example",
        "--set-env",
        "A=1",
        "--supplementary-gids",
        "5",
        BB,
        "--exec",
        "/bin/true",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let app = &m["apps"][0]["app"];
    assert!(
        app["environment"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"name": "A", "value": "1"})),
        "{app}"
    );
    assert_eq!(app["supplementaryGIDs"], serde_json::json!([5]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("hostname h1"), "{err}");
    assert!(err.contains("/etc/hosts: the host's"), "{err}");
    assert!(err.contains("search x.example"), "{err}");
    assert_eq!(e.ok(&["list", "-q"]), "");
}

#[jetpack_testutil::root_test]
fn bad_pod_wide_values_are_refused_and_leave_no_pod() {
    let e = Env::new("dir");
    let missing = e.dir().join("no-such-env-file");
    let badfile = e.dir().join("bad-env");
    std::fs::write(&badfile, "OK=1\nnot a variable\n").unwrap();
    let manifest = e.dir().join("pod.json");
    std::fs::write(
        &manifest,
        r#"{"acKind": "PodManifest", "acVersion": "0.8.11", "apps": []}"#,
    )
    .unwrap();
    let long = "a".repeat(65);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--hostname", "web_1"], "a hostname is made of"),
        (vec!["--hostname", &long], "at most 64"),
        (vec!["--hosts-entry", "10.0.0.5"], "expected IP=HOSTNAME"),
        (vec!["--hosts-entry", "ten=db"], "expected IP=HOSTNAME"),
        (
            vec!["--hosts-entry", "10.0.0.5=-db"],
            "a hostname is made of",
        ),
        (vec!["--dns-search", "a b"], "not a domain name"),
        (vec!["--dns-opt", "ndots:x"], "resolver option"),
        (vec!["--set-env", "NOVALUE"], "expected NAME=VALUE"),
        (vec!["--set-env", "1X=y"], "not a variable name"),
        (
            vec!["--set-env-file", missing.to_str().unwrap()],
            "no-such-env-file",
        ),
        (vec!["--set-env-file", badfile.to_str().unwrap()], "line 2"),
        (vec!["--supplementary-gids", "10,x"], "numeric group IDs"),
        (
            vec!["--mount", "volume=nope,target=/x"],
            "no such volume: add --volume nope",
        ),
        (vec!["--mount", "volume=v,target=rel"], "ABSOLUTE"),
    ];
    for (opts, want) in &cases {
        let mut args = vec!["run", "--net", "none"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[BB, "--exec", "/bin/true"]);
        let err = e.err(&args);
        assert!(err.contains(want), "{opts:?}: {err}");
    }
    let err = e.err(&[
        "prepare",
        "--set-env",
        "A=1",
        "--pod-manifest",
        manifest.to_str().unwrap(),
    ]);
    assert!(err.contains("with --pod-manifest"), "{err}");
    assert_eq!(e.ok(&["list", "-q"]), "", "no pod left");
}

/// `jetpack ARGS` with `input` on its stdin (a pipe closed after it); its output.
fn with_stdin(e: &Env, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut c = e
        .cmd()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let o = c.wait_with_output().unwrap();
    writer.join().unwrap();
    o
}

#[jetpack_testutil::root_test]
fn interactive_gives_the_callers_stdin_to_an_app() {
    let e = Env::new("dir");
    let run = [
        "run", "--rm", "--net", "none", "-i", BB, "--exec", "/bin/cat",
    ];
    let o = with_stdin(&e, &run, b"x\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "x\n");
    // Without -i the app reads /dev/null, as before.
    let o = with_stdin(
        &e,
        &["run", "--rm", "--net", "none", BB, "--exec", "/bin/cat"],
        b"x\n",
    );
    assert!(o.status.success());
    assert_eq!(o.stdout, b"");

    // Two apps: the one --app names reads stdin, the other /dev/null.
    let two = [
        "run",
        "--rm",
        "--net",
        "none",
        "-i",
        "--app",
        "b",
        BB,
        "--app-name",
        "a",
        "--exec",
        "/bin/cat",
        "---",
        BB,
        "--app-name",
        "b",
        "--exec",
        "/bin/cat",
    ];
    let o = with_stdin(&e, &two, b"for b\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "b: for b\n");
    let mut unnamed: Vec<&str> = two.to_vec();
    unnamed.drain(5..7);
    let o = with_stdin(&e, &unnamed, b"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--app NAME (a, b)"),
        "{err}"
    );
    let mut wrong: Vec<&str> = two.to_vec();
    wrong[6] = "c";
    let o = with_stdin(&e, &wrong, b"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no such app (a, b)"),
        "{err}"
    );
    // Refused before the pod runs: none is left, even without --rm.
    let o = with_stdin(
        &e,
        &wrong[..1]
            .iter()
            .chain(&wrong[2..])
            .copied()
            .collect::<Vec<_>>(),
        b"",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("no such app"), "{err}");
    assert_eq!(e.ok(&["list", "-q"]), "", "no pod left");
}

#[jetpack_testutil::root_test]
fn interactive_input_is_paced_by_a_slow_reader() {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let e = Env::new("dir");
    const SIZE: usize = 2 << 20;
    let mut c = e
        .cmd()
        .args([
            "run", "--rm", "--net", "none", "-i", BB, "--exec", "/bin/sh", "--",
        ])
        .args(["-c", "sleep 3; wc -c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let written = std::sync::Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'y'; 16 << 10];
        for _ in 0..SIZE / chunk.len() {
            stdin.write_all(&chunk).unwrap();
            w.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(2000));
    // While the app does not read, the init holds one buffer at most: the writer is held up
    // once the pipes (caller's, the app's) and that buffer are full.
    let early = written.load(Ordering::SeqCst);
    eprintln!("taken while the app slept: {early} bytes");
    assert!(
        early < 512 << 10,
        "{early} bytes taken before the app read any"
    );
    writer.join().unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), SIZE.to_string());
}

#[jetpack_testutil::root_test]
fn interactive_pod_ends_with_its_app_while_stdin_stays_open() {
    let e = Env::new("dir");
    let mut c = e
        .cmd()
        .args([
            "run",
            "--rm",
            "--net",
            "none",
            "-i",
            BB,
            "--exec",
            "/bin/true",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _open = c.stdin.take();
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            assert!(st.success());
            break;
        }
        assert!(start.elapsed().as_secs() < 60, "the pod waited for stdin");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[jetpack_testutil::root_test]
fn tty_goes_to_the_app_named_in_a_pod_of_several() {
    let e = Env::new("dir");
    // `script` gives the command a terminal; the app with it reports that it has one.
    let mut cmd = vec![e.bin().display().to_string()];
    cmd.extend(e.flags());
    let quote = |s: &str| format!("'{s}'");
    let args = [
        "run",
        "--rm",
        "--net",
        "none",
        "-t",
        "--app",
        "term",
        BB,
        "--app-name",
        "term",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "tty -s && echo term-has-tty",
        "---",
        BB,
        "--app-name",
        "other",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "tty -s || echo other-has-none",
    ];
    cmd.extend(args.iter().map(|a| a.to_string()));
    let line: Vec<String> = cmd.iter().map(|a| quote(a)).collect();
    let o = std::process::Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("term-has-tty"), "{out}");
    // The other app's lines, through the raw terminal, end in "\r\n".
    assert!(out.contains("other: other-has-none\r\n"), "{out:?}");
}
