//! The real CNI plugins from Debian on a bridge of the test's own: ADD gives an address and
//! port forwarding rules, CHECK passes, DEL removes the lease, the veth and every rule.

use std::path::Path;

use jetpack_net::{Invocation, PortMapping, check, del, load_network, write_default};
use jetpack_runtime::linux::netns;
use jetpack_testutil::{TestNet, run};

const PLUGINS: &str = "/usr/lib/cni";

struct Ns(std::path::PathBuf);
impl Drop for Ns {
    fn drop(&mut self) {
        let _ = netns::remove(&self.0);
    }
}

/// DELs a pod's network on drop, so a failing test leaves no rule or lease.
struct Added(Invocation, jetpack_net::Attachment);
impl Drop for Added {
    fn drop(&mut self) {
        let _ = del(&self.0, Some(&self.1.result));
    }
}

fn rules_of(id: &str) -> Vec<String> {
    ["nat", "filter"]
        .iter()
        .flat_map(|t| {
            run("iptables-save", &["-t", t])
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains(id))
        .collect()
}

fn bridge_ports(bridge: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{bridge}/brif"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[jetpack_testutil::root_test]
fn add_check_del_leaves_nothing() {
    let net = TestNet::new();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("net.d");
    let leases = dir.path().join("leases");
    write_default(&conf, &net.bridge, net.subnet.parse().unwrap(), &leases).unwrap();
    let network = load_network(&conf, "default").unwrap();
    assert_eq!(network.host_address().unwrap().to_string(), net.gateway);

    let mut attached = Vec::new();
    for i in 0..3 {
        let ns = Ns(dir.path().join(format!("ns{i}")));
        netns::create(&ns.0).unwrap();
        let id = format!("jetpack-net-test-{}-{i}", std::process::id());
        let ports = if i == 0 {
            vec![PortMapping {
                host_port: 18080,
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: Some(net.gateway.parse().unwrap()),
            }]
        } else {
            vec![]
        };
        let inv = Invocation::new(&network, &id, &ns.0, "eth0", PLUGINS, &ports, None);
        let a = inv.add().unwrap();
        // Dropped before `ns` (declared after it): DEL needs the namespace to find the
        // addresses whose masquerade rules it removes.
        let added = Added(inv.clone(), a.clone());
        assert_eq!(a.gateway.unwrap().to_string(), net.gateway);
        // CHECK of the bridge (and its IPAM): Debian's portmap 1.1.1 fails CHECK of an
        // IPv4-only mapping (it looks for its IPv6 chain) and its bandwidth 1.1.1 crashes on
        // CHECK without a limit.
        let mut bridge_only = inv.clone();
        bridge_only.list["plugins"] = serde_json::json!([network.plugins()[0]]);
        check(&bridge_only, &a.result).unwrap();
        // Tuple fields drop in order: the DEL guard before the namespace.
        attached.push((added, a, id, ns));
    }
    // Three pods, three different addresses, each leased and on the bridge.
    let mut ips: Vec<String> = attached
        .iter()
        .map(|(_, a, _, _)| a.ips()[0].to_string())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "{ips:?}");
    for ip in &ips {
        assert!(leases.join("default").join(ip).exists(), "lease of {ip}");
    }
    assert_eq!(bridge_ports(&net.bridge), 3);
    let (_, _, id0, _) = &attached[0];
    let rules = rules_of(id0);
    assert!(
        rules.iter().any(|r| r.contains("--dports 18080")),
        "{rules:#?}"
    );
    // The pod sees its address inside its namespace.
    let inside = run(
        "nsenter",
        &[
            &format!("--net={}", attached[0].3.0.display()),
            "ip",
            "-o",
            "-4",
            "addr",
        ],
    )
    .unwrap();
    assert!(inside.contains(&attached[0].1.addresses[0]), "{inside}");

    for (Added(inv, _), a, id, ns) in &attached {
        del(inv, Some(&a.result)).unwrap();
        // Twice: DEL is idempotent.
        del(inv, Some(&a.result)).unwrap();
        netns::remove(&ns.0).unwrap();
        assert!(rules_of(id).is_empty(), "{:#?}", rules_of(id));
        // After the namespace is gone, DEL still works.
        del(inv, Some(&a.result)).unwrap();
    }
    assert_eq!(bridge_ports(&net.bridge), 0);
    for ip in &ips {
        assert!(
            !leases.join("default").join(ip).exists(),
            "lease of {ip} kept"
        );
    }
}

#[jetpack_testutil::root_test]
fn a_missing_plugin_or_bad_config_is_a_clear_error_and_leaves_nothing() {
    let net = TestNet::new();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("net.d");
    let leases = dir.path().join("leases");
    std::fs::create_dir_all(&conf).unwrap();
    // The bridge works, the second plugin does not exist: the bridge's work is undone.
    let body = serde_json::json!({
        "cniVersion": "1.0.0", "name": "broken",
        "plugins": [
            {"type": "bridge", "bridge": net.bridge, "isGateway": true,
             "ipam": {"type": "host-local", "subnet": net.subnet, "dataDir": leases}},
            {"type": "no-such-plugin"}
        ]
    });
    std::fs::write(conf.join("broken.conflist"), body.to_string()).unwrap();
    let network = load_network(&conf, "broken").unwrap();
    let ns = Ns(dir.path().join("ns"));
    netns::create(&ns.0).unwrap();
    let inv = Invocation::new(
        &network,
        "jetpack-net-test-broken",
        &ns.0,
        "eth0",
        PLUGINS,
        &[],
        None,
    );
    let e = inv.add().unwrap_err().to_string();
    assert!(
        e.contains("no-such-plugin") && e.contains("containernetworking-plugins"),
        "{e}"
    );
    let leased = std::fs::read_dir(leases.join("broken"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("10."))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(leased, 0);
    assert_eq!(bridge_ports(&net.bridge), 0);

    // A plugin's own error comes through with its message.
    let bad = serde_json::json!({"cniVersion": "1.0.0", "name": "bad", "type": "bridge",
        "bridge": net.bridge, "ipam": {"type": "host-local", "subnet": "not-a-subnet"}});
    std::fs::write(conf.join("bad.conf"), bad.to_string()).unwrap();
    let network = load_network(&conf, "bad").unwrap();
    let inv = Invocation::new(
        &network,
        "jetpack-net-test-bad",
        &ns.0,
        "eth0",
        PLUGINS,
        &[],
        None,
    );
    let e = inv.add().unwrap_err().to_string();
    assert!(
        e.contains("network bad: ADD with CNI plugin \"bridge\" failed"),
        "{e}"
    );
    let _ = Path::new("/");
}
