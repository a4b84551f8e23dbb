//! Two stores on one host, as root: each leases its pods' addresses under its own root; a
//! store that would share another's default network (bridge, subnet, metadata service
//! address) is refused at `init` and `run`, naming the other store and the keys to change;
//! with settings of their own both run pods at once, each reaching its own metadata service.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{BB, Env, wait_file};
use jetpack_testutil::Backend;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn net_dir(e: &Env) -> PathBuf {
    e.backend.dir.path().join("net.d")
}

/// The leases of the default network kept under `root`.
fn leases(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("net/leases/default"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A pod that writes its metadata URL and what `pod/uuid` answers into `out`, then waits
/// for `out/done`.
fn held_pod(e: &Env, name: &str, out: &Path) -> std::process::Child {
    let script = r#"
echo -n "$AC_METADATA_URL" > /out/url
wget -q -O /out/uuid "$AC_METADATA_URL/acMetadata/v1/pod/uuid" 2> /out/err
touch /out/ready
while [ ! -f /out/done ]; do sleep 0.1; done
"#;
    e.spawn_reporting(&["--name", name], out, &[], script)
}

/// The refusal of another store's network, naming it and the keys to change.
fn assert_names_owner(err: &str, owner: &Path) {
    for want in [
        &*owner.display().to_string(),
        "belongs to the store at",
        "net.dir",
        "net.default-bridge",
        "net.default-subnet",
        "mds.port",
    ] {
        assert!(err.contains(want), "{want:?} not in: {err}");
    }
}

#[jetpack_testutil::root_test]
fn stores_keep_their_leases_and_networks_to_themselves() {
    let a = Env::new("overlay");
    let shared = net_dir(&a);
    // The file in the (shared) directory names its store and no store's lease directory.
    let text = std::fs::read_to_string(shared.join("10-default.conflist")).unwrap();
    let conf: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(conf["jetpack"]["store"], a.root().display().to_string());
    assert!(!text.contains("dataDir"), "{text}");

    // A new store pointed at the same directory, with the same settings or its own bridge,
    // subnet and port: refused at init, before the store is made.
    let other = jetpack_testutil::TestNet::new();
    let port = free_port().to_string();
    for sets in [
        vec![
            format!("net.default-bridge={}", a.net.bridge),
            format!("net.default-subnet={}", a.net.subnet),
        ],
        vec![
            format!("net.default-bridge={}", other.bridge),
            format!("net.default-subnet={}", other.subnet),
            format!("mds.port={port}"),
        ],
    ] {
        let c = Backend::new("overlay");
        let o = Command::new(env!("CARGO_BIN_EXE_jetpack"))
            .args(["--config", "/dev/null"])
            .args(c.sets.iter().flat_map(|s| ["-o", s]))
            .arg("-o")
            .arg(format!("net.dir={}", shared.display()))
            .args(sets.iter().flat_map(|s| ["-o", s]))
            .arg("init")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "init of a second store: {err}");
        assert_names_owner(&err, &a.root());
        assert!(!c.root.join("mds").exists(), "the refused store was made");
    }

    // A second store with its own directory, bridge, subnet and metadata port.
    let mut b = Env::new("overlay");
    b.sets.push(format!("mds.port={port}"));
    let gw_b = b.net.gateway.clone();

    // Pointed at the first store's directory, its run is refused before anything is made:
    // no pod on the first store's bridge, no lease anywhere, no metadata service.
    for net in ["default", "none"] {
        let o = b
            .cmd()
            .arg("-o")
            .arg(format!("net.dir={}", shared.display()))
            .args(["run", "--rm", "--net", net, BB, "--exec", "/bin/true"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "--net={net} on another store's network"
        );
        assert_names_owner(&err, &a.root());
    }
    // Nor does its metadata service start there (as a service manager would start it).
    let o = b
        .cmd()
        .arg("-o")
        .arg(format!("net.dir={}", shared.display()))
        .arg("mds")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "mds on another store's network");
    assert_names_owner(&err, &a.root());
    assert_eq!(leases(&a.root()), Vec::<String>::new());
    assert_eq!(leases(&b.root()), Vec::<String>::new());
    assert!(b.mds_pid().is_none(), "a refused run started the service");
    let brif = format!("/sys/class/net/{}/brif", a.net.bridge);
    assert_eq!(std::fs::read_dir(&brif).map(|d| d.count()).unwrap_or(0), 0);
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["list", "--json"])).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] != "running"),
        "{v}"
    );

    // Both run pods at once; each leases under its own root and reaches its own service.
    let (out_a, out_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut pa = held_pod(&a, "pa", out_a.path());
    wait_file(&out_a.path().join("ready"), &mut pa);
    let mut pb = held_pod(&b, "pb", out_b.path());
    wait_file(&out_b.path().join("ready"), &mut pb);
    let row_a = a.wait_running("pa");
    let row_b = b.wait_running("pb");
    let ip = |r: &serde_json::Value| {
        r["networks"][0]["addresses"][0]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(leases(&a.root()), vec![ip(&row_a)]);
    assert_eq!(leases(&b.root()), vec![ip(&row_b)]);
    for (e, row, out, gw, port) in [
        (&a, &row_a, out_a.path(), a.net.gateway.as_str(), "1104"),
        (&b, &row_b, out_b.path(), gw_b.as_str(), port.as_str()),
    ] {
        let url = std::fs::read_to_string(out.join("url")).unwrap();
        assert!(url.starts_with(&format!("http://{gw}:{port}/")), "{url}");
        let got = std::fs::read_to_string(out.join("uuid")).unwrap();
        let err = std::fs::read_to_string(out.join("err")).unwrap_or_default();
        assert_eq!(got, row["uuid"].as_str().unwrap(), "{err}");
        assert!(e.mds_pid().is_some());
    }
    for (out, child) in [(&out_a, &mut pa), (&out_b, &mut pb)] {
        std::fs::write(out.path().join("done"), "").unwrap();
        assert!(child.wait().unwrap().success());
    }
    // DEL released each lease where ADD took it.
    assert_eq!(leases(&a.root()), Vec::<String>::new());
    assert_eq!(leases(&b.root()), Vec::<String>::new());
    a.ok(&["destroy", "pa"]);
    b.ok(&["destroy", "pb"]);
}

#[jetpack_testutil::root_test]
fn a_file_of_an_older_version_leases_under_the_running_store() {
    let a = Env::new("overlay");
    // As `init` wrote it before: the leases of the store that wrote it baked in.
    let dir = net_dir(&a);
    let gone = a.backend.dir.path().join("gone-store");
    std::fs::remove_file(dir.join("10-default.conflist")).unwrap();
    jetpack_net::write_default(
        &dir,
        &a.net.bridge,
        a.net.subnet.parse().unwrap(),
        &gone.join("net/leases"),
    )
    .unwrap();
    // The first store is gone; its root remade by an older version's leases (no store in it)
    // names no store any more, and gets none of this store's leases.
    std::fs::create_dir_all(gone.join("net/leases/default")).unwrap();
    a.ok(&["run", "--rm", BB, "--exec", "/bin/true"]);
    assert_eq!(
        std::fs::read_dir(gone.join("net/leases/default"))
            .unwrap()
            .count(),
        0,
        "leases in the gone store's root"
    );
    assert!(a.root().join("net/leases/default").is_dir());
    // `init` makes it this store's.
    a.ok(&["init"]);
    let text = std::fs::read_to_string(dir.join("10-default.conflist")).unwrap();
    assert!(!text.contains("dataDir"), "{text}");
    assert!(text.contains(&*a.root().display().to_string()), "{text}");
}

#[jetpack_testutil::root_test]
fn stores_with_directories_of_their_own_are_refused_each_others_bridge_and_subnet() {
    let a = Env::new("overlay");
    // The first store's bridge exists once a pod of it has run, marked as its own.
    a.ok(&["run", "--rm", BB, "--exec", "/bin/true"]);
    let alias = std::fs::read_to_string(format!("/sys/class/net/{}/ifalias", a.net.bridge))
        .unwrap_or_default();
    assert!(
        alias.contains(&*a.root().display().to_string()),
        "bridge alias {alias:?}"
    );

    // Another store, with a network directory of its own but the first store's bridge, or
    // a subnet inside the first store's: refused at init, before the store is made.
    let other = jetpack_testutil::TestNet::new();
    let inner = a.net.subnet.replace(".0/24", ".128/25");
    for (bridge, subnet) in [
        (a.net.bridge.as_str(), other.subnet.as_str()),
        (other.bridge.as_str(), inner.as_str()),
    ] {
        let c = Backend::new("overlay");
        let o = Command::new(env!("CARGO_BIN_EXE_jetpack"))
            .args(["--config", "/dev/null"])
            .args(c.sets.iter().flat_map(|s| ["-o", s]))
            .arg("-o")
            .arg(format!("net.dir={}", c.dir.path().join("net.d").display()))
            .args(["-o", &format!("net.default-bridge={bridge}")])
            .args(["-o", &format!("net.default-subnet={subnet}")])
            .arg("init")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "init on {bridge} {subnet}: {err}");
        assert_names_owner(&err, &a.root());
        assert!(!c.root.join("mds").exists(), "the refused store was made");
    }

    // A store made before the first store's bridge existed, its network since edited to the
    // first store's bridge and subnet: its run is refused before
    // anything is wired (no pod on the bridge, no lease, no metadata service).
    let mut b = Env::new("overlay");
    let conf = net_dir(&b).join("10-default.conflist");
    let text = std::fs::read_to_string(&conf).unwrap();
    let text = text.replace(&b.net.bridge, &a.net.bridge);
    std::fs::write(&conf, text.replace(&b.net.subnet, &a.net.subnet)).unwrap();
    b.sets.push(format!("mds.port={}", free_port()));
    let o = b.out(&["run", "--rm", BB, "--exec", "/bin/true"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "run on another store's bridge: {err}");
    assert_names_owner(&err, &a.root());
    assert_eq!(leases(&b.root()), Vec::<String>::new());
    assert!(b.mds_pid().is_none(), "a refused run started the service");
    let brif = format!("/sys/class/net/{}/brif", a.net.bridge);
    assert_eq!(std::fs::read_dir(&brif).map(|d| d.count()).unwrap_or(0), 0);

    // Once the first store is gone, its mark no longer holds the bridge.
    let root_a = a.root();
    std::fs::remove_file(root_a.join("store.json")).unwrap();
    b.ok(&["run", "--rm", BB, "--exec", "/bin/true"]);
}
