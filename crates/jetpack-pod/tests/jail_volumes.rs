//! The jail engine's empty volumes as ZFS datasets, for real on zfs-fuse (the same `zfs`
//! command FreeBSD has): made by `engine::jail::volume_datasets` as the engine makes them,
//! under the store's dataset, then removed with their pod by `destroy` and by `gc`.

use std::time::Duration;

use jetpack_pod::engine::fake::FakeEngine;
use jetpack_pod::engine::jail::{jail_pod, volume_datasets};
use jetpack_pod::{PodOptions, PodRecord};
use jetpack_storage::{CommandRunner, SystemRunner};
use jetpack_store::{Config, Source, Store};
use jetpack_testutil::{Aci, Backend};

struct Fixture {
    store: Store,
    image: String,
    // After the store: the pool goes last.
    _net: tempfile::TempDir,
    _backend: Backend,
}

fn fixture() -> Fixture {
    let backend = Backend::new("zfs");
    let net = tempfile::tempdir().unwrap();
    let mut sets = backend.sets.clone();
    sets.push(format!("net.dir={}", net.path().display()));
    let cfg = Config::load(Some(std::path::Path::new("/dev/null")), &sets).unwrap();
    let mut store = Store::init(&cfg).unwrap();
    let mut aci = Aci::empty().manifest(
        r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/true",
        "app":{"exec":["/bin/true"],"user":"0","group":"0"}}"#,
    );
    aci.dir("rootfs", 0o755)
        .dir("rootfs/bin", 0o755)
        .dir("rootfs/etc", 0o755)
        .file("rootfs/bin/true", b"#!/bin/sh\n", 0o755);
    let file = backend.dir.path().join("true.aci");
    std::fs::write(&file, aci.tar()).unwrap();
    let image = store.import(Source::File(file)).unwrap().id;
    Fixture {
        store,
        image,
        _net: net,
        _backend: backend,
    }
}

fn zfs(args: &[&str]) -> Result<String, String> {
    SystemRunner::new()
        .run("zfs", args)
        .map_err(|e| e.to_string())
}

/// A pod with two empty volumes and a host one, run once by the recording engine (for its
/// spec), then given its volume datasets as the jail engine gives them.
fn pod_with_volumes(fx: &Fixture, engine: &FakeEngine) -> PodRecord {
    let host = fx._backend.dir.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    let m = format!(
        r#"{{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{{"name":"app",
        "image":{{"id":"{}","name":"example.com/true"}},
        "app":{{"exec":["/bin/true"],"user":"0","group":"0"}},
        "mounts":[{{"volume":"data","path":"/data"}},{{"volume":"conf","path":"/conf"}},
            {{"volume":"cache","path":"/cache"}}]}}],
        "volumes":[{{"name":"data","kind":"empty","mode":"0750","uid":1000,"gid":1000}},
            {{"name":"conf","kind":"host","source":"{}"}},
            {{"name":"cache","kind":"empty"}}]}}"#,
        fx.image,
        host.display()
    );
    let manifest = appc::PodManifest::from_slice(m.as_bytes()).unwrap();
    let opts = PodOptions {
        net: "none".into(),
        ..PodOptions::default()
    };
    let rec = jetpack_pod::prepare_with(engine, &fx.store, &manifest, &opts).unwrap();
    jetpack_pod::run_with(engine, &fx.store, &rec, false).unwrap();
    let spec = engine.specs().pop().unwrap();
    let pod = jail_pod(&spec).unwrap();
    let dataset = fx.store.zfs_dataset().expect("a zfs store");
    volume_datasets(dataset, &pod, &zfs).unwrap();
    // A second run finds them made and mounted: nothing to do.
    volume_datasets(dataset, &pod, &zfs).unwrap();
    rec
}

fn datasets_of(fx: &Fixture, rec: &PodRecord) -> Vec<String> {
    let all = zfs(&[
        "list",
        "-H",
        "-o",
        "name",
        "-r",
        fx.store.zfs_dataset().unwrap(),
    ])
    .unwrap();
    let own = format!("/pods/{}", rec.uuid.replace('-', ""));
    all.lines()
        .filter(|l| l.contains(&own))
        .map(String::from)
        .collect()
}

fn mounted_below(path: &std::path::Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.display().to_string();
    info.lines().any(|l| l.contains(&p))
}

#[jetpack_testutil::root_test]
fn destroy_and_gc_remove_the_volume_datasets() {
    use std::os::unix::fs::MetadataExt;
    let fx = fixture();
    let engine = FakeEngine::new();
    let pods = jetpack_pod::Pods::new(fx.store.root());

    let rec = pod_with_volumes(&fx, &engine);
    let dir = pods.dir(&rec.uuid);
    let compact = rec.uuid.replace('-', "");
    let d = fx.store.zfs_dataset().unwrap();
    let mut sets = datasets_of(&fx, &rec);
    sets.sort();
    // The pod's dataset and volume.<n> for its empty volumes (the host one, 1, has none),
    // besides its app's clone.
    let want = |s: &str| format!("{d}/pods/{compact}{s}");
    assert_eq!(
        sets,
        [want(""), want("-app"), want("/volume.0"), want("/volume.2")]
    );
    let data = dir.join("volumes/data");
    let meta = std::fs::metadata(&data).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o750, 1000, 1000)
    );
    assert_eq!(
        zfs(&["get", "-H", "-o", "value", "mountpoint", &want("/volume.0")])
            .unwrap()
            .trim(),
        data.display().to_string()
    );
    std::fs::write(data.join("kept"), b"what an app wrote").unwrap();
    assert!(mounted_below(&dir));

    jetpack_pod::destroy_with(&engine, &fx.store, &rec.uuid).unwrap();
    assert_eq!(datasets_of(&fx, &rec), Vec::<String>::new());
    assert!(!dir.exists());
    assert!(!mounted_below(&fx.store.root().join("pods")));

    // gc of an exited pod past its grace period: the same.
    let rec = pod_with_volumes(&fx, &engine);
    assert_eq!(datasets_of(&fx, &rec).len(), 4);
    std::thread::sleep(Duration::from_millis(1100));
    let removed = jetpack_pod::gc_with(&engine, &fx.store, Duration::ZERO).unwrap();
    assert!(removed.contains(&rec.uuid), "{removed:?}");
    assert_eq!(datasets_of(&fx, &rec), Vec::<String>::new());
    assert!(!mounted_below(&fx.store.root().join("pods")));

    // A pod's dataset that outlived its pod (a destroy killed at the wrong time): gc's.
    let rec = pod_with_volumes(&fx, &engine);
    let orphan = format!("{d}/pods/{}", rec.uuid.replace('-', ""));
    jetpack_pod::destroy_with(&engine, &fx.store, &rec.uuid).unwrap();
    zfs(&[
        "create",
        "-o",
        "canmount=off",
        "-o",
        "mountpoint=none",
        &orphan,
    ])
    .unwrap();
    let removed = jetpack_pod::gc_with(&engine, &fx.store, Duration::ZERO).unwrap();
    assert!(
        removed.contains(&format!("tree {}", rec.uuid.replace('-', ""))),
        "{removed:?}"
    );
    assert_eq!(datasets_of(&fx, &rec), Vec::<String>::new());
}
