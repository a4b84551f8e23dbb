//! The HTTP side: `/<token>/acMetadata/v1/<path>` (digest §10.2, §10.3).

use std::sync::Arc;

use appc::Uuid;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::form;
use crate::key::HostKey;
use crate::pod::{AnnotationBodies, Body, Origin, Pod};
use crate::registry::Registry;

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=us-ascii";

/// A response: status, whether the body is JSON (else ASCII text), body,
/// and the methods allowed (for 405).
pub(crate) struct Reply {
    pub status: u16,
    pub json: bool,
    pub body: Body,
    pub allow: Option<&'static str>,
}

impl Reply {
    fn ok(json: bool, body: &Body) -> Self {
        Self {
            status: 200,
            json,
            body: body.clone(),
            allow: None,
        }
    }

    pub(crate) fn text(status: u16, msg: &str) -> Self {
        Self {
            status,
            json: false,
            body: Arc::from(msg.as_bytes()),
            allow: None,
        }
    }

    pub(crate) fn content_type(&self) -> &'static str {
        if self.json { JSON } else { TEXT }
    }
}

/// The same answer for an unknown token and a wrong source address, so
/// that a pod learns nothing about the others.
fn unauthorized() -> Reply {
    Reply::text(401, "unauthorized")
}

fn not_found() -> Reply {
    Reply::text(404, "not found")
}

enum Route<'a> {
    PodAnnotations,
    PodAnnotation(&'a str),
    PodManifest,
    PodUuid,
    Sign,
    Verify,
    AppAnnotations(&'a str),
    AppAnnotation(&'a str, &'a str),
    AppManifest(&'a str),
    AppImageId(&'a str),
}

impl<'a> Route<'a> {
    /// `path` is what follows `acMetadata/v1/`.
    fn parse(path: &'a str) -> Option<Self> {
        Some(match path {
            "pod/annotations" => Route::PodAnnotations,
            "pod/manifest" => Route::PodManifest,
            "pod/uuid" => Route::PodUuid,
            "pod/hmac/sign" => Route::Sign,
            "pod/hmac/verify" => Route::Verify,
            _ => {
                if let Some(name) = path.strip_prefix("pod/annotations/") {
                    // Annotation names are AC Identifiers and may contain `/`.
                    return Some(Route::PodAnnotation(name)).filter(|_| !name.is_empty());
                }
                let (app, rest) = path.strip_prefix("apps/")?.split_once('/')?;
                match rest {
                    "annotations" => Route::AppAnnotations(app),
                    "image/manifest" => Route::AppManifest(app),
                    "image/id" => Route::AppImageId(app),
                    _ => {
                        let name = rest.strip_prefix("annotations/")?;
                        return Some(Route::AppAnnotation(app, name)).filter(|_| !name.is_empty());
                    }
                }
            }
        })
    }

    fn is_post(&self) -> bool {
        matches!(self, Route::Sign | Route::Verify)
    }
}

/// The answer to a request for `target` (the request-target as sent),
/// with `body` already read within limits, arrived from `origin`.
pub(crate) fn answer(
    method: &str,
    target: &str,
    body: &[u8],
    origin: Origin,
    reg: &Registry,
    key: &HostKey,
) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path.strip_prefix('/').unwrap_or(path);
    let (token, rest) = path.split_once('/').unwrap_or((path, ""));
    let Some(pod) = reg.get(token).filter(|p| p.admits(origin)) else {
        return unauthorized();
    };
    let Some(route) = rest.strip_prefix("acMetadata/v1/").and_then(Route::parse) else {
        return not_found();
    };
    let method_ok = match method {
        "POST" => route.is_post(),
        "GET" | "HEAD" => !route.is_post(),
        _ => false,
    };
    if !method_ok {
        return Reply {
            allow: Some(if route.is_post() { "POST" } else { "GET, HEAD" }),
            ..Reply::text(405, "method not allowed")
        };
    }
    if route.is_post() {
        return post(&route, &pod, key, body, query.as_bytes());
    }
    get(&route, &pod).unwrap_or_else(not_found)
}

fn get(route: &Route<'_>, pod: &Pod) -> Option<Reply> {
    let app = |name: &str| pod.apps.get(name);
    let value = |a: &AnnotationBodies, name: &str| {
        let name = form::decode_path(name)?;
        a.values.get(&name).map(|v| Reply::ok(false, v))
    };
    Some(match *route {
        Route::PodAnnotations => Reply::ok(true, &pod.annotations.json),
        Route::PodAnnotation(name) => value(&pod.annotations, name)?,
        Route::PodManifest => Reply::ok(true, &pod.manifest),
        Route::PodUuid => Reply::ok(false, &pod.uuid_text),
        Route::AppAnnotations(a) => Reply::ok(true, &app(a)?.annotations.json),
        Route::AppAnnotation(a, name) => value(&app(a)?.annotations, name)?,
        Route::AppManifest(a) => Reply::ok(true, &app(a)?.image_manifest),
        Route::AppImageId(a) => Reply::ok(false, &app(a)?.image_id),
        Route::Sign | Route::Verify => return None,
    })
}

/// A form field from the body, else from the query string (as Go's
/// `FormValue`, which rkt used).
fn field(name: &str, body: &[u8], query: &[u8]) -> Result<Vec<u8>, Reply> {
    let bad = |why: String| Reply::text(400, &why);
    match form::field(body, name).map_err(bad)? {
        Some(v) => Ok(v),
        None => form::field(query, name)
            .map_err(bad)?
            .ok_or_else(|| bad(format!("missing form field {name:?}"))),
    }
}

fn post(route: &Route<'_>, pod: &Pod, key: &HostKey, body: &[u8], query: &[u8]) -> Reply {
    let result = || -> Result<Reply, Reply> {
        let content = field("content", body, query)?;
        if let Route::Sign = route {
            let sig = key.sign(pod.uuid.as_bytes(), &content);
            return Ok(Reply::ok(false, &Arc::from(sig.as_bytes())));
        }
        // Any pod's UUID, registered or not: that is how pods check each
        // other's signatures.
        let uuid = field("uuid", body, query)?;
        let uuid: Uuid = std::str::from_utf8(&uuid)
            .ok()
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| Reply::text(400, "invalid uuid"))?;
        let sig = field("signature", body, query)?;
        let sig = STANDARD
            .decode(&sig)
            .map_err(|_| Reply::text(400, "signature is not base64"))?;
        Ok(if key.verify_raw(uuid.as_bytes(), &content, &sig) {
            Reply::text(200, "")
        } else {
            Reply::text(403, "signature mismatch")
        })
    };
    result().unwrap_or_else(|r| r)
}
