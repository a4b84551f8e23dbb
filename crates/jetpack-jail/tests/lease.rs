//! Pod addresses: the pure allocation, and leases in host-local's files under its lock.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use jetpack_jail::lease::Leases;
use jetpack_jail::net::{Subnet, next_free};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn lowest_free_address_after_the_hosts() {
    let net: Subnet = "172.23.0.0/16".parse().unwrap();
    assert_eq!(net.host(), ip("172.23.0.1"));
    let mut taken = BTreeSet::new();
    assert_eq!(next_free(&net, &taken).unwrap(), ip("172.23.0.2"));
    taken.extend([ip("172.23.0.2"), ip("172.23.0.3"), ip("172.23.0.5")]);
    assert_eq!(next_free(&net, &taken).unwrap(), ip("172.23.0.4"));
    // A /30 has one pod address: .1 is the host, .3 the broadcast.
    let small: Subnet = "10.0.0.0/30".parse().unwrap();
    assert_eq!(next_free(&small, &BTreeSet::new()).unwrap(), ip("10.0.0.2"));
    let full = next_free(&small, &BTreeSet::from([ip("10.0.0.2")])).unwrap_err();
    assert_eq!(
        full.to_string(),
        "subnet 10.0.0.0/30 has no free address for a pod"
    );
}

#[test]
fn leases_are_host_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let leases = Leases::new(&dir.path().join("default"));
    let net: Subnet = "172.23.0.0/16".parse().unwrap();
    // A lease host-local wrote for a Linux pod, and its own files, are respected.
    std::fs::create_dir_all(dir.path().join("default")).unwrap();
    std::fs::write(dir.path().join("default/172.23.0.2"), "linuxpod\r\neth0").unwrap();
    std::fs::write(dir.path().join("default/last_reserved_ip.0"), "172.23.0.2").unwrap();
    // jetpack#22: .3 answers on the network, so it is skipped and not leased.
    let mut probed = Vec::new();
    let a = leases
        .acquire(&net, "pod-a", "lo1", |a| {
            probed.push(a);
            a == ip("172.23.0.3")
        })
        .unwrap();
    assert_eq!(a, ip("172.23.0.4"));
    assert_eq!(probed, [ip("172.23.0.3"), ip("172.23.0.4")]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("default/172.23.0.4")).unwrap(),
        "pod-a\r\nlo1"
    );
    // The same pod gets its address again; another the next free one.
    assert_eq!(leases.acquire(&net, "pod-a", "lo1", |_| false).unwrap(), a);
    assert_eq!(
        leases.acquire(&net, "pod-b", "lo1", |_| false).unwrap(),
        ip("172.23.0.3")
    );
    assert_eq!(leases.release("pod-a").unwrap(), [a]);
    assert!(!dir.path().join("default/172.23.0.4").exists());
    assert!(dir.path().join("default/172.23.0.2").exists());
    assert_eq!(leases.release("pod-a").unwrap(), Vec::<Ipv4Addr>::new());
}

#[test]
fn concurrent_leases_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let net: Subnet = "10.1.0.0/24".parse().unwrap();
    let got: Vec<Ipv4Addr> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let d = dir.path().to_path_buf();
                s.spawn(move || Leases::new(&d).acquire(&net, &format!("pod{i}"), "lo1", |_| false))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let unique: BTreeSet<_> = got.iter().collect();
    assert_eq!(unique.len(), 8, "{got:?}");
}
