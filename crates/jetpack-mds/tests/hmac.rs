//! `/pod/hmac/sign` and `/pod/hmac/verify`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;

/// Form-encodes every byte, so binary content goes through unchanged.
fn enc(b: &[u8]) -> String {
    b.iter().map(|x| format!("%{x:02X}")).collect()
}

fn uuid_bytes(u: &str) -> [u8; 16] {
    *u.parse::<appc::Uuid>().unwrap().as_bytes()
}

#[test]
fn sign_verify_round_trip() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;
    let content = b"hello \x00\xff world+&=";

    let r = env.post(t, "/pod/hmac/sign", &format!("content={}", enc(content)));
    assert_eq!((r.status, r.content_type()), (200, TEXT));
    let sig = r.text().to_owned();
    assert_eq!(
        STANDARD.decode(&sig).unwrap().len(),
        64,
        "base64 of 64 bytes"
    );
    assert!(sig.ends_with('='), "padded");

    let verify = |content: &[u8], uuid: &str, sig: &str| {
        let form = format!(
            "content={}&uuid={uuid}&signature={}",
            enc(content),
            enc(sig.as_bytes())
        );
        env.post(t, "/pod/hmac/verify", &form)
    };
    let r = verify(content, UUID, &sig);
    assert_eq!((r.status, r.content_type(), r.text()), (200, TEXT, ""));
    // Upper-case or undashed UUIDs name the same pod.
    assert_eq!(
        verify(content, &UUID.to_uppercase().replace('-', ""), &sig).status,
        200
    );
    assert_eq!(verify(content, OTHER_UUID, &sig).status, 403);
    assert_eq!(verify(b"hello \x00\xff world+&!", UUID, &sig).status, 403);
    let mut bad = STANDARD.decode(&sig).unwrap();
    bad[0] ^= 1;
    assert_eq!(verify(content, UUID, &STANDARD.encode(&bad)).status, 403);

    // Malformed input is 400.
    assert_eq!(verify(content, "not-a-uuid", &sig).status, 400);
    assert_eq!(verify(content, UUID, "***").status, 400);
    let r = env.post(
        t,
        "/pod/hmac/verify",
        &format!("uuid={UUID}&signature={}", enc(sig.as_bytes())),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        env.post(t, "/pod/hmac/verify", &format!("content=x&uuid={UUID}"))
            .status,
        400
    );
    assert_eq!(env.post(t, "/pod/hmac/sign", "other=1").status, 400);
    assert_eq!(env.post(t, "/pod/hmac/sign", "content=%zz").status, 400);
}

#[test]
fn a_pod_verifies_another_pods_signature() {
    let env = start(None);
    let a = registration(UUID, vec![LOCALHOST]);
    let b = registration(OTHER_UUID, vec![LOCALHOST]);
    let (_ha, _hb) = (env.register(&a).unwrap(), env.register(&b).unwrap());
    let sig = env
        .post(&a.token, "/pod/hmac/sign", "content=msg")
        .text()
        .to_owned();
    let form = format!("content=msg&uuid={UUID}&signature={}", enc(sig.as_bytes()));
    assert_eq!(env.post(&b.token, "/pod/hmac/verify", &form).status, 200);
    // Pod b signing the same content gives another signature.
    let sig_b = env
        .post(&b.token, "/pod/hmac/sign", "content=msg")
        .text()
        .to_owned();
    assert_ne!(sig, sig_b);
    // An unregistered pod's UUID verifies too (it may have exited since).
    let key = jetpack_mds::load_host_key(&env.cfg.key).unwrap();
    let u = uuid_bytes("11111111-2222-4333-8444-555555555555");
    let form = format!(
        "content=msg&uuid=11111111-2222-4333-8444-555555555555&signature={}",
        enc(key.sign(&u, b"msg").as_bytes())
    );
    assert_eq!(env.post(&b.token, "/pod/hmac/verify", &form).status, 200);
}

#[test]
fn signature_matches_openssl() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let content = b"some \x01 content\n";
    let sig = env
        .post(
            &reg.token,
            "/pod/hmac/sign",
            &format!("content={}", enc(content)),
        )
        .text()
        .to_owned();
    let mine: String = STANDARD
        .decode(&sig)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let key = env.key();
    let hexkey: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut input = uuid_bytes(UUID).to_vec();
    input.extend_from_slice(content);
    let child = Command::new("openssl")
        .args(["dgst", "-sha512", "-mac", "HMAC", "-macopt"])
        .arg(format!("hexkey:{hexkey}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("openssl is absent: independent check skipped");
        return;
    };
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let theirs = text.trim().rsplit("= ").next().unwrap();
    assert_eq!(mine, theirs);
}
