use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Backend, Config, KEYS, Layout, Settings};

fn with(overrides: &[&str]) -> crate::Result<Config> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Config::load(Some(Path::new("/dev/null")), &o)
}

fn err(overrides: &[&str]) -> String {
    with(overrides).unwrap_err().to_string()
}

#[test]
fn defaults() {
    let s = Config::default().settings().clone();
    assert_eq!(s, Settings::default());
    assert_eq!(s.store.root, PathBuf::from("/var/lib/jetpack"));
    assert_eq!(s.store.storage, Backend::Auto);
    assert_eq!(s.store.zfs_dataset, None);
    assert!(!s.store.debug && !s.store.private_users);
    assert_eq!(s.store.import_max_size, None);
    assert_eq!(s.net.dir, PathBuf::from("/etc/jetpack/net.d"));
    assert_eq!(
        s.net.plugin_path,
        ["/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin"].map(PathBuf::from)
    );
    assert_eq!(s.net.cni_path(), jetpack_net::DEFAULT_PLUGIN_PATH);
    assert_eq!(s.net.default_bridge, "jetpack0");
    assert_eq!(s.net.default_subnet.to_string(), "172.23.0.0/16");
    assert_eq!(s.mds.port, 1104);
    assert_eq!(s.mds.user.as_deref(), Some("nobody"));
    assert!(s.fetch.ca_files.is_empty());
    assert_eq!(s.fetch.timeout, Duration::from_secs(30));
    // Every default is shown with its source.
    let c = Config::default();
    let e = c.entries();
    assert_eq!(e.len(), KEYS.len());
    assert!(e.contains(&("mds.port", "1104", "default")));
}

#[test]
fn file_then_overrides_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("jetpack.conf");
    std::fs::write(
        &f,
        "# comment\nroot = /srv/jp\nstorage=dir\n\nzfs.dataset = tank/jp\nmds.user =\n",
    )
    .unwrap();
    let c = Config::load(Some(&f), &["storage=zfs".into(), "debug".into()]).unwrap();
    let s = c.settings();
    assert_eq!(s.store.root, PathBuf::from("/srv/jp"));
    assert_eq!(s.store.storage, Backend::Zfs);
    assert_eq!(s.store.zfs_dataset.as_deref(), Some("tank/jp"));
    assert!(s.store.debug);
    assert_eq!(s.mds.user, None, "empty: stay root");
    assert_eq!(c.layout(), Layout::new("/srv/jp"));
    let e = c.entries();
    assert!(e.contains(&("storage", "zfs", "-o")));
    assert!(e.contains(&("debug", "on", "-o")));
    let conf = f.display().to_string();
    assert!(
        e.contains(&("root", "/srv/jp", &format!("{conf}:2"))),
        "{e:?}"
    );
    assert!(e.contains(&("mds.user", "", &format!("{conf}:6"))), "{e:?}");
}

#[test]
fn units() {
    let c = with(&["fetch.timeout=5", "mds.port=80", "pods.private-users=yes"]).unwrap();
    assert_eq!(c.settings().fetch.timeout, Duration::from_secs(5));
    assert_eq!(c.settings().mds.port, 80);
    assert!(c.settings().store.private_users);
    for (v, n) in [
        ("4096", 4096),
        ("64K", 64 << 10),
        ("2G", 2 << 30),
        ("1MiB", 1 << 20),
        ("3tb", 3 << 40),
    ] {
        let c = with(&[&format!("import.max-size={v}")]).unwrap();
        assert_eq!(c.settings().store.import_max_size, Some(n), "{v}");
    }
    let c = with(&["import.max-size=1M", "import.max-size="]).unwrap();
    assert_eq!(c.settings().store.import_max_size, None, "empty: no limit");
    let c = with(&["fetch.ca-file=/a.pem, /b.pem,", "net.plugin-path=/x::/y"]).unwrap();
    assert_eq!(
        c.settings().fetch.ca_files,
        ["/a.pem", "/b.pem"].map(PathBuf::from)
    );
    assert_eq!(
        c.settings().net.plugin_path,
        ["/x", "/y"].map(PathBuf::from)
    );
    let c = with(&["net.default-subnet=fd00:1::/64"]).unwrap();
    assert_eq!(c.settings().net.default_subnet.prefix, 64);
}

#[test]
fn bad_values_name_key_value_and_source() {
    for (o, want) in [
        (
            "fetch.timeout=abc",
            "fetch.timeout = \"abc\" (-o): expected a whole number",
        ),
        ("fetch.timeout=0", "at least 1"),
        ("mds.port=0", "1 to 65535"),
        ("mds.port=70000", "1 to 65535"),
        ("debug=perhaps", "on or off"),
        ("storage=ext4", "auto, zfs"),
        ("net.default-subnet=10.1.0.0", "ADDRESS/PREFIX-LENGTH"),
        (
            "net.default-subnet=10.1.0.0/33",
            "e.g. net.default-subnet=172.23.0.0/16",
        ),
        ("root=", "expected a directory"),
        ("root", "-o root: give a value, as -o KEY=VALUE"),
        ("mds.port", "e.g. -o mds.port=1104"),
        ("import.max-size=0", "a number of bytes"),
        ("import.max-size=12X", "e.g. import.max-size=20G"),
        ("import.max-size=99999999999T", "a number of bytes"),
    ] {
        let e = err(&[o]);
        assert!(e.contains(want), "{o}: {e}");
        assert!(e.starts_with("configuration: "), "{e}");
    }
    // A bad value in the file names the file and line.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.conf");
    std::fs::write(&f, "root = /x\n\nfetch.timeout = soon\n").unwrap();
    let e = Config::load(Some(&f), &[]).unwrap_err().to_string();
    assert!(
        e.contains(&format!("fetch.timeout = \"soon\" ({}:3)", f.display())),
        "{e}"
    );
    // A refused value leaves the previous one.
    let mut c = with(&[]).unwrap();
    assert!(c.set("mds.port", "x", "test").is_err());
    assert_eq!(c.settings().mds.port, 1104);
    assert!(c.entries().contains(&("mds.port", "1104", "default")));
}

#[test]
fn unknown_keys_bad_lines_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c");
    std::fs::write(&f, "rooot = /x\n").unwrap();
    let e = Config::load(Some(&f), &[]).unwrap_err().to_string();
    assert!(
        e.contains("unknown key \"rooot\"") && e.contains(":1)"),
        "{e}"
    );
    assert!(e.contains("known keys: root, storage"), "{e}");
    let e = err(&["nope"]);
    assert!(e.contains("unknown key \"nope\" (-o)"), "{e}");
    std::fs::write(&f, "just words\n").unwrap();
    let e = Config::load(Some(&f), &[]).unwrap_err().to_string();
    assert!(e.contains(":1: expected KEY = VALUE"), "{e}");
    let missing = dir.path().join("nope");
    assert!(Config::load(Some(&missing), &[]).is_err());
    let e = Config::load(Some(Path::new("/dev/zero")), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("/dev/zero") && e.contains("1 MiB"), "{e}");
}

#[test]
fn only_flags_may_be_given_alone() {
    for k in KEYS {
        let r = with(&[k.name]);
        assert_eq!(r.is_ok(), k.is_flag(), "{}", k.name);
    }
}

#[test]
fn layout_names_every_path() {
    let l = Layout::new("/s");
    assert_eq!(l.index(), Path::new("/s/jetpack.db"));
    assert_eq!(l.tmp_lock("n"), Path::new("/s/tmp/n.lock"));
    assert_eq!(l.tmp_meta("n"), Path::new("/s/tmp/n.meta"));
    assert_eq!(l.tmp_scratch("n"), Path::new("/s/tmp/n.scratch"));
    assert_eq!(l.image_aci("sha512-a"), Path::new("/s/images/sha512-a/aci"));
    assert_eq!(l.pod_new("u"), Path::new("/s/pods/.u.new"));
    assert_eq!(l.pod_destroy("u"), Path::new("/s/pods/.u.destroy"));
    assert_eq!(l.mds_control(), Path::new("/s/mds/control.sock"));
    assert_eq!(l.net_leases(), Path::new("/s/net/leases"));
    assert_eq!(l.userns(), Path::new("/s/userns"));
    assert_eq!(l.private_dirs()[0], Path::new("/s"));
    let p = l.pod_dir("u");
    assert_eq!(p.state(), Path::new("/s/pods/u/pod.json"));
    assert_eq!(p.app_exit("a"), Path::new("/s/pods/u/apps/a/exit"));
    assert_eq!(p.volume("v"), Path::new("/s/pods/u/volumes/v"));
    assert_eq!(p.net_state(), Path::new("/s/pods/u/net.json"));
}

#[test]
fn share_path_is_computed_when_empty() {
    // The unit test binary lies in target/debug/deps: no share/jetpack beside it, no checkout
    // three levels up, so the fixed fallback.
    let c = Config::default();
    let computed = crate::values::default_share();
    assert_eq!(c.settings().paths.share, PathBuf::from(&computed));
    assert!(
        c.entries()
            .contains(&("path.share", computed.as_str(), "default"))
    );
    let c = with(&["path.share=/opt/jp/share"]).unwrap();
    assert_eq!(c.settings().paths.share, PathBuf::from("/opt/jp/share"));
    assert!(c.entries().contains(&("path.share", "/opt/jp/share", "-o")));
    // Set empty, it is the computed default again, and shown as such.
    let c = with(&["path.share="]).unwrap();
    assert_eq!(c.settings().paths.share, PathBuf::from(&computed));
    assert!(
        c.entries()
            .contains(&("path.share", computed.as_str(), "-o"))
    );
}

#[test]
fn jail_settings_are_typed_and_checked() {
    let d = Config::default();
    let j = &d.settings().jail;
    assert_eq!(
        (j.interface.as_str(), j.subnet.to_string()),
        ("lo1", "172.23.0.0/16".into())
    );
    assert_eq!((j.devfs_ruleset, j.securelevel), (4, 2));
    assert_eq!(j, &jetpack_jail::Settings::default());
    let c = with(&[
        "jail.interface=lo2",
        "jail.subnet=10.9.0.0/24",
        "jail.devfs_ruleset=5",
        "jail.securelevel=-1",
        "jail.external-interface=em0",
        "jail.param.allow.mount=true",
        "ace.jailConf.osrelease=14.1-RELEASE",
        "jail.param.allow.mount=",
    ])
    .unwrap();
    let j = &c.settings().jail;
    assert_eq!(
        (j.interface.as_str(), j.subnet.to_string()),
        ("lo2", "10.9.0.0/24".into())
    );
    assert_eq!((j.devfs_ruleset, j.securelevel), (5, -1));
    assert_eq!(j.external_interface.as_deref(), Some("em0"));
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    assert_eq!(
        j.params,
        [pair("allow.mount", ""), pair("osrelease", "14.1-RELEASE")],
        "in order, a key given again replaced in place"
    );
    // Shown, and handed to child processes, in that order (Jetpack's spelling normalised).
    let e = c.entries();
    let n = e.len();
    assert_eq!(
        e[n - 2..],
        [
            ("jail.param.allow.mount", "", "-o"),
            ("jail.param.osrelease", "14.1-RELEASE", "-o")
        ]
    );
    let again = Config::load(
        Some(Path::new("/dev/null")),
        &c.to_args()[2..]
            .iter()
            .filter(|a| *a != "-o")
            .cloned()
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(again.settings(), c.settings());
}

#[test]
fn bad_jail_settings_are_refused_with_the_reason() {
    for (o, want) in [
        (
            "jail.interface=lo1;rm",
            "jail.interface = \"lo1;rm\" (-o): expected an interface name",
        ),
        ("jail.interface=", "expected an interface name"),
        ("jail.bridge=a-very-long-bridge-name", "1 to 15 letters"),
        ("jail.subnet=10.9.0.1/24", "host bits zero"),
        ("jail.subnet=10.9.0.0/31", "e.g. jail.subnet=172.23.0.0/16"),
        ("jail.subnet=fd00::/64", "an IPv4 range"),
        (
            "jail.devfs_ruleset=65536",
            "a devfs ruleset number, 0 to 65535",
        ),
        ("jail.securelevel=high", "a securelevel, -1 to 3"),
        ("jail.securelevel=4", "-1 to 3"),
        (
            "jail.param.allow.everything=true",
            "not a jail parameter jetpack knows",
        ),
        ("jail.param.path=/", "cannot be overridden"),
        ("ace.jailConf.exec.prestart=/bin/sh", "cannot be overridden"),
        ("jail.param.allow.mount=yes", "not true or false"),
        ("jail.param.enforce_statfs=3", "not an integer from 0 to 2"),
        (
            "jail.param.allow.mount",
            "give a value, as -o jail.param.allow.mount=VALUE",
        ),
        ("jail.param.=1", "unknown key"),
    ] {
        let e = err(&[o]);
        assert!(e.contains(want), "{o}: {e}");
    }
    // In a file: the file and line.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("jetpack.conf");
    std::fs::write(&f, "jail.interface = lo1\njail.param.securelevel = 9\n").unwrap();
    let e = Config::load(Some(&f), &[]).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "jail.param.securelevel = \"9\" ({}:2)",
            f.display()
        )),
        "{e}"
    );
    // The unknown-key message names the family.
    assert!(err(&["jail.nothing=1"]).contains("jail.param.NAME"));
}
