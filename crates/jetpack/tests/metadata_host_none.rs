//! The metadata service for pods without addresses of their own, end to end as root:
//! `--net=host` pods use the service's loopback listener with their token alone, `--net=none`
//! pods a listener that `jetpack run` binds on loopback in their namespace. Tokens work only
//! through their pod's way in, and nothing of either is left once the pods end, even after a
//! `kill -9` of `jetpack run` and `gc`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

mod common;

use common::{BB, Env, wait_file};

/// A store whose metadata service uses a port of its own: tests run side by side, and only
/// one service can have a given port on 127.0.0.1.
fn env() -> (Env, u16) {
    let mut e = Env::new("overlay");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    e.sets.push(format!("mds.port={port}"));
    (e, port)
}

/// The status line of `GET /<token>/acMetadata/v1/pod/uuid` on `addr`, from the host.
fn host_get(addr: &str, token: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /{token}/acMetadata/v1/pod/uuid HTTP/1.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or_default().to_string()
}

/// A pod on the default network that publishes its metadata URL in `out/url` and runs until
/// `out/done` exists.
fn bridge_pod(e: &Env, out: &Path) -> (std::process::Child, String) {
    let script = r#"echo -n "$AC_METADATA_URL" > /out/url.tmp; mv /out/url.tmp /out/url
        while [ ! -f /out/done ]; do sleep 0.1; done"#;
    let mut c = e.spawn_reporting(&["--name", "br"], out, &[], script);
    wait_file(&out.join("url"), &mut c);
    let url = std::fs::read_to_string(out.join("url")).unwrap();
    (c, url)
}

/// What a pod prints about its metadata: its URL, its UUID, its image manifest between
/// markers, and how `wget` fared with the extra URLs `others` (`name=URL` words).
fn script(others: &str) -> String {
    format!(
        r#"
u=$AC_METADATA_URL/acMetadata/v1
echo "url=$AC_METADATA_URL"
echo "uuid=$(wget -q -O - "$u/pod/uuid")"
echo "IM<<$(wget -q -O - "$u/apps/busybox/image/manifest")>>IM"
for o in {others}; do
    wget -q -O /dev/null "${{o#*=}}/acMetadata/v1/pod/uuid" 2>&1
    echo "${{o%%=*}}: $?"
done
"#
    )
}

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

/// Runs `script` in a busybox pod named `name` with `--net=NET`, and checks what it got from
/// the service: its own UUID and its image's manifest, at `http://127.0.0.1:PORT/<token>`.
fn check_pod(e: &Env, port: u16, name: &str, net: &str, script: &str) -> String {
    let netflag = format!("--net={net}");
    let out = e.ok(&[
        "run", "--name", name, &netflag, BB, "--exec", "/bin/sh", "--", "-c", script,
    ]);
    let st: serde_json::Value = serde_json::from_str(&e.ok(&["status", "--json", name])).unwrap();
    let uuid = st["uuid"].as_str().unwrap();
    assert_eq!(field(&out, "uuid"), uuid, "{out}");
    let url = field(&out, "url");
    let token = url
        .strip_prefix(&format!("http://127.0.0.1:{port}/"))
        .unwrap_or_else(|| panic!("{url}"));
    assert!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{url}"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.pod_dir(uuid).join("manifest")).unwrap()).unwrap();
    let id = m["apps"][0]["image"]["id"].as_str().unwrap();
    let stored =
        std::fs::read_to_string(e.root().join("images").join(id).join("manifest")).unwrap();
    let got = out
        .split("IM<<")
        .nth(1)
        .unwrap()
        .split(">>IM")
        .next()
        .unwrap();
    assert_eq!(got, stored.trim_end_matches('\n'), "{out}");
    out
}

#[jetpack_testutil::root_test]
fn host_and_none_pods_read_their_own_metadata_only() {
    let (e, port) = env();
    let br_out = tempfile::tempdir().unwrap();
    let (mut br, br_url) = bridge_pod(&e, br_out.path());
    let br_token = br_url.rsplit('/').next().unwrap().to_string();
    let gateway = format!("{}:{port}", e.net.gateway);
    assert!(
        br_url.starts_with(&format!("http://{gateway}/")),
        "{br_url}"
    );

    // A host-network pod: its token on the bridge listener, and the bridge pod's on loopback,
    // are refused.
    let others = format!(
        "own-on-bridge=http://{gateway}/${{AC_METADATA_URL##*/}} bridge-token=http://127.0.0.1:{port}/{br_token}"
    );
    let out = check_pod(&e, port, "hp", "host", &script(&others));
    assert!(
        out.contains("own-on-bridge: 1") && out.contains("bridge-token: 1"),
        "{out}"
    );
    assert_eq!(out.matches("401 Unauthorized").count(), 2, "{out}");

    // A loopback-only pod: the bridge pod's token and a forged one are refused on its
    // listener.
    let forged = "0".repeat(64);
    let others = format!(
        "bridge-token=http://127.0.0.1:{port}/{br_token} forged=http://127.0.0.1:{port}/{forged}"
    );
    let out = check_pod(&e, port, "np", "none", &script(&others));
    assert!(
        out.contains("bridge-token: 1") && out.contains("forged: 1"),
        "{out}"
    );
    assert_eq!(out.matches("401 Unauthorized").count(), 2, "{out}");

    // From the host: the bridge pod's token on loopback is refused, on the bridge address
    // (not the pod's) too.
    let lo = format!("127.0.0.1:{port}");
    assert_eq!(host_get(&lo, &br_token), "HTTP/1.1 401 Unauthorized");
    assert_eq!(host_get(&gateway, &br_token), "HTTP/1.1 401 Unauthorized");

    std::fs::write(br_out.path().join("done"), "").unwrap();
    assert!(br.wait().unwrap().success());
    for name in ["hp", "np"] {
        e.ok(&["destroy", name]);
    }
}

/// A pod's network namespace (its inode) and the metadata listener in it (its socket inode),
/// from the pod's init.
fn ns_and_listener(e: &Env, uuid: &str, init: i64, port: u16) -> (u64, String) {
    let ns = std::fs::metadata(e.pod_dir(uuid).join("netns"))
        .unwrap()
        .ino();
    let tcp = std::fs::read_to_string(format!("/proc/{init}/net/tcp")).unwrap();
    let local = format!("0100007F:{port:04X}");
    let inode = tcp
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 9 && f[1] == local && f[3] == "0A")
        .map(|f| f[9].to_string())
        .unwrap_or_else(|| panic!("no listener on 127.0.0.1:{port} in the pod: {tcp}"));
    (ns, inode)
}

/// Whatever still holds the namespace `ns` or the socket `sock`: bind mounts, processes in
/// it, descriptors of either.
fn holders(ns: u64, sock: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let nsname = format!("net:[{ns}]");
    found.extend(
        mountinfo
            .lines()
            .filter(|l| l.contains(&nsname))
            .map(|l| format!("mount {l}")),
    );
    let sockname = format!("socket:[{sock}]");
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = p.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if std::fs::metadata(p.path().join("ns/net")).is_ok_and(|m| m.ino() == ns) {
            found.push(format!("process {pid} in the namespace"));
        }
        for fd in std::fs::read_dir(p.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            if t == sockname || t == nsname {
                found.push(format!("{} -> {t}", fd.path().display()));
            }
        }
    }
    found
}

fn wait_no_holders(ns: u64, sock: &str) {
    let mut h = Vec::new();
    for _ in 0..250 {
        h = holders(ns, sock);
        if h.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("left behind: {h:#?}");
}

/// A loopback-only pod that fetches its UUID into `out/uuid`, then runs until `out/done`.
fn none_pod(e: &Env, name: &str, out: &Path) -> (std::process::Child, serde_json::Value) {
    let script = r#"wget -q -O /out/uuid.tmp "$AC_METADATA_URL/acMetadata/v1/pod/uuid" && mv /out/uuid.tmp /out/uuid
        while [ ! -f /out/done ]; do sleep 0.1; done"#;
    let mut c = e.spawn_reporting(&["--name", name, "--net=none"], out, &[], script);
    let row = e.wait_running_or(&mut c, name);
    wait_file(&out.join("uuid"), &mut c);
    assert_eq!(
        std::fs::read_to_string(out.join("uuid")).unwrap(),
        row["uuid"].as_str().unwrap()
    );
    (c, row)
}

#[jetpack_testutil::root_test]
fn nothing_of_a_none_pod_is_left_after_it_ends_or_after_gc() {
    let (e, port) = env();

    // A pod that ends.
    let out = tempfile::tempdir().unwrap();
    let (mut c, row) = none_pod(&e, "n1", out.path());
    let uuid = row["uuid"].as_str().unwrap().to_string();
    let (ns, sock) = ns_and_listener(&e, &uuid, row["pid"].as_i64().unwrap(), port);
    assert!(!holders(ns, &sock).is_empty());
    std::fs::write(out.path().join("done"), "").unwrap();
    assert!(c.wait().unwrap().success());
    wait_no_holders(ns, &sock);
    assert!(!e.pod_dir(&uuid).join("netns").exists());
    assert!(!e.pod_dir(&uuid).join("net.json").exists());

    // A pod whose `jetpack run` is killed: its namespace stays bound until `gc`.
    let out = tempfile::tempdir().unwrap();
    let (mut c, row) = none_pod(&e, "n2", out.path());
    let uuid = row["uuid"].as_str().unwrap().to_string();
    let (ns, sock) = ns_and_listener(&e, &uuid, row["pid"].as_i64().unwrap(), port);
    c.kill().unwrap();
    let _ = c.wait();
    for _ in 0..250 {
        let st: serde_json::Value =
            serde_json::from_str(&e.ok(&["status", "--json", &uuid])).unwrap();
        if st["state"] == "exited" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(e.pod_dir(&uuid).join("netns").exists());
    let gc = e.ok(&["gc", "--grace", "1h"]);
    assert!(gc.contains(&format!("networks of {uuid}")), "{gc}");
    wait_no_holders(ns, &sock);
    assert!(!e.pod_dir(&uuid).join("netns").exists());

    // The service serves on.
    let out = tempfile::tempdir().unwrap();
    let (mut c, _) = none_pod(&e, "n3", out.path());
    std::fs::write(out.path().join("done"), "").unwrap();
    assert!(c.wait().unwrap().success());
    for n in ["n1", "n2", "n3"] {
        e.ok(&["destroy", n]);
    }
}

/// A pod of `--net=NET` that fetches its UUID in a loop, counting successes in `out/count`,
/// until `out/stop` exists.
fn looping_pod(e: &Env, name: &str, net: &str, out: &Path) -> std::process::Child {
    let netflag = format!("--net={net}");
    let script = r#"
        n=0
        while [ ! -f /out/stop ]; do
            if wget -q -O /out/uuid.tmp "$AC_METADATA_URL/acMetadata/v1/pod/uuid" 2>/dev/null; then
                n=$((n+1)); mv /out/uuid.tmp /out/uuid; echo $n > /out/count.tmp; mv /out/count.tmp /out/count
            fi
            sleep 0.05
        done
    "#;
    e.spawn_reporting(&["--name", name, &netflag], out, &[], script)
}

fn count(out: &Path) -> u32 {
    std::fs::read_to_string(out.join("count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_more(out: &Path, than: u32) {
    for _ in 0..500 {
        if count(out) > than {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the pod's requests stopped succeeding at {than}");
}

#[jetpack_testutil::root_test]
fn host_and_none_pods_register_again_with_a_new_service() {
    let (e, _) = env();
    let outs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut pods: Vec<_> = [("rh", "host"), ("rn", "none")]
        .iter()
        .zip(&outs)
        .map(|((name, net), out)| looping_pod(&e, name, net, out.path()))
        .collect();
    for (name, (out, pod)) in ["rh", "rn"].iter().zip(outs.iter().zip(&mut pods)) {
        let row = e.wait_running_or(pod, name);
        wait_more(out.path(), 0);
        assert_eq!(
            std::fs::read_to_string(out.path().join("uuid")).unwrap(),
            row["uuid"].as_str().unwrap()
        );
    }
    // The service dies: each pod's `jetpack run` starts a new one and registers again (the
    // loopback-only pod with its listener).
    let old = e.mds_pid().expect("the service runs");
    let killed = std::process::Command::new("kill")
        .args(["-9", &old.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let before: Vec<u32> = outs.iter().map(|o| count(o.path())).collect();
    for (o, b) in outs.iter().zip(before) {
        wait_more(o.path(), b + 2);
    }
    let new = e.mds_pid().expect("a new service");
    assert_ne!(new, old);
    for (o, p) in outs.iter().zip(&mut pods) {
        std::fs::write(o.path().join("stop"), "").unwrap();
        assert!(p.wait().unwrap().success());
    }
    for n in ["rh", "rn"] {
        e.ok(&["destroy", n]);
    }
}
