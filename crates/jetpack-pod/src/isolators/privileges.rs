//! What an image's own isolators ask beyond what an app gets without them, refused at
//! `prepare` unless the operator accepts it.

use appc::Isolator;
use jetpack_runtime::{SeccompMode, caps};

use super::capabilities;
use super::seccomp::{DEFAULT_SECCOMP, mode_and_set};
use crate::engine::native as engine;

/// What an app's isolators that came from its image (`from_image[i]` for `list[i]`) ask beyond
/// what an app gets without them: capabilities outside appc's default set, and system calls
/// the default seccomp filter would block. `None` when they ask nothing more; otherwise the
/// sentence that says what, and which options grant it. Unknown names are left to
/// [`super::resolve`], which reports them.
pub fn image_privileges(list: &[Isolator], from_image: &[bool]) -> Option<String> {
    let capabilities = capabilities::of(list);
    let last = |f: fn(&Isolator) -> bool| {
        list.iter()
            .enumerate()
            .rev()
            .find(|(_, i)| f(i))
            .filter(|(at, _)| from_image.get(*at).copied().unwrap_or(false))
            .map(|(_, i)| i)
    };
    let mut asks = Vec::new();
    if let Some(Isolator::CapabilitiesRetainSet(names)) = last(|i| {
        matches!(
            i,
            Isolator::CapabilitiesRetainSet(_) | Isolator::CapabilitiesRemoveSet(_)
        )
    }) {
        let (mask, _) = caps::mask(names);
        let beyond = caps::names(mask & !caps::DEFAULT_SET);
        if !beyond.is_empty() {
            asks.push(format!(
                "capabilities beyond the default set: {} (grant them with --caps-retain={} \
                 after the image)",
                beyond.join(", "),
                caps::names(mask).join(",")
            ));
        }
    }
    if let Some(iso) = last(|i| {
        matches!(
            i,
            Isolator::SeccompRetainSet(_) | Isolator::SeccompRemoveSet(_)
        )
    }) {
        let (mode, s) = mode_and_set(iso);
        if let Ok(through) = engine::seccomp_let_through(mode, &s.set, capabilities)
            && !through.is_empty()
        {
            asks.push(format!(
                "a {} that lets through system calls the default filter \
                 ({DEFAULT_SECCOMP}) blocks: {} (grant it with --seccomp after the image, \
                 e.g. --seccomp=mode={},{})",
                iso.name(),
                through.join(", "),
                if mode == SeccompMode::Retain {
                    "retain"
                } else {
                    "remove"
                },
                s.set.join(",")
            ));
        }
    }
    if asks.is_empty() {
        None
    } else {
        Some(format!(
            "{}; or accept what the image asks with --insecure-options=image-privileges",
            asks.join("; and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::isolators::*;

    #[test]
    fn privileges_an_image_asks_for() {
        let iso = |v: serde_json::Value| -> Isolator { serde_json::from_value(v).unwrap() };
        let admin = iso(
            json!({"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_SYS_ADMIN", "CAP_CHOWN"]}}),
        );
        let fewer = iso(
            json!({"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_CHOWN"]}}),
        );
        let remove = iso(
            json!({"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_CHOWN"]}}),
        );
        let all =
            iso(json!({"name": "os/linux/seccomp-retain-set", "value": {"set": ["@appc.io/all"]}}));
        let strict = iso(
            json!({"name": "os/linux/seccomp-remove-set", "value": {"set": ["@docker/default", "mkdir"]}}),
        );
        let msg = image_privileges(std::slice::from_ref(&admin), &[true]).unwrap();
        assert!(msg.contains("CAP_SYS_ADMIN"), "{msg}");
        assert!(
            !msg.contains("CAP_SYS_ADMIN, CAP_CHOWN"),
            "only what is beyond: {msg}"
        );
        assert!(
            msg.contains("--caps-retain=CAP_CHOWN,CAP_SYS_ADMIN"),
            "{msg}"
        );
        assert!(msg.contains("--insecure-options=image-privileges"), "{msg}");
        // From the operator: granted.
        assert_eq!(
            image_privileges(std::slice::from_ref(&admin), &[false]),
            None
        );
        // Replaced by the operator's set (last wins): nothing asked.
        assert_eq!(
            image_privileges(&[admin.clone(), fewer.clone()], &[true, false]),
            None
        );
        assert_eq!(image_privileges(&[fewer, remove], &[true, true]), None);
        let msg = image_privileges(std::slice::from_ref(&all), &[true]).unwrap();
        assert!(msg.contains("mount") && msg.contains("keyctl"), "{msg}");
        assert!(msg.contains("--seccomp=mode=retain,@appc.io/all"), "{msg}");
        assert_eq!(
            image_privileges(std::slice::from_ref(&strict), &[true]),
            None
        );
        let weak = iso(
            json!({"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"], "errno": "EPERM"}}),
        );
        let msg = image_privileges(std::slice::from_ref(&weak), &[true]).unwrap();
        assert!(
            msg.contains("os/linux/seccomp-remove-set") && msg.contains("unshare"),
            "{msg}"
        );
        // Both at once, in one message.
        let msg = image_privileges(&[admin, all], &[true, true]).unwrap();
        assert!(
            msg.contains("CAP_SYS_ADMIN") && msg.contains("keyctl"),
            "{msg}"
        );
        assert!(
            !msg.contains(" mount,"),
            "CAP_SYS_ADMIN from the image covers mount: {msg}"
        );
    }
}
