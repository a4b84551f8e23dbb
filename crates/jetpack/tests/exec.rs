//! `exec`, `console` and `top` on real pods, as root: a command in a running app gets the app's
//! user, group, environment (its metadata URL, which answers), working directory,
//! capabilities, no_new_privs, seccomp filter and cgroups, exactly as the app has them; a pod
//! that is not running is a clear error; `console` is a login shell of the image's user.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};

mod common;

use common::{BB, Env, wait_file};

/// The pod's `jetpack run`, killed (so the pod ends) when the test ends, whatever happened.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a process reports about itself: its ids, capabilities, no_new_privs and seccomp mode,
/// its working directory and its environment (sorted).
const REPORT: &str = "grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs|Seccomp):' \
                      /proc/self/status; echo cwd=$(pwd); env | sort";

/// A pod named `name` from a pod manifest: one busybox app, user 0, group 5678, in
/// `/var/www`, with `GREETING`, two capabilities, no_new_privs, writing its own [`REPORT`] to
/// `/out/app` and then sleeping.
fn start(e: &Env, name: &str, out: &Path) -> Running {
    let manifest = e.dir().join(format!("{name}.json"));
    let script = format!("({REPORT}) > /out/app.tmp; mv /out/app.tmp /out/app; exec sleep 1000");
    let m = serde_json::json!({
        "acKind": "PodManifest", "acVersion": "0.8.11",
        "apps": [{
            "name": "web",
            "image": {"name": BB},
            "app": {
                "exec": ["/bin/sh", "-c", script],
                "user": "0", "group": "5678",
                "workingDirectory": "/var/www",
                "environment": [{"name": "GREETING", "value": "hello"}],
                "isolators": [
                    {"name": "os/linux/no-new-privileges", "value": true},
                    {"name": "os/linux/capabilities-retain-set",
                     "value": {"set": ["CAP_CHOWN", "CAP_KILL"]}}
                ]
            },
            "mounts": [{"volume": "out", "path": "/out"}]
        }],
        "volumes": [{"name": "out", "kind": "host", "source": out.to_str().unwrap()}]
    });
    std::fs::write(&manifest, m.to_string()).unwrap();
    let mut child = e.spawn(&[
        "run",
        "--name",
        name,
        "--pod-manifest",
        manifest.to_str().unwrap(),
    ]);
    wait_file(&out.join("app"), &mut child);
    e.wait_running_or(&mut child, name);
    Running(child)
}

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn line<'a>(report: &'a str, prefix: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {report}"))
}

#[jetpack_testutil::root_test]
fn exec_runs_as_the_app_runs() {
    let e = Env::new("overlay");
    let out = tempfile::tempdir().unwrap();
    let pod = start(&e, "ex", out.path());
    let uuid = e.wait_running("ex")["uuid"].as_str().unwrap().to_string();
    let app = std::fs::read_to_string(out.path().join("app")).unwrap();

    let o = e.out(&["exec", "ex", "--", "/bin/sh", "-c", REPORT]);
    assert!(o.status.success(), "{}", text(&o));
    let mine = String::from_utf8(o.stdout).unwrap();
    // Exactly the app's ids, capabilities, no_new_privs, seccomp mode and directory.
    for field in [
        "Uid:",
        "Gid:",
        "Groups:",
        "CapEff:",
        "CapBnd:",
        "NoNewPrivs:",
        "Seccomp:",
        "cwd=",
    ] {
        assert_eq!(line(&mine, field), line(&app, field), "{field}\n{mine}");
    }
    assert!(mine.contains("Uid:\t0\t"), "{mine}");
    assert!(mine.contains("Gid:\t5678\t"), "{mine}");
    assert!(mine.contains("CapEff:\t0000000000000021"), "{mine}");
    assert!(mine.contains("NoNewPrivs:\t1"), "{mine}");
    assert!(mine.contains("Seccomp:\t2"), "{mine}");
    assert!(mine.contains("cwd=/var/www\n"), "{mine}");
    // The app's environment, the metadata URL with the pod's token included.
    for var in [
        "GREETING=",
        "AC_APP_NAME=",
        "AC_METADATA_URL=",
        "PATH=",
        "container=",
    ] {
        assert_eq!(line(&mine, var), line(&app, var), "{var}\n{mine}");
    }
    let url = line(&app, "AC_METADATA_URL=").trim_start_matches("AC_METADATA_URL=");
    assert!(url.starts_with("http://"), "{app}");
    // ... which answers the command as it answers the app.
    let o = e.out(&[
        "exec",
        "ex",
        "--",
        "/bin/sh",
        "-c",
        "wget -q -O - $AC_METADATA_URL/acMetadata/v1/pod/uuid",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), uuid, "{}", text(&o));
    // Only root reads the recorded URL, and only while the pod runs.
    let url_file = e.pod_dir(&uuid).join("metadata-url");
    let mode = std::os::unix::fs::PermissionsExt::mode(&url_file.metadata().unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // -u, -w, -e; the exit status is the command's.
    let o = e.out(&[
        "exec",
        "ex:web",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "GREETING=bye",
        "-e",
        "NEW=1",
        "--",
        "/bin/sh",
        "-c",
        REPORT,
    ]);
    let other = text(&o);
    assert!(o.status.success(), "{other}");
    assert!(other.contains("Uid:\t65534\t"), "{other}");
    assert!(other.contains("Gid:\t65534\t"), "{other}");
    assert!(other.contains("CapEff:\t0000000000000000"), "{other}");
    assert!(other.contains("Seccomp:\t2"), "{other}");
    assert!(other.contains("cwd=/tmp\n"), "{other}");
    assert!(
        other.contains("GREETING=bye\n") && other.contains("NEW=1\n"),
        "{other}"
    );
    assert_eq!(
        e.out(&["exec", "ex", "--", "/bin/sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    // -t: a terminal of its own (and none without).
    let isatty = "[ -t 0 ] && [ -t 1 ] && echo terminal; exit 3";
    let o = e.out(&["exec", "-t", "ex", "--", "/bin/sh", "-c", isatty]);
    assert!(text(&o).contains("terminal"), "{}", text(&o));
    assert_eq!(o.status.code(), Some(3));
    let o = e.out(&["exec", "ex", "--", "/bin/sh", "-c", isatty]);
    assert!(!text(&o).contains("terminal"), "{}", text(&o));
    assert_eq!(o.status.code(), Some(3));
    let err = e.err(&["exec", "ex", "-w", "/nope", "--", "/bin/true"]);
    assert!(err.contains("/nope"), "{err}");
    let err = e.err(&["exec", "ex:db", "--", "/bin/true"]);
    assert!(err.contains("has no app \"db\""), "{err}");

    // `enter` keeps its old form, `--privileged` included.
    let o = e.out(&["enter", "ex", "--", "/bin/sh", "-c", REPORT]);
    assert_eq!(line(&text(&o), "CapEff:"), line(&app, "CapEff:"));
    let o = e.out(&[
        "enter",
        "--privileged",
        "ex",
        "web",
        "--",
        "/bin/sh",
        "-c",
        REPORT,
    ]);
    assert!(text(&o).contains("Seccomp:\t0"), "{}", text(&o));

    // Once the pod has ended: a clear error, and the URL is gone.
    e.ok(&["stop", "ex"]);
    // `jetpack run` ends on its own once it has undone the start.
    let mut pod = pod;
    pod.0.wait().unwrap();
    assert!(!url_file.exists(), "the metadata URL outlives its pod");
    let err = e.err(&["exec", "ex", "--", "/bin/true"]);
    assert!(
        err.contains("has exited") && err.contains("jetpack run"),
        "{err}"
    );
}

#[jetpack_testutil::root_test]
fn exec_into_a_pod_that_is_not_running() {
    let e = Env::new("dir");
    e.ok(&["prepare", "--name", "idle", BB]);
    let err = e.err(&["exec", "idle", "--", "/bin/true"]);
    assert!(
        err.contains("is prepared, not running") && err.contains("jetpack run"),
        "{err}"
    );
    e.ok(&["run", "--name", "done", BB, "--exec", "/bin/true"]);
    let err = e.err(&["console", "done"]);
    assert!(err.contains("has exited (status 0)"), "{err}");
    let err = e.err(&["exec", "nosuchpod", "--", "/bin/true"]);
    assert!(err.contains("no pod named"), "{err}");
}

#[jetpack_testutil::root_test]
fn console_is_a_login_shell_of_the_images_user() {
    let e = Env::new("dir");
    let out = tempfile::tempdir().unwrap();
    let _pod = start(&e, "con", out.path());
    let console = |args: &[&str], input: &str| {
        let mut c = e
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let o = console(
        &["console", "con", "-u", "root"],
        "echo \"$0 $HOME $USER $LOGNAME $SHELL $(pwd) $(id -u):$(id -g)\"\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "-sh /root root root /bin/sh /root 0:0\n"
    );
    // nobody's shell in the image is /bin/false: that is what runs.
    let o = console(
        &["console", "con:web", "--user", "nobody"],
        "echo reached\n",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains("reached"), "{}", text(&o));
}

#[jetpack_testutil::root_test]
fn top_shows_the_apps_processes_and_what_they_use() {
    let e = Env::new("dir");
    let out = tempfile::tempdir().unwrap();
    let script = "(while :; do :; done) & touch /out/ready; exec sleep 1000";
    let mut c = e.spawn_reporting(&["--name", "busy"], out.path(), &[], script);
    wait_file(&out.path().join("ready"), &mut c);
    e.wait_running_or(&mut c, "busy");
    let _pod = Running(c);
    let table = e.ok(&["top", "busy", "-d", "0.3"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("PID") && header.contains("CPU%") && header.contains("RSS"));
    assert!(
        table
            .lines()
            .any(|l| l.contains(" busybox ") && l.ends_with("sleep 1000")),
        "{table}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["top", "busy", "-d", "0.3", "--json"])).unwrap();
    let procs = v.as_array().unwrap();
    assert!(procs.iter().any(|p| p["app"].is_null()), "the init: {v}");
    let sleep = procs
        .iter()
        .find(|p| p["command"] == "sleep 1000")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(sleep["app"], "busybox");
    assert!(sleep["rss_bytes"].as_u64().unwrap() > 0, "{v}");
    assert!(sleep["cpu_percent"].as_f64().unwrap() < 5.0, "{v}");
    // The loop, a subshell of the app's shell: busy.
    let busiest = procs
        .iter()
        .map(|p| p["cpu_percent"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(busiest > 30.0, "{v}");
    let two = e.ok(&["top", "busy", "-d", "0.1", "-n", "2", "--json"]);
    assert_eq!(two.lines().count(), 2, "{two}");
    let err = e.err(&["top", "busy", "-d", "0"]);
    assert!(err.contains("above 0"), "{err}");
    e.ok(&["stop", "busy"]);
    let err = e.err(&["top", "busy"]);
    assert!(err.contains("not running"), "{err}");
}

/// A detached pod's supervisor keeps the metadata URL for `exec` as `jetpack run` does.
#[jetpack_testutil::root_test]
fn exec_into_a_detached_pod() {
    let e = Env::new("overlay");
    let uuid = e.ok(&[
        "run",
        "-d",
        "--name",
        "det",
        BB,
        "--exec",
        "/bin/sleep",
        "--",
        "1000",
    ]);
    let uuid = uuid.trim();
    let o = e.out(&[
        "exec",
        "det",
        "--",
        "/bin/sh",
        "-c",
        "wget -q -O - $AC_METADATA_URL/acMetadata/v1/pod/uuid",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), uuid, "{}", text(&o));
    e.ok(&["stop", "det"]);
    // The supervisor removes it once the init has gone, which `stop` waits for.
    let url = e.pod_dir(uuid).join("metadata-url");
    for _ in 0..250 {
        if !url.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the metadata URL outlives its pod");
}
