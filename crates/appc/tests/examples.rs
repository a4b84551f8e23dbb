//! The spec's example manifests survive parse → serialise → parse.

use std::path::PathBuf;

use appc::{EventName, ImageManifest, Isolator, PodManifest, VolumeKind};
use serde_json::Value;

fn example(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/examples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn as_value(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

#[test]
fn image_example_round_trip() {
    let m = ImageManifest::from_slice(&example("image.json")).unwrap();
    assert_eq!(m.name.as_str(), "example.com/reduce-worker");
    assert_eq!(m.labels.get("os"), Some("linux"));
    let app = m.app.as_ref().unwrap();
    assert_eq!(app.exec, ["/usr/bin/reduce-worker", "--quiet"]);
    assert!(app.event_handler(EventName::PreStart).is_some());
    assert_eq!(app.isolators.len(), 5);
    assert!(app.isolators.iter().all(Isolator::is_known));
    let Isolator::SeccompRemoveSet(seccomp) = &app.isolators[4] else {
        panic!("expected a seccomp remove set, got {:?}", app.isolators[4]);
    };
    assert_eq!(seccomp.errno.as_deref(), Some("EACCESS"));
    assert!(app.ports[0].socket_activated);
    assert_eq!(app.ports[0].count, 1);
    // The example's dependency ID is a placeholder, which the reference
    // accepts as well.
    let dep_id = m.dependencies[0].image_id.as_ref().unwrap();
    assert_eq!(dep_id.as_str(), "sha512-...");
    assert!(!dep_id.is_full());
    assert_eq!(m.path_whitelist.len(), 5);
    assert_eq!(
        m.annotations.get("documentation"),
        Some("https://example.com/docs")
    );

    let out = m.to_json_pretty();
    let again = ImageManifest::from_slice(out.as_bytes()).unwrap();
    assert_eq!(again, m);
    assert_eq!(as_value(&again.to_json_pretty()), as_value(&out));
}

#[test]
fn pod_runtime_example_round_trip() {
    let p = PodManifest::from_slice(&example("pod_runtime.json")).unwrap();
    assert_eq!(p.apps.len(), 3);
    assert!(
        p.apps
            .iter()
            .all(|a| a.image.id.as_ref().is_some_and(|id| id.is_full()))
    );
    assert_eq!(p.app("backup").unwrap().mounts.len(), 2);
    let db = p.volume("dbvolume").unwrap();
    assert!(db.is_read_only());
    assert_eq!(
        db.kind,
        VolumeKind::Host {
            source: "/opt/tenant1/database".into()
        }
    );
    assert_eq!(
        p.volume("buildoutput").unwrap().kind,
        VolumeKind::Empty {
            mode: 0o777,
            uid: 0,
            gid: 0
        }
    );
    assert!(
        matches!(p.isolators[1], Isolator::Sysctl(ref m) if m["net.ipv4.tcp_fin_timeout"] == "6")
    );
    assert_eq!(p.annotations.get("ip-address"), Some("10.1.2.3"));

    let out = p.to_json_pretty();
    let again = PodManifest::from_slice(out.as_bytes()).unwrap();
    assert_eq!(again, p);
    assert_eq!(as_value(&again.to_json_pretty()), as_value(&out));
}

#[test]
fn pod_template_example_round_trip() {
    let p = PodManifest::from_slice(&example("pod_template.json")).unwrap();
    assert_eq!(p.ac_version.as_str(), "0.3.0");
    assert!(p.apps[0].image.id.is_some());
    assert!(p.apps[1].image.id.is_none());
    assert_eq!(p.apps[2].image.labels.get("version"), Some("3.0.0"));

    let out = p.to_json_pretty();
    let v = as_value(&out);
    assert!(v["apps"][1]["image"].get("id").is_none());
    assert_eq!(PodManifest::from_slice(out.as_bytes()).unwrap(), p);
}
