//! The control socket: registration lifetime, replacement, refusals.

mod common;

use std::time::Duration;

use common::*;
use jetpack_mds::{Error, register};

#[test]
fn dropping_registered_unregisters() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let held = env.register(&reg).unwrap();
    assert_eq!(env.get(&reg.token, "/pod/uuid").status, 200);
    drop(held);
    // The server notices the EOF asynchronously.
    let mut status = 200;
    for _ in 0..200 {
        status = env.get(&reg.token, "/pod/uuid").status;
        if status == 401 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(status, 401);
}

#[test]
fn same_uuid_replaces() {
    let env = start(None);
    let first = registration(UUID, vec![LOCALHOST]);
    let held_first = env.register(&first).unwrap();
    let mut second = registration(UUID, vec![LOCALHOST]);
    second.pod_manifest = second.pod_manifest.replace("10.1.2.3", "10.1.2.4");
    let _held_second = env.register(&second).unwrap();

    assert_eq!(env.get(&first.token, "/pod/uuid").status, 401);
    let r = env.get(&second.token, "/pod/annotations/ip-address");
    assert_eq!((r.status, r.text()), (200, "10.1.2.4"));
    // Closing the replaced registration leaves the new one alone.
    drop(held_first);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(env.get(&second.token, "/pod/uuid").status, 200);
}

fn refused(env: &Env, reg: &jetpack_mds::Registration) -> String {
    match env.register(reg) {
        Err(Error::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn bad_registrations_are_refused_clearly() {
    let env = start(None);
    let good = registration(UUID, vec![LOCALHOST]);

    let mut r = good.clone();
    r.uuid = "nope".into();
    assert!(refused(&env, &r).starts_with("uuid \"nope\""));

    let mut r = good.clone();
    r.token = "abc".into();
    assert!(refused(&env, &r).contains("32 hexadecimal digits"));

    let mut r = good.clone();
    r.pod_manifest = r.pod_manifest.replace("PodManifest", "ImageManifest");
    assert!(refused(&env, &r).starts_with("pod manifest: "));

    let mut r = good.clone();
    r.apps.pop();
    assert!(refused(&env, &r).contains("app \"db\": expected exactly one image manifest"));

    let mut r = good.clone();
    r.apps[1].image_manifest = "{".into();
    assert!(refused(&env, &r).starts_with("image manifest of app \"db\""));

    let mut r = good.clone();
    r.apps[1].name = "other".into();
    assert!(refused(&env, &r).contains("\"other\" is not in the pod manifest"));

    let mut r = good.clone();
    r.pod_manifest = r
        .pod_manifest
        .replace(&format!(",\"id\":\"{}\"", image_id('a')), "");
    assert!(
        refused(&env, &r).contains("must be reified"),
        "{}",
        refused(&env, &r)
    );

    // A line that is not a registration at all.
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(env.control()).unwrap();
    s.write_all(b"hello\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("error: registration: "), "{answer}");
    assert!(answer.ends_with('\n') && answer.lines().count() == 1);

    // The good one still registers afterwards.
    let _h = env.register(&good).unwrap();
    assert_eq!(env.get(&good.token, "/pod/uuid").status, 200);
}

#[test]
fn a_token_cannot_be_taken_over() {
    let env = start(None);
    let a = registration(UUID, vec![LOCALHOST]);
    let _h = env.register(&a).unwrap();
    let mut b = registration(OTHER_UUID, vec![LOCALHOST]);
    b.token = a.token.clone();
    assert!(refused(&env, &b).contains("already used"));
    assert_eq!(env.get(&a.token, "/pod/uuid").text(), UUID);
}

#[test]
fn no_service_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registration(UUID, vec![LOCALHOST]);
    let missing = register(&dir.path().join("none.sock"), &reg, Duration::from_secs(1));
    assert!(matches!(missing, Err(Error::NotRunning)), "{missing:?}");
    // A socket file nobody listens on (a service that died).
    let path = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let dead = register(&path, &reg, Duration::from_secs(1));
    assert!(matches!(dead, Err(Error::NotRunning)), "{dead:?}");
}

#[test]
fn control_socket_is_private() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let env = start(None);
    let m = std::fs::metadata(env.control()).unwrap();
    assert!(m.file_type().is_socket());
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
}

/// A fake service on `path` that reads the registration, answers `answer`
/// and then closes the connection after `hold`.
fn fake_service(
    path: &std::path::Path,
    answer: &'static str,
    hold: Duration,
) -> std::thread::JoinHandle<()> {
    use std::io::{BufRead, BufReader, Write};
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        serde_json::from_str::<jetpack_mds::Registration>(&line).unwrap();
        s.write_all(answer.as_bytes()).unwrap();
        std::thread::sleep(hold);
    })
}

#[test]
fn wait_closed_returns_when_the_service_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.sock");
    let reg = registration(UUID, vec![LOCALHOST]);
    let service = fake_service(&path, "ok\n", Duration::from_millis(100));
    let t0 = std::time::Instant::now();
    let mut held = register(&path, &reg, Duration::from_secs(1)).unwrap();
    held.wait_closed().unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(90));
    service.join().unwrap();
}

#[test]
fn client_answers() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registration(UUID, vec![LOCALHOST]);
    type Check = fn(&jetpack_mds::Result<jetpack_mds::Registered>) -> bool;
    let cases: [(&str, Check); 4] = [
        ("error: shutting down\n", |r| {
            matches!(r, Err(Error::NotRunning))
        }),
        (
            "error: no\n",
            |r| matches!(r, Err(Error::Refused(w)) if w == "no"),
        ),
        ("what\n", |r| matches!(r, Err(Error::Protocol(_)))),
        // Closed without an answer: the service was exiting.
        ("", |r| matches!(r, Err(Error::NotRunning))),
    ];
    for (i, (answer, check)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.sock"));
        let service = fake_service(&path, answer, Duration::ZERO);
        let r = register(&path, &reg, Duration::from_secs(1));
        assert!(check(&r), "{answer:?}: {r:?}");
        service.join().unwrap();
    }
    // A service that never answers: a timeout, not a hang.
    let path = dir.path().join("mute.sock");
    let service = fake_service(&path, "", Duration::from_millis(500));
    let r = register(&path, &reg, Duration::from_millis(100));
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
    service.join().unwrap();
}

#[test]
fn closer_unregisters_and_wakes_wait_closed() {
    let env = start(None);
    let reg = registration(UUID, vec![LOCALHOST]);
    let mut held = env.register(&reg).unwrap();
    let closer = held.closer().unwrap();
    let waiter = std::thread::spawn(move || held.wait_closed());
    std::thread::sleep(Duration::from_millis(50));
    assert!(!waiter.is_finished());
    assert_eq!(env.get(&reg.token, "/pod/uuid").status, 200);
    closer.close();
    waiter.join().unwrap().unwrap();
    let mut status = 200;
    for _ in 0..200 {
        status = env.get(&reg.token, "/pod/uuid").status;
        if status == 401 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(status, 401);
}
