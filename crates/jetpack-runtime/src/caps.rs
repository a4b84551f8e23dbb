//! Linux capability names and numbers (`linux/capability.h`), for the appc capability
//! isolators. Sets are `u64` masks: bit n is capability n.

/// Every capability Linux defines, by number.
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub const CAP_KILL: u32 = 5;
pub const CAP_SYS_ADMIN: u32 = 21;

const fn bit(n: u32) -> u64 {
    1 << n
}

/// The appc default set (§9.16): CAP_AUDIT_WRITE, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID,
/// CAP_FOWNER, CAP_KILL, CAP_MKNOD, CAP_NET_RAW, CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID,
/// CAP_SETPCAP, CAP_SETFCAP, CAP_SYS_CHROOT.
pub const DEFAULT_SET: u64 = bit(29) // AUDIT_WRITE
    | bit(0) // CHOWN
    | bit(1) // DAC_OVERRIDE
    | bit(4) // FSETID
    | bit(3) // FOWNER
    | bit(5) // KILL
    | bit(27) // MKNOD
    | bit(13) // NET_RAW
    | bit(10) // NET_BIND_SERVICE
    | bit(7) // SETUID
    | bit(6) // SETGID
    | bit(8) // SETPCAP
    | bit(31) // SETFCAP
    | bit(18); // SYS_CHROOT

/// The number of a capability name (`CAP_CHOWN`; the `CAP_` prefix and case are optional, as
/// in `capabilities(7)` tools).
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The mask of the named capabilities and the names that are not capabilities.
pub fn mask(names: &[String]) -> (u64, Vec<String>) {
    let mut mask = 0;
    let mut unknown = Vec::new();
    for n in names {
        match number(n) {
            Some(c) => mask |= bit(c),
            None => unknown.push(n.clone()),
        }
    }
    (mask, unknown)
}

/// The names in a mask, by number.
pub fn names(mask: u64) -> Vec<&'static str> {
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & bit(*i as u32) != 0)
        .map(|(_, n)| *n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_is_the_specs_fourteen() {
        let names = names(DEFAULT_SET);
        assert_eq!(names.len(), 14);
        for n in [
            "CAP_AUDIT_WRITE",
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FSETID",
            "CAP_FOWNER",
            "CAP_KILL",
            "CAP_MKNOD",
            "CAP_NET_RAW",
            "CAP_NET_BIND_SERVICE",
            "CAP_SETUID",
            "CAP_SETGID",
            "CAP_SETPCAP",
            "CAP_SETFCAP",
            "CAP_SYS_CHROOT",
        ] {
            assert!(names.contains(&n), "{n}");
        }
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(number("CAP_CHOWN"), Some(0));
        assert_eq!(number("cap_sys_admin"), Some(CAP_SYS_ADMIN));
        assert_eq!(number("net_admin"), Some(12));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_PONIES"), None);
        let (m, unknown) = mask(&["CAP_KILL".into(), "CAP_PONIES".into()]);
        assert_eq!((m, unknown), (1 << 5, vec!["CAP_PONIES".to_string()]));
        assert_eq!(names(1 << 5 | 1), vec!["CAP_CHOWN", "CAP_KILL"]);
    }
}
