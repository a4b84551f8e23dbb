//! `/etc/hosts` and `/etc/resolv.conf` for pods whose image brings none.

use std::net::IpAddr;

/// localhost (or `base`, the host's file, as `--hosts-entry host` asks), the pod's hostname on
/// each of its addresses (on loopback when it has none), then `entries` (`--hosts-entry
/// IP=HOST`), one line per address.
pub fn hosts_file(
    hostname: &str,
    ips: &[IpAddr],
    base: Option<&str>,
    entries: &[(IpAddr, String)],
) -> String {
    let mut s = match base {
        Some(b) if b.is_empty() || b.ends_with('\n') => b.to_string(),
        Some(b) => format!("{b}\n"),
        None => String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
    };
    if ips.is_empty() {
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    for ip in ips {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    let mut done: Vec<IpAddr> = Vec::new();
    for (ip, _) in entries {
        if done.contains(ip) {
            continue;
        }
        done.push(*ip);
        let names: Vec<&str> = entries
            .iter()
            .filter(|(i, _)| i == ip)
            .map(|(_, n)| n.as_str())
            .collect();
        s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    s
}

/// `text` (a resolv.conf) with `search` replacing its `search` and `domain` lines and
/// `options` replacing its `options` lines, each when given.
pub fn resolver_settings(text: &str, search: &[String], options: &[String]) -> String {
    let mut s: String = text
        .lines()
        .filter(|l| match l.split_whitespace().next() {
            Some("search" | "domain") => search.is_empty(),
            Some("options") => options.is_empty(),
            _ => true,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
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
        let h = hosts_file("web", &["10.1.0.5".parse().unwrap()], None, &[]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.1.0.5\tweb\n"));
        assert!(hosts_file("x", &[], None, &[]).contains("127.0.1.1\tx\n"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let entries = [
            (ip("10.0.0.5"), "db".to_string()),
            (ip("fd00::1"), "v6".to_string()),
            (ip("10.0.0.5"), "db.example".to_string()),
        ];
        let h = hosts_file("x", &[], Some("192.0.2.1 hosty"), &entries);
        assert_eq!(
            h,
            "192.0.2.1 hosty\n127.0.1.1\tx\n10.0.0.5\tdb db.example\nfd00::1\tv6\n"
        );
    }

    #[test]
    fn resolver_settings_replace_the_hosts() {
        let text = "nameserver 192.0.2.1\nsearch lan\ndomain lan\noptions ndots:1\n";
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(resolver_settings(text, &[], &[]), text);
        assert_eq!(
            resolver_settings(text, &s(&["a.example", "b.example"]), &[]),
            "nameserver 192.0.2.1\noptions ndots:1\nsearch a.example b.example\n"
        );
        assert_eq!(
            resolver_settings(text, &[], &s(&["ndots:2", "rotate"])),
            "nameserver 192.0.2.1\nsearch lan\ndomain lan\noptions ndots:2 rotate\n"
        );
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
