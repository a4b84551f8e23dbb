//! Case-insensitive JSON keys, as Go's `encoding/json` matches them.
//!
//! The reference implementation accepts `{"ACKIND": …, "App": {"Exec": …}}`
//! and the spec's own example spells `supplementaryGids`. Before a document is
//! read, the keys of every object whose structure is known are rewritten to
//! their canonical spelling. Keys of free-form maps (`userAnnotations`,
//! `userLabels`, unknown isolator values, sysctl keys) are never touched.
//! When two keys fold to the same field, the later one wins, as in Go.

use serde_json::{Map, Value};

/// What the normaliser knows about a JSON value.
pub(crate) enum Shape {
    /// Scalar, free-form map or anything else left as is.
    Leaf,
    /// An object with these canonical keys and the shapes of their values.
    Object(&'static [(&'static str, Shape)]),
    /// An array whose elements all have this shape.
    List(&'static Shape),
    /// `{"name", "value"}` where the value's shape depends on the name.
    Isolator,
}

use Shape::{Isolator, Leaf, List, Object};

pub(crate) const NAME_VALUE: Shape = Object(&[("name", Leaf), ("value", Leaf)]);
pub(crate) const LABELS: Shape = List(&NAME_VALUE);
pub(crate) const ISOLATORS: Shape = List(&Isolator);

pub(crate) const PORT: Shape = Object(&[
    ("name", Leaf),
    ("protocol", Leaf),
    ("port", Leaf),
    ("count", Leaf),
    ("socketActivated", Leaf),
]);

pub(crate) const APP: Shape = Object(&[
    ("exec", Leaf),
    (
        "eventHandlers",
        List(&Object(&[("name", Leaf), ("exec", Leaf)])),
    ),
    ("user", Leaf),
    ("group", Leaf),
    ("supplementaryGIDs", Leaf),
    ("workingDirectory", Leaf),
    ("environment", LABELS),
    ("isolators", ISOLATORS),
    (
        "mountPoints",
        List(&Object(&[
            ("name", Leaf),
            ("path", Leaf),
            ("readOnly", Leaf),
        ])),
    ),
    ("ports", List(&PORT)),
    ("userAnnotations", Leaf),
    ("userLabels", Leaf),
]);

pub(crate) const DEPENDENCY: Shape = Object(&[
    ("imageName", Leaf),
    ("imageID", Leaf),
    ("labels", LABELS),
    ("size", Leaf),
]);

pub(crate) const IMAGE_MANIFEST: Shape = Object(&[
    ("acKind", Leaf),
    ("acVersion", Leaf),
    ("name", Leaf),
    ("labels", LABELS),
    ("app", APP),
    ("dependencies", List(&DEPENDENCY)),
    ("pathWhitelist", Leaf),
    ("annotations", LABELS),
]);

pub(crate) const VOLUME: Shape = Object(&[
    ("name", Leaf),
    ("kind", Leaf),
    ("source", Leaf),
    ("readOnly", Leaf),
    ("recursive", Leaf),
    ("mode", Leaf),
    ("uid", Leaf),
    ("gid", Leaf),
]);

pub(crate) const MOUNT: Shape = Object(&[("volume", Leaf), ("path", Leaf), ("appVolume", VOLUME)]);

pub(crate) const RUNTIME_APP: Shape = Object(&[
    ("name", Leaf),
    (
        "image",
        Object(&[("name", Leaf), ("id", Leaf), ("labels", LABELS)]),
    ),
    ("app", APP),
    ("readOnlyRootFS", Leaf),
    ("mounts", List(&MOUNT)),
    ("annotations", LABELS),
]);

pub(crate) const EXPOSED_PORT: Shape = Object(&[
    ("name", Leaf),
    ("hostPort", Leaf),
    ("hostIP", Leaf),
    ("podPort", PORT),
]);

pub(crate) const POD_MANIFEST: Shape = Object(&[
    ("acVersion", Leaf),
    ("acKind", Leaf),
    ("apps", List(&RUNTIME_APP)),
    ("volumes", List(&VOLUME)),
    ("isolators", ISOLATORS),
    ("annotations", LABELS),
    ("ports", List(&EXPOSED_PORT)),
    ("userAnnotations", Leaf),
    ("userLabels", Leaf),
]);

const ISOLATOR: Shape = Object(&[("name", Leaf), ("value", Leaf)]);
const RESOURCE: Shape = Object(&[("default", Leaf), ("request", Leaf), ("limit", Leaf)]);
const SET: Shape = Object(&[("set", Leaf)]);
const SECCOMP: Shape = Object(&[("set", Leaf), ("errno", Leaf)]);
const SELINUX: Shape = Object(&[
    ("user", Leaf),
    ("role", Leaf),
    ("type", Leaf),
    ("level", Leaf),
]);
const APPARMOR: Shape = Object(&[("profile", Leaf)]);

/// Shape of a known isolator's value; unknown ones and bare values are leaves.
fn isolator_value(name: &str) -> &'static Shape {
    match name {
        "resource/cpu"
        | "resource/memory"
        | "resource/block-bandwidth"
        | "resource/block-iops"
        | "resource/network-bandwidth" => &RESOURCE,
        "os/linux/capabilities-retain-set" | "os/linux/capabilities-remove-set" => &SET,
        "os/linux/seccomp-remove-set" | "os/linux/seccomp-retain-set" => &SECCOMP,
        "os/linux/selinux-context" => &SELINUX,
        "os/linux/apparmor-profile" => &APPARMOR,
        _ => &Leaf,
    }
}

/// Go's `strings.EqualFold` against an ASCII canonical key, including the two
/// non-ASCII runes that fold onto ASCII letters (long s and the Kelvin sign).
fn folds_to(key: &str, canonical: &str) -> bool {
    let mut want = canonical.chars();
    for c in key.chars() {
        let c = match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        };
        match want.next() {
            Some(w) if w.to_ascii_lowercase() == c => {}
            _ => return false,
        }
    }
    want.next().is_none()
}

/// Rewrites the keys of `v` (recursively) to the canonical names of `shape`.
pub(crate) fn normalise(v: &mut Value, shape: &Shape) {
    match (shape, v) {
        (Object(fields), Value::Object(map)) => normalise_object(map, fields),
        (List(item), Value::Array(items)) => items.iter_mut().for_each(|x| normalise(x, item)),
        (Isolator, v @ Value::Object(_)) => {
            normalise(v, &ISOLATOR);
            let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
            let shape = isolator_value(name);
            if let Some(value) = v.get_mut("value") {
                normalise(value, shape);
            }
        }
        _ => {}
    }
}

fn normalise_object(map: &mut Map<String, Value>, fields: &[(&str, Shape)]) {
    let old = std::mem::take(map);
    for (key, mut value) in old {
        // An exact match wins over a folded one; either way the last key in
        // the document that lands on a field provides its value.
        let field = fields
            .iter()
            .find(|(name, _)| *name == key)
            .or_else(|| fields.iter().find(|(name, _)| folds_to(&key, name)));
        match field {
            Some((name, shape)) => {
                normalise(&mut value, shape);
                map.insert((*name).to_owned(), value);
            }
            None => {
                map.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn folds_like_go() {
        assert!(folds_to("ACKIND", "acKind"));
        assert!(folds_to("supplementaryGids", "supplementaryGIDs"));
        assert!(folds_to("\u{17F}et", "set"));
        assert!(!folds_to("acKin", "acKind"));
        assert!(!folds_to("acKinds", "acKind"));
    }

    #[test]
    fn rewrites_known_keys_only() {
        let mut v = json!({
            "ACKIND": "ImageManifest",
            "App": {
                "Exec": ["/x"],
                "USERANNOTATIONS": {"Any Key": "v"},
                "Isolators": [
                    {"NAME": "resource/cpu", "Value": {"LIMIT": "1"}},
                    {"name": "example.com/x", "value": {"KeepMe": 1}},
                    {"name": "os/unix/sysctl", "value": {"Net.X": "1"}}
                ]
            },
            "Bogus": 1
        });
        normalise(&mut v, &IMAGE_MANIFEST);
        assert_eq!(
            v,
            json!({
                "acKind": "ImageManifest",
                "app": {
                    "exec": ["/x"],
                    "userAnnotations": {"Any Key": "v"},
                    "isolators": [
                        {"name": "resource/cpu", "value": {"limit": "1"}},
                        {"name": "example.com/x", "value": {"KeepMe": 1}},
                        {"name": "os/unix/sysctl", "value": {"Net.X": "1"}}
                    ]
                },
                "Bogus": 1
            })
        );
    }

    #[test]
    fn last_key_wins() {
        let mut v = json!({"name": "a", "NAME": "b"});
        normalise(&mut v, &NAME_VALUE);
        assert_eq!(v, json!({"name": "b"}));
    }
}
