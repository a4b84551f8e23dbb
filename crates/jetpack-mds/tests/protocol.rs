//! HTTP/1.1 framing: keep-alive, pipelining, HTTP/1.0, 100-continue,
//! chunked bodies, and requests that are refused as malformed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// Everything the server sends until it closes (or 5 s pass).
fn read_all(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8(got).unwrap()
}

/// Reads until `n` occurrences of `what` have arrived.
fn read_until(s: &mut TcpStream, what: &str, n: usize) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = String::new();
    let mut buf = [0; 4096];
    while got.matches(what).count() < n {
        let k = s.read(&mut buf).unwrap();
        assert!(k > 0, "closed early after {got:?}");
        got.push_str(std::str::from_utf8(&buf[..k]).unwrap());
    }
    got
}

#[test]
fn keep_alive_and_pipelining() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;

    // Three requests in one write, a POST with a body in the middle: three
    // answers in order, then the connection closes as the last one asked.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = format!(
        "GET /{t}/acMetadata/v1/pod/uuid HTTP/1.1\r\nHost: x\r\n\r\n\
         POST /{t}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\nContent-Length: 9\r\n\r\ncontent=x\
         GET /{t}/acMetadata/v1/apps/web/image/id HTTP/1.1\r\nConnection: close\r\n\r\n"
    );
    s.write_all(rq.as_bytes()).unwrap();
    let all = read_all(&mut s);
    let statuses: Vec<_> = all.match_indices("HTTP/1.1 200 OK").collect();
    assert_eq!(statuses.len(), 3, "{all}");
    let uuid_at = all.find(UUID).unwrap();
    let id_at = all.find(&image_id('a')).unwrap();
    assert!(uuid_at < id_at);
    assert!(all.ends_with(&image_id('a')));

    // HTTP/1.0: closed after the answer, unless keep-alive is asked for.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = format!("GET /{t}/acMetadata/v1/pod/uuid HTTP/1.0\r\n\r\n");
    s.write_all(rq.as_bytes()).unwrap();
    assert!(read_all(&mut s).ends_with(UUID));
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = format!("GET /{t}/acMetadata/v1/pod/uuid HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    s.write_all(rq.as_bytes()).unwrap();
    s.write_all(rq.as_bytes()).unwrap();
    let two = read_until(&mut s, UUID, 2);
    assert_eq!(two.matches("Connection: keep-alive\r\n").count(), 2);
}

/// A pipelined request whose head arrives partly with the request before it and partly in a
/// later read: the search for its end resumes where it stopped, after the unread input was
/// moved to the front of the buffer (it used to index past the data and kill the thread).
#[test]
fn pipelined_request_with_its_head_split_across_reads_is_answered() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;
    let mut s = TcpStream::connect(env.addr).unwrap();
    let first = format!(
        "GET /{t}/acMetadata/v1/pod/uuid HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /{t}/acMetadata/v1/apps/web/image/id HT"
    );
    s.write_all(first.as_bytes()).unwrap();
    read_until(&mut s, UUID, 1);
    s.write_all(b"TP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    let rest = read_all(&mut s);
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
    assert!(rest.ends_with(&image_id('a')), "{rest}");
}

#[test]
fn expect_continue_and_chunked_bodies() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;
    let expected = env
        .post(t, "/pod/hmac/sign", "content=hello")
        .text()
        .to_owned();

    // 100 Continue first, the answer once the body is sent.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let head = format!(
        "POST /{t}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\nContent-Length: 13\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    assert_eq!(
        read_until(&mut s, "\r\n\r\n", 1),
        "HTTP/1.1 100 Continue\r\n\r\n"
    );
    s.write_all(b"content=hello").unwrap();
    let answer = read_all(&mut s);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with(&expected));

    // The same body in chunks, with an extension and a trailer; then
    // another request on the same connection.
    let mut s = TcpStream::connect(env.addr).unwrap();
    let rq = format!(
        "POST /{t}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
         3;x=y\r\ncon\r\na\r\ntent=hello\r\n0\r\nX-Trailer: 1\r\n\r\n\
         GET /{t}/acMetadata/v1/pod/uuid HTTP/1.1\r\nConnection: close\r\n\r\n"
    );
    s.write_all(rq.as_bytes()).unwrap();
    let all = read_all(&mut s);
    assert!(all.contains(&expected), "{all}");
    assert!(all.ends_with(UUID), "{all}");
}

#[test]
fn malformed_requests_are_refused_and_closed() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    let t = &reg.token;
    let sign = format!("POST /{t}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\n");
    let cases = [
        // Both framings at once: how requests are smuggled.
        (
            format!("{sign}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400,
        ),
        (
            format!("{sign}Content-Length: 4\r\nContent-Length: 5\r\n\r\n"),
            400,
        ),
        (format!("{sign}Content-Length: -1\r\n\r\n"), 400),
        (format!("{sign}Transfer-Encoding: gzip\r\n\r\n"), 501),
        (format!("{sign}Expect: something\r\n\r\n"), 417),
        (format!("{sign}Bad Header: x\r\n\r\n"), 400),
        (format!("{sign} folded\r\n\r\n"), 400),
        (
            format!("{sign}Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
            400,
        ),
        ("GET /x HTTP/2.0\r\n\r\n".to_owned(), 505),
        ("GET /x\r\n\r\n".to_owned(), 400),
        ("GET  /x HTTP/1.1\r\n\r\n".to_owned(), 400),
    ];
    for (rq, status) in cases {
        let mut s = TcpStream::connect(env.addr).unwrap();
        assert_eq!(
            exchange(&mut s, rq.as_bytes(), Duration::from_secs(5)),
            (status, true),
            "{rq:?}"
        );
    }
    assert_eq!(env.get(t, "/pod/uuid").status, 200);
}
