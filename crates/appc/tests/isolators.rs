//! Every known isolator reads into its typed form and writes back the same
//! JSON; bad values are rejected with the reference's message.

use appc::Isolator;
use serde_json::{Value, json};

fn parse(v: Value) -> Result<Isolator, String> {
    serde_json::from_value::<Isolator>(v).map_err(|e| e.to_string())
}

#[test]
fn known_isolators_round_trip() {
    let cases = [
        json!({"name": "resource/cpu", "value": {"request": "250m", "limit": "500m"}}),
        json!({"name": "resource/memory", "value": {"limit": 1073741824}}),
        json!({"name": "resource/block-bandwidth", "value": {"default": true, "limit": "2M"}}),
        json!({"name": "resource/block-iops", "value": {"default": true, "limit": 100}}),
        json!({"name": "resource/network-bandwidth", "value": {"default": true, "limit": "1G"}}),
        json!({"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_PONIES"]}}),
        json!({"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_MKNOD"]}}),
        json!({"name": "os/linux/no-new-privileges", "value": false}),
        json!({"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"], "errno": "ENOTSUP"}}),
        json!({"name": "os/linux/seccomp-retain-set", "value": {"set": ["@appc.io/all"]}}),
        json!({"name": "os/linux/selinux-context", "value": {"user": "system_u", "role": "system_r", "type": "t", "level": "s0:c1"}}),
        json!({"name": "os/linux/apparmor-profile", "value": {"profile": "rkt-default"}}),
        json!({"name": "os/linux/oom-score-adj", "value": -1000}),
        json!({"name": "os/linux/cpu-shares", "value": 262144}),
        json!({"name": "os/unix/sysctl", "value": {"net.b": "2", "net.a": "1"}}),
        json!({"name": "example.com/anything", "value": {"Keep": ["as", "is"]}}),
        json!({"name": "example.com/no-value", "value": null}),
    ];
    for case in cases {
        let iso = parse(case.clone()).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(iso.name(), case["name"]);
        assert_eq!(serde_json::to_value(&iso).unwrap(), case);
        assert_eq!(iso.validate(), Ok(()));
    }
}

#[test]
fn keys_of_known_values_fold_but_free_maps_do_not() {
    let iso =
        parse(json!({"Name": "os/linux/apparmor-profile", "VALUE": {"Profile": "p"}})).unwrap();
    assert_eq!(iso, Isolator::ApparmorProfile("p".into()));
    let iso = parse(json!({"name": "os/unix/sysctl", "value": {"Net.X": "1"}})).unwrap();
    assert_eq!(
        serde_json::to_value(&iso).unwrap()["value"],
        json!({"Net.X": "1"})
    );
}

#[test]
fn rejected_values() {
    let cases = [
        (
            json!({"name": "resource/cpu", "value": {"default": true}}),
            "value: default must be false",
        ),
        (
            json!({"name": "resource/memory", "value": "1G"}),
            "value: cannot unmarshal string",
        ),
        (
            json!({"name": "resource/block-bandwidth", "value": {"default": true, "request": "1", "limit": "2"}}),
            "request not supported by this resource, must be empty",
        ),
        (
            json!({"name": "os/linux/capabilities-retain-set", "value": {"set": []}}),
            "value.set: set must be non-empty",
        ),
        (
            json!({"name": "os/linux/capabilities-remove-set", "value": {}}),
            "set must be non-empty",
        ),
        (
            json!({"name": "os/linux/no-new-privileges", "value": "true"}),
            "value: cannot unmarshal string",
        ),
        (
            json!({"name": "os/linux/seccomp-retain-set", "value": {"set": ["x"], "errno": "eperm"}}),
            "errno must start with an 'E' character, got eperm",
        ),
        (
            json!({"name": "os/linux/selinux-context", "value": {"user": "a:b", "role": "r", "type": "t", "level": "l"}}),
            "invalid user value \"a:b\"",
        ),
        (
            json!({"name": "os/linux/apparmor-profile", "value": {"profile": ""}}),
            "invalid profile value \"\"",
        ),
        (
            json!({"name": "os/linux/oom-score-adj", "value": 1001}),
            "must be between -1000 and 1000, got 1001",
        ),
        (
            json!({"name": "os/linux/cpu-shares", "value": 1}),
            "must be between 2 and 262144, got 1",
        ),
        (
            json!({"name": "os/unix/sysctl", "value": ["net.a"]}),
            "value: cannot unmarshal array",
        ),
        (json!({"name": "resource/cpu"}), "value: value must be set"),
        (
            json!({"name": "Bad", "value": 1}),
            "name: ACIdentifier must contain only",
        ),
        (json!({"value": 1}), "name: isolator name must be set"),
    ];
    for (case, want) in cases {
        let e = parse(case.clone()).unwrap_err();
        assert!(e.contains(want), "{case}: {e:?} lacks {want:?}");
    }
}

#[test]
fn validate_list_catches_hand_built_conflicts() {
    let list = [
        Isolator::CapabilitiesRemoveSet(vec!["CAP_KILL".into()]),
        Isolator::CapabilitiesRetainSet(vec!["CAP_CHOWN".into()]),
    ];
    let e = Isolator::validate_list(&list).unwrap_err();
    assert_eq!(e.path(), "[1]");
    assert!(Isolator::OomScoreAdj(2000).validate().is_err());
}

/// An unknown isolator's value is kept as given; a number in it must survive being written
/// and read again (serde_json's default float parsing can be one unit in the last place off).
#[test]
fn image_manifest_with_a_long_float_in_an_unknown_isolator_round_trips() {
    for number in [
        "3333333333333333333333333333333333333333333",
        "-17777770000000000000000000059316810e1",
    ] {
        let text = format!(
            r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x",
                "app":{{"exec":["/x"],"user":"0","group":"0",
                "isolators":[{{"name":"example.com/unknown","value":{{"n":{number}}}}}]}}}}"#
        );
        let m = appc::ImageManifest::from_slice(text.as_bytes()).unwrap();
        let again = appc::ImageManifest::from_slice(m.to_json().as_bytes()).unwrap();
        assert_eq!(again, m, "{number}");
    }
}
