//! A validated registration with every response body computed up front, so
//! that requests are answered from memory (clients time out at 100 ms).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use appc::{Annotations, ImageManifest, PodManifest, Uuid};
use serde_json::Value;

use crate::Registration;

/// A response body shared by all requests.
pub(crate) type Body = Arc<[u8]>;

fn body(b: impl AsRef<[u8]>) -> Body {
    Arc::from(b.as_ref())
}

/// How a request reached the service: what decides which pods' tokens it
/// may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Origin {
    /// The main listener, from this (canonical) source address.
    Address(IpAddr),
    /// The loopback listener, which only the host's network namespace reaches.
    Loopback,
    /// The listener a pod passed with its registration, by its number.
    Listener(u64),
}

pub(crate) struct Pod {
    pub uuid: Uuid,
    pub token: String,
    /// Canonical forms (IPv4-mapped IPv6 addresses as IPv4).
    pub ips: Vec<IpAddr>,
    /// Answered on the loopback listener, by token alone.
    pub token_only: bool,
    /// Answered on this listener of its own (set once the listener is taken).
    pub listener: Option<u64>,
    pub uuid_text: Body,
    pub manifest: Body,
    pub annotations: AnnotationBodies,
    pub apps: HashMap<String, App>,
}

pub(crate) struct App {
    pub annotations: AnnotationBodies,
    pub image_manifest: Body,
    pub image_id: Body,
}

/// An annotation list as JSON, and each value alone (the rkt extension
/// `.../annotations/<name>`).
pub(crate) struct AnnotationBodies {
    pub json: Body,
    pub values: HashMap<String, Body>,
}

impl AnnotationBodies {
    fn new(json: Vec<u8>, list: &Annotations) -> Self {
        Self {
            json: body(json),
            values: list
                .iter()
                .map(|a| (a.name.as_str().to_owned(), body(&a.value)))
                .collect(),
        }
    }
}

fn to_json(a: &Annotations) -> Vec<u8> {
    serde_json::to_vec(a).expect("annotations serialise")
}

/// A token goes into a URL and must be unguessable: at least 32 hex digits.
fn valid_token(t: &str) -> bool {
    t.len() >= 32 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `/pod/annotations` must equal the manifest's `annotations` once both are
/// parsed, and the ACE validator tells `null` from `[]`. Our manifests always
/// carry the list (appc writes `[]`), served with appc's own serialiser; a
/// manifest written elsewhere without the key (or with `null`) gets `null`.
fn pod_annotations_json(raw: &str, pm: &PodManifest) -> Vec<u8> {
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(raw) else {
        return to_json(&pm.annotations);
    };
    // Keys match case-insensitively, the last one wins, as in Go.
    let v = doc
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("annotations"))
        .map(|(_, v)| v)
        .next_back();
    match v {
        None | Some(Value::Null) => b"null".to_vec(),
        Some(_) => to_json(&pm.annotations),
    }
}

impl Pod {
    /// Validates `reg`; the error is the message sent back to the client.
    pub fn build(reg: Registration) -> Result<Pod, String> {
        let uuid: Uuid = reg
            .uuid
            .parse()
            .map_err(|e| format!("uuid {:?}: {e}", reg.uuid))?;
        if !valid_token(&reg.token) {
            return Err("token: must be at least 32 hexadecimal digits".into());
        }
        if reg.token_only && !reg.ips.is_empty() {
            return Err("a token-only pod has no addresses".into());
        }
        let pm = PodManifest::from_slice(reg.pod_manifest.as_bytes())
            .map_err(|e| format!("pod manifest: {e}"))?;
        for a in &reg.apps {
            if pm.app(&a.name).is_none() {
                return Err(format!("app {:?} is not in the pod manifest", a.name));
            }
        }
        let mut apps = HashMap::new();
        for (i, app) in pm.apps.iter().enumerate() {
            let name = app.name.as_str();
            let id = app.image.id.as_ref().ok_or_else(|| {
                format!("pod manifest: apps[{i}].image.id: missing (the manifest must be reified)")
            })?;
            let mut images = reg.apps.iter().filter(|a| a.name == name);
            let (Some(image), None) = (images.next(), images.next()) else {
                return Err(format!("app {name:?}: expected exactly one image manifest"));
            };
            let im = ImageManifest::from_slice(image.image_manifest.as_bytes())
                .map_err(|e| format!("image manifest of app {name:?}: {e}"))?;
            // Image annotations first, the pod app's over them (§10.3).
            let merged = im.annotations.merged(&app.annotations);
            apps.insert(
                name.to_owned(),
                App {
                    annotations: AnnotationBodies::new(to_json(&merged), &merged),
                    image_manifest: body(&image.image_manifest),
                    image_id: body(id.as_str()),
                },
            );
        }
        Ok(Pod {
            uuid,
            ips: reg.ips.iter().map(IpAddr::to_canonical).collect(),
            token_only: reg.token_only,
            listener: None,
            uuid_text: body(uuid.to_string()),
            annotations: AnnotationBodies::new(
                pod_annotations_json(&reg.pod_manifest, &pm),
                &pm.annotations,
            ),
            manifest: body(reg.pod_manifest),
            apps,
            token: reg.token,
        })
    }

    /// Whether `ip` is one of the pod's addresses.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.ips.contains(&ip.to_canonical())
    }

    /// Whether a request that arrived from `origin` may use this pod's
    /// token. Each pod is reachable one way only, so that a token used
    /// through another listener than its pod's is refused.
    pub fn admits(&self, origin: Origin) -> bool {
        match origin {
            Origin::Address(ip) => !self.token_only && self.listener.is_none() && self.allows(ip),
            Origin::Loopback => self.token_only,
            Origin::Listener(id) => self.listener == Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_absent_null_or_list() {
        let pm = PodManifest::new();
        assert_eq!(pod_annotations_json("{}", &pm), b"null");
        assert_eq!(
            pod_annotations_json(r#"{"annotations":null}"#, &pm),
            b"null"
        );
        assert_eq!(pod_annotations_json(r#"{"Annotations":[]}"#, &pm), b"[]");
    }

    #[test]
    fn tokens() {
        assert!(valid_token(&crate::new_token()));
        assert!(valid_token(&"A".repeat(32)));
        assert!(!valid_token(&"a".repeat(31)));
        assert!(!valid_token(&"g".repeat(40)));
    }
}
