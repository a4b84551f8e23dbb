//! Isolators end to end through the `jetpack` binary, as root, on this host's cgroups: the
//! per-app options (`--memory`, `--cpu`, `--caps-retain`, `--caps-remove`, `--seccomp`),
//! isolators in a pod manifest, the report (warnings, `isolators.json`, `status`), and no
//! cgroup left behind, even by a killed `jetpack run`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;

use common::BB;

const SUID: &str = "example.com/suid";

/// The common environment on the `dir` backend, plus a setuid variant of busybox; on drop it
/// destroys every pod and checks that no cgroup is left.
struct Env(common::Env);

impl std::ops::Deref for Env {
    type Target = common::Env;
    fn deref(&self) -> &common::Env {
        &self.0
    }
}

impl Env {
    fn new() -> Env {
        let e = Env(common::Env::new("dir"));
        e.ok(&["import", "-q", e.suid_aci().to_str().unwrap()]);
        e
    }

    /// busybox plus a setuid-root copy at /suid/busybox, which /etc/busybox.conf lets keep
    /// root for `id` (busybox drops setuid privileges for its applets otherwise).
    fn suid_aci(&self) -> PathBuf {
        let w = self.backend.dir.path().join("suid");
        let aci = self.backend.dir.path().join("suid.aci");
        let script = r#"set -e
            mkdir -p "$W/rootfs/bin" "$W/rootfs/etc" "$W/rootfs/suid" "$W/rootfs/tmp"
            cp /bin/busybox "$W/rootfs/bin/busybox"
            ln -s busybox "$W/rootfs/bin/sh"
            cp /bin/busybox "$W/rootfs/suid/busybox"
            chmod 4755 "$W/rootfs/suid/busybox"
            ln -s busybox "$W/rootfs/suid/id"
            printf '[SUID]\nid = ssx 0.0\n' > "$W/rootfs/etc/busybox.conf"
            chmod 600 "$W/rootfs/etc/busybox.conf"
            printf 'root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n' > "$W/rootfs/etc/passwd"
            printf 'root:x:0:\nnogroup:x:65534:\n' > "$W/rootfs/etc/group"
            cat > "$W/manifest" <<JSON
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/suid",
 "app":{"exec":["/bin/sh"],"user":"0","group":"0"}}
JSON
            tar --numeric-owner --owner=0 --group=0 -C "$W" -czf "$A" rootfs manifest"#;
        let st = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("W", &w)
            .env("A", &aci)
            .status()
            .unwrap();
        assert!(st.success());
        aci
    }

    fn isolators(&self, uuid: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.pod_dir(uuid).join("isolators.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let list = self.cmd().args(["list", "--json"]).output();
        if let Ok(o) = list
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout)
        {
            for p in v.as_array().into_iter().flatten() {
                let uuid = p["uuid"].as_str().unwrap_or_default();
                let _ = self.cmd().args(["destroy", uuid]).output();
                if !std::thread::panicking() {
                    assert!(cgroups_of(uuid).is_empty(), "destroy left cgroups");
                }
            }
        }
    }
}

/// The pod's cgroup directories on this host (v1 hierarchies or the v2 one).
fn cgroups_of(uuid: &str) -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(rd.flatten().map(|e| e.path()));
    }
    roots
        .into_iter()
        .map(|r| r.join("jetpack").join(uuid))
        .filter(|p| p.is_dir())
        .collect()
}

/// The entry of `isolators.json` for (app, name).
fn entry<'a>(
    report: &'a serde_json::Value,
    app: Option<&str>,
    name: &str,
) -> &'a serde_json::Value {
    report["isolators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["app"].as_str() == app && e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} for {app:?} in {report:#}"))
}

#[jetpack_testutil::root_test]
fn memory_limit_kills_and_the_pod_records_it() {
    let e = Env::new();
    let o = e.out(&[
        "run",
        BB,
        "--memory=32M",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "exec dd if=/dev/zero of=/dev/null bs=64M count=1",
    ]);
    assert_eq!(o.status.code(), Some(137), "{o:?}");
    let uuid = e.only_pod();
    let exit = std::fs::read_to_string(e.pod_dir(&uuid).join("apps/busybox/exit")).unwrap();
    let mut lines = exit.lines();
    assert_eq!(lines.next(), Some("137"));
    let json: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(json["signal"], 9);
    let report = e.isolators(&uuid);
    let mem = entry(&report, Some("busybox"), "resource/memory");
    assert_eq!(mem["status"], "enforced", "{mem}");
    assert!(
        mem["detail"]
            .as_str()
            .unwrap()
            .contains("limit 32000000 bytes"),
        "{mem}"
    );
    assert!(
        cgroups_of(&uuid).is_empty(),
        "the pod's cgroups are removed"
    );
}

/// CPU seconds used so far by the pod's cgroup (v1 cpuacct, or v2 cpu.stat).
fn cpu_seconds(uuid: &str) -> Option<f64> {
    for d in cgroups_of(uuid) {
        if let Ok(ns) = std::fs::read_to_string(d.join("cpuacct.usage")) {
            return ns.trim().parse::<f64>().ok().map(|n| n / 1e9);
        }
        if let Ok(stat) = std::fs::read_to_string(d.join("cpu.stat"))
            && let Some(us) = stat.lines().find_map(|l| l.strip_prefix("usage_usec "))
        {
            return us.parse::<f64>().ok().map(|u| u / 1e6);
        }
    }
    None
}

#[jetpack_testutil::root_test]
fn cpu_limit_holds_a_busy_loop() {
    let e = Env::new();
    let id = e.ok(&[
        "prepare",
        BB,
        "--cpu=200m",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "while :; do :; done",
    ]);
    let id = id.trim().to_string();
    let mut child = e.cmd().args(["run", &id]).spawn().unwrap();
    let start = Instant::now();
    while cpu_seconds(&id).is_none_or(|s| s == 0.0) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the pod did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (t0, u0) = (Instant::now(), cpu_seconds(&id).unwrap());
    std::thread::sleep(Duration::from_secs(1));
    let (t1, u1) = (Instant::now(), cpu_seconds(&id).unwrap());
    e.ok(&["kill", &id]);
    child.wait().unwrap();
    let share = (u1 - u0) / (t1 - t0).as_secs_f64();
    assert!(
        (0.1..=0.35).contains(&share),
        "a 200m limit gave {share:.3} CPU"
    );
    assert!(cgroups_of(&id).is_empty());
}

#[jetpack_testutil::root_test]
fn capabilities_retain_and_remove() {
    let e = Env::new();
    let chown = |opts: &[&str]| -> Output {
        let mut args = vec!["run", "--rm", BB];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "touch /tmp/f && chown 65534 /tmp/f && echo chowned",
        ]);
        e.out(&args)
    };
    let ok = |o: &Output| o.status.success() && String::from_utf8_lossy(&o.stdout) == "chowned\n";
    assert!(ok(&chown(&[])), "the default set has CAP_CHOWN");
    assert!(ok(&chown(&["--caps-retain=CAP_CHOWN"])));
    for opts in [
        ["--caps-retain=CAP_SETUID,CAP_KILL"],
        ["--caps-remove=CAP_CHOWN"],
    ] {
        let o = chown(&opts);
        assert!(!ok(&o), "{opts:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("Operation not permitted"),
            "{opts:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // Unknown capability names are left out, with a warning.
    let o = e.out(&[
        "run",
        "--rm",
        BB,
        "--caps-retain=CAP_CHOWN,CAP_PONIES",
        "--exec",
        "/bin/true",
    ]);
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("os/linux/capabilities-retain-set modified")
            && stderr.contains("CAP_PONIES"),
        "{stderr}"
    );
    assert!(
        e.err(&[
            "run",
            BB,
            "--caps-retain=CAP_CHOWN",
            "--caps-remove=CAP_KILL"
        ])
        .contains("incompatible")
    );
}

#[jetpack_testutil::root_test]
fn seccomp_option_and_unknown_syscalls() {
    let e = Env::new();
    let o = e.out(&[
        "run",
        "--rm",
        BB,
        "--seccomp",
        "mode=remove,errno=EPERM,mkdir,mkdirat",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "mkdir /tmp/x; echo code=$?",
    ]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "code=1\n");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = e.err(&["prepare", BB, "--seccomp", "mode=retain,read,write,mkdri"]);
    assert!(
        err.contains("unknown system call") && err.contains("mkdri"),
        "{err}"
    );
    let err = e.err(&["prepare", BB, "--seccomp", "mode=remove,errno=EPONY,mkdir"]);
    assert!(err.contains("EPONY"), "{err}");
    assert_eq!(e.ok(&["list"]).lines().count(), 1, "nothing was prepared");
}

#[jetpack_testutil::root_test]
fn pod_manifest_isolators_and_the_report() {
    let e = Env::new();
    // Without no-new-privileges, the setuid binary makes the user root.
    let out = e.ok(&[
        "run", "--rm", SUID, "--user", "65534", "--group", "65534", "--exec", "/suid/id", "--",
        "-u",
    ]);
    assert_eq!(out, "0\n");

    let manifest = e.backend.dir.path().join("pod.json");
    std::fs::write(
        &manifest,
        r#"{"acKind":"PodManifest","acVersion":"0.8.11",
            "apps":[{"name":"suid","image":{"name":"example.com/suid"},
              "app":{"exec":["/bin/sh","-c","/suid/id -u; cat /proc/self/oom_score_adj"],
                     "user":"65534","group":"65534",
                     "isolators":[{"name":"os/linux/no-new-privileges","value":true},
                                  {"name":"os/linux/oom-score-adj","value":700},
                                  {"name":"example.com/unknown","value":{"x":1}}]}}],
            "isolators":[{"name":"resource/memory","value":{"limit":"256Mi"}},
                         {"name":"resource/network-bandwidth","value":{"default":true,"limit":"1M"}},
                         {"name":"resource/block-bandwidth","value":{"default":true,"limit":"1M"}}]}"#,
    )
    .unwrap();
    let o = e.out(&["run", "--pod-manifest", manifest.to_str().unwrap()]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stdout}{stderr}");
    assert_eq!(
        stdout, "65534\n700\n",
        "no-new-privileges and oom-score-adj"
    );
    for warned in [
        "pod: isolator resource/block-bandwidth ignored",
        "app suid: isolator example.com/unknown ignored: unknown isolator",
    ] {
        assert!(stderr.contains(warned), "{warned:?} not in {stderr}");
    }
    assert!(
        !stderr.contains("no-new-privileges"),
        "enforced ones are not warned about: {stderr}"
    );

    let uuid = e.only_pod();
    let report = e.isolators(&uuid);
    assert_eq!(
        entry(&report, None, "resource/memory")["status"],
        "enforced"
    );
    // On the default network, through its bandwidth plugin.
    assert_eq!(
        entry(&report, None, "resource/network-bandwidth")["status"],
        "enforced"
    );
    assert_eq!(
        entry(&report, None, "resource/block-bandwidth")["status"],
        "ignored"
    );
    assert_eq!(
        entry(&report, Some("suid"), "os/linux/no-new-privileges")["status"],
        "enforced"
    );
    let caps = entry(&report, Some("suid"), "os/linux/capabilities-retain-set");
    assert_eq!(caps["status"], "enforced");
    assert_eq!(
        caps["value"]["set"].as_array().unwrap().len(),
        14,
        "the default set"
    );
    let unknown = entry(&report, Some("suid"), "example.com/unknown");
    assert_eq!(
        (&unknown["status"], &unknown["value"]["x"]),
        (&"ignored".into(), &1.into())
    );
    let status: serde_json::Value =
        serde_json::from_str(&e.ok(&["status", "--json", &uuid])).unwrap();
    assert_eq!(status["isolators"], report["isolators"]);
    assert!(
        e.ok(&["status", &uuid])
            .contains("Isolator: pod resource/memory enforced")
    );
}

#[jetpack_testutil::root_test]
fn a_killed_run_leaves_cgroups_that_gc_and_destroy_remove() {
    let e = Env::new();
    let id = e.ok(&[
        "prepare",
        BB,
        "--memory=64M",
        "--cpu=1",
        "--exec",
        "/bin/sleep",
        "--",
        "30",
    ]);
    let id = id.trim().to_string();
    let mut child = e.cmd().args(["run", &id]).spawn().unwrap();
    let start = Instant::now();
    while !e.ok(&["status", "--json", &id]).contains("\"running\"") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the pod did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    while e.ok(&["status", "--json", &id]).contains("\"running\"") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the pod did not die"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !cgroups_of(&id).is_empty(),
        "a killed run cannot remove its cgroups"
    );
    // Within its grace period the pod stays, but its cgroups go.
    let out = e.ok(&["gc"]);
    assert!(
        out.contains(&format!("removed pod cgroups of {id}")),
        "{out}"
    );
    assert!(cgroups_of(&id).is_empty());
    e.ok(&["status", &id]);
    // And destroy after another killed run.
    let mut child = e.cmd().args(["run", &id]).spawn().unwrap();
    let start = Instant::now();
    while cgroups_of(&id).is_empty() || !e.ok(&["status", "--json", &id]).contains("\"running\"") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the pod did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    e.ok(&["destroy", &id]);
    assert!(cgroups_of(&id).is_empty());
}
