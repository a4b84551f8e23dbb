//! The table of keys: name, default, meaning, form, and the field each one sets. Adding a
//! setting is one entry here and one field in [`crate::settings`].

use crate::settings::{Backend, BuildCompression, Settings};
use crate::values::{self, Form};

/// A known key. Anything else in a configuration is a typo and an error.
pub struct Key {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
    pub(crate) form: Form,
    /// Parses `value` into its field; `None` if the value does not have the key's form.
    pub(crate) set: fn(&mut Settings, &str) -> Option<()>,
}

impl Key {
    /// Whether `-o KEY` alone (meaning `KEY=on`) is allowed.
    pub fn is_flag(&self) -> bool {
        self.form.alone
    }
}

/// Stores a parsed value; `None` (a value of the wrong form) leaves the field alone.
fn put<T>(field: &mut T, value: Option<T>) -> Option<()> {
    *field = value?;
    Some(())
}

/// The key named `name`.
pub(crate) fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The value an empty value of `key` stands for, when it is computed as the configuration is
/// read rather than fixed (a default that depends on where the binary is).
pub(crate) fn computed(key: &str) -> Option<String> {
    match key {
        "path.share" => Some(values::default_share()),
        _ => None,
    }
}

pub const KEYS: &[Key] = &[
    Key {
        name: "root",
        default: "/var/lib/jetpack",
        help: "data directory: index, image metadata, storage",
        form: values::DIR,
        set: |s, v| put(&mut s.store.root, values::dir(v)),
    },
    Key {
        name: "storage",
        default: "auto",
        help: "storage backend: auto, zfs, btrfs, overlay or dir",
        form: values::BACKEND,
        set: |s, v| put(&mut s.store.storage, Backend::parse(v)),
    },
    Key {
        name: "zfs.dataset",
        default: "",
        help: "root ZFS dataset for storage = zfs (e.g. tank/jetpack)",
        form: values::TEXT,
        set: |s, v| put(&mut s.store.zfs_dataset, Some(values::optional(v))),
    },
    Key {
        name: "debug",
        default: "off",
        help: "verbose logging (on/off)",
        form: values::FLAG,
        set: |s, v| put(&mut s.store.debug, values::flag(v)),
    },
    Key {
        name: "pods.private-users",
        default: "off",
        help: "give every pod a user namespace of its own, as --private-users does (on/off)",
        form: values::FLAG,
        set: |s, v| put(&mut s.store.private_users, values::flag(v)),
    },
    Key {
        name: "fetch.ca-file",
        default: "",
        help: "extra PEM CA certificates trusted for HTTPS besides the system's (comma-separated files)",
        form: values::TEXT,
        set: |s, v| put(&mut s.fetch.ca_files, Some(values::paths(v, ','))),
    },
    Key {
        name: "registries.insecure",
        default: "",
        help: "registries (HOST[:PORT], comma-separated) pulled from over plain HTTP and without TLS verification, as --insecure-options=http,tls allows for one command",
        form: values::TEXT,
        set: |s, v| {
            let list: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect();
            put(&mut s.fetch.insecure_registries, Some(list))
        },
    },
    Key {
        name: "fetch.timeout",
        default: "30",
        help: "seconds to wait for a connection, a response, or each read of a download",
        form: values::SECONDS,
        set: |s, v| put(&mut s.fetch.timeout, values::seconds(v)),
    },
    Key {
        name: "net.dir",
        default: "/etc/jetpack/net.d",
        help: "directory of CNI network configurations, one file per network (init writes `default`)",
        form: values::DIR,
        set: |s, v| put(&mut s.net.dir, values::dir(v)),
    },
    Key {
        name: "net.plugin-path",
        default: jetpack_net::DEFAULT_PLUGIN_PATH,
        help: "where CNI plugins are looked for (colon-separated)",
        form: values::TEXT,
        set: |s, v| put(&mut s.net.plugin_path, Some(values::paths(v, ':'))),
    },
    Key {
        name: "net.default-bridge",
        default: "jetpack0",
        help: "bridge of the default network, used when init writes its configuration",
        form: values::TEXT,
        set: |s, v| put(&mut s.net.default_bridge, Some(v.to_string())),
    },
    Key {
        name: "net.default-subnet",
        default: "172.23.0.0/16",
        help: "addresses of the default network, used when init writes its configuration",
        form: values::SUBNET,
        set: |s, v| put(&mut s.net.default_subnet, v.parse().ok()),
    },
    Key {
        name: "import.max-size",
        default: "",
        help: "largest uncompressed image (tar bytes, or with a K, M, G or T suffix) import accepts; empty: no limit",
        form: values::SIZE,
        set: |s, v| put(&mut s.store.import_max_size, values::size(v)),
    },
    Key {
        name: "mds.port",
        default: "1104",
        help: "TCP port of the metadata service, on the default network's host address",
        form: values::PORT,
        set: |s, v| put(&mut s.mds.port, values::port(v)),
    },
    Key {
        name: "mds.user",
        default: "nobody",
        help: "user the metadata service runs as once its sockets are open (kept root if it does not exist)",
        form: values::TEXT,
        set: |s, v| put(&mut s.mds.user, Some(values::optional(v))),
    },
    Key {
        name: "build.compression",
        default: "gzip",
        help: "compression of the ACIs `jetpack build` stores: gzip, xz, zstd or none",
        form: values::COMPRESSION,
        set: |s, v| put(&mut s.build.compression, BuildCompression::parse(v)),
    },
    Key {
        name: "path.share",
        default: "",
        help: "shared files such as jetpack.image.mk (`jetpack config path.share` prints it); empty: share/jetpack beside the binary's directory if it exists, else /usr/local/share/jetpack",
        form: values::DIR,
        set: |s, v| put(&mut s.paths.share, Some(values::share(v))),
    },
    Key {
        name: "jail.interface",
        default: "lo1",
        help: "FreeBSD: the cloned interface pod addresses are aliases on (Jetpack's lo1)",
        form: values::INTERFACE,
        set: |s, v| values::jail(s, "jail.interface", v),
    },
    Key {
        name: "jail.subnet",
        default: "172.23.0.0/16",
        help: "FreeBSD: addresses of jail pods; the first is the host's (metadata service), pods get the next free ones",
        form: values::JAIL_SUBNET,
        set: |s, v| values::jail(s, "jail.subnet", v),
    },
    Key {
        name: "jail.devfs_ruleset",
        default: "4",
        help: "FreeBSD: the devfs ruleset of the apps' /dev (4: devfsrules_jail)",
        form: values::RULESET,
        set: |s, v| values::jail(s, "jail.devfs_ruleset", v),
    },
    Key {
        name: "jail.securelevel",
        default: "2",
        help: "FreeBSD: the securelevel of pod jails",
        form: values::SECURELEVEL,
        set: |s, v| values::jail(s, "jail.securelevel", v),
    },
    Key {
        name: "jail.external-interface",
        default: "",
        help: "FreeBSD: the interface pod traffic leaves by, for pf's nat (empty: no nat rule)",
        form: values::OPT_INTERFACE,
        set: |s, v| values::jail(s, "jail.external-interface", v),
    },
    Key {
        name: "jail.bridge",
        default: "jetpack0",
        help: "FreeBSD: the bridge the host ends of --net=vnet pods' epairs join",
        form: values::INTERFACE,
        set: |s, v| values::jail(s, "jail.bridge", v),
    },
];

/// Keys of a family rather than one name: `jail.param.NAME` (Jetpack's `ace.jailConf.NAME`)
/// overrides jail parameter NAME of every pod jail.
pub const PARAM_KEY: &str = "jail.param.NAME";
