//! Pod-wide options as rkt had them: the pod's hostname, extra `/etc/hosts` lines and resolver
//! settings (recorded in the pod's state, applied at every run), and the parsers and checks of
//! the options that apply to every app (`--set-env`, `--set-env-file`, `--inherit-env`,
//! `--supplementary-gids`), which end up in the reified pod manifest, with those of `--volume`
//! and `--mount`.

use std::net::IpAddr;
use std::str::FromStr;

use appc::{AcName, Volume, VolumeKind};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a pod's `/etc/hosts` and `/etc/resolv.conf` get beyond the defaults, and its hostname.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcOptions {
    /// `--hostname`; the pod's name, else `jetpack-` and the first UUID digits, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `--hosts-entry host`: the host's `/etc/hosts` (read at each run) instead of localhost.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_hosts: bool,
    /// `--hosts-entry IP=HOST`, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts_entries: Vec<(IpAddr, String)>,
    /// `--dns-search`: replaces the host's `search` (and `domain`) lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// `--dns-opt`: replaces the host's `options` lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
}

impl EtcOptions {
    pub fn is_empty(&self) -> bool {
        *self == EtcOptions::default()
    }

    /// Checks every value (the command line does too; a library caller gets the same errors).
    pub fn check(&self) -> Result<()> {
        if let Some(h) = &self.hostname {
            check_hostname("--hostname", h)?;
        }
        for (_, h) in &self.hosts_entries {
            check_hostname("--hosts-entry", h)?;
        }
        for d in &self.dns_search {
            check_domain(d)?;
        }
        for o in &self.dns_options {
            check_dns_option(o)?;
        }
        Ok(())
    }

    /// Whether the resolver file says more than the servers (a pod without network gets one
    /// only then).
    pub fn has_resolver_settings(&self) -> bool {
        !self.dns_search.is_empty() || !self.dns_options.is_empty()
    }
}

fn invalid(msg: String) -> Error {
    Error::Invalid(msg)
}

/// The longest hostname the kernel takes (HOST_NAME_MAX).
pub const HOSTNAME_MAX: usize = 64;

/// A hostname (RFC 1123): labels of letters, digits and `-` separated by dots, each at most 63
/// bytes and neither starting nor ending with `-`; at most [`HOSTNAME_MAX`] bytes in all.
pub fn check_hostname(option: &str, h: &str) -> Result<()> {
    if h.len() > HOSTNAME_MAX {
        return Err(invalid(format!(
            "{option} {h:?}: {} bytes is too long: a hostname has at most {HOSTNAME_MAX}",
            h.len()
        )));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if h.is_empty() || !h.split('.').all(label_ok) {
        return Err(invalid(format!(
            "{option} {h:?}: a hostname is made of letters, digits and '-' in labels separated \
             by dots, none starting or ending with '-' (e.g. web-1 or db.example.com)"
        )));
    }
    Ok(())
}

/// A search domain: a hostname, with an optional final dot.
fn check_domain(d: &str) -> Result<()> {
    let bare = d.strip_suffix('.').unwrap_or(d);
    check_hostname("--dns-search", bare).map_err(|_| {
        invalid(format!(
            "--dns-search {d:?}: not a domain name (letters, digits and '-' in labels separated \
             by dots, e.g. example.com)"
        ))
    })
}

/// A resolver option as resolv.conf(5) writes it: a word, with `:N` for those taking a number
/// (`ndots:2`, `timeout:1`, `rotate`, `edns0`).
fn check_dns_option(o: &str) -> Result<()> {
    let (word, num) = match o.split_once(':') {
        Some((w, n)) => (w, Some(n)),
        None => (o, None),
    };
    let ok = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && num.is_none_or(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        return Err(invalid(format!(
            "--dns-opt {o:?}: expected a resolver option such as ndots:2, timeout:1, attempts:3, \
             rotate or edns0 (see resolv.conf(5))"
        )));
    }
    Ok(())
}

/// Parses `--hosts-entry IP=HOST`; `host` is `None` (copy the host's file).
pub fn parse_hosts_entry(v: &str) -> Result<Option<(IpAddr, String)>> {
    if v == "host" {
        return Ok(None);
    }
    let bad = || {
        invalid(format!(
            "--hosts-entry {v:?}: expected IP=HOSTNAME (e.g. 10.0.0.5=db), or host to copy the \
             host's /etc/hosts"
        ))
    };
    let (ip, host) = v.split_once('=').ok_or_else(bad)?;
    let ip: IpAddr = ip.trim().parse().map_err(|_| bad())?;
    check_hostname("--hosts-entry", host)?;
    Ok(Some((ip, host.to_string())))
}

/// Parses a comma-separated list of `--dns-search` domains or `--dns-opt` options.
pub fn parse_dns_list(option: &str, v: &str) -> Result<Vec<String>> {
    let list: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if list.is_empty() {
        return Err(invalid(format!("{option} needs a value")));
    }
    for x in &list {
        match option {
            "--dns-search" => check_domain(x)?,
            _ => check_dns_option(x)?,
        }
    }
    Ok(list)
}

/// Parses `NAME,kind=host,source=PATH[,readOnly=true][,recursive=false]` or
/// `NAME,kind=empty[,mode=0755][,uid=N][,gid=N][,readOnly=true]`.
pub fn parse_volume(spec: &str) -> Result<Volume> {
    let mut parts = spec.split(',');
    let name = parts.next().unwrap_or_default();
    let name = AcName::from_str(name)
        .map_err(|e| invalid(format!("--volume {spec:?}: volume name: {e}")))?;
    let (mut kind, mut source, mut ro, mut rec) = (None, None, None, None);
    let (mut mode, mut uid, mut gid) = (0o755, 0, 0);
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| invalid(format!("--volume {spec:?}: expected KEY=VALUE, got {p:?}")))?;
        let bool_of = |v: &str| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(invalid(format!(
                "--volume {spec:?}: {k} must be true or false"
            ))),
        };
        let num = |v: &str, radix| {
            u32::from_str_radix(v, radix)
                .map_err(|_| invalid(format!("--volume {spec:?}: bad {k} {v:?}")))
        };
        match k {
            "kind" => kind = Some(v.to_string()),
            "source" => source = Some(v.to_string()),
            "readOnly" => ro = Some(bool_of(v)?),
            "recursive" => rec = Some(bool_of(v)?),
            "mode" => mode = num(v, 8)?,
            "uid" => uid = num(v, 10)?,
            "gid" => gid = num(v, 10)?,
            _ => return Err(invalid(format!("--volume {spec:?}: unknown key {k:?}"))),
        }
    }
    let kind = match kind.as_deref() {
        Some("host") => {
            let source = source.ok_or_else(|| {
                invalid(format!(
                    "--volume {spec:?}: a host volume needs source=PATH"
                ))
            })?;
            if !source.starts_with('/') {
                return Err(invalid(format!(
                    "--volume {spec:?}: source must be an absolute path"
                )));
            }
            VolumeKind::Host { source }
        }
        Some("empty") => VolumeKind::Empty { mode, uid, gid },
        _ => {
            return Err(invalid(format!(
                "--volume {spec:?}: kind must be host or empty"
            )));
        }
    };
    Ok(Volume {
        name,
        kind,
        read_only: ro,
        recursive: rec,
    })
}

/// Parses `volume=NAME,target=PATH`.
pub fn parse_mount(spec: &str) -> Result<(String, String)> {
    let (mut vol, mut target) = (None, None);
    for p in spec.split(',') {
        match p.split_once('=') {
            Some(("volume", v)) => vol = Some(v.to_string()),
            Some(("target", t)) => target = Some(t.to_string()),
            _ => {
                return Err(invalid(format!(
                    "--mount {spec:?}: expected volume=NAME,target=PATH"
                )));
            }
        }
    }
    match (vol, target) {
        (Some(v), Some(t)) if t.starts_with('/') => Ok((v, t)),
        _ => Err(invalid(format!(
            "--mount {spec:?}: expected volume=NAME,target=/ABSOLUTE/PATH"
        ))),
    }
}

/// Parses `--supplementary-gids 10,20`.
pub fn parse_gids(v: &str) -> Result<Vec<u32>> {
    let bad = || {
        invalid(format!(
            "--supplementary-gids {v:?}: expected numeric group IDs separated by commas (e.g. \
             10,20)"
        ))
    };
    v.split(',')
        .map(|g| match g.trim().parse::<u32>() {
            // (u32::MAX is the kernel's "no group")
            Ok(n) if n != u32::MAX => Ok(n),
            _ => Err(bad()),
        })
        .collect()
}

/// An environment variable name as appc accepts it: a letter or `_`, then letters, digits,
/// `_`, `.` or `-`.
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Parses `--set-env NAME=VALUE`.
pub fn parse_env(v: &str) -> Result<(String, String)> {
    let Some((k, val)) = v.split_once('=') else {
        return Err(invalid(format!(
            "--set-env {v:?}: expected NAME=VALUE (e.g. LANG=C.UTF-8)"
        )));
    };
    if !valid_env_name(k) {
        return Err(invalid(format!(
            "--set-env {v:?}: {k:?} is not a variable name (a letter or '_', then letters, \
             digits, '_', '.' or '-')"
        )));
    }
    Ok((k.to_string(), val.to_string()))
}

/// Parses the text of a `--set-env-file`: `NAME=VALUE` lines; empty lines and lines starting
/// with `#` are skipped. `file` names it in errors.
pub fn parse_env_file(file: &str, text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if line.contains('\0') {
            return Err(invalid(format!(
                "--set-env-file {file}: line {}: a NUL byte",
                n + 1
            )));
        }
        let kv = parse_env(t)
            .map_err(|e| invalid(format!("--set-env-file {file}: line {}: {e}", n + 1)))?;
        out.push(kv);
    }
    Ok(out)
}

/// The part of an environment (`std::env::vars_os()`) that apps can inherit: UTF-8 pairs with
/// valid names, without the variables the runtime sets itself.
pub fn inheritable_env(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<(String, String)> {
    vars.into_iter()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| valid_env_name(k) && !k.starts_with("AC_") && k != "container")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_and_mounts() {
        let v = parse_volume("data,kind=host,source=/srv/data,readOnly=true").unwrap();
        assert_eq!(
            v.kind,
            VolumeKind::Host {
                source: "/srv/data".into()
            }
        );
        assert!(v.is_read_only() && v.is_recursive());
        let v = parse_volume("scratch,kind=empty,mode=0700,uid=5").unwrap();
        assert_eq!(
            v.kind,
            VolumeKind::Empty {
                mode: 0o700,
                uid: 5,
                gid: 0
            }
        );
        assert!(
            parse_volume("x,kind=host")
                .unwrap_err()
                .to_string()
                .contains("needs source")
        );
        assert!(
            parse_volume("x,kind=host,source=rel")
                .unwrap_err()
                .to_string()
                .contains("absolute")
        );
        assert!(parse_volume("Bad,kind=empty").is_err());
        assert!(parse_volume("x,kind=tmpfs").is_err());
        assert_eq!(
            parse_mount("volume=data,target=/data").unwrap(),
            ("data".into(), "/data".into())
        );
        assert!(parse_mount("volume=data").is_err());
        assert!(parse_mount("volume=data,target=rel").is_err());
    }

    #[test]
    fn hostnames() {
        for ok in ["web", "web-1", "db.example.com", "A1", &"a".repeat(63)] {
            check_hostname("--hostname", ok).unwrap();
        }
        for bad in ["", "-a", "a-", "a..b", "a_b", "a b", ".a", &"a".repeat(64)] {
            let e = check_hostname("--hostname", bad).unwrap_err().to_string();
            assert!(e.contains("--hostname"), "{bad}: {e}");
        }
        let long = format!("{}.{}", "a".repeat(40), "b".repeat(30));
        let e = check_hostname("--hostname", &long).unwrap_err().to_string();
        assert!(e.contains("at most 64"), "{e}");
    }

    #[test]
    fn hosts_entries_and_dns() {
        assert_eq!(parse_hosts_entry("host").unwrap(), None);
        assert_eq!(
            parse_hosts_entry("10.0.0.5=db").unwrap(),
            Some(("10.0.0.5".parse().unwrap(), "db".into()))
        );
        assert!(parse_hosts_entry("fd00::1=v6.example").unwrap().is_some());
        for bad in ["10.0.0.5", "x=db", "10.0.0.5=", "10.0.0.5=a_b"] {
            assert!(parse_hosts_entry(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_dns_list("--dns-search", "a.example, b.example.").unwrap(),
            vec!["a.example", "b.example."]
        );
        assert!(parse_dns_list("--dns-search", "a b").is_err());
        assert_eq!(
            parse_dns_list("--dns-opt", "ndots:2,rotate").unwrap(),
            vec!["ndots:2", "rotate"]
        );
        for bad in ["ndots:", "nd ots", "x:y", ""] {
            let e = parse_dns_list("--dns-opt", bad).unwrap_err().to_string();
            assert!(e.contains("--dns-opt"), "{bad}: {e}");
        }
    }

    #[test]
    fn env_and_gids() {
        assert_eq!(parse_env("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(
            parse_env("NOEQ")
                .unwrap_err()
                .to_string()
                .contains("NAME=VALUE")
        );
        assert!(
            parse_env("1A=x")
                .unwrap_err()
                .to_string()
                .contains("not a variable")
        );
        let f = parse_env_file("f", "# c\n\nA=1\n  B=two words\n").unwrap();
        assert_eq!(
            f,
            vec![("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        let e = parse_env_file("f", "A=1\nbad line\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        assert_eq!(parse_gids("10, 20").unwrap(), vec![10, 20]);
        for bad in ["", "a", "10,", "-1", "4294967295"] {
            assert!(parse_gids(bad).is_err(), "{bad}");
        }
        let env = inheritable_env([
            ("HOME".into(), "/root".into()),
            ("AC_APP_NAME".into(), "x".into()),
            ("container".into(), "y".into()),
            ("BASH_FUNC_x%%".into(), "()".into()),
        ]);
        assert_eq!(env, vec![("HOME".to_string(), "/root".to_string())]);
    }
}
