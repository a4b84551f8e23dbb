//! `exec` (and its older name `enter`) and `console`: a command, or a login shell, in a
//! running pod's app, in the app's security context and with its environment.

use jetpack_store::Store;

use super::spec::build_spec;
use super::stop::running_pid;
use crate::engine::{Engine, EnterSpec};
use crate::error::{Error, Result};
use crate::metadata::UrlFile;
use crate::network::PodNetworks;
use crate::pods::{PodRecord, Pods, Status};
use crate::rootfs;

/// How `exec` runs its command.
#[derive(Debug, Clone, Default)]
pub struct EnterOptions {
    /// A user of the app's image (name or number) instead of the app's; its group is the
    /// user's primary group in the image's `/etc/passwd`.
    pub user: Option<String>,
    /// Every capability and no seccomp filter or no_new_privs (the app's cgroups and
    /// namespaces still apply).
    pub privileged: bool,
    /// Instead of the app's working directory; it must exist.
    pub working_dir: Option<String>,
    /// Set over the app's environment, in order.
    pub env: Vec<(String, String)>,
    /// A login shell (`console`): the user's shell from the image's `/etc/passwd` (else
    /// `/bin/sh`) with `argv[0]` `-NAME`, in the user's home, with `HOME`, `USER`, `LOGNAME`
    /// and `SHELL` from the same entry. The command is ignored.
    pub login: bool,
}

/// Runs `command` (default `/bin/sh`) in a running pod's app as the app runs: its user (unless
/// `opts.user`), groups, capabilities, no_new_privs, seccomp filter, cgroups, working
/// directory and environment (`AC_METADATA_URL` included). Returns the command's exit status.
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
    let pid = running(&pods, rec)?;
    let manifest = super::load_manifest(&pods, &rec.uuid)?;
    // The app as `run` resolved it (the same lookups, the same isolators).
    let nets = PodNetworks::for_engine(engine, store, &rec.net)?;
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
    let url = UrlFile::read(&pods, &rec.uuid)?.unwrap_or_default();
    let mut env = a.env;
    set(&mut env, "AC_METADATA_URL", &url);
    let passwd = rootfs::passwd_entry(&a.rootfs, uid);
    let home = passwd.as_ref().map_or_else(
        || if uid == 0 { "/root" } else { "/" }.to_string(),
        |p| p.home.clone(),
    );
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".into(), home.clone()));
    }
    if tty && let Ok(term) = std::env::var("TERM") {
        set(&mut env, "TERM", &term);
    }
    let mut working_dir = a.working_dir;
    let mut program = None;
    let default = vec!["/bin/sh".to_string()];
    let mut argv = if command.is_empty() {
        default
    } else {
        command.to_vec()
    };
    if opts.login {
        let shell = passwd
            .as_ref()
            .map(|p| p.shell.clone())
            .filter(|s| s.starts_with('/'))
            .unwrap_or_else(|| "/bin/sh".into());
        let name = passwd
            .as_ref()
            .map_or_else(|| uid.to_string(), |p| p.name.clone());
        set(&mut env, "HOME", &home);
        set(&mut env, "USER", &name);
        set(&mut env, "LOGNAME", &name);
        set(&mut env, "SHELL", &shell);
        let base = shell.rsplit('/').next().unwrap_or("sh");
        argv = vec![format!("-{base}")];
        program = Some(shell);
        // Like login(1): the home directory, or `/` when it is missing.
        working_dir = home;
    }
    for (k, v) in &opts.env {
        set(&mut env, k, v);
    }
    let working_dir_required = opts.working_dir.is_some();
    if let Some(dir) = &opts.working_dir {
        if !dir.starts_with('/') {
            return Err(Error::Invalid(format!(
                "--working-dir {dir}: an absolute path in the app is needed"
            )));
        }
        working_dir.clone_from(dir);
    }
    engine.enter(
        pid,
        &EnterSpec {
            uuid: &rec.uuid,
            app,
            argv: &argv,
            env: &env,
            tty,
            uid,
            gid,
            groups,
            working_dir,
            working_dir_required,
            program: program.as_deref(),
            security: (!opts.privileged).then_some(a.security),
            userns: rec.userns.is_some(),
        },
    )
}

/// The running pod's init pid, or an error that names the pod's state and what to do.
fn running(pods: &Pods, rec: &PodRecord) -> Result<i32> {
    if let Some(pid) = running_pid(pods, rec)? {
        return Ok(pid);
    }
    let rec = pods.load(&rec.uuid)?;
    let uuid = &rec.uuid;
    let why = match pods.status(&rec)? {
        Status::Prepared => format!("is prepared, not running: start it with `jetpack run {uuid}`"),
        Status::Exited => format!(
            "has exited{}: `jetpack run {uuid}` starts it again",
            rec.exit
                .map(|c| format!(" (status {c})"))
                .unwrap_or_default()
        ),
        Status::Running => "is starting: try again once it runs".into(),
        Status::Restarting => "is between two runs (its restart policy): try again".into(),
        Status::Preparing => "is being prepared".into(),
        Status::Aborted => format!("was not fully prepared: `jetpack destroy {uuid}` removes it"),
    };
    Err(Error::Invalid(format!(
        "cannot run a command in pod {uuid}: it {why}"
    )))
}

fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}
