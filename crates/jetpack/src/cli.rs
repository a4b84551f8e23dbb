//! Command-line grammar.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "jetpack",
    version,
    about = "A daemonless App Container (appc) runtime",
    long_about = "Jetpack runs App Container (appc) images. Images are imported once, rendered with \
                  their dependencies and sealed read-only on ZFS, btrfs, overlayfs or a plain \
                  directory; pods get constant-time clones of them.",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Configuration file (KEY = VALUE lines).
    #[arg(long, global = true, env = "JETPACK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a configuration key for this call (repeatable), e.g. -o root=/srv/jetpack.
    #[arg(short = 'o', global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Verbose logging.
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the store (directories, ZFS datasets, index). Safe to run again.
    ///
    /// With storage = auto the backend is zfs if the root lies on ZFS (zfs.dataset set),
    /// btrfs if it lies on btrfs, overlay if the kernel has overlayfs, else dir. The choice is
    /// recorded in the store and kept.
    Init,
    /// Import an ACI file (or - for stdin), or an OCI/Docker image from disk; print its ID.
    ///
    /// The file may be an uncompressed tar or gzip, bzip2, xz or zstd compressed (detected by
    /// content). One pass decompresses, hashes and extracts; the image ID is sha512- and the hex
    /// SHA-512 of the uncompressed tar. Dependencies must already be in the store; the image is
    /// stored fully rendered and sealed read-only, and the original file is kept for export.
    ///
    /// OCI and Docker images: oci:DIR[:TAG] (an OCI image layout), oci-archive:FILE[:TAG] (the
    /// same as a tar), docker-archive:FILE[:REPO:TAG] (docker save, podman save). The image for
    /// this host's platform is imported, its layers applied in order (whiteouts included), each
    /// checked against its digest; its configuration becomes the appc manifest.
    Import {
        /// ACI file, - for standard input, or oci:DIR[:TAG], oci-archive:FILE[:TAG],
        /// docker-archive:FILE[:REPO:TAG].
        file: String,
        /// Print nothing but the image ID.
        #[arg(short, long)]
        quiet: bool,
        /// If another stored image has the same name and labels, move its tags to this one
        /// (without it, both are kept and the tags stay).
        #[arg(long)]
        replace: bool,
    },
    /// Fetch images by name (appc meta discovery), or https://, http:// or file:// URL, verify
    /// their signatures, import them with their dependencies, and print their IDs.
    ///
    /// A name is NAME[:VERSION][,LABEL=VALUE...]; os and arch default to this host's. Discovery
    /// asks https://NAME?ac-discovery=1, then each parent of NAME, for ac-discovery meta tags.
    /// The image's detached OpenPGP signature (.aci.asc) must verify against a key trusted for a
    /// prefix of the name (see `jetpack trust`), and its manifest must match the request.
    Fetch(crate::cmd::fetch::FetchArgs),
    /// Manage the keys trusted to sign images: add (by file, URL or discovery), list, rm.
    ///
    /// Usage: `trust --prefix NAME [KEYFILE|URL]`, `trust --root KEYFILE|URL`, `trust list`,
    /// `trust rm FINGERPRINT`.
    ///
    /// Keys are stored one per file, named by fingerprint, under <root>/trust/prefix.d/<prefix
    /// with / written as ,>/ or <root>/trust/root.d/ (trusted for every image).
    Trust(crate::cmd::trust::TrustArgs),
    /// List images; OCI images with the reference and manifest digest they came by.
    ///
    /// --format picks the columns, comma-separated, from: id, name, labels, tags, size,
    /// imported, signer, digest, reference, aci_size, compression, last_used, deps,
    /// index_digest (the first nine are the default).
    Images {
        /// Machine-readable output (every field).
        #[arg(long, conflicts_with_all = ["quiet", "format", "no_legend"])]
        json: bool,
        /// Print only full image IDs, one per line.
        #[arg(short, long, conflicts_with = "format")]
        quiet: bool,
        /// Print no header line.
        #[arg(long)]
        no_legend: bool,
        /// The columns to print, e.g. id,name,tags (see above).
        #[arg(long, value_name = "FIELD,...")]
        format: Option<String>,
        /// Print full image IDs and digests.
        #[arg(long)]
        no_trunc: bool,
        /// Only OCI images whose manifest (or index) digest starts with this (sha256:HEX...).
        #[arg(long, value_name = "DIGEST")]
        digest: Option<String>,
    },
    /// Inspect, tag, export or remove one image (by ID prefix, OCI digest prefix
    /// sha256:HEX..., OCI reference such as docker://REPO:TAG or docker://REPO@sha256:...,
    /// NAME@TAG, or NAME[:VERSION][,LABEL=VALUE...]).
    ///
    /// Tags are movable names kept in the store, not in the image: NAME@TAG names exactly one
    /// image of that name, and moves when `image tag` sets it on another. Every command that
    /// takes an image takes NAME@TAG (run, prepare, build's parent, image show, ...).
    #[command(subcommand)]
    Image(ImageCommand),
    /// The store as a whole: `system df`.
    #[command(subcommand)]
    System(SystemCommand),
    /// Prepare a pod from images (or --pod-manifest FILE) and print its UUID.
    ///
    /// jetpack prepare [--name NAME] [--net default|host|none|NET[,NET...]] [--port NAME:HOSTPORT]...
    ///                 [--dns IP[,IP...]] [--dns-search DOMAIN,...]... [--dns-opt OPT,...]...
    ///                 [--hostname NAME] [--hosts-entry IP=HOST|host]...
    ///                 [--set-env K=V]... [--set-env-file FILE]... [--inherit-env]
    ///                 [--supplementary-gids GID,...] [--mount volume=NAME,target=PATH]...
    ///                 [--volume NAME,kind=host,source=PATH[,readOnly=true]]...
    ///                 [--insecure-options image-privileges|http|tls|signature|all,...]
    ///                 [--pull-policy new|update|never] [--uuid-file-save FILE] [-n|--dry-run]
    ///                 [--restart no|on-failure[:MAX]|always]
    ///                 [-a K=V]... IMAGE [APP-OPTIONS] [-- ARGS... [---]] [IMAGE ...]
    ///
    /// --uuid-file-save FILE writes the new pod's UUID to FILE (atomically; a pod whose UUID
    /// cannot be written is removed). -n/--dry-run prints the pod manifest that would be
    /// prepared and prepares nothing: it uses stored images only (a missing one is an error
    /// naming it, nothing is fetched) and does not check the host's networks or isolators.
    /// --restart records what the supervisor of a detached run (`run -d`) does when the pod
    /// ends (see `jetpack help run`).
    ///
    /// --net: the pod's CNI networks by name (eth0, eth1, ... in that order; files in net.dir),
    /// `default` (the default), `host` (the host's network) or `none` (loopback only). --port
    /// forwards a host port to the app port of that name (the image's app.ports). --dns sets the
    /// pod's /etc/resolv.conf where the image has none (otherwise the host's servers);
    /// --dns-search and --dns-opt replace its search and options lines. Pods on a network get
    /// AC_METADATA_URL for the metadata service.
    ///
    /// --hostname NAME: the pod's hostname (default: --name, else jetpack- and the first UUID
    /// digits). --hosts-entry IP=HOST (repeatable) adds a line to the pod's /etc/hosts;
    /// --hosts-entry host starts it from the host's /etc/hosts. Like --dns, these are recorded
    /// with the pod and apply at every run, to apps whose image has no such file of its own.
    ///
    /// Before the first image, --set-env K=V, --set-env-file FILE (K=V lines, # comments),
    /// --supplementary-gids GID,... and --mount volume=NAME,target=PATH apply to every app; the
    /// same after an image apply to that app and win over the pod's. --inherit-env gives every
    /// app the environment of this command, below the image's and the options' variables.
    /// These are written into the pod manifest (not with --pod-manifest).
    ///
    /// Per-app options, after their image: --exec CMD, --set-env K=V, --set-env-file FILE,
    /// --user U, --group G, --supplementary-gids GID,..., --working-dir DIR, --mount volume=NAME,target=PATH, -a/--annotation K=V, --app-name NAME,
    /// --readonly-rootfs. Isolators, replacing the image's of the same kind: --memory Q (limit,
    /// e.g. 512M), --cpu Q (limit, e.g. 500m), --caps-retain CAP,..., --caps-remove CAP,...,
    /// --seccomp mode=retain|remove[,errno=EPERM],SYSCALL,... (an app without one gets
    /// @docker/default, Docker's default filter, relaxed for its capabilities; --seccomp
    /// @appc.io/all turns filtering off). An image's own capabilities beyond appc's default
    /// set, or a seccomp set weaker than the default, are refused unless given with
    /// --caps-retain/--seccomp or accepted with --insecure-options=image-privileges; the other
    /// values (http, tls, signature) apply to images fetched. Images named (ACI names,
    /// docker://, oci:, ...) are fetched when the store lacks them; --pull-policy=update asks
    /// for each whether it changed, --pull-policy=never never fetches. Arguments after -- replace the
    /// image's arguments. Mount points of the image that no volume satisfies get an empty volume
    /// shared by the pod. Each app's rootfs is a clone of its image (constant time on zfs, btrfs
    /// and overlay). Isolators that this host cannot enforce are reported when the pod starts
    /// and listed in the pod's isolators.json.
    #[command(disable_help_flag = true)]
    Prepare {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Run a pod: prepare it from images and start it, or start a prepared or exited POD.
    ///
    /// jetpack run [--rm] [-t|-i|-d] [--app NAME] [PREPARE-OPTIONS] IMAGE [APP-OPTIONS]
    ///             [-- ARGS] [IMAGE ...]
    /// jetpack run [-t|-i|-d] [--app NAME] POD
    ///
    /// Takes the options of `prepare` (but -n), plus --rm (destroy the pod when it exits), -t
    /// (attach the terminal to an app) and -i (give an app this command's stdin, a pipe or a
    /// file: `echo x | jetpack run -i IMAGE --exec /bin/cat`; EOF closes the app's stdin). In a
    /// pod of several apps, --app NAME says which app gets the terminal or stdin; the others
    /// read /dev/null and their output is shown with their name. Without -t or -i every app
    /// reads /dev/null. Output of each app is shown live and kept in per-app
    /// logs (`jetpack logs`). A one-app pod exits with the app's status. A pod that ran before
    /// runs again from fresh clones of its images.
    ///
    /// -d/--detach hands the pod to a supervisor process of its own (in its own session; no
    /// daemon) and returns once every app has started, printing the pod's UUID. An app that
    /// failed to start (or ended non-zero at once) is reported and run exits 1. The supervisor
    /// holds the pod's lock, state, logs, networks and metadata registration until the pod
    /// ends for good; killing it ends the pod (`list` says exited, `gc` cleans up).
    /// --restart=no|on-failure[:MAX]|always (also on `prepare`) makes it run the pod again
    /// when it ends, after 100 ms doubling up to 30 s (back to 100 ms after a run of 10 s or
    /// more); `stop` and `kill` end the policy. A pod run in the foreground runs once: under a
    /// service manager, the manager restarts it.
    #[command(disable_help_flag = true)]
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Build an image: run CMD in a pod made from PARENT, store what it changed as a new image.
    ///
    /// jetpack build [--dir DIR] [--cp PATH]... [--name NAME] [-l LABEL=VALUE]... [--save-id FILE]
    ///               [--net NET] [--flat] [--keep] [--replace] [-t TAG]...
    ///               PARENT [--] CMD [ARG...]
    ///
    /// PARENT is a stored image (ID, NAME@TAG, or NAME[:VERSION][,LABEL=VALUE...]), fetched
    /// first if the store lacks it. DIR (default .) is mounted read-write at /.jetpack.build,
    /// where CMD runs as root (uid 0, gid 0) with the pod's network (--net, default
    /// `default`); its output is shown live. A failing CMD fails the build with its exit status and stores nothing.
    ///
    /// The new image holds what CMD added or modified in the pod's rootfs (not /.jetpack.build,
    /// nor the /etc/hosts and /etc/resolv.conf the runtime wrote where the parent has none),
    /// depends on PARENT, and, if CMD deleted anything, lists every path it keeps in its
    /// pathWhitelist. Its manifest is DIR/manifest.json if CMD wrote one, else the parent's;
    /// then --name and -l apply (an empty value removes a label), the parent's os and arch
    /// labels are added where missing, with a `created` annotation and the parent as first
    /// dependency. The ACI is compressed as build.compression says (gzip, xz, zstd, none) and
    /// imported; its ID is printed (and written to --save-id FILE). The build pod is destroyed
    /// unless --keep.
    ///
    /// --flat stores the pod's whole tree instead (the same paths left out) as an image with
    /// no dependency and no pathWhitelist, its manifest made by the same rules otherwise.
    ///
    /// --cp PATH (repeatable) copies PATH into DIR as DIR/NAME (NAME its last component) before
    /// CMD runs, so CMD finds it at /.jetpack.build/NAME, and removes the copy when the build
    /// ends, also with --keep, so DIR is left as it was (a build killed half-way may leave
    /// copies: remove them). A NAME DIR already has is refused, never replaced. Symlinks are
    /// copied as symlinks, never followed (a symlink to a host file gives a symlink, which the
    /// pod resolves in its own tree); owners, modes and mtimes are kept, hard links become
    /// separate files, xattrs are not copied; devices, FIFOs and sockets are refused. A PATH
    /// that does not exist fails the build before anything is fetched or run.
    ///
    /// Symlinks in DIR are resolved inside the pod, never on the host: a command writing
    /// through DIR/link -> /etc writes the pod's /etc.
    ///
    /// A result with the name and labels of a stored image is refused (bump its version, or
    /// give --replace: the new image takes that image's tags, which stays stored, untagged,
    /// until `image rm`). -t TAG sets NAME@TAG on the new image, moving it from another.
    Build {
        /// The build directory, mounted at /.jetpack.build.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Copy PATH into the build directory for the build (repeatable).
        #[arg(long = "cp", value_name = "PATH")]
        cp: Vec<PathBuf>,
        /// Store a flat image: the whole tree, with no dependency on the parent.
        #[arg(long)]
        flat: bool,
        /// The new image's name (default: the parent's, or manifest.json's).
        #[arg(long)]
        name: Option<String>,
        /// A label of the new image (repeatable); an empty value removes the label.
        #[arg(short = 'l', long = "label", value_name = "LABEL=VALUE")]
        labels: Vec<String>,
        /// Write the new image's ID to FILE.
        #[arg(long, value_name = "FILE")]
        save_id: Option<PathBuf>,
        /// The build pod's networks: default, host, none or NET[,NET...].
        #[arg(long, default_value = "default")]
        net: String,
        /// Keep the build pod (for debugging) instead of destroying it.
        #[arg(long)]
        keep: bool,
        /// Store the result even if an image of the same name and labels is stored, and move
        /// that image's tags to it.
        #[arg(long)]
        replace: bool,
        /// Tag the new image NAME@TAG (repeatable); the tag moves from another image.
        #[arg(short = 't', long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// The parent image.
        parent: String,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List pods: UUID, name, state, networks and addresses, apps, images, created, exit statuses.
    ///
    /// --format picks the columns, comma-separated, from: uuid, name, state, networks, apps,
    /// images, created and exit (the default columns), and net, started, exited, pid.
    List {
        /// Machine-readable output (every field).
        #[arg(long, conflicts_with_all = ["quiet", "format", "no_legend"])]
        json: bool,
        /// Print only full pod UUIDs, one per line.
        #[arg(short, long, conflicts_with = "format")]
        quiet: bool,
        /// Print no header line.
        #[arg(long)]
        no_legend: bool,
        /// The columns to print, e.g. uuid,name,state (see above).
        #[arg(long, value_name = "FIELD,...")]
        format: Option<String>,
    },
    /// Show one pod (by UUID prefix or name).
    ///
    /// A detached pod also shows its restart policy, its restarts and its supervisor's pid.
    /// --wait[=TIMEOUT] first waits until the pod has ended for good (not restarting);
    /// --wait-ready[=TIMEOUT] until every app of its current run has started (an error if the
    /// pod is not running or ends first). TIMEOUT as 30s, 5m; without it, no limit. A timeout
    /// exits 2.
    Status {
        pod: String,
        #[arg(long)]
        json: bool,
        /// Wait until the pod has ended (at most TIMEOUT).
        #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, require_equals = true,
              default_missing_value = "")]
        wait: Option<String>,
        /// Wait until every app has started (at most TIMEOUT).
        #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, require_equals = true,
              default_missing_value = "", conflicts_with = "wait")]
        wait_ready: Option<String>,
    },
    /// A running pod's processes as the host sees them: host PID, the app each belongs to
    /// (`-` for the pod's init), host user id and command line.
    ///
    /// They are the pod's init and its descendants; a child of the init belongs to the app its
    /// environment names (AC_APP_NAME), and its own children to the same app. A pod that is
    /// not running is an error.
    Ps {
        pod: String,
        /// Machine-readable output: pid, ppid, app (null for the init), uid, command.
        #[arg(long)]
        json: bool,
    },
    /// A running pod's processes with their CPU use and memory, sampled over an interval:
    /// host PID, app, CPU% (of one core, over the interval), RSS, command line.
    ///
    /// Prints one table per interval, -n times (on a terminal, until interrupted unless -n
    /// is given).
    Top {
        pod: String,
        /// Seconds between samples (fractions allowed).
        #[arg(short, long = "delay", default_value = "1", value_name = "SECONDS")]
        delay: f64,
        /// Number of tables to print (default 1 when stdout is not a terminal).
        #[arg(short = 'n', long = "iterations", value_name = "N")]
        iterations: Option<u64>,
        /// Machine-readable output: pid, ppid, app, uid, command, cpu_percent, rss_bytes;
        /// one JSON array per sample (one line each when there are several).
        #[arg(long)]
        json: bool,
    },
    /// Print a pod's manifest (by UUID prefix or name): the pod manifest it was prepared with,
    /// images resolved to IDs (as rkt's cat-manifest).
    Manifest { pod: String },
    /// Print an app's output (all apps if none is named).
    ///
    /// -f/--follow keeps printing what the apps write until the pod has ended for good (with
    /// several apps, each line is prefixed `APP | `).
    Logs {
        pod: String,
        app: Option<String>,
        /// Follow the logs as they grow, until the pod ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// Follow a running pod's output from now on (all apps if none is named), until it ends
    /// for good; ^C stops following and leaves the pod running.
    ///
    /// Any number of attaches may follow one pod at once. Apps of a detached pod read no
    /// input: there is nothing to send them.
    Attach { pod: String, app: Option<String> },
    /// Run a command in a running pod's app, as the app runs: its user and group, environment
    /// (AC_METADATA_URL included), working directory, capabilities, no-new-privileges,
    /// seccomp filter, cgroups and namespaces. Exits with the command's status.
    ///
    /// jetpack exec POD[:APP] [-u USER] [-w DIR] [-e K=V]... [-t] -- CMD [ARG...]
    ///
    /// APP is needed when the pod has several. -u runs as another user of the image (name or
    /// number; its group is the user's in the image's /etc/passwd); -w in another directory
    /// of the app (it must exist); -e sets variables over the app's; -t gives the command a
    /// terminal. A pod that is not running (prepared, exited) is an error.
    Exec {
        /// The pod (name or UUID prefix) and, after a colon, the app.
        #[arg(value_name = "POD[:APP]")]
        target: String,
        /// Run as this user of the app's image (name or number) instead of the app's user.
        #[arg(short, long)]
        user: Option<String>,
        /// The working directory (absolute, in the app) instead of the app's.
        #[arg(short, long = "working-dir", value_name = "DIR")]
        working_dir: Option<String>,
        /// Set this variable over the app's environment (repeatable).
        #[arg(short, long = "env", value_name = "K=V")]
        env: Vec<String>,
        /// Give the command a terminal (relayed in raw mode when stdin is one).
        #[arg(short, long)]
        tty: bool,
        /// The command and its arguments, after `--` (found in the app's PATH).
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// A login shell in a running pod's app (`exec` with the user's shell as a login shell).
    ///
    /// The shell is the user's in the image's /etc/passwd (else /bin/sh), started as `-sh` in
    /// the user's home with HOME, USER, LOGNAME and SHELL from that entry, in the app's
    /// security context, with a terminal when stdin is one.
    Console {
        /// The pod (name or UUID prefix) and, after a colon, the app.
        #[arg(value_name = "POD[:APP]")]
        target: String,
        /// Log in as this user of the app's image (name or number) instead of the app's user.
        #[arg(short, long)]
        user: Option<String>,
    },
    /// `exec`'s older form: a command (default /bin/sh) in a running pod's app, with a
    /// terminal if stdin is one.
    Enter {
        /// Run as this user of the app's image (name or number) instead of the app's user.
        #[arg(long)]
        user: Option<String>,
        /// Every capability, no seccomp filter and no no_new_privs (still in the app's
        /// namespaces and cgroups). Without it the command gets exactly the app's.
        #[arg(long)]
        privileged: bool,
        pod: String,
        /// The app (required when the pod has several).
        app: Option<String>,
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Copy files and directories between the host and a pod's app: exactly one of SRC and
    /// DST is POD[:APP]:PATH.
    ///
    /// Directories are copied recursively with their modes; into a pod, owners are kept
    /// (out of a pod, the files belong to the caller). Paths in the pod resolve inside the
    /// app's rootfs: `..` and symlinks never lead out of it, and one that tries is refused.
    /// The host side is never written or read through a symlink the pod planted. Works on
    /// running pods and, on dir, btrfs and zfs, on prepared and exited ones; an overlay
    /// pod's rootfs exists only while it runs. A host path with a colon is written ./NAME.
    Cp {
        #[arg(value_name = "SRC")]
        src: String,
        #[arg(value_name = "DST")]
        dst: String,
    },
    /// Stop pods: SIGTERM, then SIGKILL after --timeout seconds.
    Stop {
        #[arg(required = true)]
        pods: Vec<String>,
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Kill pods (SIGKILL).
    Kill {
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Remove pods: their clones, volumes, logs and state (running pods are killed first).
    Destroy {
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Remove leftovers: interrupted imports and prepares, unowned clones, and pods that exited
    /// longer than --grace ago.
    Gc {
        /// Keep exited pods this long, e.g. 30m, 2h, 0s.
        #[arg(long, default_value = "30m")]
        grace: String,
    },
    /// A detached pod's supervisor (started by `run -d`).
    #[command(hide = true)]
    Supervise {
        /// Where to report how the first start went.
        #[arg(long)]
        report_fd: i32,
        /// Destroy the pod when it ends for good.
        #[arg(long)]
        rm: bool,
        pod: String,
    },
    /// Run the appc metadata service in the foreground (for a service manager; `run` also
    /// starts it on demand). It listens on the default network's host address, port mds.port,
    /// and runs as mds.user once its sockets are open.
    Mds {
        /// Exit once no pod has been registered for this long (e.g. 5m); by default, never.
        #[arg(long)]
        idle_exit: Option<String>,
    },
    /// Write a boot service for a pod: a systemd unit or a FreeBSD rc.d script.
    ///
    /// `generate systemd|rc.d [OPTIONS] POD` runs an existing pod as prepared at every start
    /// (`gc` removes an exited pod once its grace has passed, and the service with it).
    /// `generate systemd|rc.d [OPTIONS] --name NAME [POD-OPTIONS] IMAGE [APP-OPTIONS] ...`
    /// makes a pod named NAME from the images at every start, with the options of `run`, and
    /// destroys it at every stop: nothing of it outlives the service, so it survives reboots
    /// and `gc`. The commands call this binary by its absolute path, with the --config and -o
    /// options given here.
    #[command(subcommand)]
    Generate(GenerateCommand),
    /// Check image manifests, pod manifests and ACI files against the appc spec.
    ///
    /// Prints `FILE: valid` for each good file. Stops at the first bad one with the reason and
    /// exits 1, like the reference `actool validate`.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the effective configuration (or the values of the given keys).
    Config { keys: Vec<String> },
    /// Print a completion script for bash, zsh or fish.
    ///
    /// scripts/install.sh installs all three under PREFIX/share: bash-completion/completions/
    /// jetpack, zsh/site-functions/_jetpack, fish/vendor_completions.d/jetpack.fish.
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write the man pages of jetpack and of each command (jetpack.1, jetpack-run.1,
    /// jetpack-image-show.1, ...) into DIR (default ., made if missing); print their paths.
    Man { dir: Option<PathBuf> },
}

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// A systemd unit, jetpack-<NAME>.service, that runs the pod in the foreground.
    ///
    /// The unit is Type=notify: `jetpack run` tells systemd when every app has started
    /// (READY=1) and when the pod ends. ExecStop is `jetpack stop` (SIGTERM to the apps, SIGKILL after
    /// --stop-timeout); KillMode=mixed. A unit for a new pod destroys a pod of its name left
    /// by a host that went down before it starts (ExecStartPre), and its pod when it stops
    /// (ExecStopPost). --restart (for POD, by default the pod's own policy) maps to Restart=
    /// (no, on-failure, always; on-failure:MAX to StartLimitBurst=MAX+1 with no interval: the
    /// first start and MAX restarts), and systemd restarts the pod. The unit
    /// wants jetpack-mds.service (contrib/), so that the metadata service does not run in
    /// the unit's cgroup.
    ///
    /// Printed, or with --files written to DIR/jetpack-<NAME>.service (default
    /// /etc/systemd/system; then `systemctl daemon-reload` and `systemctl enable --now
    /// jetpack-<NAME>`).
    Systemd(GenerateArgs),
    /// A FreeBSD rc.d script, jetpack_<NAME>, that starts the pod detached (`run -d`).
    ///
    /// PROVIDE: jetpack_<NAME> (the pod's name or UUID with every character outside
    /// [a-z0-9_] made _), REQUIRE: LOGIN jetpack_mds, rcvar jetpack_<NAME>_enable; start,
    /// stop and status call `jetpack run -d`, `stop` and `status` (a new pod is destroyed at
    /// stop). rc.conf's jetpack_<NAME>_bin and jetpack_<NAME>_options override the binary and
    /// add global options. --restart is the pod's own policy (`run --restart`).
    ///
    /// Printed, or with --files written to DIR/jetpack_<NAME> (default
    /// /usr/local/etc/rc.d), executable.
    #[command(name = "rc.d")]
    RcD(GenerateArgs),
}

/// The options of `generate systemd` and `generate rc.d`: given before the pod or the images.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Write the file into --dir and print its path (instead of printing the file).
    #[arg(long)]
    pub files: bool,
    /// Where --files writes (default /etc/systemd/system, or /usr/local/etc/rc.d).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// When to start the pod again: no (the default), on-failure[:MAX] or always.
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Seconds `stop` waits after SIGTERM before SIGKILL.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub stop_timeout: u64,
    /// POD, or --name NAME [POD-OPTIONS] IMAGE [APP-OPTIONS] [-- ARGS [---]] [IMAGE ...] as
    /// for `run`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..,
        value_name = "POD|--name NAME IMAGE"
    )]
    pub pod: Vec<String>,
}

/// The shells `completion` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// What `image export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Aci,
    Oci,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Disk use: images (count, rendered size as `images` shows it, what `image gc` with its
    /// defaults would reclaim), OCI layers (stored once however many images share them:
    /// count, measured size), pods (count by state, the size of their directories: logs,
    /// volumes, state; their rootfs clones live in the storage backend and are not counted)
    /// and volumes (the store keeps none outside its pods).
    Df {
        /// Machine-readable output, sizes in bytes.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show an image: ID, name, labels, sizes, dependencies, app.
    Show {
        image: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the image manifest exactly as stored in the image.
    CatManifest { image: String },
    /// Write an image to FILE (or stdout) as an ACI, or with --format oci as an OCI image.
    ///
    /// An imported ACI is written as its original file, byte for byte. An OCI or Docker image
    /// has none: it is written as one flat ACI (gzip), its manifest the appc manifest
    /// `cat-manifest` prints and rootfs/ its whole tree, which `jetpack validate` (like
    /// `actool validate`) and `jetpack import` accept.
    ///
    /// --format oci writes any image as an OCI image of one layer (its whole tree) to
    /// oci:DIR[:TAG] (an OCI image layout, made if missing; its other images are kept) or
    /// oci-archive:FILE[:TAG] (the same as a tar, replacing FILE). TAG defaults to the image's
    /// version label, else latest. The configuration comes from the appc manifest: exec as
    /// Cmd, environment, working directory, user, ports, mount points as
    /// volumes, annotations as labels, os and arch.
    ///
    /// --flat writes any image as one ACI with no dependencies (gzip): rootfs/ is the image's
    /// whole tree as a pod sees it (dependencies rendered and their path whitelists applied,
    /// OCI layers merged), with owners, modes, mtimes, xattrs, symlinks, hard links and
    /// devices; the manifest is the image's own without dependencies and pathWhitelist.
    Export {
        /// aci (the default) or oci.
        #[arg(long, value_enum, default_value_t = ExportFormat::Aci)]
        format: ExportFormat,
        /// One ACI of the whole tree, with no dependencies (an OCI export is always flat).
        #[arg(long)]
        flat: bool,
        image: String,
        /// Output file (standard output if omitted); with --format oci, oci:DIR[:TAG] or
        /// oci-archive:FILE[:TAG].
        file: Option<PathBuf>,
    },
    /// Set movable tags on an image: NAME@TAG then names IMAGE.
    ///
    /// A tag names exactly one image per name: one another image of the same name had moves
    /// here (it is said so); the other image stays stored. A tag is [a-z0-9][a-z0-9._-]*, at
    /// most 128 characters, and not sha512-... or the like.
    Tag {
        image: String,
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Remove tags (never an image): `untag IMAGE TAG...` or `untag NAME@TAG`.
    ///
    /// `untag IMAGE TAG...` removes NAME@TAG for the name of IMAGE, whichever image of that
    /// name it names; `untag NAME@TAG` removes that one.
    Untag { image: String, tags: Vec<String> },
    /// Remove an image, and its tags. Refuses images that others depend on unless --force.
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
        #[arg(short, long)]
        force: bool,
    },
    /// Remove the images nothing needs: not named by any pod (prepared, running or exited),
    /// not tagged, not used within --older-than, not among the newest --keep of their name,
    /// and no dependency of an image that stays.
    ///
    /// Used means a pod was prepared from it (`images --format id,last_used` shows when); an
    /// image never used counts from its import, so one just fetched is not removed before it
    /// runs. The default of 24h (rkt's grace period) keeps what was used today; --older-than
    /// 0s removes every unused image. Tags are a user's explicit pin: a tagged image is never
    /// removed (untag it first). Images that depend on others go first, so a chain nobody
    /// needs goes whole. Prints each removed image and the space reclaimed (file and rendered
    /// tree, as `images` counts them; OCI layers no other image shares go too).
    Gc {
        /// Keep images used (or, never used, imported) within this long, e.g. 0s, 30m, 7d.
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        older_than: String,
        /// Keep the newest N images (by import time) of each name, whatever their age.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep: usize,
        /// List what would be removed, and remove nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
}
