//! Every endpoint: status, exact Content-Type, exact body.

mod common;

use common::*;
use serde_json::Value;

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

#[test]
fn pod_endpoints() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;

    let r = env.get(t, "/pod/uuid");
    assert_eq!((r.status, r.content_type()), (200, TEXT));
    assert_eq!(r.body, UUID.as_bytes());

    let r = env.get(t, "/pod/manifest");
    assert_eq!((r.status, r.content_type()), (200, JSON));
    assert_eq!(r.body, reg.pod_manifest.as_bytes(), "served byte for byte");

    let r = env.get(t, "/pod/annotations");
    assert_eq!((r.status, r.content_type()), (200, JSON));
    assert_eq!(
        r.text(),
        format!(
            r#"[{{"name":"ip-address","value":"10.1.2.3"}},{{"name":"example.com/who","value":"{UUID}"}}]"#
        )
    );
    // Consistent with the manifest's field (§10.3).
    assert_eq!(
        json(&r.body),
        json(reg.pod_manifest.as_bytes())["annotations"]
    );

    let r = env.get(t, "/pod/annotations/ip-address");
    assert_eq!(
        (r.status, r.content_type(), r.text()),
        (200, TEXT, "10.1.2.3")
    );
    // Names may contain a slash, raw or escaped.
    for name in ["example.com/who", "example.com%2Fwho"] {
        let r = env.get(t, &format!("/pod/annotations/{name}"));
        assert_eq!((r.status, r.text()), (200, UUID));
    }
    assert_eq!(env.get(t, "/pod/annotations/nope").status, 404);
}

#[test]
fn app_endpoints_for_every_app() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;

    for (app, fill, image) in [("web", 'a', &reg.apps[0]), ("db", 'b', &reg.apps[1])] {
        let r = env.get(t, &format!("/apps/{app}/image/id"));
        assert_eq!((r.status, r.content_type()), (200, TEXT));
        assert_eq!(r.text(), image_id(fill));

        let r = env.get(t, &format!("/apps/{app}/image/manifest"));
        assert_eq!((r.status, r.content_type()), (200, JSON));
        assert_eq!(r.body, image.image_manifest.as_bytes());
        appc::ImageManifest::from_slice(&r.body).unwrap();
    }

    // Image [a=1, b=2], pod app [c=3, a=9] -> [a=9, b=2, c=3].
    let r = env.get(t, "/apps/web/annotations");
    assert_eq!((r.status, r.content_type()), (200, JSON));
    assert_eq!(
        r.text(),
        r#"[{"name":"a","value":"9"},{"name":"b","value":"2"},{"name":"c","value":"3"}]"#
    );
    let r = env.get(t, "/apps/db/annotations");
    assert_eq!((r.status, r.content_type(), r.text()), (200, JSON, "[]"));

    let r = env.get(t, "/apps/web/annotations/a");
    assert_eq!((r.status, r.content_type(), r.text()), (200, TEXT, "9"));
    let r = env.get(t, "/apps/web/annotations/b");
    assert_eq!(r.text(), "2");
    assert_eq!(env.get(t, "/apps/web/annotations/zz").status, 404);
    assert_eq!(env.get(t, "/apps/db/annotations/a").status, 404);
}

#[test]
fn errors_and_methods() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;

    for path in [
        "/apps/nope/image/id",
        "/apps/web/image",
        "/apps/web/image/id/",
        "/pod/uuid/",
        "/pod",
        "/nothing",
    ] {
        assert_eq!(env.get(t, path).status, 404, "{path}");
    }
    assert_eq!(http(env.addr, "GET", &format!("/{t}"), None).status, 404);
    assert_eq!(
        http(
            env.addr,
            "GET",
            &format!("/{t}/acMetadata/v2/pod/uuid"),
            None
        )
        .status,
        404
    );

    let r = env.post(t, "/pod/uuid", "");
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET, HEAD")));
    let r = env.get(t, "/pod/hmac/sign");
    assert_eq!((r.status, r.header("Allow")), (405, Some("POST")));
    assert_eq!(env.request("DELETE", t, "/pod/manifest", None).status, 405);

    let r = env.request("HEAD", t, "/pod/uuid", None);
    assert_eq!((r.status, r.content_type()), (200, TEXT));
    assert_eq!(r.body, b"");

    // The default body limit is 64 KiB.
    let big = format!("content={}", "x".repeat((64 << 10) - 7));
    assert_eq!(env.post(t, "/pod/hmac/sign", &big).status, 413);
    // Just under the limit is fine.
    let ok = format!("content={}", "x".repeat((64 << 10) - 8));
    assert_eq!(env.post(t, "/pod/hmac/sign", &ok).status, 200);
}

#[test]
fn manifest_without_annotations_serves_null() {
    let env = start(None);
    let mut reg = registration(UUID, vec![LOCALHOST]);
    let mut pm: Value = serde_json::from_str(&reg.pod_manifest).unwrap();
    pm.as_object_mut().unwrap().remove("annotations");
    reg.pod_manifest = pm.to_string();
    let _held = env.register(&reg).unwrap();
    let r = env.get(&reg.token, "/pod/annotations");
    assert_eq!((r.status, r.content_type(), r.text()), (200, JSON, "null"));

    // A manifest written by appc always has the list, `[]` when empty.
    let mut pm = appc::PodManifest::from_slice(reg.pod_manifest.as_bytes()).unwrap();
    pm.annotations = Default::default();
    reg.pod_manifest = pm.to_json();
    reg.uuid = OTHER_UUID.into();
    reg.token = jetpack_mds::new_token();
    let _held2 = env.register(&reg).unwrap();
    let r = env.get(&reg.token, "/pod/annotations");
    assert_eq!(r.text(), "[]");
    assert_eq!(
        json(&r.body),
        json(reg.pod_manifest.as_bytes())["annotations"]
    );
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    use std::io::{BufRead, BufReader, Read, Write};
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let s = std::net::TcpStream::connect(env.addr).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for _ in 0..50 {
        let rq = format!(
            "GET /{}/acMetadata/v1/pod/uuid HTTP/1.1\r\nHost: x\r\n\r\n",
            reg.token
        );
        (&s).write_all(rq.as_bytes()).unwrap();
        let mut len = 0;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        assert_eq!(body, UUID.as_bytes());
    }
}
