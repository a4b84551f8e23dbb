//! The typed settings, one part per area. Their values come from [`crate::KEYS`]: a field is
//! set by its key's entry there, defaults included.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use jetpack_net::Cidr;

use crate::layout::Layout;

/// Every setting, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub store: StoreSettings,
    pub net: NetSettings,
    pub mds: MdsSettings,
    pub fetch: FetchSettings,
    pub build: BuildSettings,
    pub paths: PathSettings,
    /// The FreeBSD jail engine's (`jail.*`, `jail.param.NAME`, `ace.jailConf.NAME`).
    pub jail: jetpack_jail::Settings,
}

/// The store (`root`, `storage`, `zfs.dataset`, `import.max-size`), pods (`pods.*`) and
/// logging (`debug`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoreSettings {
    pub root: PathBuf,
    pub storage: Backend,
    pub zfs_dataset: Option<String>,
    pub debug: bool,
    /// Every pod gets a user namespace of its own, as with `--private-users`.
    pub private_users: bool,
    /// The largest uncompressed tar an import accepts, in bytes; `None`: no limit.
    pub import_max_size: Option<u64>,
}

impl StoreSettings {
    /// The paths under [`StoreSettings::root`].
    pub fn layout(&self) -> Layout {
        Layout::new(&self.root)
    }
}

/// The storage backend asked for; `Auto` is resolved once, by `init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Auto,
    Zfs,
    Btrfs,
    Overlay,
    Dir,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Zfs => "zfs",
            Backend::Btrfs => "btrfs",
            Backend::Overlay => "overlay",
            Backend::Dir => "dir",
        }
    }

    pub(crate) fn parse(v: &str) -> Option<Backend> {
        [
            Backend::Auto,
            Backend::Zfs,
            Backend::Btrfs,
            Backend::Overlay,
            Backend::Dir,
        ]
        .into_iter()
        .find(|b| b.as_str() == v)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Pod networks (`net.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetSettings {
    /// The CNI network configurations, one file per network.
    pub dir: PathBuf,
    /// Where CNI plugins are looked for, in order.
    pub plugin_path: Vec<PathBuf>,
    pub default_bridge: String,
    pub default_subnet: Cidr,
}

impl NetSettings {
    /// The plugin path as CNI wants it (`CNI_PATH`): directories joined by `:`.
    pub fn cni_path(&self) -> String {
        let dirs: Vec<_> = self
            .plugin_path
            .iter()
            .map(|p| p.to_string_lossy())
            .collect();
        dirs.join(":")
    }
}

/// The metadata service (`mds.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct MdsSettings {
    pub port: u16,
    /// Who the service runs as once its sockets are open; `None`: it stays root.
    pub user: Option<String>,
}

/// Downloads (`fetch.*`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FetchSettings {
    /// PEM files of CA certificates trusted besides the system's.
    pub ca_files: Vec<PathBuf>,
    /// For a connection, a response, and each read of a download.
    pub timeout: Duration,
    /// Registries (`HOST[:PORT]`) pulled from over plain HTTP and without TLS verification.
    pub insecure_registries: Vec<String>,
}

/// Where Jetpack's own files are (`path.*`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PathSettings {
    /// Shared files: `jetpack.image.mk`, the make helper for image builds.
    pub share: PathBuf,
}

/// Image builds (`build.*`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildSettings {
    /// How `jetpack build` compresses the ACI it stores.
    pub compression: BuildCompression,
}

/// The compression of a built ACI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildCompression {
    #[default]
    Gzip,
    Xz,
    Zstd,
    None,
}

impl BuildCompression {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildCompression::Gzip => "gzip",
            BuildCompression::Xz => "xz",
            BuildCompression::Zstd => "zstd",
            BuildCompression::None => "none",
        }
    }

    pub(crate) fn parse(v: &str) -> Option<BuildCompression> {
        [
            BuildCompression::Gzip,
            BuildCompression::Xz,
            BuildCompression::Zstd,
            BuildCompression::None,
        ]
        .into_iter()
        .find(|c| c.as_str() == v)
    }
}

impl Default for Settings {
    /// The built-in defaults of [`crate::KEYS`].
    fn default() -> Self {
        let mut s = Settings {
            store: StoreSettings::default(),
            net: NetSettings {
                dir: PathBuf::new(),
                plugin_path: Vec::new(),
                default_bridge: String::new(),
                default_subnet: Cidr {
                    addr: Ipv4Addr::UNSPECIFIED.into(),
                    prefix: 0,
                },
            },
            mds: MdsSettings {
                port: 0,
                user: None,
            },
            fetch: FetchSettings::default(),
            build: BuildSettings::default(),
            paths: PathSettings::default(),
            jail: jetpack_jail::Settings::default(),
        };
        for k in crate::KEYS {
            (k.set)(&mut s, k.default).unwrap_or_else(|| panic!("default of {}", k.name));
        }
        s
    }
}
