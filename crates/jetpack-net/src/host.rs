//! Stores that share a host but not a network directory: each marks the bridge of its default
//! network with its root (the interface alias), so a store whose default network would use
//! another store's bridge, or a subnet routed to another store's bridge, is refused before
//! anything is wired. The marks live in the kernel: they go with the bridge.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::cidr::Cidr;
use crate::error::{Error, Result};

/// What an interface alias says before the root of the store that owns the bridge.
const MARK: &str = "jetpack store ";

/// Where the kernel keeps an interface's alias; a root of another host (tests) can be given.
fn alias_file(sys: &Path, iface: &str) -> PathBuf {
    sys.join("class/net").join(iface).join("ifalias")
}

/// The store whose bridge `iface` is, from its alias.
fn marked_store(sys: &Path, iface: &str) -> Option<PathBuf> {
    let alias = std::fs::read_to_string(alias_file(sys, iface)).ok()?;
    alias
        .trim_end_matches('\n')
        .strip_prefix(MARK)
        .map(PathBuf::from)
}

/// Whether a store is at `root` (its `store.json`): a root left without one (removed, or
/// remade only by an older version's leases) holds no store.
pub(crate) fn is_store(root: &Path) -> bool {
    root.join("store.json").is_file()
}

/// Whether two store roots are the same directory.
pub(crate) fn same_store(a: &Path, b: &Path) -> bool {
    let c = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    a == b || c(a) == c(b)
}

/// Marks `bridge` as the default network's bridge of the store at `root`, unless it already
/// is (or the path is too long for an alias, 255 bytes: then it goes unmarked).
pub(crate) fn mark_bridge(bridge: &str, root: &Path) {
    let sys = Path::new("/sys");
    if marked_store(sys, bridge).is_some_and(|o| o == root) {
        return;
    }
    let text = format!("{MARK}{}", root.display());
    if text.len() < 256
        && let Err(e) = std::fs::write(alias_file(sys, bridge), &text)
    {
        tracing::debug!("marking bridge {bridge}: {e}");
    }
}

/// Refuses a default network on `bridge` with `subnet` for the store at `root` when the bridge
/// is marked as another existing store's, or the subnet overlaps one routed to another
/// store's bridge. `file` is the network's configuration file, for the message.
pub(crate) fn check_clash(
    bridge: &str,
    subnet: Option<Cidr>,
    root: &Path,
    file: &Path,
) -> Result<()> {
    check_clash_in(
        Path::new("/sys"),
        Path::new("/proc"),
        bridge,
        subnet,
        root,
        file,
    )
}

fn check_clash_in(
    sys: &Path,
    proc: &Path,
    bridge: &str,
    subnet: Option<Cidr>,
    root: &Path,
    file: &Path,
) -> Result<()> {
    let other = |o: &PathBuf| !same_store(o, root) && is_store(o);
    if let Some(o) = marked_store(sys, bridge).filter(other) {
        return Err(refusal(&format!("bridge {bridge}"), &o, root, file));
    }
    let Some(subnet) = subnet else {
        return Ok(());
    };
    for (iface, dst) in routes(proc) {
        if iface == bridge || !dst.overlaps(&subnet) || dst.prefix == 0 {
            continue;
        }
        if let Some(o) = marked_store(sys, &iface).filter(other) {
            let what = format!("subnet {subnet} (routed to {iface}, the bridge of {dst})");
            return Err(refusal(&what, &o, root, file));
        }
    }
    Ok(())
}

fn refusal(what: &str, owner: &Path, root: &Path, file: &Path) -> Error {
    let msg = format!(
        "the default network in {} uses {what}, which belongs to the store at {}: the store at \
         {} cannot share it (its pods would be leased the same addresses and its metadata \
         service would want the same address and port). Give this store a bridge, subnet and \
         metadata service port no other store uses: set net.default-bridge, net.default-subnet \
         and mds.port, and net.dir to a directory of its own (in its configuration file or with \
         -o KEY=VALUE), then run `jetpack init`",
        file.display(),
        owner.display(),
        root.display()
    );
    Error::Owned {
        owner: owner.to_path_buf(),
        msg,
    }
}

/// The host's routes to prefixes: `(interface, destination)`, IPv4 and IPv6.
fn routes(proc: &Path) -> Vec<(String, Cidr)> {
    let mut out = Vec::new();
    let read = |name: &str| jetpack_fs::read_proc(proc.join("net").join(name)).unwrap_or_default();
    // Iface Destination Gateway Flags RefCnt Use Metric Mask …, addresses in host byte order.
    for line in read("route").lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(iface), Some(dst), Some(mask)) = (f.first(), f.get(1), f.get(7)) else {
            continue;
        };
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(dst, 16), u32::from_str_radix(mask, 16))
        else {
            continue;
        };
        // The kernel prints the address's bytes read as a native integer.
        let addr = IpAddr::V4(Ipv4Addr::from(dst.to_ne_bytes()));
        let prefix = mask.count_ones() as u8;
        out.push((iface.to_string(), Cidr { addr, prefix }));
    }
    // Destination, its prefix length, source, its length, next hop, metric, refs, use, flags,
    // interface; addresses as 32 hex digits in network order.
    for line in read("ipv6_route").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dst), Some(len), Some(iface)) = (f.first(), f.get(1), f.get(9)) else {
            continue;
        };
        let (Ok(dst), Ok(prefix)) = (u128::from_str_radix(dst, 16), u8::from_str_radix(len, 16))
        else {
            continue;
        };
        let addr = IpAddr::V6(Ipv6Addr::from(dst));
        out.push((iface.to_string(), Cidr { addr, prefix }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/sys` and `/proc` with the given aliases and routes.
    struct Host {
        dir: tempfile::TempDir,
    }

    impl Host {
        fn new(aliases: &[(&str, &str)], route: &str, ipv6_route: &str) -> Host {
            let dir = tempfile::tempdir().unwrap();
            for (iface, alias) in aliases {
                let d = dir.path().join("sys/class/net").join(iface);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("ifalias"), alias).unwrap();
            }
            std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
            std::fs::write(dir.path().join("proc/net/route"), route).unwrap();
            std::fs::write(dir.path().join("proc/net/ipv6_route"), ipv6_route).unwrap();
            Host { dir }
        }

        fn check(&self, bridge: &str, subnet: &str, root: &Path) -> Result<()> {
            check_clash_in(
                &self.dir.path().join("sys"),
                &self.dir.path().join("proc"),
                bridge,
                Some(subnet.parse().unwrap()),
                root,
                Path::new("/n/default.conflist"),
            )
        }
    }

    const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
        jp0\t000017AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
        eth0\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n";
    const ROUTE6: &str = "fd000000000000010000000000000000 40 00000000000000000000000000000000 00 \
        00000000000000000000000000000000 00000100 00000001 00000000 00000001     jp6\n";

    fn store() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("store.json"), "{}").unwrap();
        d
    }

    #[test]
    fn parses_the_kernels_route_tables() {
        let h = Host::new(&[], ROUTE, ROUTE6);
        let r = routes(&h.dir.path().join("proc"));
        let text: Vec<String> = r.iter().map(|(i, c)| format!("{i} {c}")).collect();
        assert_eq!(
            text,
            [
                "eth0 0.0.0.0/0",
                "jp0 172.23.0.0/16",
                "eth0 10.0.0.0/8",
                "jp6 fd00:0:0:1::/64"
            ]
        );
    }

    #[test]
    fn another_stores_bridge_or_subnet_is_refused() {
        let (a, b) = (store(), store());
        let mark = format!("{MARK}{}\n", a.path().display());
        let h = Host::new(&[("jp0", &mark), ("jp6", &mark)], ROUTE, ROUTE6);
        // The owner itself, and a store on a bridge and subnet of its own, pass.
        h.check("jp0", "172.23.0.0/16", a.path()).unwrap();
        h.check("jp1", "172.24.0.0/16", b.path()).unwrap();
        // Unmarked interfaces (the host's own LAN, here 10/8) are not another store's.
        h.check("jp1", "10.9.0.0/24", b.path()).unwrap();
        let e = h.check("jp0", "172.24.0.0/16", b.path()).unwrap_err();
        let msg = e.to_string();
        for want in [
            "bridge jp0",
            "belongs to the store at",
            &*a.path().display().to_string(),
            "net.default-bridge",
            "net.default-subnet",
            "mds.port",
            "net.dir",
        ] {
            assert!(msg.contains(want), "{want:?} not in {msg}");
        }
        let e = h.check("jp1", "172.23.4.0/24", b.path()).unwrap_err();
        assert!(
            e.to_string()
                .contains("subnet 172.23.4.0/24 (routed to jp0"),
            "{e}"
        );
        let e = h
            .check("jp1", "fd00:0:0:1:8000::/80", b.path())
            .unwrap_err();
        assert!(e.to_string().contains("routed to jp6"), "{e}");
    }

    #[test]
    fn a_mark_of_a_store_that_is_gone_is_ignored() {
        let b = store();
        let gone = tempfile::tempdir().unwrap();
        let mark = format!("{MARK}{}", gone.path().display());
        let h = Host::new(&[("jp0", &mark)], ROUTE, "");
        h.check("jp0", "172.23.0.0/16", b.path()).unwrap();
    }
}
