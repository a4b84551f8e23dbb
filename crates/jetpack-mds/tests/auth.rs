//! Authorisation: the token and the source address must both match.

mod common;

use common::*;

#[test]
fn wrong_address_and_unknown_token_look_the_same() {
    let env = start(None);
    // Registered, but only for another address than ours (127.0.0.1).
    let elsewhere = registration(
        UUID,
        vec!["10.9.8.7".parse().unwrap(), "127.0.0.2".parse().unwrap()],
    );
    let _h = env.register(&elsewhere).unwrap();

    let wrong_ip = env.get(&elsewhere.token, "/pod/uuid");
    let unknown = env.get(&jetpack_mds::new_token(), "/pod/uuid");
    for r in [&wrong_ip, &unknown] {
        assert_eq!(r.status, 401);
        assert_eq!(r.content_type(), TEXT);
    }
    assert_eq!(wrong_ip.body, unknown.body);
    assert!(!wrong_ip.text().contains(UUID));
    // Even for paths that do not exist, and for other methods.
    assert_eq!(env.get(&elsewhere.token, "/nothing").status, 401);
    assert_eq!(
        env.post(&elsewhere.token, "/pod/hmac/sign", "content=x")
            .status,
        401
    );
    assert_eq!(http(env.addr, "GET", "/", None).status, 401);
}

#[test]
fn ipv4_mapped_addresses_match() {
    let env = start(None);
    let reg = registration(UUID, vec!["::ffff:127.0.0.1".parse().unwrap()]);
    let _h = env.register(&reg).unwrap();
    assert_eq!(env.get(&reg.token, "/pod/uuid").status, 200);
}
