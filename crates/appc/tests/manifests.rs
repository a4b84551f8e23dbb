//! Image and pod manifest rules through the public API: paths in errors,
//! deliberate differences from the reference, output form.

use appc::{ImageManifest, Isolator, PodManifest, Quantity, isolator_names};
use serde_json::{Value, json};

fn image(app: Value) -> Result<ImageManifest, appc::Error> {
    let doc = json!({
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "example.com/app",
        "app": app
    });
    ImageManifest::from_slice(doc.to_string().as_bytes())
}

fn app_with_isolators(isolators: Value) -> Value {
    json!({"exec": ["/bin/app"], "user": "0", "group": "0", "isolators": isolators})
}

fn image_err(app: Value) -> String {
    image(app).unwrap_err().to_string()
}

fn pod(doc: Value) -> Result<PodManifest, appc::Error> {
    PodManifest::from_slice(doc.to_string().as_bytes())
}

#[test]
fn errors_name_the_json_path() {
    let e = image_err(app_with_isolators(json!([
        {"name": "resource/cpu", "value": {"limit": "1"}},
        {"name": "resource/memory", "value": {"limit": "1G"}},
        {"name": "resource/memory", "value": {"limit": "1K"}}
    ])));
    assert_eq!(
        e,
        "app.isolators[2].value.limit: unable to parse quantity's suffix"
    );
    let e = image_err(app_with_isolators(json!([
        {"name": "resource/block-iops", "value": {"limit": 5}}
    ])));
    assert_eq!(e, "app.isolators[0].value: default must be true");
    let e = image_err(app_with_isolators(json!([
        {"name": "os/linux/selinux-context", "value": {"user": "u", "role": "r", "type": "t"}}
    ])));
    assert_eq!(e, "app.isolators[0].value.level: invalid level value \"\"");
    let e = image_err(
        json!({"user": "0", "group": "0", "environment": [{"name": "A"}, {"name": "1B"}]}),
    );
    assert_eq!(
        e,
        "app.environment[1].name: environment variable does not have valid identifier \"1B\""
    );
    let e = ImageManifest::from_slice(br#"{"acKind": "ImageManifest", "acVersion": "0.8.11"}"#)
        .unwrap_err();
    assert_eq!(e.to_string(), "name: name must be set");
    let e = ImageManifest::from_slice(b"{nope").unwrap_err();
    assert!(e.to_string().starts_with("invalid JSON"), "{e}");
    let e = ImageManifest::from_slice(b"[]").unwrap_err();
    assert!(e.message().contains("array"), "{e}");
}

#[test]
fn unknown_app_isolator_is_kept_raw() {
    let m = image(app_with_isolators(json!([
        {"name": "example.com/unknown", "value": {"Any": [1, 2]}},
        {"name": "example.com/unknown", "value": 3}
    ])))
    .unwrap();
    let isolators = &m.app.as_ref().unwrap().isolators;
    assert!(!isolators[0].is_known());
    assert_eq!(isolators[0].name(), "example.com/unknown");
    let out: Value = serde_json::from_str(&m.to_json_pretty()).unwrap();
    assert_eq!(out["app"]["isolators"][0]["value"], json!({"Any": [1, 2]}));
}

#[test]
fn capability_sets_cannot_be_combined() {
    let e = image_err(app_with_isolators(json!([
        {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_KILL"]}},
        {"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_MKNOD"]}}
    ])));
    assert!(
        e.starts_with("app.isolators[1]: isolators set contains incompatible types"),
        "{e}"
    );
    let e = image_err(app_with_isolators(json!([
        {"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}},
        {"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"]}}
    ])));
    assert!(e.contains("incompatible types"), "{e}");
    // Several capability sets of one kind are fine, as in the reference.
    assert!(
        image(app_with_isolators(json!([
            {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_KILL"]}},
            {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_CHOWN"]}}
        ])))
        .is_ok()
    );
}

#[test]
fn mount_point_path_is_required_and_absolute() {
    for mp in [
        json!({"name": "ab"}),
        json!({"name": "ab", "path": "var/x"}),
    ] {
        let e = image_err(json!({"user": "0", "group": "0", "mountPoints": [mp]}));
        assert!(e.starts_with("app.mountPoints[0].path: "), "{e}");
    }
}

#[test]
fn seccomp_errno_is_shape_checked_only() {
    let ok = |errno: &str| {
        image(app_with_isolators(json!([
            {"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"], "errno": errno}}
        ])))
    };
    assert!(ok("EACCESS").is_ok());
    assert!(ok("E2BIG").is_ok());
    assert!(ok("").is_ok());
    assert!(ok("EPERm").unwrap_err().to_string().contains("upper case"));
    assert!(
        ok("PERM")
            .unwrap_err()
            .to_string()
            .contains("must start with an 'E'")
    );
}

#[test]
fn resource_values() {
    let m = image(app_with_isolators(json!([
        {"name": "resource/cpu", "value": {"request": "250m", "Limit": 2}},
        {"name": "resource/network-bandwidth", "value": {"default": true, "limit": "1G"}}
    ])))
    .unwrap();
    let isolators = &m.app.as_ref().unwrap().isolators;
    let Isolator::ResourceCpu(cpu) = &isolators[0] else {
        panic!("{:?}", isolators[0]);
    };
    assert_eq!(
        cpu.request.as_ref().and_then(Quantity::milli_value),
        Some(250)
    );
    assert_eq!(
        cpu.limit.as_ref().and_then(Quantity::milli_value),
        Some(2000)
    );
    assert_eq!(
        isolators[1].name(),
        isolator_names::RESOURCE_NETWORK_BANDWIDTH
    );
    let e = image_err(app_with_isolators(json!([
        {"name": "resource/memory", "value": {"limit": "-1"}}
    ])));
    assert_eq!(
        e,
        "app.isolators[0].value.limit: limit must not be negative"
    );
}

#[test]
fn single_instance_isolators() {
    for (name, value) in [
        ("os/linux/oom-score-adj", json!(1)),
        ("os/linux/cpu-shares", json!(2)),
        ("os/linux/apparmor-profile", json!({"profile": "p"})),
    ] {
        let e = image_err(app_with_isolators(json!([
            {"name": name, "value": value},
            {"name": name, "value": value}
        ])));
        assert!(e.contains("too many instances"), "{name}: {e}");
    }
    assert!(
        image_err(app_with_isolators(
            json!([{"name": "os/linux/cpu-shares", "value": 1.5}])
        ))
        .contains("app.isolators[0].value")
    );
}

#[test]
fn ports_default_and_always_write_count() {
    let m = image(json!({
        "user": "0", "group": "0",
        "ports": [{"name": "p", "protocol": "udp", "port": 100, "count": 0}]
    }))
    .unwrap();
    let out: Value = serde_json::from_str(&m.to_json()).unwrap();
    assert_eq!(
        out["app"]["ports"][0],
        json!({"name": "p", "protocol": "udp", "port": 100, "count": 1, "socketActivated": false})
    );
    assert!(
        image_err(json!({"user": "0", "group": "0", "ports": [{"name": "p", "port": 65536}]}))
            .contains("port must be in 1-65535 range")
    );
    assert!(image(json!({"user": "0", "group": "0", "ports": [{"name": "p", "port": 65000, "count": 536}]})).is_ok());
}

#[test]
fn image_output_order_and_omissions() {
    let doc = json!({
        "pathWhitelist": ["/x"],
        "dependencies": [{"imageName": "b", "size": 0}],
        "annotations": [{"name": "a", "value": "1"}],
        "app": {"user": "0", "group": "0"},
        "labels": [{"name": "version", "value": "1"}],
        "name": "example.com/app",
        "acVersion": "0.8.11",
        "acKind": "ImageManifest"
    });
    let m = ImageManifest::from_slice(doc.to_string().as_bytes()).unwrap();
    let out = m.to_json();
    let keys = [
        "acKind",
        "acVersion",
        "name",
        "labels",
        "app",
        "annotations",
        "dependencies",
        "pathWhitelist",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| out.find(&format!("\"{k}\"")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert!(out.contains(r#""exec":null"#), "{out}");
    assert!(!out.contains("size"), "{out}");
    let minimal = ImageManifest::new("example.com/x".parse().unwrap());
    assert_eq!(
        minimal.to_json(),
        r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x"}"#
    );
}

#[test]
fn serde_deserialize_matches_from_slice() {
    let doc = r#"{"ACKIND":"ImageManifest","acversion":"0.8.11","Name":"a","App":{"User":"0","Group":"0","supplementaryGids":[5]}}"#;
    let a: ImageManifest = serde_json::from_str(doc).unwrap();
    let b = ImageManifest::from_slice(doc.as_bytes()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.app.unwrap().supplementary_gids, [5]);
    let e = serde_json::from_str::<ImageManifest>(
        r#"{"acKind":"ImageManifest","acVersion":"0.8","name":"a"}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("acVersion: SemVer is bad"), "{e}");
}

#[test]
fn pod_rules() {
    let id = "sha512-8d3fffddf79e9a232ffd19f9ccaa4d6b37a6a243dbe0f23137b108a043d9da13121a9b505c804956b22e93c7f93969f4a7ba8ddea45bf4aab0bebc8f814e0990";
    let e = pod(json!({"acKind": "PodManifest"})).unwrap_err();
    assert_eq!(e.to_string(), "acVersion: acVersion must be set");
    let e = pod(json!({"acKind": "PodManifest", "acVersion": "0.8.11",
        "apps": [{"name": "a", "image": {"id": id}}, {"name": "a", "image": {"id": id}}]}))
    .unwrap_err();
    assert_eq!(e.to_string(), "apps[1].name: duplicate apps of name \"a\"");
    let e = pod(json!({"acKind": "PodManifest", "acVersion": "0.8.11",
        "apps": [{"name": "a", "image": {"id": id}, "mounts": [{"volume": "v"}]}]}))
    .unwrap_err();
    assert_eq!(e.to_string(), "apps[0].mounts[0].path: path must be set");
    let e = pod(json!({"acKind": "PodManifest", "acVersion": "0.8.11",
        "isolators": [{"name": "os/unix/sysctl", "value": {}}, {"name": "os/unix/sysctl", "value": {}}]}))
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("isolators[1]: isolators set contains too many instances")
    );
    let e = pod(json!({"acKind": "ImageManifest", "acVersion": "0.8.11"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "acKind: missing or bad ACKind (must be \"PodManifest\")"
    );

    let p = pod(json!({"acKind": "PodManifest", "acVersion": "0.8.11",
        "ports": [{"name": "http", "hostPort": 8080, "hostIP": "::1", "podPort": {"name": "http", "port": 80, "protocol": "tcp"}}]}))
    .unwrap();
    let out: Value = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(out["ports"][0]["hostIP"], "::1");
    assert_eq!(out["ports"][0]["podPort"]["count"], 1);
    assert_eq!(out["annotations"], json!([]));
    assert!(out.get("userLabels").is_none());
    assert!(
        pod(json!({"acKind": "PodManifest", "acVersion": "0.8.11",
        "ports": [{"name": "http", "hostPort": 0}]}))
        .is_err()
    );
}
