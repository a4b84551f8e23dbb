//! The in-memory front the fuzz targets use (`jetpack_mds::fuzzing`): the same reading,
//! routing and answering as a TCP connection, whatever the reads' sizes.

mod common;

use std::net::IpAddr;

use common::*;
use jetpack_mds::fuzzing::Service;
use jetpack_mds::{HostKey, KEY_LEN, Limits};

const POD_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3));

fn service() -> (Service, String) {
    let reg = registration(UUID, vec![POD_IP]);
    let token = reg.token.clone();
    let s = Service::new(
        vec![reg],
        HostKey::from_bytes([1; KEY_LEN]),
        Limits::default(),
    );
    (s.unwrap(), token)
}

#[test]
fn pipelined_requests_are_answered_in_reads_of_any_size() {
    let (s, token) = service();
    let input = format!(
        "GET /{token}/acMetadata/v1/pod/uuid HTTP/1.1\r\n\r\n\
         POST /{token}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\nContent-Length: 9\r\n\r\ncontent=x\
         GET /{token}/acMetadata/v1/apps/db/image/id HTTP/1.1\r\nConnection: close\r\n\r\n"
    );
    let whole = s.serve(input.as_bytes(), usize::MAX, Some(POD_IP));
    let text = String::from_utf8(whole.clone()).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{text}");
    assert!(
        text.contains(&format!("\r\n\r\n{UUID}HTTP/1.1 200")),
        "{text}"
    );
    assert!(text.ends_with(&image_id('b')), "{text}");
    for chunk in [1, 2, 7] {
        assert_eq!(s.serve(input.as_bytes(), chunk, Some(POD_IP)), whole);
    }
}

#[test]
fn the_origin_decides_as_on_a_socket() {
    let (s, token) = service();
    let input = format!("GET /{token}/acMetadata/v1/pod/uuid HTTP/1.1\r\n\r\n");
    for source in [None, Some("10.9.9.9".parse().unwrap())] {
        let out = String::from_utf8(s.serve(input.as_bytes(), 64, source)).unwrap();
        assert!(out.starts_with("HTTP/1.1 401 "), "{out}");
    }
}

#[test]
fn a_malformed_request_is_answered_then_closed() {
    let (s, _) = service();
    let out = s.serve(
        b"GET / HTTP/1.1\r\nBad header\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        5,
        None,
    );
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{out}");
}
