//! Stage 2 of one app as data: the steps the engine takes, in order, from the host into the
//! app's process (Jetpack's stage2: jail_attach, chdir and chroot into the app's root, the
//! working directory, groups, gid, uid, exec).

use crate::pod::App;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `jail_attach(2)` to the jail of this name (its jid looked up with `jail_getid`).
    JailAttach(String),
    Chdir(String),
    /// `chroot(2)` to a path inside the jail.
    Chroot(String),
    /// `setgroups(2)`: exactly these (the first is the primary gid, as FreeBSD's setgroups
    /// sets the effective gid from the list's first entry).
    SetGroups(Vec<u32>),
    SetGid(u32),
    SetUid(u32),
    /// `execve(2)` with exactly this environment (jail(8)'s `exec.clean`).
    Exec {
        argv: Vec<String>,
        env: Vec<(String, String)>,
    },
}

/// The steps for `app` in jail `jail`.
pub fn steps(jail: &str, app: &App) -> Vec<Step> {
    let mut groups = vec![app.gid];
    groups.extend(app.supplementary_gids.iter().filter(|g| **g != app.gid));
    vec![
        Step::JailAttach(jail.to_string()),
        Step::Chdir(format!("/app/{}", app.name)),
        Step::Chroot(".".to_string()),
        Step::Chdir(app.working_dir.clone()),
        Step::SetGroups(groups),
        Step::SetGid(app.gid),
        Step::SetUid(app.uid),
        Step::Exec {
            argv: app.exec.clone(),
            env: app.env.clone(),
        },
    ]
}
