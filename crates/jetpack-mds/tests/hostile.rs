//! A hostile pod: huge declared bodies and headers, connection floods,
//! slow requests. The service answers it within its limits and keeps
//! answering the others. All traffic stays on 127.0.0.0/8.

mod common;

use std::net::{IpAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use jetpack_mds::{Limits, new_token};

const FLOODER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

fn sign_head(token: &str, extra: &str) -> String {
    format!(
        "POST /{token}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n{extra}\r\n"
    )
}

#[test]
fn huge_declared_body_is_413_without_reading_it() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;
    let limit = Duration::from_secs(5);

    // A terabyte announced: answered at once, and closed without waiting
    // for (or allocating) the body.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = sign_head(t, "Content-Length: 1000000000000\r\n") + "content=x";
    let began = Instant::now();
    assert_eq!(exchange(&mut s, rq.as_bytes(), limit), (413, true));
    assert!(began.elapsed() < limit);

    // Also before authorisation, and for a length that overflows 64 bits.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = sign_head(&new_token(), "Content-Length: 99999999999999999999999\r\n");
    assert_eq!(exchange(&mut s, rq.as_bytes(), limit), (413, true));

    // A chunked body counts as it goes: one chunk of 4 GiB is refused.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = sign_head(t, "Transfer-Encoding: chunked\r\n") + "FFFFFFFF\r\ncontent=x";
    assert_eq!(exchange(&mut s, rq.as_bytes(), limit), (413, true));

    // A small chunked body is fine.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = sign_head(t, "Transfer-Encoding: chunked\r\nConnection: close\r\n")
        + "4\r\ncont\r\n5\r\nent=x\r\n0\r\n\r\n";
    assert_eq!(exchange(&mut s, rq.as_bytes(), limit), (200, true));

    // The service goes on.
    assert_eq!(env.get(t, "/pod/uuid").text(), UUID);
    let r = env.post(t, "/pod/hmac/sign", "content=x");
    assert_eq!(r.status, 200);
}

#[test]
fn oversized_headers_are_refused() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;
    let limit = Duration::from_secs(5);

    // One endless header line, sent as far as the server reads.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = format!(
        "GET /{t}/acMetadata/v1/pod/uuid HTTP/1.1\r\nX-Big: {}",
        "a".repeat(1 << 20)
    );
    assert_eq!(exchange(&mut s, rq.as_bytes(), limit), (431, true));

    // Many small header lines.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = format!(
        "GET /{t}/acMetadata/v1/pod/uuid HTTP/1.1\r\n{}\r\n",
        "X-A: b\r\n".repeat(20_000)
    );
    assert_eq!(exchange(&mut s, rq.as_bytes(), limit), (431, true));

    // An endless request line.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = format!("GET /{t}/{}", "a".repeat(1 << 20));
    assert_eq!(exchange(&mut s, rq.as_bytes(), limit), (414, true));

    // Headers within the limit are fine.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = format!(
        "GET /{t}/acMetadata/v1/pod/uuid HTTP/1.1\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(8 << 10)
    );
    assert_eq!(exchange(&mut s, rq.as_bytes(), limit), (200, true));
    assert_eq!(env.get(t, "/pod/uuid").status, 200);
}

/// The number of connections the test may hold open itself.
fn flood_size() -> usize {
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let soft = lim.current.unwrap_or(u64::MAX).min(1 << 20) as usize;
    10_000.min(soft.saturating_sub(256))
}

#[test]
fn a_connection_flood_does_not_starve_other_pods() {
    let env = start(None);
    let good = registration(UUID, vec![LOCALHOST]);
    let _g = env.register(&good).unwrap();
    let bad = registration(OTHER_UUID, vec![FLOODER]);
    let _b = env.register(&bad).unwrap();
    let n = flood_size();
    assert!(
        n >= 5_000,
        "the descriptor limit allows only {n} connections"
    );

    let addr = env.addr;
    let flood = thread::spawn(move || {
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            match connect_from(FLOODER, addr) {
                Ok(s) => held.push(s),
                Err(e) => panic!("flood connection {}: {e}", held.len()),
            }
        }
        held
    });
    // The well-behaved pod, meanwhile and after.
    let mut slowest = Duration::ZERO;
    let mut rounds = 0;
    loop {
        let done = flood.is_finished();
        let began = Instant::now();
        let r = env.get(&good.token, "/pod/uuid");
        slowest = slowest.max(began.elapsed());
        assert_eq!((r.status, r.text()), (200, UUID));
        rounds += 1;
        if done {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let held = flood.join().unwrap();
    assert_eq!(held.len(), n);
    assert!(
        slowest < Duration::from_secs(2),
        "slowest answer during the flood: {slowest:?} ({rounds} requests)"
    );
    // The service is still up, and the flooder's own further connections
    // are closed at once while it holds its share.
    assert!(!env.serving.as_ref().unwrap().is_finished());
    let mut extra = connect_from(FLOODER, env.addr).unwrap();
    let rq = format!(
        "GET /{}/acMetadata/v1/pod/uuid HTTP/1.1\r\nHost: x\r\n\r\n",
        bad.token
    );
    assert_eq!(
        exchange(&mut extra, rq.as_bytes(), Duration::from_secs(5)),
        (0, true)
    );
    drop(held);
    // Its slots come back once its connections are gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = connect_from(FLOODER, env.addr).unwrap();
        let rq = format!(
            "GET /{}/acMetadata/v1/pod/uuid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            bad.token
        );
        match exchange(&mut s, rq.as_bytes(), Duration::from_secs(5)) {
            (200, true) => break,
            other => assert!(
                Instant::now() < deadline,
                "flooder still refused: {other:?}"
            ),
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(env.get(&good.token, "/pod/uuid").status, 200);
}

#[test]
fn slow_requests_and_idle_connections_are_closed() {
    let limits = Limits {
        request_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_millis(1500),
        ..Limits::default()
    };
    let env = start_with(None, Some(limits));
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = reg.token.clone();

    // Slowloris: a header byte every 100 ms, for ever.
    let began = Instant::now();
    let mut s = TcpStream::connect(env.addr).unwrap();
    let slow = {
        let mut w = s.try_clone().unwrap();
        thread::spawn(move || {
            use std::io::Write;
            let rq = format!("GET /{t}/acMetadata/v1/pod/uuid HTTP/1.1\r\nX-Slow: ");
            let _ = w.write_all(rq.as_bytes());
            for _ in 0..100 {
                if w.write_all(b"a").is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    assert_eq!(exchange(&mut s, b"", Duration::from_secs(5)), (408, true));
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    drop(s);
    slow.join().unwrap();

    // A connection that never sends anything.
    let began = Instant::now();
    let mut s = TcpStream::connect(env.addr).unwrap();
    assert_eq!(exchange(&mut s, b"", Duration::from_secs(5)), (0, true));
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );

    // A keep-alive client that is quick enough is served throughout.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = format!(
        "GET /{}/acMetadata/v1/pod/uuid HTTP/1.1\r\nHost: x\r\n\r\n",
        reg.token
    );
    for _ in 0..3 {
        use std::io::{Read, Write};
        s.write_all(rq.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0; 1024];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(buf[..n].ends_with(UUID.as_bytes()));
        thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn addresses_of_no_pod_share_one_allowance() {
    let env = start(None);
    let good = registration(UUID, vec![LOCALHOST]);
    let _g = env.register(&good).unwrap();
    // A pod that gives itself many addresses: 40 of them, 40 idle
    // connections each, more than the total cap if each address counted
    // as a pod of its own.
    let mut held = Vec::new();
    for i in 1..=40u8 {
        let from = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, i));
        for _ in 0..40 {
            held.push(connect_from(from, env.addr).unwrap());
        }
    }
    let began = Instant::now();
    let r = env.get(&good.token, "/pod/uuid");
    assert_eq!((r.status, r.text()), (200, UUID));
    assert!(began.elapsed() < Duration::from_secs(2));
    // Another such address is refused at once, while a known one is not.
    let mut s = connect_from(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, 99)), env.addr).unwrap();
    assert_eq!(
        exchange(&mut s, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(5)),
        (0, true)
    );
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(&mut s, rq, Duration::from_secs(5)), (401, true));
}
