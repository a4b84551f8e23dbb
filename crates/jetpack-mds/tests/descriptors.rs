//! Running out of file descriptors: accepting fails with EMFILE for a while,
//! and the service survives it. Alone in its test binary, since the
//! descriptor limit it lowers is the whole process's.

mod common;

use std::net::IpAddr;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

const FLOODER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

#[test]
fn descriptor_exhaustion_is_survived() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let _held = env.register(&reg).unwrap();
    assert_eq!(env.get(&reg.token, "/pod/uuid").status, 200);

    let saved = getrlimit(Resource::Nofile);
    let low = Rlimit {
        current: Some(open_descriptors() + 48),
        maximum: saved.maximum,
    };
    setrlimit(Resource::Nofile, low).unwrap();
    // Connections until the process (server and client alike) runs out.
    let mut held = Vec::new();
    while held.len() < 10_000 {
        match connect_from(FLOODER, env.addr) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    assert!(held.len() < 10_000, "the lowered limit did not apply");
    // Each descriptor freed goes to a new connection at once: its
    // accept(2) on the server side then fails with EMFILE.
    for _ in 0..10 {
        held.pop();
        if let Ok(s) = connect_from(FLOODER, env.addr) {
            held.push(s);
        }
        thread::sleep(Duration::from_millis(30));
    }
    thread::sleep(Duration::from_millis(300));
    setrlimit(Resource::Nofile, saved).unwrap();
    drop(held);

    // Still serving: the accept back-off is at most a second.
    let began = Instant::now();
    let r = env.get(&reg.token, "/pod/uuid");
    assert_eq!((r.status, r.text()), (200, UUID));
    assert!(began.elapsed() < Duration::from_secs(3));
    assert!(!env.serving.as_ref().unwrap().is_finished());
}
