//! `enter`: a command in a running pod's app, in the app's security context.

use jetpack_store::Store;

use super::spec::{DEFAULT_PATH, build_spec, load_manifest};
use super::stop::running_pid;
use crate::engine::{Engine, EnterSpec};
use crate::error::{Error, Result};
use crate::network::PodNetworks;
use crate::pods::{PodRecord, Pods};
use crate::rootfs;

/// How `enter` runs its command.
#[derive(Debug, Clone, Default)]
pub struct EnterOptions {
    /// A user of the app's image (name or number) instead of the app's.
    pub user: Option<String>,
    /// Every capability and no seccomp filter or no_new_privs (the app's cgroups and
    /// namespaces still apply).
    pub privileged: bool,
}

/// Runs `command` (default `/bin/sh`) in a running pod's app, in the app's security context:
/// its user (unless `opts.user`), groups, capabilities, no_new_privs and seccomp filter.
pub fn enter_with(
    engine: &dyn Engine,
    store: &Store,
    rec: &PodRecord,
    app: &str,
    command: &[String],
    tty: bool,
    opts: &EnterOptions,
) -> Result<i32> {
    let pods = Pods::new(store.root());
    if !rec.apps.iter().any(|a| a.name == app) {
        return Err(Error::NotFound(format!(
            "pod {} has no app {app:?}",
            rec.uuid
        )));
    }
    let Some(pid) = running_pid(&pods, rec)? else {
        return Err(Error::Invalid(format!("pod {} is not running", rec.uuid)));
    };
    let default = vec!["/bin/sh".to_string()];
    let manifest = load_manifest(&pods, &rec.uuid)?;
    // The app as `run` resolved it (the same lookups, the same isolators).
    let nets = PodNetworks::load(store, &rec.net)?;
    let (spec, _) = build_spec(
        &pods,
        rec,
        &manifest,
        false,
        &nets.isolator_host(&manifest, engine),
    )?;
    let a = spec
        .apps
        .into_iter()
        .find(|a| a.name == app)
        .ok_or_else(|| Error::NotFound(format!("pod {} has no app {app:?}", rec.uuid)))?;
    let (uid, gid, groups) = match &opts.user {
        None => (a.uid, a.gid, a.supplementary_gids),
        Some(u) => {
            let uid = rootfs::resolve_user(&a.rootfs, u)
                .map_err(|e| Error::Invalid(format!("--user {u}: {e}")))?;
            let gid = rootfs::user_gid(&a.rootfs, uid).unwrap_or(uid);
            (uid, gid, Vec::new())
        }
    };
    let path = manifest
        .app(app)
        .and_then(|a| a.app.as_ref())
        .and_then(|a| a.environment.iter().find(|e| e.name == "PATH"))
        .map(|e| e.value.clone())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let mut env = vec![
        ("PATH".to_string(), path),
        ("HOME".to_string(), "/root".to_string()),
        ("AC_APP_NAME".to_string(), app.to_string()),
        ("container".to_string(), "jetpack".to_string()),
    ];
    if let Ok(term) = std::env::var("TERM") {
        env.push(("TERM".into(), term));
    }
    engine.enter(
        pid,
        &EnterSpec {
            uuid: &rec.uuid,
            app,
            argv: if command.is_empty() {
                &default
            } else {
                command
            },
            env: &env,
            tty,
            uid,
            gid,
            groups,
            working_dir: a.working_dir,
            security: (!opts.privileged).then_some(a.security),
            userns: rec.userns.is_some(),
        },
    )
}
