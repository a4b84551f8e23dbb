//! Pod networks and the metadata service, end to end as root: real CNI plugins on a bridge and
//! subnet of the test's own, busybox pods talking to each other, to the host, through a
//! forwarded port, and to the metadata service with `wget`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

mod common;

use common::{BB, Env, wait_file};
use jetpack_testutil::{TestNet, run};

/// GET / from `addr`, waiting up to 5 s for the server to listen (a running pod's app may
/// not have reached `listen` yet).
fn http_get(addr: &str) -> String {
    let mut tries = 0;
    let mut s = loop {
        match TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5)) {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused && tries < 250 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connecting to {addr}: {e}"),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The veths on the test's bridge: one per pod on the default network.
fn veths(e: &Env) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{}/brif", e.net.bridge))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Every trace a pod's networks leave on the host besides its veth: iptables rules naming it,
/// leases of its addresses, its namespace file.
fn traces(e: &Env, uuid: &str, ips: &[String]) -> Vec<String> {
    let mut t: Vec<String> = ["nat", "filter"]
        .iter()
        .flat_map(|table| {
            run("iptables-save", &["-t", table])
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains(uuid))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    for ip in ips {
        let lease = e.root().join("net/leases/default").join(ip);
        if lease.exists() {
            t.push(format!("lease {}", lease.display()));
        }
    }
    if e.pod_dir(uuid).join("netns").exists() {
        t.push("netns".into());
    }
    t
}

fn ip_of(row: &serde_json::Value) -> String {
    let a = row["networks"][0]["addresses"][0].as_str().unwrap();
    a.split('/').next().unwrap().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[jetpack_testutil::root_test]
fn pods_reach_each_other_the_host_and_a_forwarded_port() {
    let e = Env::new("overlay");
    let port = free_port();
    let hp = format!("http:{port}");
    let mut web = e.spawn(&[
        "run",
        "--name",
        "web",
        "--port",
        &hp,
        BB,
        "--exec",
        "/usr/sbin/httpd",
        "--",
        "-f",
        "-p",
        "80",
        "-h",
        "/var/www",
    ]);
    let row = e.wait_running_or(&mut web, "web");
    let uuid = row["uuid"].as_str().unwrap().to_string();
    let ip = ip_of(&row);
    assert!(
        ip.starts_with(e.net.subnet.trim_end_matches("0/24")),
        "{ip}"
    );
    // Host to pod, and host to the forwarded port on the bridge address.
    let body = "hello from a jetpack pod";
    assert!(http_get(&format!("{ip}:80")).contains(body));
    assert!(http_get(&format!("{}:{port}", e.net.gateway)).contains(body));
    // Pod to pod, and pod to host (the bridge address answers ping).
    let script = format!(
        "wget -qO- http://{ip}/ && ping -c1 -W2 {} >/dev/null && echo host-ok",
        e.net.gateway
    );
    let out = e.ok(&["run", "--rm", BB, "--exec", "/bin/sh", "--", "-c", &script]);
    assert!(out.contains(body) && out.contains("host-ok"), "{out}");

    e.ok(&["stop", "web"]);
    let _ = web.wait();
    assert_eq!(
        traces(&e, &uuid, std::slice::from_ref(&ip)),
        Vec::<String>::new()
    );
    assert_eq!(veths(&e), 0);
    assert!(
        TcpStream::connect_timeout(
            &format!("{}:{port}", e.net.gateway).parse().unwrap(),
            Duration::from_millis(300)
        )
        .is_err(),
        "the forwarded port outlived the pod"
    );
    e.ok(&["destroy", "web"]);
}

#[jetpack_testutil::root_test]
fn addresses_are_never_shared_and_a_killed_run_is_cleaned_by_gc() {
    let e = Env::new("overlay");
    let names = ["a1", "a2", "a3", "a4"];
    let mut children: Vec<_> = names
        .iter()
        .map(|n| e.spawn(&["run", "--name", n, BB, "--exec", "/bin/sleep", "--", "60"]))
        .collect();
    let rows: Vec<_> = names
        .iter()
        .zip(children.iter_mut())
        .map(|(n, c)| e.wait_running_or(c, n))
        .collect();
    let mut ips: Vec<String> = rows.iter().map(ip_of).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 4, "{rows:#?}");

    // `jetpack run` of a1 killed with -9: the pod dies with it, its networks stay recorded.
    let uuid = rows[0]["uuid"].as_str().unwrap().to_string();
    let ip = ip_of(&rows[0]);
    children[0].kill().unwrap();
    let _ = children[0].wait();
    for _ in 0..250 {
        let st: serde_json::Value =
            serde_json::from_str(&e.ok(&["status", "--json", &uuid])).unwrap();
        if st["state"] == "exited" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!traces(&e, &uuid, std::slice::from_ref(&ip)).is_empty());
    // A new pod meanwhile does not get the address still leased to the dead one.
    let out = e.ok(&[
        "run",
        "--rm",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "ip -o -4 addr show eth0",
    ]);
    assert!(!out.contains(&format!("inet {ip}/")), "{out}");
    let gc = e.ok(&["gc", "--grace", "1h"]);
    assert!(gc.contains(&format!("networks of {uuid}")), "{gc}");
    assert_eq!(
        traces(&e, &uuid, std::slice::from_ref(&ip)),
        Vec::<String>::new()
    );
    assert_eq!(veths(&e), 3);

    // destroy of running pods removes their networks too.
    for (n, r) in names[1..].iter().zip(&rows[1..]) {
        e.ok(&["destroy", n]);
        let u = r["uuid"].as_str().unwrap();
        assert_eq!(traces(&e, u, &[ip_of(r)]), Vec::<String>::new());
    }
    assert_eq!(veths(&e), 0);
    for c in &mut children {
        let _ = c.wait();
    }
}

#[jetpack_testutil::root_test]
fn hosts_resolv_hostname_and_network_choices() {
    let e = Env::new("overlay");
    let show = "cat /etc/resolv.conf /etc/hosts; echo host=$(hostname); ip -o link | cut -d: -f2";
    let out = e.ok(&[
        "run",
        "--rm",
        "--name",
        "dn",
        "--dns",
        "192.0.2.53",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        show,
    ]);
    assert!(out.contains("nameserver 192.0.2.53\n"), "{out}");
    assert!(out.contains("127.0.0.1\tlocalhost\n"), "{out}");
    assert!(out.contains("host=dn\n"), "{out}");
    assert!(out.contains("\tdn\n") && out.contains(" eth0@"), "{out}");
    // Loopback only.
    let out = e.ok(&[
        "run",
        "--rm",
        "--net=none",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        show,
    ]);
    assert!(!out.contains("eth0") && out.contains(" lo\n"), "{out}");
    assert!(out.contains("host=jetpack-"), "{out}");
    // The image's own files are kept.
    let out = e.ok(&[
        "run",
        "--rm",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "cat /etc/passwd | head -1",
    ]);
    assert!(out.starts_with("root:x:0:0"), "{out}");

    // A network of the user's own, next to the default one: eth0 and eth1.
    let lan = TestNet::new();
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "lan", "type": "bridge", "bridge": lan.bridge,
        "isGateway": true,
        "ipam": {"type": "host-local", "subnet": lan.subnet,
                 "dataDir": e.backend.dir.path().join("lan-leases")}
    });
    let dir = e.backend.dir.path().join("net.d");
    std::fs::write(dir.join("50-lan.conf"), conf.to_string()).unwrap();
    let out = e.ok(&[
        "run",
        "--rm",
        "--net=default,lan",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "ip -o -4 addr | grep eth",
    ]);
    let lan_prefix = lan.subnet.trim_end_matches("0/24");
    assert!(out.contains(" eth0 ") && out.contains(" eth1 "), "{out}");
    assert!(out.contains(&format!("inet {lan_prefix}")), "{out}");

    // Refused before anything is made.
    let err = e.err(&["run", "--rm", "--net=wan", BB, "--exec", "/bin/true"]);
    assert!(
        err.contains("no network named \"wan\"") && err.contains("lan"),
        "{err}"
    );
    let err = e.err(&["run", "--rm", "--net=host", "--port", "http:8080", BB]);
    assert!(
        err.contains("ports are forwarded to a pod network"),
        "{err}"
    );
    let err = e.err(&["run", "--rm", "--port", "nope:8080", BB]);
    assert!(
        err.contains("no app of the pod has a port of that name"),
        "{err}"
    );
    let err = e.err(&["run", "--rm", "--dns", "dns.example", BB]);
    assert!(err.contains("not an IP address"), "{err}");
    // A network whose plugin is missing fails at start, after the default network was added:
    // that one is undone too.
    let broken =
        serde_json::json!({"cniVersion": "1.0.0", "name": "broken", "type": "no-such-plugin"});
    std::fs::write(dir.join("60-broken.conf"), broken.to_string()).unwrap();
    let err = e.err(&[
        "run",
        "--rm",
        "--net=default,broken",
        BB,
        "--exec",
        "/bin/true",
    ]);
    assert!(
        err.contains("no-such-plugin") && err.contains("containernetworking-plugins"),
        "{err}"
    );
    assert_eq!(veths(&e), 0);
    let leases = std::fs::read_dir(e.root().join("net/leases/default"))
        .unwrap()
        .filter_map(|d| d.ok())
        .filter(|d| d.file_name().to_string_lossy().starts_with("10."))
        .count();
    assert_eq!(leases, 0);
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["list", "--json"])).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 0, "{v}");
}

/// Runs the shell `script` in app `busybox` of a pod named `name` with `/out` bound to `out`,
/// next to a second app, `second`.
fn md_pod(e: &Env, name: &str, out: &Path, script: &str) -> std::process::Child {
    let vol = format!("out,kind=host,source={}", out.display());
    e.spawn(&[
        "run",
        "--name",
        name,
        "--volume",
        &vol,
        "-a",
        "pod-note=p1",
        BB,
        "--mount",
        "volume=out,target=/out",
        "-a",
        "app-note=a1",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        script,
        "---",
        BB,
        "--app-name",
        "second",
        "--exec",
        "/bin/true",
    ])
}

const READ_ALL: &str = r#"
set -e
u=$AC_METADATA_URL/acMetadata/v1
echo -n "$AC_METADATA_URL" > /out/url
get() { wget -S -O "/out/$1" "$u/$2" 2> "/out/$1.headers"; }
get uuid pod/uuid
get manifest pod/manifest
get annotations pod/annotations
get note pod/annotations/pod-note
get id apps/busybox/image/id
get imanifest apps/busybox/image/manifest
get aannotations apps/busybox/annotations
get id2 apps/second/image/id
get imanifest2 apps/second/image/manifest
wget -S -O /out/sig --post-data "content=signed%20by%20me" "$u/pod/hmac/sign" 2> /out/sig.headers
touch /out/ready
while [ ! -f /out/done ]; do sleep 0.1; done
"#;

fn header(out: &Path, name: &str) -> String {
    let h = std::fs::read_to_string(out.join(format!("{name}.headers"))).unwrap();
    h.lines()
        .find_map(|l| l.trim().strip_prefix("Content-Type: ").map(str::to_string))
        .unwrap_or_else(|| panic!("no Content-Type in {h}"))
}

#[jetpack_testutil::root_test]
fn metadata_service_answers_each_pod_about_itself_only() {
    let e = Env::new("overlay");
    let a_out = tempfile::tempdir().unwrap();
    let mut a = md_pod(&e, "mda", a_out.path(), READ_ALL);
    wait_file(&a_out.path().join("ready"), &mut a);
    let row = e.wait_running("mda");
    let uuid = row["uuid"].as_str().unwrap().to_string();
    let o = a_out.path();
    let read = |n: &str| std::fs::read(o.join(n)).unwrap();
    assert_eq!(read("uuid"), uuid.as_bytes());
    assert_eq!(header(o, "uuid"), "text/plain; charset=us-ascii");
    assert_eq!(
        read("manifest"),
        std::fs::read(e.pod_dir(&uuid).join("manifest")).unwrap()
    );
    assert_eq!(header(o, "manifest"), "application/json");
    let m: serde_json::Value = serde_json::from_slice(&read("manifest")).unwrap();
    let ann: serde_json::Value = serde_json::from_slice(&read("annotations")).unwrap();
    assert_eq!(ann, m["annotations"]);
    assert_eq!(header(o, "annotations"), "application/json");
    assert_eq!(read("note"), b"p1");
    let id = m["apps"][0]["image"]["id"].as_str().unwrap();
    assert_eq!(read("id"), id.as_bytes());
    assert_eq!(read("id2"), id.as_bytes(), "every app of the pod is served");
    assert_eq!(header(o, "id"), "text/plain; charset=us-ascii");
    let stored = std::fs::read(e.root().join("images").join(id).join("manifest")).unwrap();
    assert_eq!(read("imanifest"), stored);
    assert_eq!(read("imanifest2"), stored);
    assert_eq!(header(o, "imanifest"), "application/json");
    // Image annotations first, the pod app's after.
    let aa: serde_json::Value = serde_json::from_slice(&read("aannotations")).unwrap();
    assert_eq!(
        aa,
        serde_json::json!([
            {"name": "authors", "value": "Debian busybox-static"},
            {"name": "app-note", "value": "a1"}
        ])
    );
    let sig = String::from_utf8(read("sig")).unwrap();
    assert_eq!(header(o, "sig"), "text/plain; charset=us-ascii");
    assert_eq!(sig.len(), 88, "base64 of 64 bytes: {sig}");
    let a_url = String::from_utf8(read("url")).unwrap();
    let token = a_url.rsplit('/').next().unwrap();
    assert!(
        token.len() >= 32 && !token.contains(&uuid.replace('-', "")),
        "{a_url}"
    );

    // Pod B: verifies A's signature, is refused with a forged token and with A's token.
    let enc = sig
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let forged = format!("{}/{}", a_url.rsplit_once('/').unwrap().0, "0".repeat(64));
    let b_script = format!(
        r#"
u=$AC_METADATA_URL/acMetadata/v1
v() {{ wget -q -O /dev/null --post-data "content=$1&uuid={uuid}&signature={enc}" "$u/pod/hmac/verify" 2>&1; echo "verify $1: $?"; }}
v signed%20by%20me
v tampered
wget -q -O /dev/null "{forged}/acMetadata/v1/pod/uuid" 2>&1; echo "forged: $?"
wget -q -O /dev/null "{a_url}/acMetadata/v1/pod/uuid" 2>&1; echo "stolen: $?"
"#
    );
    let out = e.ok(&[
        "run", "--rm", BB, "--exec", "/bin/sh", "--", "-c", &b_script,
    ]);
    assert!(out.contains("verify signed%20by%20me: 0"), "{out}");
    assert!(
        out.contains("403 Forbidden") && out.contains("verify tampered: 1"),
        "{out}"
    );
    assert!(
        out.contains("forged: 1") && out.contains("stolen: 1"),
        "{out}"
    );
    assert_eq!(out.matches("401 Unauthorized").count(), 2, "{out}");

    std::fs::write(o.join("done"), "").unwrap();
    let st = a.wait().unwrap();
    assert!(st.success());
    // The service runs as the configured unprivileged user.
    let pid = e.mds_pid().expect("the metadata service runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.contains("65534"), "{uid}");
}

#[jetpack_testutil::root_test]
fn the_service_runs_in_the_foreground_and_pods_survive_its_restart() {
    let e = Env::new("overlay");
    // Before any pod: bound on the bridge address that does not exist yet.
    let mut service = e.spawn(&["mds"]);
    let pid_file = e.root().join("mds/lock");
    for _ in 0..250 {
        if std::fs::read_to_string(&pid_file).is_ok_and(|s| s.trim() == service.id().to_string()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = e.err(&["mds"]);
    assert!(
        err.contains("already running") && err.contains(&service.id().to_string()),
        "{err}"
    );

    let out = tempfile::tempdir().unwrap();
    let script = r#"
        u=$AC_METADATA_URL/acMetadata/v1
        n=0
        while [ ! -f /out/stop ]; do
            if wget -q -O /out/uuid.tmp "$u/pod/uuid" 2>/dev/null; then
                n=$((n+1)); mv /out/uuid.tmp /out/uuid; echo $n > /out/count
            fi
            sleep 0.05
        done
    "#;
    let mut pod = e.spawn_reporting(&["--name", "long"], out.path(), &[], script);
    let row = e.wait_running_or(&mut pod, "long");
    let uuid = row["uuid"].as_str().unwrap().to_string();
    let count = || -> u32 {
        std::fs::read_to_string(out.path().join("count"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    let wait_more = |than: u32| {
        for _ in 0..500 {
            if count() > than {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the pod's requests stopped succeeding at {than}");
    };
    wait_more(0);
    assert_eq!(
        std::fs::read_to_string(out.path().join("uuid")).unwrap(),
        uuid
    );
    // The service goes away: the pod's `jetpack run` starts a new one and registers again.
    service.kill().unwrap();
    service.wait().unwrap();
    let before = count();
    wait_more(before + 2);
    let new = e.mds_pid().expect("a new service");
    assert_ne!(new, service.id() as i32);
    std::fs::write(out.path().join("stop"), "").unwrap();
    assert!(pod.wait().unwrap().success());
}

/// The host side of the pod's veth on the default network, from the recorded CNI result.
fn host_veth(e: &Env, uuid: &str) -> String {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.pod_dir(uuid).join("net.json")).unwrap()).unwrap();
    st["networks"][0]["attachment"]["result"]["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i.get("sandbox").is_none() && i["name"] != e.net.bridge.as_str())
        .and_then(|i| i["name"].as_str())
        .unwrap()
        .to_string()
}

#[jetpack_testutil::root_test]
fn network_bandwidth_is_enforced_on_the_pods_interfaces() {
    let e = Env::new("overlay");
    let dir = tempfile::tempdir().unwrap();
    let manifest = serde_json::json!({
        "acKind": "PodManifest", "acVersion": "0.8.11",
        "apps": [{"name": "bb", "image": {"name": BB},
                  "app": {"exec": ["/bin/sleep", "60"], "user": "0", "group": "0",
                          "isolators": [{"name": "resource/network-bandwidth",
                                         "value": {"default": true, "limit": "1M"}}]}}],
        "isolators": [{"name": "resource/network-bandwidth",
                       "value": {"default": true, "limit": "2M"}}]
    });
    let file = dir.path().join("pod.json");
    std::fs::write(&file, manifest.to_string()).unwrap();
    let mut pod = e.spawn(&[
        "run",
        "--name",
        "bw",
        "--pod-manifest",
        file.to_str().unwrap(),
    ]);
    let row = e.wait_running_or(&mut pod, "bw");
    let uuid = row["uuid"].as_str().unwrap().to_string();
    // The lowest limit, 1 MB/s = 8 Mbit/s, shapes traffic to the pod on its veth and from it
    // on the plugin's ifb device.
    let veth = host_veth(&e, &uuid);
    let shaped = run("tc", &["qdisc", "show", "dev", &veth]).unwrap();
    assert!(
        shaped.contains("tbf") && shaped.contains("rate 8Mbit"),
        "{shaped}"
    );
    let all = run("tc", &["qdisc", "show"]).unwrap();
    assert_eq!(all.matches("rate 8Mbit").count(), 2, "{all}");
    let status = e.ok(&["status", "bw"]);
    assert!(
        status.contains(
            "pod resource/network-bandwidth modified: lowered by an app's limit: 1000000 bytes/s"
        ) && status.contains("app bb resource/network-bandwidth modified: for the whole pod"),
        "{status}"
    );
    e.ok(&["stop", "bw"]);
    let _ = pod.wait();
    let all = run("tc", &["qdisc", "show"]).unwrap();
    assert!(!all.contains("rate 8Mbit") && !all.contains(&veth), "{all}");
}

/// What a reboot does to a pod's networks: the namespace and every iptables rule are gone,
/// the namespace file and the leases (on disk) stay.
fn simulate_reboot(e: &Env, uuid: &str) {
    run("umount", &[e.pod_dir(uuid).join("netns").to_str().unwrap()]).unwrap();
    let saved = run("iptables-save", &["-t", "nat"]).unwrap();
    let chains: Vec<&str> = saved
        .lines()
        .filter(|l| l.contains(uuid))
        .filter_map(|l| l.split(" -j ").nth(1))
        .filter(|c| c.starts_with("CNI-") && !c.starts_with("CNI-HOSTPORT"))
        .collect();
    let kept: String = saved
        .lines()
        .filter(|l| !l.contains(uuid))
        .filter(|l| {
            !chains
                .iter()
                .any(|c| l.starts_with(&format!(":{c} ")) || l.starts_with(&format!("-A {c} ")))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let mut restore = std::process::Command::new("iptables-restore")
        .args(["-T", "nat"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    restore
        .stdin
        .take()
        .unwrap()
        .write_all(kept.as_bytes())
        .unwrap();
    assert!(restore.wait().unwrap().success());
}

#[jetpack_testutil::root_test]
fn gc_after_a_reboot_releases_the_leases() {
    let e = Env::new("overlay");
    let mut pod = e.spawn(&[
        "run",
        "--name",
        "rb",
        BB,
        "--exec",
        "/bin/sleep",
        "--",
        "60",
    ]);
    let row = e.wait_running_or(&mut pod, "rb");
    let uuid = row["uuid"].as_str().unwrap().to_string();
    let ip = ip_of(&row);
    pod.kill().unwrap();
    let _ = pod.wait();
    // The killed run leaves its namespace bound; a reboot unbinds it and flushes the rules.
    for _ in 0..250 {
        if e.ok(&["list"]).contains("exited") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    simulate_reboot(&e, &uuid);
    let lease = e.root().join("net/leases/default").join(&ip);
    assert!(lease.exists());
    let gc = e.ok(&["gc", "--grace", "1h"]);
    assert!(gc.contains(&format!("networks of {uuid}")), "{gc}");
    assert!(!lease.exists());
    assert_eq!(traces(&e, &uuid, &[ip]), Vec::<String>::new());
    e.ok(&["destroy", "rb"]);
}
