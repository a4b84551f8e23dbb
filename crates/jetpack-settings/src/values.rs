//! The forms a value can take: how each is parsed, and how a bad one is explained.

use std::path::PathBuf;
use std::time::Duration;

/// What a key's value looks like, for messages, and whether the key may be given alone.
#[derive(Debug)]
pub struct Form {
    /// What was expected, as in "expected on or off".
    pub expected: &'static str,
    /// A good value, as in "e.g. mds.port=1104".
    pub example: &'static str,
    /// An on/off key: `-o KEY` alone means `KEY=on`.
    pub alone: bool,
}

const fn form(expected: &'static str, example: &'static str) -> Form {
    Form {
        expected,
        example,
        alone: false,
    }
}

pub const FLAG: Form = Form {
    expected: "on or off",
    example: "on",
    alone: true,
};
pub const SECONDS: Form = form("a whole number of seconds, at least 1", "30");
pub const PORT: Form = form("a TCP port number, 1 to 65535", "1104");
pub const BACKEND: Form = form("auto, zfs, btrfs, overlay or dir", "overlay");
pub const SUBNET: Form = form("an address range as ADDRESS/PREFIX-LENGTH", "172.23.0.0/16");
pub const DIR: Form = form("a directory", "/var/lib/jetpack");
pub const SIZE: Form = form(
    "a number of bytes, at least 1, optionally with a K, M, G or T suffix, or nothing",
    "20G",
);
pub const COMPRESSION: Form = form("gzip, xz, zstd or none", "zstd");
pub const TEXT: Form = form("a value", "VALUE");
pub const INTERFACE: Form = form("an interface name: 1 to 15 letters, digits or _", "lo1");
pub const OPT_INTERFACE: Form = form(
    "an interface name (1 to 15 letters, digits or _) or nothing",
    "em0",
);
pub const JAIL_SUBNET: Form = form(
    "an IPv4 range as ADDRESS/PREFIX-LENGTH, host bits zero, /30 at most",
    "172.23.0.0/16",
);
pub const RULESET: Form = form("a devfs ruleset number, 0 to 65535", "4");
pub const SECURELEVEL: Form = form("a securelevel, -1 to 3", "2");

/// A `jail.*` key, checked by the jail engine's settings (the one place that reads them).
pub fn jail(s: &mut crate::Settings, key: &str, v: &str) -> Option<()> {
    s.jail.apply(key, v).ok().filter(|known| *known).map(drop)
}

pub fn flag(v: &str) -> Option<bool> {
    match v {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

pub fn seconds(v: &str) -> Option<Duration> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_secs)
}

pub fn port(v: &str) -> Option<u16> {
    v.parse::<u16>().ok().filter(|n| *n > 0)
}

pub fn dir(v: &str) -> Option<PathBuf> {
    Some(PathBuf::from(v)).filter(|_| !v.is_empty())
}

/// `path.share`: empty means [`default_share`].
pub fn share(v: &str) -> PathBuf {
    if v.is_empty() {
        PathBuf::from(default_share())
    } else {
        PathBuf::from(v)
    }
}

/// Where an installed binary's shared files are: `share/jetpack` beside the binary's directory
/// (`/usr/local/bin/jetpack` → `/usr/local/share/jetpack`) if it exists; for a binary run from
/// a cargo build directory of a checkout (`target/PROFILE/jetpack`), the checkout's `share`;
/// else `/usr/local/share/jetpack`, where `scripts/install.sh` puts them by default.
pub fn default_share() -> String {
    const FALLBACK: &str = "/usr/local/share/jetpack";
    let Ok(exe) = std::env::current_exe() else {
        return FALLBACK.to_string();
    };
    let installed = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|p| p.join("share/jetpack"));
    let checkout = exe
        .ancestors()
        .nth(3)
        .map(|p| p.join("share"))
        .filter(|s| s.join("jetpack.image.mk").is_file());
    match (installed, checkout) {
        (Some(d), _) if d.is_dir() => d.display().to_string(),
        (_, Some(s)) => s.display().to_string(),
        _ => FALLBACK.to_string(),
    }
}

/// Empty text is "not set".
pub fn optional(v: &str) -> Option<String> {
    Some(v.to_string()).filter(|s| !s.is_empty())
}

/// A `sep`-separated list of paths; empty items are skipped.
pub fn paths(v: &str, sep: char) -> Vec<PathBuf> {
    v.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// A size in bytes: digits, optionally followed by `K`, `M`, `G` or `T` (powers of 1024, an
/// optional `B` or `iB` after them); `Some(None)` for nothing (no limit).
pub fn size(v: &str) -> Option<Option<u64>> {
    if v.is_empty() {
        return Some(None);
    }
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, ""),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .map(Some)
}
