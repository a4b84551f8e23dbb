//! The metadata service's HTTP front: one connection's bytes read, parsed, routed and answered
//! as a TCP connection's are (`jetpack_mds::fuzzing`), with two pods registered: one reached
//! from its address (token `POD_TOKEN`), one by token alone on the loopback listener
//! (`HOST_TOKEN`).
//!
//! The first input byte chooses where the request comes from (low two bits: the pod's address,
//! the loopback listener, another address) and how many bytes each read returns (the rest:
//! 1 + n); the remaining bytes are what the client sent. Every answer is a complete HTTP/1.1
//! response, and none is an internal error.
#![no_main]

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use jetpack_mds::fuzzing::Service;
use jetpack_mds::{AppImage, HostKey, Limits, Registration};
use libfuzzer_sys::fuzz_target;

const POD_TOKEN: &str = "0123456789abcdef0123456789abcdef";
const HOST_TOKEN: &str = "fedcba9876543210fedcba9876543210";
const POD_IP: [u8; 4] = [10, 1, 2, 3];

fn pod_manifest(uuid: &str) -> String {
    let id = |c: char| format!("sha512-{}", c.to_string().repeat(128));
    format!(
        r#"{{"acVersion":"0.8.11","acKind":"PodManifest","apps":[
{{"name":"web","image":{{"name":"example.com/web","id":"{}"}},
  "app":{{"exec":["/bin/web"],"user":"0","group":"0"}},
  "annotations":[{{"name":"c","value":"3"}}]}}],
"volumes":[],"isolators":[],"annotations":[{{"name":"example.com/who","value":"{uuid}"}}],"ports":[]}}"#,
        id('a')
    )
}

fn registration(uuid: &str, token: &str, ips: Vec<IpAddr>) -> Registration {
    Registration {
        uuid: uuid.into(),
        token: token.into(),
        token_only: ips.is_empty(),
        ips,
        pod_manifest: pod_manifest(uuid),
        apps: vec![AppImage {
            name: "web".into(),
            image_manifest: r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/web","annotations":[{"name":"a","value":"1"}]}"#.into(),
        }],
    }
}

static SERVICE: LazyLock<Service> = LazyLock::new(|| {
    let pods = vec![
        registration(
            "6733c088-a507-4694-aabf-edbe4fc5266f",
            POD_TOKEN,
            vec![IpAddr::from(POD_IP)],
        ),
        registration("0f4c7e2a-95b1-4d3e-8a6f-2c9d1e7b3a50", HOST_TOKEN, vec![]),
    ];
    // Small head and body limits, so that inputs of a few KiB reach them.
    let limits = Limits {
        max_head: 1024,
        max_body: 2048,
        idle_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    Service::new(pods, HostKey::from_bytes([7; jetpack_mds::KEY_LEN]), limits)
        .expect("registering the fuzz pods")
});

fuzz_target!(|data: &[u8]| {
    let Some((&how, input)) = data.split_first() else {
        return;
    };
    let source = match how & 3 {
        0 => Some(IpAddr::from(POD_IP)),
        1 => None,
        _ => Some(IpAddr::from([10, 9, 9, 9])),
    };
    let chunk = 1 + usize::from(how >> 2);
    let out = SERVICE.serve(input, chunk, source);
    if out.is_empty() {
        return;
    }
    assert!(out.starts_with(b"HTTP/1.1 "), "not an HTTP answer");
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("HTTP/1.1 500 "), "internal error:\n{text}");
    // No body served here contains "HTTP/1.1 ": each occurrence starts an answer.
    for (i, _) in text.match_indices("HTTP/1.1 ") {
        let head = &text[i..];
        let Some(end) = head.find("\r\n\r\n") else {
            panic!("answer without the end of its head:\n{text}");
        };
        let status = &head[9..12];
        assert!(
            status.bytes().all(|b| b.is_ascii_digit()),
            "status {status:?}"
        );
        if status != "100" {
            assert!(
                head[..end].contains("\r\nContent-Length: "),
                "no length:\n{text}"
            );
        }
    }
});
