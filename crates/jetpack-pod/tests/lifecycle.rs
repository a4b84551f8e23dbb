//! The lifecycle over the recording engine: prepare, run, stop, kill, enter, destroy and gc
//! with their state transitions, on a `dir` store in a temporary directory, without
//! namespaces (`--net=none`: no CNI runs; no default network: no metadata service).

use std::path::PathBuf;
use std::time::Duration;

use jetpack_pod::engine::Signal;
use jetpack_pod::engine::fake::{Call, FakeEngine, Outcome};
use jetpack_pod::{PodOptions, PodRecord, Pods, State, Status};
use jetpack_store::{Config, Source, Store};

/// A `dir` store with one image (`/bin/true`, a script) and an empty network directory.
struct Fixture {
    store: Store,
    image: String,
    _dir: tempfile::TempDir,
}

fn aci() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_path(name).unwrap();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    let manifest = r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/true",
        "app":{"exec":["/bin/true"],"user":"0","group":"0"}}"#;
    add(
        "manifest",
        tar::EntryType::Regular,
        0o644,
        manifest.as_bytes(),
    );
    for d in ["rootfs", "rootfs/bin", "rootfs/etc"] {
        add(d, tar::EntryType::Directory, 0o755, b"");
    }
    add(
        "rootfs/bin/true",
        tar::EntryType::Regular,
        0o755,
        b"#!/bin/sh\n",
    );
    b.into_inner().unwrap()
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("jetpack.conf");
        std::fs::write(&conf, b"").unwrap();
        let net = dir.path().join("net.d");
        std::fs::create_dir(&net).unwrap();
        let sets = [
            "storage=dir".to_string(),
            format!("root={}", dir.path().join("store").display()),
            format!("net.dir={}", net.display()),
        ];
        let cfg = Config::load(Some(&conf), &sets).unwrap();
        let mut store = Store::init(&cfg).unwrap();
        let file = dir.path().join("true.aci");
        std::fs::write(&file, aci()).unwrap();
        let image = store.import(Source::File(file)).unwrap().id;
        Fixture {
            store,
            image,
            _dir: dir,
        }
    }

    fn manifest(&self) -> appc::PodManifest {
        let id = &self.image;
        let m = format!(
            r#"{{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{{"name":"app",
            "image":{{"id":"{id}","name":"example.com/true"}},
            "app":{{"exec":["/bin/true"],"user":"0","group":"0"}}}}]}}"#
        );
        appc::PodManifest::from_slice(m.as_bytes()).unwrap()
    }

    fn prepare(&self, engine: &FakeEngine) -> PodRecord {
        let opts = PodOptions {
            net: "none".into(),
            ..PodOptions::default()
        };
        jetpack_pod::prepare_with(engine, &self.store, &self.manifest(), &opts).unwrap()
    }

    fn pods(&self) -> Pods {
        Pods::new(self.store.root())
    }

    fn load(&self, uuid: &str) -> PodRecord {
        self.pods().load(uuid).unwrap()
    }

    fn netns(&self, uuid: &str) -> PathBuf {
        self.pods().dir(uuid).join("netns")
    }

    fn trees_of(&self, uuid: &str) -> Vec<String> {
        let prefix = uuid.replace('-', "");
        let trees = self.store.storage().pod_trees().unwrap();
        trees
            .into_iter()
            .filter(|t| t.starts_with(&prefix))
            .collect()
    }
}

/// Runs the pod on another thread and waits until the engine has it running.
fn start<'s, 'e: 's>(
    fx: &'e Fixture,
    engine: &'e FakeEngine,
    rec: &PodRecord,
    scope: &'s std::thread::Scope<'s, 'e>,
) -> (
    i32,
    std::thread::ScopedJoinHandle<'s, jetpack_pod::Result<i32>>,
) {
    // A store of its own: a store is used by one thread, like one `jetpack` process.
    let (cfg, rec) = (fx.store.config().clone(), rec.clone());
    let handle = scope.spawn(move || {
        let store = Store::open(&cfg)?;
        jetpack_pod::run_with(engine, &store, &rec, false)
    });
    let pid = engine
        .wait_running(Duration::from_secs(10))
        .expect("the pod runs");
    (pid, handle)
}

fn is_free(fx: &Fixture, uuid: &str) -> bool {
    !fx.pods().is_locked(uuid).unwrap()
}

#[test]
fn prepare_run_and_exit_are_recorded() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = fx.prepare(&engine);
    assert_eq!(rec.state, State::Prepared);
    assert_eq!(fx.pods().status(&rec).unwrap(), Status::Prepared);
    assert_eq!(fx.trees_of(&rec.uuid).len(), 1, "one clone per app");
    // No isolator depends on the host: the engine is not asked.
    assert!(engine.calls().is_empty(), "{:?}", engine.calls());

    engine.script(Outcome::Exit(3));
    let code = jetpack_pod::run_with(&engine, &fx.store, &rec, false).unwrap();
    assert_eq!(code, 3);
    let netns = fx.netns(&rec.uuid);
    assert_eq!(
        engine.calls(),
        vec![
            Call::CreateNetns(netns.clone()),
            Call::Run {
                uuid: rec.uuid.clone(),
                apps: vec!["app".into()],
                rootfs: vec![rec.apps[0].rootfs.clone()],
            },
            Call::RemoveNetns(netns.clone()),
        ]
    );
    let after = fx.load(&rec.uuid);
    assert_eq!(after.state, State::Exited);
    assert_eq!(after.exit, Some(3));
    assert_eq!((after.pid, after.networks.len()), (None, 0));
    assert!(after.started.is_some() && after.exited.is_some());
    assert!(is_free(&fx, &rec.uuid));
    let dir = fx.pods().dir(&rec.uuid);
    assert!(!dir.join("net.json").exists() && !netns.exists());
    assert!(dir.join("isolators.json").exists());
    // The pod's /etc/hosts was provided in its rootfs.
    assert!(rec.apps[0].rootfs.join("etc/hosts").exists());

    // An exited pod runs again, from a fresh clone.
    std::fs::write(rec.apps[0].rootfs.join("left-behind"), b"").unwrap();
    assert_eq!(
        jetpack_pod::run_with(&engine, &fx.store, &rec, false).unwrap(),
        0
    );
    assert!(!rec.apps[0].rootfs.join("left-behind").exists());
    assert_eq!(fx.load(&rec.uuid).exit, Some(0));
}

#[test]
fn the_running_state_names_the_init_and_stop_signals_it() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = fx.prepare(&engine);
    engine.script(Outcome::UntilSignal { ignore_term: false });
    std::thread::scope(|s| {
        let (pid, handle) = start(&fx, &engine, &rec, s);
        let running = fx.load(&rec.uuid);
        assert_eq!((running.state, running.pid), (State::Running, Some(pid)));
        assert_eq!(fx.pods().status(&running).unwrap(), Status::Running);
        // A second start is refused while it runs.
        let busy = jetpack_pod::run_with(&engine, &fx.store, &rec, false).unwrap_err();
        assert!(busy.to_string().contains("is running"), "{busy}");

        jetpack_pod::stop_with(&engine, &fx.store, &rec, Duration::from_secs(10)).unwrap();
        assert_eq!(handle.join().unwrap().unwrap(), 143);
        let signals: Vec<_> = engine
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Signal(..)))
            .collect();
        assert_eq!(signals, vec![Call::Signal(pid, Signal::Term)]);
    });
    let after = fx.load(&rec.uuid);
    assert_eq!(
        (after.state, after.exit, after.pid),
        (State::Exited, Some(143), None)
    );
    // Stopping an exited pod is an error that says so.
    let e = jetpack_pod::stop_with(&engine, &fx.store, &rec, Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("is not running"), "{e}");
}

#[test]
fn stop_kills_a_pod_that_ignores_sigterm() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = fx.prepare(&engine);
    engine.script(Outcome::UntilSignal { ignore_term: true });
    std::thread::scope(|s| {
        let (pid, handle) = start(&fx, &engine, &rec, s);
        jetpack_pod::stop_with(&engine, &fx.store, &rec, Duration::from_millis(100)).unwrap();
        assert_eq!(handle.join().unwrap().unwrap(), 137);
        let signals: Vec<_> = engine
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Signal(..)))
            .collect();
        assert_eq!(
            signals,
            vec![
                Call::Signal(pid, Signal::Term),
                Call::Signal(pid, Signal::Kill)
            ]
        );
    });
    assert_eq!(fx.load(&rec.uuid).exit, Some(137));
}

#[test]
fn kill_and_enter_reach_the_running_pod() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = fx.prepare(&engine);
    engine.script(Outcome::UntilSignal { ignore_term: true });
    std::thread::scope(|s| {
        let (pid, handle) = start(&fx, &engine, &rec, s);
        let opts = jetpack_pod::EnterOptions::default();
        let rec_now = fx.load(&rec.uuid);
        let code = jetpack_pod::enter_with(&engine, &fx.store, &rec_now, "app", &[], false, &opts)
            .unwrap();
        assert_eq!(code, 0);
        let e = jetpack_pod::enter_with(&engine, &fx.store, &rec_now, "nope", &[], false, &opts)
            .unwrap_err();
        assert!(e.to_string().contains("has no app \"nope\""), "{e}");
        jetpack_pod::kill_with(&engine, &fx.store, &rec).unwrap();
        assert_eq!(handle.join().unwrap().unwrap(), 137);
        let calls = engine.calls();
        assert!(calls.contains(&Call::Enter {
            pid,
            app: "app".into(),
            argv: vec!["/bin/sh".into()],
            uid: 0,
        }));
        let signals: Vec<_> = calls
            .into_iter()
            .filter(|c| matches!(c, Call::Signal(..)))
            .collect();
        assert_eq!(signals, vec![Call::Signal(pid, Signal::Kill)]);
    });
}

#[test]
fn a_failing_start_undoes_its_networks_and_records_the_end() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = fx.prepare(&engine);
    engine.script(Outcome::Fail("no init".into()));
    let e = jetpack_pod::run_with(&engine, &fx.store, &rec, false).unwrap_err();
    assert!(e.to_string().contains("no init"), "{e}");
    let netns = fx.netns(&rec.uuid);
    let calls = engine.calls();
    assert_eq!(calls.first(), Some(&Call::CreateNetns(netns.clone())));
    assert_eq!(calls.last(), Some(&Call::RemoveNetns(netns.clone())));
    let dir = fx.pods().dir(&rec.uuid);
    assert!(!dir.join("net.json").exists() && !netns.exists());
    let after = fx.load(&rec.uuid);
    assert_eq!(after.state, State::Exited);
    assert_eq!((after.exit, after.pid), (None, None));
    assert!(after.networks.is_empty());
    assert!(is_free(&fx, &rec.uuid));
    // Nothing is left that keeps it from running again.
    assert_eq!(
        jetpack_pod::run_with(&engine, &fx.store, &rec, false).unwrap(),
        0
    );
}

#[test]
fn a_start_that_fails_before_its_networks_leaves_the_pod_prepared() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = fx.prepare(&engine);
    // An exec that the image lacks fails while the spec is built, before anything is made.
    let mut m = fx.manifest();
    m.apps[0].app.as_mut().unwrap().exec = vec!["/bin/missing".into()];
    fx.pods()
        .write_manifest(&rec.uuid, m.to_json_pretty().as_bytes())
        .unwrap();
    let e = jetpack_pod::run_with(&engine, &fx.store, &rec, false).unwrap_err();
    assert!(e.to_string().contains("/bin/missing"), "{e}");
    assert!(engine.calls().is_empty(), "{:?}", engine.calls());
    assert_eq!(fx.load(&rec.uuid).state, State::Prepared);
    assert!(is_free(&fx, &rec.uuid));
}

#[test]
fn destroy_removes_the_pod_its_clones_and_cgroups() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = fx.prepare(&engine);
    jetpack_pod::destroy_with(&engine, &fx.store, &rec.uuid).unwrap();
    assert!(!fx.pods().dir(&rec.uuid).exists());
    assert!(fx.trees_of(&rec.uuid).is_empty());
    assert_eq!(
        engine.calls(),
        vec![Call::RemoveLeftovers(rec.uuid.clone())]
    );
    assert!(fx.pods().all().unwrap().is_empty());
}

#[test]
fn destroy_kills_a_running_pod_first() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = fx.prepare(&engine);
    engine.script(Outcome::UntilSignal { ignore_term: true });
    std::thread::scope(|s| {
        let (pid, handle) = start(&fx, &engine, &rec, s);
        jetpack_pod::destroy_with(&engine, &fx.store, &rec.uuid).unwrap();
        assert_eq!(handle.join().unwrap().unwrap(), 137);
        assert!(engine.calls().contains(&Call::Signal(pid, Signal::Kill)));
    });
    assert!(!fx.pods().dir(&rec.uuid).exists());
    assert!(fx.trees_of(&rec.uuid).is_empty());
}

#[test]
fn gc_removes_exited_and_aborted_pods_and_keeps_prepared_ones() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let kept = fx.prepare(&engine);
    let exited = fx.prepare(&engine);
    jetpack_pod::run_with(&engine, &fx.store, &exited, false).unwrap();
    // A prepare killed half-way: its state says preparing and nobody holds its lock.
    let aborted = fx.prepare(&engine);
    let mut rec = fx.load(&aborted.uuid);
    rec.state = State::Preparing;
    fx.pods().save(&rec).unwrap();
    assert_eq!(fx.pods().status(&rec).unwrap(), Status::Aborted);
    // A clone that no pod owns.
    let stray = "0123456789abcdef0123456789abcdef-app";
    fx.store.storage().clone_for_pod(&fx.image, stray).unwrap();

    // Within the grace period the exited pod stays.
    let removed = jetpack_pod::gc_with(&engine, &fx.store, Duration::from_secs(3600)).unwrap();
    assert!(removed.contains(&aborted.uuid), "{removed:?}");
    assert!(removed.contains(&format!("tree {stray}")), "{removed:?}");
    assert!(!removed.contains(&exited.uuid), "{removed:?}");
    assert!(fx.pods().dir(&exited.uuid).exists());

    let removed = jetpack_pod::gc_with(&engine, &fx.store, Duration::ZERO).unwrap();
    assert_eq!(removed, vec![exited.uuid.clone()]);
    let left: Vec<String> = fx
        .pods()
        .all()
        .unwrap()
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    assert_eq!(left, vec![kept.uuid.clone()]);
    assert_eq!(fx.trees_of(&kept.uuid).len(), 1);
    assert!(fx.trees_of(&exited.uuid).is_empty() && fx.trees_of(&aborted.uuid).is_empty());
    let calls = engine.calls();
    for uuid in [&exited.uuid, &aborted.uuid] {
        assert!(
            calls.contains(&Call::RemoveLeftovers(uuid.clone())),
            "{calls:?}"
        );
    }
    assert_eq!(calls.last(), Some(&Call::Tidy));
}

#[test]
fn prepare_asks_the_engine_about_the_host_only_for_isolators_that_need_it() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let mut m = fx.manifest();
    let limit: appc::Isolator =
        serde_json::from_str(r#"{"name":"resource/memory","value":{"limit":"64M"}}"#).unwrap();
    m.apps[0].app.as_mut().unwrap().isolators.push(limit);
    let opts = PodOptions {
        net: "none".into(),
        ..PodOptions::default()
    };
    let rec = jetpack_pod::prepare_with(&engine, &fx.store, &m, &opts).unwrap();
    assert_eq!(engine.calls(), vec![Call::Host]);
    jetpack_pod::run_with(&engine, &fx.store, &rec, false).unwrap();
    let report = jetpack_pod::isolators::Report::read(&fx.pods().dir(&rec.uuid)).unwrap();
    let memory = report
        .isolators
        .iter()
        .find(|e| e.name == "resource/memory")
        .unwrap();
    assert_eq!(memory.status, jetpack_pod::isolators::Status::Enforced);
    assert!(
        memory.detail.contains("fake memory controller"),
        "{}",
        memory.detail
    );
}

/// A pod prepared with a restart policy.
fn prepare_with_policy(fx: &Fixture, engine: &FakeEngine, policy: &str) -> PodRecord {
    let opts = PodOptions {
        net: "none".into(),
        restart: policy.parse().unwrap(),
        ..PodOptions::default()
    };
    jetpack_pod::prepare_with(engine, &fx.store, &fx.manifest(), &opts).unwrap()
}

/// A report hook that sends what it hears.
fn reporter() -> (
    jetpack_pod::Report,
    std::sync::mpsc::Receiver<Result<(), String>>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    (Box::new(move |r| tx.send(r).unwrap()), rx)
}

#[test]
fn the_supervisor_restarts_on_failure_up_to_its_limit() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = prepare_with_policy(&fx, &engine, "on-failure:2");
    // One more than the policy allows: the last is never used.
    for _ in 0..4 {
        engine.script(Outcome::Exit(3));
    }
    let (report, heard) = reporter();
    let code = jetpack_pod::supervise_with(&engine, &fx.store, &rec, report).unwrap();
    assert_eq!(code, 3);
    // Its apps ran at the first start: that is what the starter heard.
    assert_eq!(heard.recv().unwrap(), Ok(()));
    let runs = engine
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Run { .. }))
        .count();
    assert_eq!(runs, 3, "the first run and two restarts");
    let after = fx.load(&rec.uuid);
    assert_eq!(after.service.restarts, 2);
    assert_eq!(after.service.supervisor, None);
    assert_eq!(after.service.restart_at, None);
    assert_eq!(fx.pods().status(&after).unwrap(), Status::Exited);
    assert!(is_free(&fx, &rec.uuid));

    // A success ends an on-failure policy at once.
    let engine = FakeEngine::new();
    let rec = prepare_with_policy(&fx, &engine, "on-failure");
    engine.script(Outcome::Exit(0));
    let (report, _heard) = reporter();
    assert_eq!(
        jetpack_pod::supervise_with(&engine, &fx.store, &rec, report).unwrap(),
        0
    );
    assert_eq!(fx.load(&rec.uuid).service.restarts, 0);
}

#[test]
fn stop_ends_an_always_policy_and_its_backoff() {
    let fx = Fixture::new();
    let engine = FakeEngine::new();
    let rec = prepare_with_policy(&fx, &engine, "always");
    // Two quick ends, then one that runs until stopped.
    engine.script(Outcome::Exit(0));
    engine.script(Outcome::Exit(1));
    engine.script(Outcome::UntilSignal { ignore_term: false });
    std::thread::scope(|s| {
        let (report, heard) = reporter();
        let cfg = fx.store.config().clone();
        let (engine, rec) = (&engine, &rec);
        // A store of its own: a store is used by one thread, like one `jetpack` process.
        let handle =
            s.spawn(move || jetpack_pod::supervise_with(engine, &Store::open(&cfg)?, rec, report));
        assert_eq!(heard.recv().unwrap(), Ok(()));
        let pid = engine.wait_running(Duration::from_secs(10)).unwrap();
        let running = fx.load(&rec.uuid);
        assert_eq!(running.service.restarts, 2);
        assert_eq!(running.pid, Some(pid));
        assert!(running.service.supervisor.is_some());
        jetpack_pod::stop_with(engine, &fx.store, rec, Duration::from_secs(10)).unwrap();
        assert_eq!(handle.join().unwrap().unwrap(), 143);
    });
    let after = fx.load(&rec.uuid);
    assert_eq!(fx.pods().status(&after).unwrap(), Status::Exited);
    assert_eq!(after.service.supervisor, None);
    assert!(!fx.pods().files(&rec.uuid).stop_request().exists());

    // A stop between two runs ends the wait: the backoff after a failure is 100 ms, doubling.
    let rec = prepare_with_policy(&fx, &engine, "always");
    for _ in 0..6 {
        engine.script(Outcome::Exit(1));
    }
    std::thread::scope(|s| {
        let (report, _heard) = reporter();
        let cfg = fx.store.config().clone();
        let (engine, rec) = (&engine, &rec);
        // A store of its own: a store is used by one thread, like one `jetpack` process.
        let handle =
            s.spawn(move || jetpack_pod::supervise_with(engine, &Store::open(&cfg)?, rec, report));
        let waiting = loop {
            let r = fx.load(&rec.uuid);
            if r.service.restarts >= 3 && fx.pods().status(&r).unwrap() == Status::Restarting {
                break r;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(waiting.service.restart_at.is_some());
        let stopped = std::time::Instant::now();
        jetpack_pod::stop_with(engine, &fx.store, rec, Duration::from_secs(10)).unwrap();
        assert_eq!(handle.join().unwrap().unwrap(), 1);
        assert!(stopped.elapsed() < Duration::from_secs(5));
    });
    let after = fx.load(&rec.uuid);
    assert!(
        after.service.restarts < 6,
        "stopped before the scripted runs were used up"
    );
    assert_eq!(fx.pods().status(&after).unwrap(), Status::Exited);
}

/// What the jail engine plans from reaches it: the image's `os` label, the pod's volumes
/// (empty ones with their mode and owner), which volume each mount is, the annotations and
/// the forwarded ports; and the jail plan's input built from that spec carries them.
#[test]
fn the_spec_carries_what_the_jail_plan_needs() {
    use jetpack_jail::{Os, VolumeKind};
    use jetpack_runtime::{EmptyVolume, PortSpec, VolumeSpec};

    let fx = Fixture::new();
    let engine = FakeEngine::new().planning_networks();
    let conf = tempfile::tempdir().unwrap();
    let manifest = |ports: &str| {
        let text = format!(
            r#"{{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{{"name":"app",
            "image":{{"id":"{id}","name":"example.com/true",
                "labels":[{{"name":"os","value":"linux"}}]}},
            "app":{{"exec":["/bin/true"],"user":"0","group":"0"}},
            "mounts":[{{"volume":"data","path":"/data"}},{{"volume":"conf","path":"/conf"}}]}}],
            "volumes":[{{"name":"data","kind":"empty","mode":"0750","uid":1000,"gid":1000}},
                {{"name":"conf","kind":"host","source":"{conf}","readOnly":true}}],
            "annotations":[{{"name":"jetpack/jail.conf/securelevel","value":"0"}},
                {{"name":"org.freebsd.jail.allow.mlock","value":"true"}}]{ports}}}"#,
            id = fx.image,
            conf = conf.path().display(),
        );
        appc::PodManifest::from_slice(text.as_bytes()).unwrap()
    };
    let opts = PodOptions {
        net: "default".into(),
        ..PodOptions::default()
    };
    let rec = jetpack_pod::prepare_with(&engine, &fx.store, &manifest(""), &opts).unwrap();
    jetpack_pod::run_with(&engine, &fx.store, &rec, false).unwrap();
    let spec = engine.specs().pop().expect("one run");
    let dir = fx.pods().dir(&rec.uuid);
    assert_eq!(spec.apps[0].os.as_deref(), Some("linux"));
    assert_eq!(
        spec.volumes,
        [
            VolumeSpec {
                name: "data".into(),
                source: dir.join("volumes/data"),
                read_only: false,
                empty: Some(EmptyVolume {
                    mode: 0o750,
                    uid: 1000,
                    gid: 1000
                }),
            },
            VolumeSpec {
                name: "conf".into(),
                source: conf.path().to_path_buf(),
                read_only: true,
                empty: None,
            }
        ]
    );
    let vols: Vec<_> = spec.apps[0]
        .mounts
        .iter()
        .map(|m| m.volume.clone())
        .collect();
    assert_eq!(vols, [Some("data".into()), Some("conf".into())]);
    assert_eq!(
        spec.annotations,
        [
            ("jetpack/jail.conf/securelevel".into(), "0".into()),
            ("org.freebsd.jail.allow.mlock".into(), "true".into())
        ]
    );
    assert!(spec.ports.is_empty());

    // The spec builder itself, with the manifest's ports.
    let with_ports = manifest(
        r#","ports":[{"name":"http","hostPort":8080,
            "podPort":{"name":"http","protocol":"tcp","port":80,"count":2}}]"#,
    );
    let host = jetpack_pod::isolators::Host::default();
    let (spec, _) =
        jetpack_pod::lifecycle::build_spec(&fx.pods(), &rec, &with_ports, false, &host).unwrap();
    let port = |host_port, pod_port| PortSpec {
        protocol: "tcp".into(),
        host_port,
        pod_port,
    };
    assert_eq!(spec.ports, [port(8080, 80), port(8081, 81)]);

    // The jail plan's input, and the plan from it.
    let pod = jetpack_pod::engine::jail::jail_pod(&spec).unwrap();
    assert_eq!(pod.apps[0].os, Os::Linux);
    assert_eq!(
        pod.volumes[0].kind,
        VolumeKind::Empty {
            mode: 0o750,
            uid: 1000,
            gid: 1000
        }
    );
    assert!(pod.volumes[1].read_only);
    let mounted: Vec<&str> = pod.apps[0]
        .mounts
        .iter()
        .map(|m| m.volume.as_str())
        .collect();
    assert_eq!(mounted, ["data", "conf"]);
    assert_eq!(pod.annotations, spec.annotations);
    assert_eq!(
        (
            pod.ports.len(),
            pod.ports[1].host_port,
            pod.ports[1].pod_port
        ),
        (2, 8081, 81)
    );
    assert!(
        pod.default_capabilities
            .contains(&"CAP_NET_RAW".to_string())
    );
    let addr = std::net::Ipv4Addr::new(172, 23, 0, 2);
    let plan = jetpack_jail::plan(&pod, &jetpack_jail::Settings::default(), Some(addr)).unwrap();
    assert!(plan.fstab.contains(" linprocfs rw 0 0\n"), "{}", plan.fstab);
    assert!(plan.conf.contains("\tsecurelevel = 0;\n"), "{}", plan.conf);
    assert!(plan.pf_rules.contains("8081"), "{}", plan.pf_rules);
    let datasets = jetpack_jail::zfs::volume_datasets("tank/jp", &pod);
    let compact = rec.uuid.replace('-', "");
    assert_eq!(datasets.len(), 1);
    assert_eq!(
        datasets[0].dataset,
        format!("tank/jp/pods/{compact}/volume.0")
    );
    assert_eq!(datasets[0].mountpoint, dir.join("volumes/data"));
}

/// An engine that gives pods their networks itself (jails) gets them by name in the spec:
/// stage0 reads no CNI file (the store has none) and makes no network namespace; `default`
/// becomes an alias on the jail interface with its ports forwarded, `vnet` an epair, `none`
/// no address; any other network is refused at prepare, naming the ones there are.
#[test]
fn an_engine_that_plans_networks_gets_them_by_name() {
    use jetpack_jail::NetMode;

    let fx = Fixture::new();
    let engine = FakeEngine::new().planning_networks();
    let manifest = |ports: &str| {
        let text = format!(
            r#"{{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{{"name":"app",
            "image":{{"id":"{id}","name":"example.com/true"}},
            "app":{{"exec":["/bin/true"],"user":"0","group":"0",
                "ports":[{{"name":"http","protocol":"tcp","port":80}}]}}}}]{ports}}}"#,
            id = fx.image,
        );
        appc::PodManifest::from_slice(text.as_bytes()).unwrap()
    };
    let forwarded = manifest(r#","ports":[{"name":"http","hostPort":8080}]"#);
    let addr = std::net::Ipv4Addr::new(172, 23, 0, 2);
    for (net, m, want) in [
        ("default", &forwarded, NetMode::Alias),
        ("vnet", &manifest(""), NetMode::Vnet),
        ("none", &manifest(""), NetMode::None),
        ("host", &manifest(""), NetMode::Host),
    ] {
        let opts = PodOptions {
            net: net.into(),
            ..PodOptions::default()
        };
        let rec = jetpack_pod::prepare_with(&engine, &fx.store, m, &opts).unwrap();
        jetpack_pod::run_with(&engine, &fx.store, &rec, false).unwrap();
        let spec = engine.specs().pop().expect("one run");
        let named: &[&str] = match net {
            "default" | "vnet" => &[net],
            _ => &[],
        };
        assert_eq!(spec.networks, named, "{net}");
        assert_eq!(spec.netns, None, "{net}");
        let address = spec.address.map(|a| a.to_string());
        let leased = if named.is_empty() {
            None
        } else {
            Some("172.23.0.2")
        };
        assert_eq!(address.as_deref(), leased, "{net}");
        let pod = jetpack_pod::engine::jail::jail_pod(&spec).unwrap();
        assert_eq!(pod.net, want, "{net}");
        let address = matches!(want, NetMode::Alias | NetMode::Vnet).then_some(addr);
        let settings = jetpack_jail::Settings::default();
        let plan = jetpack_jail::plan(&pod, &settings, address).unwrap();
        if net == "default" {
            assert!(plan.pf_rules.contains("8080"), "{}", plan.pf_rules);
            assert!(plan.conf.contains("172.23.0.2"), "{}", plan.conf);
        }
    }
    // The metadata service knows such a pod by its leased address, on the jail subnet's first.
    let nets = jetpack_pod::network::PodNetworks::planned(&fx.store, "default").unwrap();
    let leased = Some(std::net::IpAddr::from([172, 23, 0, 2]));
    match jetpack_pod::metadata::access(&nets, None, leased, fx.store.config()).unwrap() {
        Some(jetpack_pod::metadata::Access::Addresses(ips, service)) => {
            assert_eq!(ips, leased.into_iter().collect::<Vec<_>>());
            assert_eq!(service.ip(), std::net::IpAddr::from([172, 23, 0, 1]));
        }
        _ => panic!("a jail pod on default reaches the service by its address"),
    }

    // No namespace; an address leased for the two pods on a network, given back after.
    let calls = engine.calls();
    assert!(
        !calls.iter().any(|c| matches!(c, Call::CreateNetns(_))),
        "{calls:?}"
    );
    let leased = |f: fn(&Call) -> bool| calls.iter().filter(|c| f(c)).count();
    assert_eq!(
        leased(|c| matches!(c, Call::LeaseAddress(_))),
        2,
        "{calls:?}"
    );
    assert_eq!(
        leased(|c| matches!(c, Call::ReleaseAddress(_))),
        2,
        "{calls:?}"
    );
    for net in ["lan", "default,vnet"] {
        let opts = PodOptions {
            net: net.into(),
            ..PodOptions::default()
        };
        let err = jetpack_pod::prepare_with(&engine, &fx.store, &manifest(""), &opts)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("default (an address on jail.interface) or vnet"),
            "{net}: {err}"
        );
    }
}
