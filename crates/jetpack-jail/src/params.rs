//! Jail parameters: which ones exist and what they take, the overrides from configuration and
//! annotations, the `jail.conf` text and the `jail_set(2)` list.
//!
//! jail(8) reads two sorts of parameters from `jail.conf`: the kernel's, which it hands to
//! `jail_set(2)`, and its own pseudo-parameters (`exec.*`, `mount.*`, `interface`), which it
//! carries out itself. The plan writes both into `jail.conf` (so that `jail -f jail.conf -c`
//! makes the same jail), and carries out the pseudo-parameters as mounts and commands of its
//! own; the `jail_set` list is the rest, in the same order.

use std::fmt;

use crate::error::{Error, Result};

/// What a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// A decimal integer within the range.
    Int(i64, i64),
    Str,
    /// `disable`, `new` or `inherit` (a jail's own namespace of something, or the host's).
    Jailsys,
    Ip4List,
    /// Read by jail(8) only.
    Pseudo,
}

/// A parameter's value, checked against its [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Str(String),
    Jailsys(Jailsys),
    Ip4(Vec<std::net::Ipv4Addr>),
}

/// `JAIL_SYS_DISABLE`, `JAIL_SYS_NEW`, `JAIL_SYS_INHERIT` (sys/jail.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jailsys {
    Disable = 0,
    New = 1,
    Inherit = 2,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => f.write_str(s),
            Value::Jailsys(Jailsys::Disable) => f.write_str("disable"),
            Value::Jailsys(Jailsys::New) => f.write_str("new"),
            Value::Jailsys(Jailsys::Inherit) => f.write_str("inherit"),
            Value::Ip4(addrs) => {
                let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                f.write_str(&list.join(","))
            }
        }
    }
}

const BOOLS: &[&str] = &[
    "persist",
    "allow.set_hostname",
    "allow.sysvipc",
    "allow.raw_sockets",
    "allow.chflags",
    "allow.mount",
    "allow.mount.devfs",
    "allow.mount.fdescfs",
    "allow.mount.linprocfs",
    "allow.mount.linsysfs",
    "allow.mount.nullfs",
    "allow.mount.procfs",
    "allow.mount.tmpfs",
    "allow.mount.zfs",
    "allow.quotas",
    "allow.socket_af",
    "allow.mlock",
    "allow.reserved_ports",
    "allow.read_msgbuf",
    "allow.unprivileged_proc_debug",
    "allow.suser",
    "allow.nfsd",
    "allow.extattr",
    "allow.adjtime",
    "allow.settime",
    "allow.routing",
    "allow.vmm",
    "allow.setaudit",
];
const STRS: &[&str] = &[
    "path",
    "host.hostname",
    "host.domainname",
    "host.hostuuid",
    "osrelease",
    "linux.osname",
    "linux.osrelease",
];
const JAILSYS: &[&str] = &[
    "ip4", "ip6", "vnet", "host", "sysvmsg", "sysvsem", "sysvshm", "linux",
];
const PSEUDO: &[&str] = &["exec.clean", "interface", "mount.fstab"];

/// The parameter's kind; `None` for a name neither jail(2) nor jail(8) knows.
pub fn kind(name: &str) -> Option<Kind> {
    let k = match name {
        "securelevel" => Kind::Int(-1, 3),
        "devfs_ruleset" => Kind::Int(0, 65535),
        "enforce_statfs" => Kind::Int(0, 2),
        // Ints are C ints for jail_set; host.hostid (an unsigned long) is left out.
        "children.max" => Kind::Int(0, i32::MAX as i64),
        "osreldate" | "linux.oss_version" => Kind::Int(0, i32::MAX as i64),
        "ip4.addr" => Kind::Ip4List,
        n if BOOLS.contains(&n) => Kind::Bool,
        n if STRS.contains(&n) => Kind::Str,
        n if JAILSYS.contains(&n) => Kind::Jailsys,
        n if PSEUDO.contains(&n) => Kind::Pseudo,
        _ => return None,
    };
    Some(k)
}

/// Parameters the plan sets from the pod itself, which overrides may not change: the jail's
/// identity, root and network, and jail(8)'s own (`exec.*` would run host commands as root).
fn owned(name: &str) -> bool {
    matches!(
        name,
        "name"
            | "jid"
            | "parent"
            | "path"
            | "persist"
            | "host.hostuuid"
            | "ip4"
            | "ip4.addr"
            | "ip6"
            | "ip6.addr"
            | "vnet"
            | "interface"
    ) || name.starts_with("exec.")
        || name.starts_with("mount.")
        || name.starts_with("vnet.")
}

/// Checks an override (`origin` says where it came from, for the message) and reads its value;
/// an empty value means "unset the parameter" (`None`).
pub fn parse_override(name: &str, value: &str, origin: &str) -> Result<Option<Value>> {
    let refuse = |reason: &str| Error::Param {
        name: name.to_string(),
        origin: origin.to_string(),
        reason: reason.to_string(),
    };
    if owned(name) {
        return Err(refuse(
            "set by jetpack from the pod; it cannot be overridden",
        ));
    }
    let Some(kind) = kind(name) else {
        return Err(refuse("not a jail parameter jetpack knows"));
    };
    if value.is_empty() {
        return Ok(None);
    }
    parse_value(name, kind, value, origin).map(Some)
}

pub(crate) fn parse_value(name: &str, kind: Kind, value: &str, origin: &str) -> Result<Value> {
    let bad = |reason: String| Error::Value {
        name: name.to_string(),
        value: value.to_string(),
        origin: origin.to_string(),
        reason,
    };
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(bad(format!("control character {c:?}")));
    }
    Ok(match kind {
        Kind::Bool => match value {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(bad("not true or false".into())),
        },
        Kind::Int(lo, hi) => match value.parse::<i64>() {
            Ok(i) if (lo..=hi).contains(&i) => Value::Int(i),
            _ => return Err(bad(format!("not an integer from {lo} to {hi}"))),
        },
        Kind::Jailsys => match value {
            "disable" => Value::Jailsys(Jailsys::Disable),
            "new" => Value::Jailsys(Jailsys::New),
            "inherit" => Value::Jailsys(Jailsys::Inherit),
            _ => return Err(bad("not disable, new or inherit".into())),
        },
        Kind::Ip4List => {
            let addrs: std::result::Result<Vec<_>, _> =
                value.split(',').map(|a| a.trim().parse()).collect();
            Value::Ip4(addrs.map_err(|_| bad("not a list of IPv4 addresses".into()))?)
        }
        Kind::Str | Kind::Pseudo if value.len() > 1023 => {
            return Err(bad("longer than 1023 bytes".into()));
        }
        Kind::Str | Kind::Pseudo => Value::Str(value.to_string()),
    })
}

/// The jail's parameters in order; setting one again replaces it in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, Value)>);

impl Params {
    pub fn set(&mut self, name: &str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    pub fn unset(&mut self, name: &str) {
        self.0.retain(|(n, _)| n != name);
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// What `jail -c` hands `jail_set(2)` for this file: `name` first, then every kernel
    /// parameter in order (pseudo-parameters are jail(8)'s own).
    pub fn jail_set(&self, jail_name: &str) -> Vec<(String, Value)> {
        std::iter::once(("name".to_string(), Value::Str(jail_name.to_string())))
            .chain(
                self.0
                    .iter()
                    .filter(|(n, _)| kind(n) != Some(Kind::Pseudo))
                    .cloned(),
            )
            .collect()
    }

    /// The `jail.conf` text: one block for the jail, one `name = value;` line per parameter.
    pub fn conf(&self, jail_name: &str) -> Result<String> {
        // The block's name in quotes, as Jetpack wrote it.
        let name = quote(jail_name)?;
        let name = if name.starts_with('"') {
            name
        } else {
            format!("\"{name}\"")
        };
        let mut out = format!("{name} {{\n");
        for (name, value) in &self.0 {
            out.push_str(&format!("\t{name} = {};\n", quote(&value.to_string())?));
        }
        out.push_str("}\n");
        Ok(out)
    }
}

/// A value as jail.conf(5) reads it back unchanged: bare when it is a plain word, else in
/// double quotes with `\`, `"` and `$` (variable expansion) escaped. Newlines and other
/// control characters have no quoting that every jail(8) reads the same; they are refused.
pub fn quote(value: &str) -> Result<String> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(crate::error::invalid(
            "jail.conf value",
            value,
            format!("control character {c:?}"),
        ));
    }
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/:@%+-".contains(&b));
    if plain {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}
