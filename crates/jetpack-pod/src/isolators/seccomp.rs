//! `os/linux/seccomp-retain-set` and `-remove-set`, and the default filter of an app without
//! either (`@docker/default`: Docker's default profile as a deny list returning EPERM,
//! relaxed for the app's capabilities). Filters are compiled here, in stage0: unknown system
//! call or errno names are errors before anything runs.

use appc::Isolator;
use jetpack_runtime::{Seccomp, SeccompMode, Security};

use super::report::{Entry, Status};
use super::scope::{Scope, Verdict};
use crate::engine::native as engine;
use crate::error::{Error, Result};

/// The name of Docker's default profile as a seccomp group: the filter of an app without a
/// seccomp isolator.
pub const DEFAULT_SECCOMP: &str = "@docker/default";

/// Resolved by [`finish`], once the app's capabilities are known: `@docker/default` depends
/// on them.
pub(super) fn apply(_: &Scope, _: &Isolator, _: &mut Security) -> Result<Verdict> {
    Ok((Status::Enforced, String::new()))
}

pub(super) fn is_seccomp(iso: &Isolator) -> bool {
    matches!(
        iso,
        Isolator::SeccompRemoveSet(_) | Isolator::SeccompRetainSet(_)
    )
}

/// The app's filter: from its seccomp isolator (`given`: its entry in the report), or the
/// default filter, whose entry is added.
pub(super) fn finish(
    app: &str,
    given: Option<(&mut Entry, &Isolator)>,
    sec: &mut Security,
) -> Result<Option<Entry>> {
    if let Some((entry, iso)) = given {
        let (detail, filter) = isolator(app, iso, sec.capabilities)?;
        entry.detail = detail;
        sec.seccomp = filter;
        return Ok(None);
    }
    if let Some(why) = engine::no_seccomp() {
        sec.seccomp = None;
        return Ok(Some(Entry {
            app: Some(app.into()),
            name: appc::isolator_names::SECCOMP_REMOVE_SET.into(),
            value: serde_json::json!({ "set": [DEFAULT_SECCOMP], "errno": "EPERM" }),
            status: Status::Ignored,
            detail: format!("the default filter (the app has no seccomp isolator): {why}"),
        }));
    }
    let (filter, relaxed) = engine::default_seccomp(sec.capabilities);
    let entry = Entry {
        app: Some(app.into()),
        name: appc::isolator_names::SECCOMP_REMOVE_SET.into(),
        value: serde_json::json!({ "set": [DEFAULT_SECCOMP], "errno": "EPERM" }),
        status: Status::Enforced,
        detail: format!(
            "the default filter (the app has no seccomp isolator): {}",
            describe_docker_default(&filter, &relaxed, "EPERM")
        ),
    };
    sec.seccomp = Some(filter);
    Ok(Some(entry))
}

/// `N system calls return EPERM, clone with a namespace flag ...; let through for the app's
/// capabilities: ...`.
fn describe_docker_default(filter: &Seccomp, relaxed: &[&str], action: &str) -> String {
    let mut d = format!(
        "Docker's default profile: {} system calls {action}",
        filter.syscalls.len()
    );
    for c in &filter.conditions {
        d.push_str(&format!(", {} {action}", engine::describe_condition(c)));
    }
    for (nr, e) in &filter.errnos {
        d.push_str(&format!(
            ", {} returns {} (libc falls back to clone)",
            engine::syscall_name(*nr),
            if *e == libc::ENOSYS {
                "ENOSYS".to_string()
            } else {
                e.to_string()
            }
        ));
    }
    if !relaxed.is_empty() {
        d.push_str(&format!(
            "; let through for the app's capabilities: {}",
            relaxed.join(", ")
        ));
    }
    d
}

/// The mode and set of a seccomp isolator.
pub(super) fn mode_and_set(iso: &Isolator) -> (SeccompMode, &appc::Seccomp) {
    match iso {
        Isolator::SeccompRetainSet(s) => (SeccompMode::Retain, s),
        Isolator::SeccompRemoveSet(s) => (SeccompMode::Remove, s),
        _ => unreachable!("a seccomp isolator"),
    }
}

/// An app's own seccomp isolator: the report's detail and the filter (`None`: no filtering).
fn isolator(app: &str, iso: &Isolator, capabilities: u64) -> Result<(String, Option<Seccomp>)> {
    let (mode, s) = mode_and_set(iso);
    let resolved = engine::resolve_seccomp(mode, &s.set, s.errno.as_deref(), capabilities)
        .map_err(|e| Error::Invalid(format!("app {app}: {}: {e}", iso.name())))?;
    let action = match &s.errno {
        Some(e) => format!("return {e}"),
        None => "kill the app (SIGSYS)".into(),
    };
    let detail = match (&resolved, mode) {
        (None, SeccompMode::Retain) => "@appc.io/all: no filtering".to_string(),
        (None, SeccompMode::Remove) => "@appc.io/empty: no filtering".into(),
        (Some(f), SeccompMode::Retain) => format!(
            "{} system calls allowed (execve, exit and exit_group always); others {action}",
            f.syscalls.len()
        ),
        (Some(f), SeccompMode::Remove) if s.set.iter().any(|n| n == DEFAULT_SECCOMP) => {
            let (_, relaxed) = engine::default_seccomp(capabilities);
            describe_docker_default(f, &relaxed, &action)
        }
        (Some(f), SeccompMode::Remove) => format!("{} system calls {action}", f.syscalls.len()),
    };
    Ok((detail, resolved))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use jetpack_runtime::caps;

    use crate::engine::linux as engine;
    use crate::isolators::testing::{find, host, manifest};
    use crate::isolators::*;

    #[test]
    fn default_capabilities_are_reported() {
        let m = manifest(json!([]), json!([]));
        assert!(!needs_host(&m), "nothing to look up on the host");
        let r = resolve(&m, &host()).unwrap();
        let (res, sec) = &r.apps[0];
        assert!(res.is_empty() && r.pod.is_empty());
        assert_eq!(sec.capabilities, caps::DEFAULT_SET);
        let e = find(&r, Some("web"), "os/linux/capabilities-retain-set");
        assert_eq!(e.status, Status::Enforced);
        assert_eq!(e.value["set"].as_array().unwrap().len(), 14);
        let f = find(&r, Some("web"), "os/linux/seccomp-remove-set");
        assert_eq!(f.status, Status::Enforced);
        assert_eq!(
            f.value,
            json!({"set": ["@docker/default"], "errno": "EPERM"})
        );
        assert!(f.detail.starts_with("the default filter"), "{}", f.detail);
        assert!(f.detail.contains("clone (namespace flags)"), "{}", f.detail);
        let filter = sec.seccomp.as_ref().expect("the default filter");
        assert_eq!(filter.errno, Some(libc::EPERM));
        let mount = engine::syscall_number("mount").unwrap();
        assert!(filter.syscalls.contains(&mount));
        assert_eq!(r.report.isolators.len(), 2);
    }

    #[test]
    fn the_default_filter_follows_the_capabilities() {
        let mount = engine::syscall_number("mount").unwrap();
        let keyctl = engine::syscall_number("keyctl").unwrap();
        // The capability isolator comes after the seccomp one: the order does not matter.
        for seccomp in [
            json!([]),
            json!([{"name": "os/linux/seccomp-remove-set", "value": {"set": ["@docker/default", "mkdir"], "errno": "EACCES"}}]),
        ] {
            let mut list = seccomp.as_array().unwrap().clone();
            list.push(json!({"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_SYS_ADMIN"]}}));
            let r = resolve(&manifest(json!([]), json!(list)), &host()).unwrap();
            let f = r.apps[0].1.seccomp.as_ref().unwrap();
            assert!(
                !f.syscalls.contains(&mount),
                "CAP_SYS_ADMIN lets mount through"
            );
            assert!(f.syscalls.contains(&keyctl));
            let e = find(&r, Some("web"), "os/linux/seccomp-remove-set");
            assert!(
                e.detail
                    .contains("let through for the app's capabilities: mount"),
                "{}",
                e.detail
            );
        }
        // @appc.io/all turns it off.
        let r = resolve(
            &manifest(
                json!([]),
                json!([{"name": "os/linux/seccomp-retain-set", "value": {"set": ["@appc.io/all"]}}]),
            ),
            &host(),
        )
        .unwrap();
        assert_eq!(r.apps[0].1.seccomp, None);
    }

    #[test]
    fn bad_isolators_fail_before_running() {
        let e = resolve(
            &manifest(
                json!([]),
                json!([{"name": "os/linux/seccomp-retain-set", "value": {"set": ["read", "mkdri"]}}]),
            ),
            &host(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("app web") && e.contains("mkdri"), "{e}");
        let apparmor = Host {
            apparmor: true,
            ..host()
        };
        let e = resolve(
            &manifest(
                json!([]),
                json!([{"name": "os/linux/apparmor-profile", "value": {"profile": "p"}}]),
            ),
            &apparmor,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("AppArmor"), "{e}");
    }
}
