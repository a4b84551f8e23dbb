//! The listeners besides the main one: `127.0.0.1` for token-only pods (on
//! the host's network), and a pod's own listener passed with its
//! registration. A token is answered only through its pod's way in.

mod common;

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use jetpack_mds::{Limits, Server, register_with_listener};

/// The status of a GET of `/pod/uuid` with `token`, from `source` to `addr`.
fn status(source: IpAddr, addr: SocketAddr, token: &str) -> u16 {
    let mut s = connect_from(source, addr).unwrap();
    let rq = format!("GET /{token}/acMetadata/v1/pod/uuid HTTP/1.1\r\nConnection: close\r\n\r\n");
    exchange(&mut s, rq.as_bytes(), Duration::from_secs(5)).0
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A server whose main listener is on 127.0.0.2, so that it also listens
/// on 127.0.0.1 (same port).
fn start_two(limits: Option<Limits>) -> (Env, SocketAddr) {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(&dir, None);
        cfg.listen = "127.0.0.2:0".parse().unwrap();
        let mut server = Server::bind(cfg.clone()).unwrap();
        // The kernel's port for 127.0.0.2 may be taken on 127.0.0.1: rare, try another.
        let Some(lo) = server.loopback_addr() else {
            continue;
        };
        if let Some(l) = limits.clone() {
            server.set_limits(l);
        }
        let addr = server.local_addr();
        let serving: Option<JoinHandle<_>> = Some(std::thread::spawn(move || server.serve()));
        return (
            Env {
                dir,
                cfg,
                addr,
                serving,
            },
            lo,
        );
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

#[test]
fn token_only_pods_are_answered_on_loopback_only() {
    let (env, lo) = start_two(None);
    assert_eq!(lo.port(), env.addr.port());
    let mut host = registration(UUID, vec![]);
    host.token_only = true;
    let _h = env.register(&host).unwrap();
    let bridge = registration(OTHER_UUID, vec![ip("127.0.0.3")]);
    let _b = env.register(&bridge).unwrap();

    let r = http(
        lo,
        "GET",
        &format!("/{}/acMetadata/v1/pod/uuid", host.token),
        None,
    );
    assert_eq!((r.status, r.text()), (200, UUID));
    // Whatever the source address on the loopback listener.
    assert_eq!(status(ip("127.0.0.3"), lo, &host.token), 200);
    // A token-only pod's token on the main listener: refused, from any address.
    for src in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert_eq!(status(ip(src), env.addr, &host.token), 401, "{src}");
    }
    // A bridge pod's token: on the main listener from its address only, never on loopback,
    // even from its own address.
    assert_eq!(status(ip("127.0.0.3"), env.addr, &bridge.token), 200);
    assert_eq!(status(ip("127.0.0.3"), lo, &bridge.token), 401);
    assert_eq!(status(ip("127.0.0.1"), lo, &bridge.token), 401);
    assert_eq!(status(ip("127.0.0.1"), lo, &jetpack_mds::new_token()), 401);

    // A token-only pod has no addresses.
    let mut both = registration("11111111-2222-4333-8444-555555555555", vec![ip("10.0.0.1")]);
    both.token_only = true;
    let e = env.register(&both).unwrap_err().to_string();
    assert!(e.contains("token-only pod has no addresses"), "{e}");
}

#[test]
fn without_a_loopback_listener_token_only_pods_are_refused() {
    // Listening on 127.0.0.1 itself: no second listener.
    let env = start(None);
    let mut host = registration(UUID, vec![]);
    host.token_only = true;
    let e = env.register(&host).unwrap_err().to_string();
    assert!(e.contains("no loopback listener"), "{e}");
}

/// Waits until nothing listens on `addr` any more.
fn wait_closed(addr: SocketAddr) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{addr} still listens"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_pods_own_listener_serves_that_pod_only_and_ends_with_it() {
    let limits = Limits {
        max_per_source: 3,
        ..Limits::default()
    };
    let env = start_with(None, Some(limits));
    let mine = TcpListener::bind("127.0.0.5:0").unwrap();
    let own = mine.local_addr().unwrap();
    let pod = registration(UUID, vec![]);
    let reg = register_with_listener(
        &env.control(),
        &pod,
        Some(mine.as_fd()),
        Duration::from_secs(5),
    )
    .unwrap();
    // The service has its copy: ours goes, the listener stays.
    drop(mine);
    let other = registration(OTHER_UUID, vec![LOCALHOST]);
    let _o = env.register(&other).unwrap();

    let r = http(
        own,
        "GET",
        &format!("/{}/acMetadata/v1/pod/uuid", pod.token),
        None,
    );
    assert_eq!((r.status, r.text()), (200, UUID));
    let r = http(
        own,
        "GET",
        &format!("/{}/acMetadata/v1/apps/web/image/manifest", pod.token),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains("example.com/web"));
    // Another pod's token on this listener, even from that pod's address; this pod's token
    // on the main listener, from any address.
    assert_eq!(status(LOCALHOST, own, &other.token), 401);
    assert_eq!(status(LOCALHOST, env.addr, &pod.token), 401);
    assert_eq!(status(LOCALHOST, env.addr, &other.token), 200);

    // The per-source cap applies to the listener as a whole.
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| connect_from(LOCALHOST, own).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut over = connect_from(LOCALHOST, own).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 16];
    assert!(
        matches!(over.read(&mut b), Ok(0) | Err(_)),
        "closed over the cap"
    );
    // The main listener's sources are counted apart.
    assert_eq!(status(LOCALHOST, env.addr, &other.token), 200);

    // Unregistered: the listener and its open connections are closed.
    drop(reg);
    wait_closed(own);
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(matches!(s.read(&mut b), Ok(0) | Err(_)));
    }
}

#[test]
fn a_listener_must_be_a_listening_tcp_socket() {
    let env = start(None);
    let pod = registration(UUID, vec![]);
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let e = register_with_listener(
        &env.control(),
        &pod,
        Some(a.as_fd()),
        Duration::from_secs(5),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not a listening TCP socket"), "{e}");
    let bound = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    bound
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let e = register_with_listener(
        &env.control(),
        &pod,
        Some(bound.as_fd()),
        Duration::from_secs(5),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not a listening TCP socket"), "{e}");
    // With addresses too: refused.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let with_ips = registration(UUID, vec![LOCALHOST]);
    let e = register_with_listener(
        &env.control(),
        &with_ips,
        Some(l.as_fd()),
        Duration::from_secs(5),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("own listener"), "{e}");
    // And the service goes on.
    let ok = registration(UUID, vec![LOCALHOST]);
    let _r = env.register(&ok).unwrap();
    assert_eq!(status(LOCALHOST, env.addr, &ok.token), 200);
}
