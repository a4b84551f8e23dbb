//! `/etc/hosts` and `/etc/resolv.conf` for pods whose image brings none.

use std::net::IpAddr;

/// localhost, and the pod's hostname on each of its addresses (on loopback when it has none).
pub fn hosts_file(hostname: &str, ips: &[IpAddr]) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if ips.is_empty() {
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    for ip in ips {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

/// The pod's resolver configuration: `dns` servers if given; otherwise the host's file,
/// without nameservers on loopback (a pod's loopback is its own, so a host's local stub
/// resolver cannot be reached from it). A host running systemd-resolved keeps the real
/// servers in `/run/systemd/resolve/resolv.conf`, which is preferred then.
pub fn resolv_conf(dns: &[IpAddr], host_files: &[&str]) -> String {
    if !dns.is_empty() {
        return dns.iter().map(|d| format!("nameserver {d}\n")).collect();
    }
    let mut fallback = None;
    for f in host_files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let mut has_server = false;
        let kept: String = text
            .lines()
            .filter(|l| {
                let mut w = l.split_whitespace();
                if w.next() != Some("nameserver") {
                    return true;
                }
                let remote = w
                    .next()
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .is_some_and(|a| !a.is_loopback());
                has_server |= remote;
                remote
            })
            .map(|l| format!("{l}\n"))
            .collect();
        if has_server {
            return kept;
        }
        fallback.get_or_insert(kept);
    }
    fallback.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_names_the_pod() {
        let h = hosts_file("web", &["10.1.0.5".parse().unwrap()]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.1.0.5\tweb\n"));
        assert!(hosts_file("x", &[]).contains("127.0.1.1\tx\n"));
    }

    #[test]
    fn resolv_prefers_reachable_servers() {
        let d = tempfile::tempdir().unwrap();
        let stub = d.path().join("stub");
        let real = d.path().join("real");
        std::fs::write(&stub, "nameserver 127.0.0.53\nsearch lan\n").unwrap();
        std::fs::write(&real, "nameserver 192.0.2.1\nsearch lan\n").unwrap();
        let files = [stub.to_str().unwrap(), real.to_str().unwrap()];
        assert_eq!(
            resolv_conf(&[], &files),
            "nameserver 192.0.2.1\nsearch lan\n"
        );
        assert_eq!(resolv_conf(&[], &files[..1]), "search lan\n");
        let dns = ["192.0.2.7".parse().unwrap()];
        assert_eq!(resolv_conf(&dns, &files), "nameserver 192.0.2.7\n");
    }
}
