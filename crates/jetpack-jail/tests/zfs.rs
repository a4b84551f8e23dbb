//! Empty volumes as ZFS datasets and a snapshot of a pod with its volumes, run for real on
//! zfs-fuse: the plan's `zfs` commands go through the storage crate's `SystemRunner`, as the
//! engine runs them.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use jetpack_jail::{NetMode, Pod, Volume, VolumeKind, zfs};
use jetpack_storage::{CommandRunner, SystemRunner};
use jetpack_testutil::ZfsPool;

const UUID: &str = "0c9a4f7e-2b1d-4e5f-8a6b-7c8d9e0f1a2b";
const COMPACT: &str = "0c9a4f7e2b1d4e5f8a6b7c8d9e0f1a2b";

fn pod(dir: PathBuf) -> Pod {
    let empty = |name: &str, mode, uid| Volume {
        name: name.into(),
        kind: VolumeKind::Empty {
            mode,
            uid,
            gid: uid,
        },
        read_only: false,
    };
    Pod {
        uuid: UUID.into(),
        hostname: UUID.into(),
        dir,
        apps: Vec::new(),
        volumes: vec![
            empty("data", 0o750, 1000),
            Volume {
                name: "conf".into(),
                kind: VolumeKind::Host {
                    source: "/srv/conf".into(),
                },
                read_only: true,
            },
            empty("cache", 0o1777, 0),
        ],
        net: NetMode::None,
        ports: Vec::new(),
        memory_limit: None,
        cpu_limit_milli: None,
        annotations: Vec::new(),
        default_capabilities: Vec::new(),
    }
}

fn zfs_lines(runner: &SystemRunner, args: &[&str]) -> Vec<String> {
    let out = runner.run("zfs", args).unwrap();
    out.lines().map(String::from).collect()
}

/// Runs each command; while zfs-fuse says "is busy" (it releases a dataset asynchronously
/// after an unmount or rollback), tries again for up to 20 s, as the storage's zfs backend does.
fn run_all(runner: &SystemRunner, cmds: &[Vec<String>]) {
    for c in cmds {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        let start = std::time::Instant::now();
        loop {
            match runner.run("zfs", &args) {
                Err(e) if e.command_says("is busy") && start.elapsed().as_secs() < 20 => {
                    std::thread::sleep(std::time::Duration::from_millis(200))
                }
                other => {
                    other.unwrap();
                    break;
                }
            }
        }
    }
}

#[jetpack_testutil::root_test]
fn volume_datasets_and_pod_snapshots_on_zfs() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = ZfsPool::create(128 << 20);
    let runner = SystemRunner::new();
    let store = format!("{}/jetpack", pool.name());
    run_all(
        &runner,
        &[
            vec![
                "create".into(),
                "-o".into(),
                "mountpoint=none".into(),
                store.clone(),
            ],
            vec!["create".into(), format!("{store}/pods")],
        ],
    );
    let pod_dir = tmp.path().join("pods").join(UUID);
    let p = pod(pod_dir.clone());
    let parent = format!("{store}/pods/{COMPACT}");
    let create = zfs::create_volumes(&store, &p);
    // Jetpack's pods/<uuid>/volume.<n>, n the volume's number in the pod; the host volume
    // (number 1) has none.
    let expected: Vec<Vec<String>> = [
        vec![
            "create",
            "-o",
            "canmount=off",
            "-o",
            "mountpoint=none",
            &parent,
        ],
        vec![
            "create",
            "-o",
            &format!("mountpoint={}/volumes/data", pod_dir.display()),
            "-o",
            "jetpack:name=data",
            &format!("{parent}/volume.0"),
        ],
        vec![
            "create",
            "-o",
            &format!("mountpoint={}/volumes/cache", pod_dir.display()),
            "-o",
            "jetpack:name=cache",
            &format!("{parent}/volume.2"),
        ],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(create, expected);
    run_all(&runner, &create);
    // The engine then gives each volume's root its mode and owner.
    for v in zfs::volume_datasets(&store, &p) {
        std::fs::set_permissions(&v.mountpoint, std::fs::Permissions::from_mode(v.mode)).unwrap();
        std::os::unix::fs::chown(&v.mountpoint, Some(v.uid), Some(v.gid)).unwrap();
    }
    let data = pod_dir.join("volumes/data");
    let meta = std::fs::metadata(&data).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o750, 1000));
    assert_eq!(
        std::fs::metadata(pod_dir.join("volumes/cache"))
            .unwrap()
            .mode()
            & 0o7777,
        0o1777
    );
    assert_eq!(
        zfs_lines(
            &runner,
            &[
                "get",
                "-H",
                "-o",
                "value",
                "jetpack:name",
                &format!("{parent}/volume.0")
            ]
        ),
        ["data"]
    );
    std::fs::write(data.join("db"), "v1").unwrap();

    // An app's clone, named as the storage names pod trees.
    let clone = format!("{store}/pods/{COMPACT}-web");
    run_all(&runner, &[vec!["create".into(), clone.clone()]]);
    let snap = zfs::snapshot(&store, &p, std::slice::from_ref(&clone), "before");
    assert_eq!(
        snap,
        [
            vec![
                "snapshot".to_string(),
                "-r".into(),
                format!("{parent}@before")
            ],
            vec!["snapshot".to_string(), format!("{clone}@before")],
        ]
    );
    run_all(&runner, &snap);
    let mut snaps = zfs_lines(
        &runner,
        &["list", "-H", "-o", "name", "-t", "snapshot", "-r", &store],
    );
    snaps.sort();
    assert_eq!(
        snaps,
        [
            format!("{clone}@before"),
            format!("{parent}/volume.0@before"),
            format!("{parent}/volume.2@before"),
            format!("{parent}@before"),
        ]
    );
    // The snapshot holds the volume's data: a rollback brings it back.
    std::fs::write(data.join("db"), "v2").unwrap();
    runner
        .run("zfs", &["rollback", &format!("{parent}/volume.0@before")])
        .unwrap();
    assert_eq!(std::fs::read_to_string(data.join("db")).unwrap(), "v1");

    let destroy = zfs::destroy(&store, &p);
    assert_eq!(
        destroy,
        [vec!["destroy".to_string(), "-r".into(), parent.clone()]]
    );
    run_all(&runner, &destroy);
    let left = zfs_lines(
        &runner,
        &["list", "-H", "-o", "name", "-t", "all", "-r", &store],
    );
    assert_eq!(
        left,
        [
            store.clone(),
            format!("{store}/pods"),
            clone.clone(),
            format!("{clone}@before")
        ]
    );
    assert!(!data.join("db").exists(), "the volume is unmounted");
}

#[test]
fn pods_without_empty_volumes_need_no_dataset() {
    let mut p = pod(PathBuf::from("/pods/x"));
    p.volumes
        .retain(|v| matches!(v.kind, VolumeKind::Host { .. }));
    assert!(zfs::create_volumes("tank/jp", &p).is_empty());
    assert!(zfs::destroy("tank/jp", &p).is_empty());
    assert_eq!(
        zfs::snapshot("tank/jp", &p, &["tank/jp/pods/a-web".into()], "s"),
        [vec!["snapshot".to_string(), "tank/jp/pods/a-web@s".into()]]
    );
}
