//! Lock, idle exit, host key.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::*;
use jetpack_mds::{Error, Server, ensure_host_key, load_host_key};

#[test]
fn second_server_is_already_running() {
    let env = start(None);
    let mut cfg = env.cfg.clone();
    cfg.control = env.dir.path().join("other.sock");
    match Server::bind(cfg) {
        Err(Error::AlreadyRunning { pid }) => assert_eq!(pid, Some(std::process::id())),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second server bound the same lock"),
    }
    // The first one is untouched.
    let reg = registration(UUID, vec![LOCALHOST]);
    let _h = env.register(&reg).unwrap();
    assert_eq!(env.get(&reg.token, "/pod/uuid").status, 200);
}

#[test]
fn stale_control_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir, None);
    drop(std::os::unix::net::UnixListener::bind(&cfg.control).unwrap());
    let server = Server::bind(cfg.clone()).unwrap();
    assert!(std::os::unix::net::UnixStream::connect(&cfg.control).is_ok());
    drop(server);
}

#[test]
fn idle_exit_returns_once_no_pod_is_left() {
    let mut env = start(Some(Duration::from_millis(300)));
    let t0 = Instant::now();
    let reg = registration(UUID, vec![LOCALHOST]);
    let held = env.register(&reg).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let serving = env.serving.take().unwrap();
    assert!(!serving.is_finished(), "a registered pod keeps the service");
    drop(held);
    let dropped = Instant::now();
    while !serving.is_finished() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "serve did not return"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(dropped.elapsed() >= Duration::from_millis(250));
    serving.join().unwrap().unwrap();
    assert!(!env.control().exists(), "control socket removed");
    // Nobody is there any more; and the lock is free for a new server.
    let r = env.register(&reg);
    assert!(matches!(r, Err(Error::NotRunning)), "{r:?}");
    let again = Server::bind(env.cfg.clone()).unwrap();
    drop(again);
}

#[test]
fn host_key_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub-key");
    assert!(matches!(
        load_host_key(&path),
        Err(Error::KeyMissing { .. })
    ));
    let msg = load_host_key(&path).unwrap_err().to_string();
    assert!(msg.contains("jetpack init"), "{msg}");

    assert!(ensure_host_key(&path).unwrap(), "created");
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!(m.len(), 64);
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    let first = std::fs::read(&path).unwrap();
    assert!(!ensure_host_key(&path).unwrap(), "kept");
    assert_eq!(std::fs::read(&path).unwrap(), first);
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let key = load_host_key(&path).unwrap();
    let uuid = *UUID.parse::<appc::Uuid>().unwrap().as_bytes();
    let sig = key.sign(&uuid, b"x");
    assert!(key.verify(&uuid, b"x", &sig));
    assert!(!key.verify(&uuid, b"y", &sig));
    assert!(!key.verify(&uuid, b"x", "not base64"));
    assert_eq!(format!("{key:?}"), "HostKey(..)");

    std::fs::write(&path, [0u8; 63]).unwrap();
    assert!(matches!(
        ensure_host_key(&path),
        Err(Error::BadKey { len: 63, .. })
    ));
    assert!(matches!(
        load_host_key(&path),
        Err(Error::BadKey { len: 63, .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap().len(), 63, "never replaced");
}

#[test]
fn tokens_are_random_hex() {
    let a = jetpack_mds::new_token();
    let b = jetpack_mds::new_token();
    assert_eq!(a.len(), 64);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    assert_ne!(a, b);
    assert_eq!(
        jetpack_mds::metadata_url("10.0.0.1:1104".parse().unwrap(), &a),
        format!("http://10.0.0.1:1104/{a}")
    );
}

#[test]
fn exit_closes_open_http_connections() {
    use std::io::Read;
    let mut env = start(Some(Duration::from_millis(200)));
    let reg = registration(UUID, vec![LOCALHOST]);
    let held = env.register(&reg).unwrap();
    // Idle and half-sent requests, which would otherwise wait 30 s and 10 s.
    let idle = std::net::TcpStream::connect(env.addr).unwrap();
    let mut partial = std::net::TcpStream::connect(env.addr).unwrap();
    std::io::Write::write_all(&mut partial, b"GET / HTTP/1.1\r\nX-A: ").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let serving = env.serving.take().unwrap();
    drop(held);
    let dropped = Instant::now();
    serving.join().unwrap().unwrap();
    assert!(
        dropped.elapsed() < Duration::from_secs(5),
        "{:?}",
        dropped.elapsed()
    );
    for mut s in [idle, partial] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let began = Instant::now();
        let _ = s.read_to_end(&mut buf);
        assert!(began.elapsed() < Duration::from_secs(1), "still open");
    }
}
