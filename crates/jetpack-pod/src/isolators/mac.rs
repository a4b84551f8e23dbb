//! SELinux and AppArmor, at pod or app level: neither is applied yet. An AppArmor profile on
//! a host with AppArmor is refused, since the spec forbids running without it there.

use appc::Isolator;

use super::report::Status;
use super::scope::{Scope, Verdict};
use crate::error::{Error, Result};

pub(super) fn check(scope: &Scope, iso: &Isolator) -> Result<Verdict> {
    match iso {
        Isolator::ApparmorProfile(p) if scope.host.apparmor => Err(Error::Invalid(format!(
            "{}isolator os/linux/apparmor-profile {p:?}: this host has AppArmor, and Jetpack \
             cannot apply profiles yet; the spec forbids running without it",
            scope.app.map(|a| format!("app {a}: ")).unwrap_or_default()
        ))),
        Isolator::ApparmorProfile(_) => Ok((Status::Ignored, "this host has no AppArmor".into())),
        _ => {
            let why = if scope.host.selinux {
                "SELinux labels are not supported yet: the app runs with jetpack's label"
            } else {
                "this host has no SELinux"
            };
            Ok((Status::Ignored, why.into()))
        }
    }
}
