//! The jail plan of the pods issue 16 lists, compared with what Jetpack (Go, FreeBSD) wrote
//! and ran for the same pods: its jail.conf parameters (A7 of the reference notes: exec.clean,
//! host.hostuuid, interface, path, persist, mount.fstab, host.hostname, ip4.addr, then
//! `ace.jailConf.*` with osrelease and securelevel=2, then `jetpack/jail.conf/*` annotations),
//! its fstab (nullfs for volumes, devfs with ruleset 4, linprocfs/linsysfs for os=linux) and
//! its addresses (the first of lo1's 172.23.0.0/16 is the host's; pods from the next one).
//! Where the plan differs on purpose, the test says why.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use jetpack_jail::params::{Jailsys, Value};
use jetpack_jail::{
    App, AppMount, NetMode, Os, Pod, Port, Protocol, Settings, Volume, VolumeKind, plan,
};

const UUID: &str = "6f0e4fd6-6c1a-4c4f-9d2e-5c1f0b8d2a11";
const POD: &str = "/var/jetpack/pods/6f0e4fd6-6c1a-4c4f-9d2e-5c1f0b8d2a11";

fn app(name: &str) -> App {
    App {
        name: name.to_string(),
        rootfs: PathBuf::from(format!(
            "/var/jetpack/storage/pods/6f0e4fd66c1a4c4f9d2e5c1f0b8d2a11-{name}"
        )),
        os: Os::FreeBsd,
        exec: vec!["/usr/local/bin/showenv".to_string()],
        env: vec![(
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        )],
        uid: 0,
        gid: 0,
        supplementary_gids: Vec::new(),
        working_dir: "/".to_string(),
        mounts: Vec::new(),
        capabilities: default_caps(),
    }
}

fn default_caps() -> Vec<String> {
    [
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
    ]
    .map(String::from)
    .to_vec()
}

fn pod(apps: Vec<App>) -> Pod {
    Pod {
        uuid: UUID.to_string(),
        // Jetpack: the `hostname` annotation, else the UUID.
        hostname: UUID.to_string(),
        dir: PathBuf::from(POD),
        apps,
        volumes: Vec::new(),
        net: NetMode::Alias,
        ports: Vec::new(),
        memory_limit: None,
        cpu_limit_milli: None,
        annotations: Vec::new(),
        default_capabilities: default_caps(),
    }
}

/// Jetpack's configuration defaults: `ace.jailConf.osrelease=10.3-RELEASE`,
/// `ace.jailConf.securelevel=2`.
fn jetpack_settings() -> Settings {
    let mut s = Settings::default();
    assert!(s.apply("ace.jailConf.osrelease", "10.3-RELEASE").unwrap());
    assert!(s.apply("ace.jailConf.securelevel", "2").unwrap());
    s
}

const FIRST: Ipv4Addr = Ipv4Addr::new(172, 23, 0, 2);

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

#[test]
fn one_app_pod_is_jetpacks_jail() {
    let p = plan(&pod(vec![app("showenv")]), &jetpack_settings(), Some(FIRST)).unwrap();
    assert_eq!(p.name, format!("jetpack/{UUID}"));
    // Jetpack's parameters and order; then ours: devfs_ruleset (Jetpack put the ruleset only on
    // its devfs mounts; the jail parameter also bounds devfs mounts made inside) and System V
    // IPC of the pod's own (Linux pods get an IPC namespace; Jetpack left the host's off).
    // osrelease and securelevel come from Jetpack's `ace.jailConf` defaults, given here as
    // configuration: our default sets securelevel=2 but no osrelease (the host's is right
    // for images built for it).
    let conf = format!(
        "# jetpack pod {UUID}
\"jetpack/{UUID}\" {{
\texec.clean = true;
\thost.hostuuid = {UUID};
\tinterface = lo1;
\tpath = {POD}/rootfs;
\tpersist = true;
\tmount.fstab = {POD}/fstab;
\thost.hostname = {UUID};
\tip4.addr = 172.23.0.2;
\tdevfs_ruleset = 4;
\tsecurelevel = 2;
\tsysvmsg = new;
\tsysvsem = new;
\tsysvshm = new;
\tallow.raw_sockets = true;
\tosrelease = 10.3-RELEASE;
}}
"
    );
    assert_eq!(p.conf, conf);
    // `jail -c` hands jail_set(2) the kernel's parameters only: exec.clean, interface and
    // mount.fstab are jail(8)'s own, carried out by the engine (environment, ifconfig,
    // nmount).
    let expected: Vec<(String, Value)> = vec![
        ("name".into(), s(&format!("jetpack/{UUID}"))),
        ("host.hostuuid".into(), s(UUID)),
        ("path".into(), s(&format!("{POD}/rootfs"))),
        ("persist".into(), Value::Bool(true)),
        ("host.hostname".into(), s(UUID)),
        ("ip4.addr".into(), Value::Ip4(vec![FIRST])),
        ("devfs_ruleset".into(), Value::Int(4)),
        ("securelevel".into(), Value::Int(2)),
        ("sysvmsg".into(), Value::Jailsys(Jailsys::New)),
        ("sysvsem".into(), Value::Jailsys(Jailsys::New)),
        ("sysvshm".into(), Value::Jailsys(Jailsys::New)),
        ("allow.raw_sockets".into(), Value::Bool(true)),
        ("osrelease".into(), s("10.3-RELEASE")),
    ];
    assert_eq!(p.jail_set, expected);
    // Jetpack: devfs with ruleset=4 on each app's dev. Ours also nullfs-mounts the app's clone
    // at rootfs/app/<name> (Jetpack's clones were mounted there by ZFS; ours may be on any
    // storage backend).
    assert_eq!(
        p.fstab,
        format!(
            "/var/jetpack/storage/pods/6f0e4fd66c1a4c4f9d2e5c1f0b8d2a11-showenv {POD}/rootfs/app/showenv nullfs rw 0 0
devfs {POD}/rootfs/app/showenv/dev devfs rw,ruleset=4 0 0
"
        )
    );
    assert_eq!(
        p.unmount_order(),
        [
            PathBuf::from(format!("{POD}/rootfs/app/showenv/dev")),
            PathBuf::from(format!("{POD}/rootfs/app/showenv")),
        ]
    );
    // jail(8) adds and removes the alias of `interface` + `ip4.addr` exactly so.
    assert_eq!(
        p.net.up,
        [[
            "/sbin/ifconfig",
            "lo1",
            "inet",
            "172.23.0.2",
            "netmask",
            "255.255.255.255",
            "alias"
        ]]
    );
    assert_eq!(
        p.net.down,
        [["/sbin/ifconfig", "lo1", "inet", "172.23.0.2", "-alias"]]
    );
    // jetpack#22: Jetpack never checked that no one else answers on the address.
    assert_eq!(
        p.net.probe.as_deref().unwrap(),
        ["/sbin/ping", "-c", "1", "-t", "1", "-q", "172.23.0.2"]
    );
    assert!(p.rctl.is_empty());
    assert_eq!(p.pf_rules, "");
}

#[test]
fn stage2_is_jetpacks_sequence() {
    let mut a = app("showenv");
    a.uid = 1001;
    a.gid = 1001;
    a.supplementary_gids = vec![5, 1001, 20];
    a.working_dir = "/srv".into();
    let p = plan(&pod(vec![a]), &Settings::default(), Some(FIRST)).unwrap();
    use jetpack_jail::stage2::Step::*;
    // Jetpack's stage2: jail_attach(jid); chdir("/app/<app>/rootfs"); chroot("."); chdir(cwd);
    // setgroups(all); setgid(first); setuid; execve. Our app roots are at /app/<app>.
    assert_eq!(
        p.stage2,
        [(
            "showenv".to_string(),
            vec![
                JailAttach(format!("jetpack/{UUID}")),
                Chdir("/app/showenv".into()),
                Chroot(".".into()),
                Chdir("/srv".into()),
                SetGroups(vec![1001, 5, 20]),
                SetGid(1001),
                SetUid(1001),
                Exec {
                    argv: vec!["/usr/local/bin/showenv".into()],
                    env: vec![(
                        "PATH".into(),
                        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
                    )],
                },
            ]
        )]
    );
}

fn volumes_pod() -> Pod {
    let mut web = app("web");
    web.mounts = vec![
        AppMount {
            volume: "data".into(),
            target: "/var/db".into(),
            read_only: false,
        },
        AppMount {
            volume: "conf".into(),
            target: "/usr/local/etc/nginx".into(),
            read_only: false,
        },
    ];
    let mut worker = app("worker");
    worker.mounts = vec![AppMount {
        volume: "data".into(),
        target: "/data".into(),
        read_only: true,
    }];
    let mut p = pod(vec![web, worker]);
    p.volumes = vec![
        Volume {
            name: "data".into(),
            kind: VolumeKind::Empty {
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
            read_only: false,
        },
        // A host volume read-only for everyone, whatever the mount says.
        Volume {
            name: "conf".into(),
            kind: VolumeKind::Host {
                source: "/srv/nginx conf".into(),
            },
            read_only: true,
        },
    ];
    p
}

#[test]
fn multi_app_pod_with_volumes() {
    let p = plan(&volumes_pod(), &Settings::default(), Some(FIRST)).unwrap();
    // Jetpack mounted each volume once at rootfs/vol/<name> and nullfs'ed it into each app
    // from there; ours mounts the source into each app directly (one nullfs layer less), ro
    // when the volume or the mount says so. A space in a path is fstab's \040.
    let app = |n: &str| format!("{POD}/rootfs/app/{n}");
    let expected = [
        format!(
            "/var/jetpack/storage/pods/6f0e4fd66c1a4c4f9d2e5c1f0b8d2a11-web {} nullfs rw 0 0",
            app("web")
        ),
        format!("devfs {}/dev devfs rw,ruleset=4 0 0", app("web")),
        format!("{POD}/volumes/data {}/var/db nullfs rw 0 0", app("web")),
        format!(
            "/srv/nginx\\040conf {}/usr/local/etc/nginx nullfs ro 0 0",
            app("web")
        ),
        format!(
            "/var/jetpack/storage/pods/6f0e4fd66c1a4c4f9d2e5c1f0b8d2a11-worker {} nullfs rw 0 0",
            app("worker")
        ),
        format!("devfs {}/dev devfs rw,ruleset=4 0 0", app("worker")),
        format!("{POD}/volumes/data {}/data nullfs ro 0 0", app("worker")),
    ];
    assert_eq!(p.fstab.lines().collect::<Vec<_>>(), expected);
    // nmount(2) of the read-only host volume: mount_nullfs(8)'s `target` for the lower dir.
    let some = |v: &str| Some(v.to_string());
    assert_eq!(
        p.mounts[3].nmount(),
        [
            ("fstype".to_string(), some("nullfs")),
            (
                "fspath".to_string(),
                some(&format!("{}/usr/local/etc/nginx", app("web")))
            ),
            ("target".to_string(), some("/srv/nginx conf")),
            ("ro".to_string(), None),
        ]
    );
    assert_eq!(
        p.mounts[1].nmount(),
        [
            ("fstype".to_string(), some("devfs")),
            ("fspath".to_string(), some(&format!("{}/dev", app("web")))),
            ("from".to_string(), some("devfs")),
            ("rw".to_string(), None),
            ("ruleset".to_string(), some("4")),
        ]
    );
    let order: Vec<_> = p
        .unmount_order()
        .into_iter()
        .map(|p| p.to_path_buf())
        .collect();
    let mut mounted: Vec<_> = p.mounts.iter().map(|m| m.fspath.clone()).collect();
    mounted.reverse();
    assert_eq!(order, mounted);
    assert_eq!(p.stage2.len(), 2);
}

#[test]
fn mount_targets_stay_inside_the_rootfs() {
    let mut p = volumes_pod();
    p.apps[0].mounts[0].target = "/var/../../etc".into();
    assert!(
        plan(&p, &Settings::default(), Some(FIRST))
            .unwrap_err()
            .to_string()
            .contains("..")
    );
    p.apps[0].mounts[0].target = "var/db".into();
    assert!(plan(&p, &Settings::default(), Some(FIRST)).is_err());
    p.apps[0].mounts[0].target = "/var/db".into();
    p.apps[0].mounts[0].volume = "nope".into();
    assert!(plan(&p, &Settings::default(), Some(FIRST)).is_err());
}

#[test]
fn linux_image_gets_linux_file_systems() {
    let mut a = app("ubuntu");
    a.os = Os::Linux;
    let p = plan(&pod(vec![a]), &Settings::default(), Some(FIRST)).unwrap();
    let app = format!("{POD}/rootfs/app/ubuntu");
    // Jetpack: linprocfs and linsysfs at proc and sys for os=linux. Ours adds fdescfs at
    // dev/fd (linrdlnk: /dev/fd entries as Linux's links) and a tmpfs /dev/shm for glibc.
    assert_eq!(
        p.fstab.lines().collect::<Vec<_>>(),
        [
            format!(
                "/var/jetpack/storage/pods/6f0e4fd66c1a4c4f9d2e5c1f0b8d2a11-ubuntu {app} nullfs rw 0 0"
            ),
            format!("devfs {app}/dev devfs rw,ruleset=4 0 0"),
            format!("linprocfs {app}/proc linprocfs rw 0 0"),
            format!("linsysfs {app}/sys linsysfs rw 0 0"),
            format!("fdescfs {app}/dev/fd fdescfs rw,linrdlnk 0 0"),
            format!("tmpfs {app}/dev/shm tmpfs rw,mode=1777 0 0"),
        ]
    );
    // dev is unmounted after what is mounted below it.
    let order = p.unmount_order();
    let pos = |s: &str| order.iter().position(|p| p.ends_with(s)).unwrap();
    assert!(pos("dev/fd") < pos("ubuntu/dev") && pos("dev/shm") < pos("ubuntu/dev"));
}

#[test]
fn ports_become_rdr_rules_in_the_pods_pf_anchor() {
    // Jetpack only recorded ports ("managing its own pf anchor" was on its to-do list); the
    // plan loads the pod's anchor `jetpack/<uuid>`, which pf.conf reaches through
    // `nat-anchor "jetpack/*"` and `rdr-anchor "jetpack/*"`, and flushes it when the pod ends.
    let mut p = pod(vec![app("web")]);
    p.ports = vec![
        Port {
            protocol: Protocol::Tcp,
            host_port: 8080,
            pod_port: 80,
        },
        Port {
            protocol: Protocol::Udp,
            host_port: 5353,
            pod_port: 53,
        },
    ];
    let mut settings = Settings::default();
    settings.apply("jail.external-interface", "em0").unwrap();
    let plan = plan(&p, &settings, Some(FIRST)).unwrap();
    assert_eq!(plan.pf_anchor, format!("jetpack/{UUID}"));
    assert_eq!(
        plan.pf_rules,
        "nat on em0 inet from 172.23.0.2 to any -> (em0)
rdr pass on em0 inet proto tcp from any to any port 8080 -> 172.23.0.2 port 80
rdr pass on em0 inet proto udp from any to any port 5353 -> 172.23.0.2 port 53
"
    );
    let (load, flush) = plan.pf_commands();
    assert_eq!(
        load,
        ["/sbin/pfctl", "-a", &format!("jetpack/{UUID}"), "-f", "-"]
    );
    assert_eq!(
        flush,
        ["/sbin/pfctl", "-a", &format!("jetpack/{UUID}"), "-F", "all"]
    );
    // No external interface configured: no NAT, port forwards on any interface.
    let plain = jetpack_jail::plan(&p, &Settings::default(), Some(FIRST)).unwrap();
    assert!(
        plain.pf_rules.starts_with(
            "rdr pass inet proto tcp from any to any port 8080 -> 172.23.0.2 port 80\n"
        )
    );
}

#[test]
fn memory_and_cpu_become_rctl_rules() {
    // Jetpack refused pods with isolators; here resource/memory is resident memory and
    // resource/cpu a percentage of one CPU (500m = 50 %, rounded up).
    let mut p = pod(vec![app("web")]);
    p.memory_limit = Some(512 * 1024 * 1024);
    p.cpu_limit_milli = Some(1505);
    let plan = plan(&p, &Settings::default(), Some(FIRST)).unwrap();
    let name = format!("jetpack/{UUID}");
    assert_eq!(
        plan.rctl,
        [
            format!("jail:{name}:memoryuse:deny=536870912"),
            format!("jail:{name}:pcpu:deny=151")
        ]
    );
    let (add, remove) = plan.rctl_commands();
    assert_eq!(
        add[0],
        [
            "/usr/bin/rctl",
            "-a",
            &format!("jail:{name}:memoryuse:deny=536870912")
        ]
    );
    assert_eq!(remove, ["/usr/bin/rctl", "-r", &format!("jail:{name}")]);
}

#[test]
fn capabilities_map_to_allow_parameters() {
    let mut a = app("tool");
    a.capabilities
        .retain(|c| c != "CAP_NET_RAW" && c != "CAP_KILL");
    a.capabilities.extend(
        [
            "CAP_IPC_LOCK",
            "CAP_SYS_ADMIN",
            "CAP_LINUX_IMMUTABLE",
            "CAP_SYS_TIME",
        ]
        .map(String::from),
    );
    let p = plan(&pod(vec![a]), &Settings::default(), Some(FIRST)).unwrap();
    assert_eq!(
        p.capabilities.allow,
        [
            "allow.chflags",
            "allow.mlock",
            "allow.mount",
            "allow.mount.nullfs",
            "allow.mount.tmpfs"
        ]
    );
    let not: Vec<&str> = p
        .capabilities
        .not_enforced
        .iter()
        .map(|(c, _)| c.as_str())
        .collect();
    assert_eq!(not, ["CAP_SYS_TIME", "CAP_KILL", "CAP_NET_RAW"]);
    assert_eq!(p.params.get("allow.raw_sockets"), None);
    assert_eq!(p.params.get("enforce_statfs"), Some(&Value::Int(1)));
    assert_eq!(p.params.get("allow.mount"), Some(&Value::Bool(true)));
}

#[test]
fn annotations_override_jail_parameters() {
    // Jetpack's build pod: `jetpack/jail.conf/allow.chflags=true`,
    // `jetpack/jail.conf/securelevel=0`; `-` stands for `_` in annotation names.
    let mut p = pod(vec![app("build")]);
    p.annotations = vec![
        ("jetpack/jail.conf/allow.chflags".into(), "true".into()),
        ("jetpack/jail.conf/securelevel".into(), "0".into()),
        ("jetpack/jail.conf/allow.set-hostname".into(), "1".into()),
        ("org.freebsd.jail.allow.mlock".into(), "true".into()),
        ("jetpack/devfs-ruleset".into(), "5".into()),
        ("jetpack/jail.conf/sysvmsg".into(), "".into()),
        ("unrelated".into(), "whatever".into()),
    ];
    let mut settings = Settings::default();
    settings.apply("jail.param.securelevel", "3").unwrap();
    settings
        .apply("jail.param.host.domainname", "pods.example")
        .unwrap();
    let plan = plan(&p, &settings, Some(FIRST)).unwrap();
    let get = |n| plan.params.get(n).cloned();
    assert_eq!(
        get("securelevel"),
        Some(Value::Int(0)),
        "annotation over configuration"
    );
    assert_eq!(get("allow.chflags"), Some(Value::Bool(true)));
    assert_eq!(get("allow.set_hostname"), Some(Value::Bool(true)));
    assert_eq!(get("allow.mlock"), Some(Value::Bool(true)));
    assert_eq!(get("host.domainname"), Some(s("pods.example")));
    assert_eq!(get("sysvmsg"), None, "an empty value unsets");
    assert_eq!(get("devfs_ruleset"), Some(Value::Int(5)));
    assert!(plan.fstab.contains("devfs rw,ruleset=5 0 0"));
    // Overrides stay where the parameter was.
    let names: Vec<&str> = plan.params.iter().map(|(n, _)| n).collect();
    let at = |n| names.iter().position(|x| *x == n).unwrap();
    assert!(at("devfs_ruleset") < at("securelevel") && at("securelevel") < at("allow.raw_sockets"));
    assert!(plan.conf.contains("\tsecurelevel = 0;\n\tsysvsem = new;\n"));
}

#[test]
fn bad_overrides_are_refused() {
    let bad = [
        ("jetpack/jail.conf/path", "/", "cannot be overridden"),
        (
            "jetpack/jail.conf/exec.prestart",
            "/bin/sh -c id",
            "cannot be overridden",
        ),
        (
            "jetpack/jail.conf/mount.fstab",
            "/etc/fstab",
            "cannot be overridden",
        ),
        (
            "jetpack/jail.conf/ip4.addr",
            "10.0.0.1",
            "cannot be overridden",
        ),
        ("jetpack/jail.conf/vnet", "new", "cannot be overridden"),
        (
            "jetpack/jail.conf/allow.everything",
            "true",
            "not a jail parameter",
        ),
        (
            "jetpack/jail.conf/securelevel",
            "high",
            "integer from -1 to 3",
        ),
        ("jetpack/jail.conf/securelevel", "4", "integer from -1 to 3"),
        ("jetpack/jail.conf/allow.mount", "yes", "not true or false"),
        (
            "org.freebsd.jail.allow.raw_sockets",
            "maybe",
            "not true or false",
        ),
        (
            "jetpack/jail.conf/host.domainname",
            "a\nb",
            "control character",
        ),
        (
            "jetpack/jail.conf/sysvshm",
            "shared",
            "not disable, new or inherit",
        ),
        ("jetpack/devfs-ruleset", "-1", "integer from 0 to 65535"),
    ];
    for (key, value, says) in bad {
        let mut p = pod(vec![app("a")]);
        p.annotations = vec![(key.into(), value.into())];
        let err = plan(&p, &Settings::default(), Some(FIRST))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(says) && err.contains(key),
            "{key}={value:?}: {err}"
        );
    }
    // The configuration is refused as it is read...
    let mut settings = Settings::default();
    let err = settings
        .apply("ace.jailConf.exec.poststop", "rm -rf /")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("configuration ace.jailConf.exec.poststop")
            && err.contains("cannot be overridden"),
        "{err}"
    );
    // ...and by the plan, should settings be made some other way.
    settings
        .params
        .push(("exec.poststop".into(), "rm -rf /".into()));
    let err = plan(&pod(vec![app("a")]), &settings, Some(FIRST))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("configuration jail.param.exec.poststop"),
        "{err}"
    );
}

#[test]
fn jail_conf_quoting() {
    use jetpack_jail::params::quote;
    assert_eq!(quote("172.23.0.2").unwrap(), "172.23.0.2");
    assert_eq!(
        quote("/var/jetpack/pods/x/rootfs").unwrap(),
        "/var/jetpack/pods/x/rootfs"
    );
    assert_eq!(quote("").unwrap(), "\"\"");
    assert_eq!(quote("my pod").unwrap(), "\"my pod\"");
    assert_eq!(quote("a;b").unwrap(), "\"a;b\"");
    assert_eq!(quote("say \"hi\"").unwrap(), "\"say \\\"hi\\\"\"");
    assert_eq!(quote("$HOME").unwrap(), "\"\\$HOME\"");
    assert_eq!(quote("${x}").unwrap(), "\"\\${x}\"");
    assert_eq!(quote("back\\slash").unwrap(), "\"back\\\\slash\"");
    assert_eq!(quote("it's").unwrap(), "\"it's\"");
    assert_eq!(quote("a,b").unwrap(), "\"a,b\"");
    assert_eq!(quote("x=1").unwrap(), "\"x=1\"");
    assert_eq!(quote("#c").unwrap(), "\"#c\"");
    assert!(quote("a\nb").is_err());
    assert!(quote("a\0b").is_err());
    assert!(quote("tab\there").is_err());

    // A pod directory with a space and a `$` is written quoted into jail.conf and as \040 into
    // fstab; the jail_set value is the path itself.
    let mut p = pod(vec![app("a")]);
    p.dir = PathBuf::from("/srv/my pods/$x");
    p.hostname = "web \"one\"".into();
    let plan = plan(&p, &Settings::default(), Some(FIRST)).unwrap();
    assert!(
        plan.conf
            .contains("\tpath = \"/srv/my pods/\\$x/rootfs\";\n"),
        "{}",
        plan.conf
    );
    assert!(
        plan.conf
            .contains("\thost.hostname = \"web \\\"one\\\"\";\n")
    );
    assert!(
        plan.fstab
            .contains(" /srv/my\\040pods/$x/rootfs/app/a/dev devfs ")
    );
    assert!(
        plan.jail_set
            .contains(&("path".into(), s("/srv/my pods/$x/rootfs")))
    );

    let mut p = pod(vec![app("a")]);
    p.hostname = "two\nlines".into();
    assert!(jetpack_jail::plan(&p, &Settings::default(), Some(FIRST)).is_err());
    let mut p = pod(vec![app("a")]);
    p.dir = PathBuf::from("/srv/new\nline");
    assert!(jetpack_jail::plan(&p, &Settings::default(), Some(FIRST)).is_err());
}

#[test]
fn host_none_and_vnet_networks() {
    let mut p = pod(vec![app("a")]);
    p.net = NetMode::Host;
    let host = plan(&p, &Settings::default(), None).unwrap();
    assert_eq!(
        host.params.get("ip4"),
        Some(&Value::Jailsys(Jailsys::Inherit))
    );
    assert_eq!(host.params.get("interface"), None);
    assert!(host.net.up.is_empty() && host.address.is_none() && host.pf_rules.is_empty());

    p.net = NetMode::None;
    let none = plan(&p, &Settings::default(), None).unwrap();
    assert_eq!(
        none.params.get("ip4"),
        Some(&Value::Jailsys(Jailsys::Disable))
    );
    assert_eq!(
        none.params.get("ip6"),
        Some(&Value::Jailsys(Jailsys::Disable))
    );

    // VNET is not Jetpack's (FreeBSD 10 had no usable VNET): the modern option, an epair per
    // pod, its host end on the bridge that holds the host address.
    p.net = NetMode::Vnet;
    assert!(
        plan(&p, &Settings::default(), None).is_err(),
        "needs an address"
    );
    let v = plan(&p, &Settings::default(), Some(FIRST)).unwrap();
    assert_eq!(v.params.get("vnet"), Some(&Value::Jailsys(Jailsys::New)));
    assert_eq!(v.params.get("ip4.addr"), None);
    let jail = format!("jetpack/{UUID}");
    let lines: Vec<String> = v.net.up.iter().map(|c| c.join(" ")).collect();
    assert_eq!(
        lines,
        [
            "/sbin/ifconfig epair create".to_string(),
            "/sbin/ifconfig {epair}a name jp6f0e4fd6a".into(),
            "/sbin/ifconfig {epair}b name jp6f0e4fd6b".into(),
            "/sbin/ifconfig jetpack0 addm jp6f0e4fd6a".into(),
            "/sbin/ifconfig jp6f0e4fd6a up".into(),
            format!("/sbin/ifconfig jp6f0e4fd6b vnet {jail}"),
            format!("/sbin/ifconfig -j {jail} jp6f0e4fd6b inet 172.23.0.2/16 up"),
            format!("/sbin/ifconfig -j {jail} lo0 inet 127.0.0.1/8 up"),
            format!("/sbin/route -j {jail} add default 172.23.0.1"),
        ]
    );
    assert_eq!(v.net.down, [["/sbin/ifconfig", "jp6f0e4fd6a", "destroy"]]);
}

#[test]
fn settings_keys() {
    let mut s = Settings::default();
    assert_eq!(s.interface, "lo1");
    assert_eq!(s.subnet.to_string(), "172.23.0.0/16");
    assert!(s.apply("jail.interface", "lo2").unwrap());
    assert!(s.apply("jail.subnet", "10.9.0.0/24").unwrap());
    assert!(!s.apply("mds.port", "1104").unwrap());
    assert!(s.apply("jail.interface", "lo1; rm").is_err());
    assert!(s.apply("jail.subnet", "10.9.0.1/24").is_err());
    assert!(s.apply("jail.subnet", "10.9.0.0/31").is_err());
    assert_eq!(s.subnet.host(), Ipv4Addr::new(10, 9, 0, 1));
    assert_eq!((s.devfs_ruleset, s.securelevel), (4, 2));
    assert!(s.apply("jail.devfs_ruleset", "10").unwrap());
    assert!(s.apply("jail.securelevel", "-1").unwrap());
    assert_eq!((s.devfs_ruleset, s.securelevel), (10, -1));
    let refused = |k: &str, v: &str| s.clone().apply(k, v).unwrap_err().to_string();
    assert!(refused("jail.securelevel", "4").contains("not an integer from -1 to 3"));
    assert!(refused("jail.devfs_ruleset", "x").contains("not an integer from 0 to 65535"));
    assert!(refused("jail.param.allow.everything", "1").contains("not a jail parameter"));
    assert!(refused("jail.param.path", "/").contains("cannot be overridden"));
    assert!(refused("jail.param.allow.mount", "yes").contains("not true or false"));
    // Overrides are checked, kept in order, and a key given again replaces its value.
    assert!(s.apply("jail.param.allow.mount", "true").unwrap());
    assert!(s.apply("ace.jailConf.osrelease", "14.1-RELEASE").unwrap());
    assert!(s.apply("jail.param.allow.mount", "").unwrap());
    assert_eq!(
        s.params,
        [
            ("allow.mount".to_string(), String::new()),
            ("osrelease".to_string(), "14.1-RELEASE".to_string())
        ]
    );
    let p = plan(&pod(vec![app("a")]), &s, Some(FIRST)).unwrap();
    assert_eq!(p.params.get("devfs_ruleset"), Some(&Value::Int(10)));
    assert_eq!(p.params.get("securelevel"), Some(&Value::Int(-1)));
    assert!(p.fstab.contains("devfs rw,ruleset=10 0 0"));
}
