//! What stage0 hands to the isolation engine: a pod fully resolved to host paths and numeric
//! credentials. Nothing here is looked up again at start, so the start path does no name
//! resolution, no network, and no image store access. Isolators arrive as numbers too:
//! capability masks, system call numbers, errno values, bytes and milli-cores.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Network of the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetMode {
    /// Share the host's network namespace.
    Host,
    /// A network namespace of its own: only loopback, up, or the one in [`PodSpec::netns`].
    Loopback,
}

/// A bind mount into an app's rootfs (a `host` volume, or an `empty` volume's directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Host path of the source.
    pub source: PathBuf,
    /// Absolute path inside the app's rootfs; resolved without leaving the rootfs, missing
    /// directories created.
    pub target: String,
    pub read_only: bool,
    pub recursive: bool,
    /// The pod volume mounted (its name in [`PodSpec::volumes`]); `None` for an app's own
    /// inline volume.
    #[serde(default)]
    pub volume: Option<String>,
}

/// A volume of the pod (appc `volumes`), for engines that set volumes up themselves (the jail
/// engine makes empty ones ZFS datasets where the store is on ZFS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub name: String,
    /// Host path: a `host` volume's source, an `empty` volume's directory in the pod's.
    pub source: PathBuf,
    pub read_only: bool,
    /// An `empty` volume's mode and owner; `None` for a `host` volume.
    pub empty: Option<EmptyVolume>,
}

/// The root of a new `empty` volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyVolume {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A host port forwarded to the pod (`--port`, the manifest's `ports`); on Linux CNI's
/// portmap does it from the pod's networks, the jail engine with pf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// `tcp` or `udp`.
    pub protocol: String,
    pub host_port: u16,
    pub pod_port: u16,
}

/// One app of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    /// The pod app name (AC Name): `AC_APP_NAME`, the log and status directory name.
    pub name: String,
    /// Host path of the app's writable rootfs (a clone of its image).
    pub rootfs: PathBuf,
    /// The `os` label of the app's image (`linux`, `freebsd`); `None`: the host's.
    #[serde(default)]
    pub os: Option<String>,
    /// argv; `exec[0]` is resolved like execvp with the app's PATH inside the rootfs.
    pub exec: Vec<String>,
    /// The complete environment (PATH, AC_APP_NAME, AC_METADATA_URL, container, app vars).
    pub env: Vec<(String, String)>,
    pub uid: u32,
    pub gid: u32,
    /// Exactly these supplementary groups (none if empty).
    pub supplementary_gids: Vec<u32>,
    /// Absolute path inside the rootfs; must exist.
    pub working_dir: String,
    pub mounts: Vec<MountSpec>,
    pub read_only_rootfs: bool,
    /// Event handlers: argv run with the same rootfs, credentials and environment.
    pub pre_start: Option<Vec<String>>,
    pub post_stop: Option<Vec<String>>,
    /// The app's cgroup limits, inside the pod's (appc `resource/*`, `os/linux/cpu-shares`).
    #[serde(default)]
    pub resources: Resources,
    /// Capabilities, no_new_privs, seccomp and oom_score_adj of the app's processes (its
    /// command and its event handlers).
    #[serde(default)]
    pub security: Security,
    /// With a user namespace: the storage shows the rootfs with the pod's ids already (an
    /// overlay of idmapped layers), so the engine must not map it again.
    #[serde(default)]
    pub rootfs_mapped: bool,
}

/// A pod ready to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSpec {
    pub uuid: String,
    pub hostname: String,
    pub net: NetMode,
    /// With [`NetMode::Loopback`]: join this network namespace (a bound namespace file, see
    /// `linux::netns`, configured by the caller) instead of making an empty one.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    /// The networks the pod joins, by name as given (`--net`); empty for `host` and `none`.
    /// An engine that gives pods their networks itself reads them (jails: `default` or
    /// `vnet`); the Linux engine joins [`PodSpec::netns`] instead.
    #[serde(default)]
    pub networks: Vec<String>,
    /// The pod's address on its network, for an engine that gives pods their networks
    /// itself: leased by stage0 through the engine before the start, so that the metadata
    /// service knows the pod by it before its apps run.
    #[serde(default)]
    pub address: Option<std::net::IpAddr>,
    /// Host directory of the pod: `apps/<name>/log` and `apps/<name>/exit` are written here.
    pub dir: PathBuf,
    pub apps: Vec<AppSpec>,
    /// Attach the caller's terminal to the app at `attached_app` (`run -t`).
    pub tty: bool,
    /// Without `tty`: the app at `attached_app` reads the caller's stdin, through a pipe the
    /// init feeds (`run -i`); EOF on the caller's stdin is EOF for the app. Other apps, and
    /// every app without this, read /dev/null.
    #[serde(default)]
    pub interactive: bool,
    /// The app (index in `apps`) that `tty` or `interactive` is for.
    #[serde(default)]
    pub attached_app: usize,
    /// The apps' output goes to their logs only, not to the caller's (a detached pod).
    #[serde(default)]
    pub quiet: bool,
    /// The pod's cgroup limits, which bound every app's.
    #[serde(default)]
    pub resources: Resources,
    /// A user namespace for the pod (`--private-users`): its root is an unprivileged host uid.
    #[serde(default)]
    pub userns: Option<IdMap>,
    /// The pod's volumes, in manifest order (each app's mounts name them).
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// Host ports forwarded to the pod.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// The pod manifest's annotations, in order (the jail engine reads jail parameters from
    /// `jetpack/jail.conf/NAME` and `org.freebsd.jail.allow.NAME`).
    #[serde(default)]
    pub annotations: Vec<(String, String)>,
}

/// The ids of a pod's user namespace: `0..size` inside are `host..host + size` outside, for
/// users and groups alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub host: u32,
    pub size: u32,
}

impl IdMap {
    /// The `uid_map`/`gid_map` line.
    pub fn line(&self) -> String {
        format!("0 {} {}\n", self.host, self.size)
    }
}

/// cgroup limits of the pod or of one app, in natural units (appc `resource/memory`,
/// `resource/cpu`, `os/linux/cpu-shares`). Nothing set means no limit: a pod whose apps and
/// itself have no limits has only its device cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Bytes. Above it the kernel reclaims, then kills (OOM); swap is limited too, so that the
    /// limit holds.
    pub memory_limit: Option<u64>,
    /// Bytes the kernel protects from reclaim (v2 `memory.low`, v1
    /// `memory.soft_limit_in_bytes`).
    pub memory_request: Option<u64>,
    /// CPU time per second in milli-cores (a CFS quota over a 100 ms period; at least 10).
    pub cpu_limit_milli: Option<u64>,
    /// Relative CPU weight as v1 `cpu.shares` (2..=262144, 1024 is the default); converted to
    /// `cpu.weight` on v2.
    pub cpu_shares: Option<u64>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        !self.uses_memory() && !self.uses_cpu()
    }

    pub fn uses_memory(&self) -> bool {
        self.memory_limit.is_some() || self.memory_request.is_some()
    }

    pub fn uses_cpu(&self) -> bool {
        self.cpu_limit_milli.is_some() || self.cpu_shares.is_some()
    }
}

/// The capability set apps get when no capability isolator says otherwise (appc §9.16):
/// `CAP_AUDIT_WRITE, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_KILL, CAP_MKNOD,
/// CAP_NET_RAW, CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_SETFCAP,
/// CAP_SYS_CHROOT`, as a mask (see [`crate::caps`]).
pub const DEFAULT_CAPABILITIES: u64 = crate::caps::DEFAULT_SET;

/// Security settings of an app's processes, resolved to numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// Capabilities kept (bit n = capability n) in the bounding, permitted, effective and
    /// inheritable sets; every other one is dropped, and the ambient set is cleared.
    pub capabilities: u64,
    /// `PR_SET_NO_NEW_PRIVS`: setuid bits and file capabilities give nothing on exec.
    pub no_new_privileges: bool,
    pub seccomp: Option<Seccomp>,
    /// Written to `/proc/self/oom_score_adj` (−1000..=1000).
    pub oom_score_adj: Option<i32>,
}

impl Default for Security {
    /// The default capability set, nothing else.
    fn default() -> Self {
        Security {
            capabilities: DEFAULT_CAPABILITIES,
            no_new_privileges: false,
            seccomp: None,
            oom_score_adj: None,
        }
    }
}

/// Whether the listed system calls are the only ones allowed or the ones blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeccompMode {
    /// Only these (and `execve`, `exit`, `exit_group`, which starting and ending need) run.
    Retain,
    /// These are blocked; everything else runs.
    Remove,
}

impl SeccompMode {
    /// The appc name that, in a set of this mode, means no filter at all: `@appc.io/all` in
    /// a retain set, `@appc.io/empty` in a remove set.
    pub fn no_filter_name(self) -> &'static str {
        match self {
            SeccompMode::Retain => "@appc.io/all",
            SeccompMode::Remove => "@appc.io/empty",
        }
    }
}

/// A seccomp filter, by system call numbers of this architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seccomp {
    pub mode: SeccompMode,
    pub syscalls: Vec<u32>,
    /// What a blocked call returns; `None` kills the app with SIGSYS.
    pub errno: Option<i32>,
    /// Calls that return their own errno, whatever the mode (`clone3` → `ENOSYS` in
    /// `@docker/default`, so that libc falls back to `clone`, whose flags can be checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errnos: Vec<(u32, i32)>,
    /// Remove sets: calls blocked only when an argument says so (`clone` with a namespace
    /// flag). A call listed in `syscalls` too is blocked whatever its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ArgCondition>,
    /// x86_64 only: the same filter in the numbers of the i386 ABI, for 32-bit programs
    /// (`@docker/default` has one); without it their calls kill the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i386: Option<Box<Seccomp>>,
}

/// A remove set's test of one argument of one call: the call is blocked when it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgCondition {
    pub syscall: u32,
    /// The argument's index (0..6); its low 32 bits are tested, which is all the kernel reads
    /// of the arguments tested here (`clone` flags, `personality`, `socket` family).
    pub arg: u8,
    pub test: ArgTest,
}

/// What blocks a call, on the low 32 bits of an argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArgTest {
    /// Any of these bits is set.
    AnyBit(u32),
    /// The argument equals this value.
    Equals(u32),
    /// The argument is none of these values.
    NoneOf(Vec<u32>),
}
