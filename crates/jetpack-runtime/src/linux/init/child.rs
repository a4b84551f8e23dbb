//! The processes the init forks besides itself: [`clone_app`] makes each app's process in a
//! new mount namespace (and its v2 cgroup), and [`post_stop`] is the body of a post-stop
//! handler's process, which joins an ended app's mount namespace and execs the handler. Apart
//! from the init's loop because they run in the children, under the fork contract.

use std::os::fd::{AsRawFd, RawFd};

use libc::pid_t;

use crate::errno_text;
use crate::linux::app::{self, Stdio};
use crate::linux::plan::AppPlan;
use crate::linux::report::{Kind, Reporter};
use crate::linux::sys;

/// Forks an app's process in a new mount namespace, in the app's v2 cgroup if it has one.
pub(super) fn clone_app(app: &AppPlan) -> std::io::Result<pid_t> {
    let v2 = app.cgroups.v2_dir.as_ref().map(|d| d.as_raw_fd());
    // SAFETY: the init is single-threaded.
    match unsafe { sys::clone_new_mount_ns(v2) } {
        // A kernel without CLONE_INTO_CGROUP (before 5.7): clone, then move the child, the
        // slow way. It waits for the release before running anything of its own.
        Err(e)
            if v2.is_some()
                && matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL)
                ) =>
        {
            // SAFETY: as above.
            let pid = unsafe { sys::clone_new_mount_ns(None) }?;
            if pid == 0 {
                return Ok(0);
            }
            let procs = app.cgroups.v2_procs.as_ref().map(|p| p.as_raw_fd());
            if let Some(procs) = procs
                && let Err(e) = sys::write_all(procs, pid.to_string().as_bytes())
            {
                let _ = sys::kill(pid, libc::SIGKILL);
                return Err(e);
            }
            Ok(pid)
        }
        r => r,
    }
}

/// The post-stop handler's process: joins the app's mount namespace (whose root is the app's
/// rootfs) and runs the handler with the app's identity and environment. `host_root` is the
/// init's `/`: if the namespace's root is still that, the app never got its filesystem and
/// nothing runs.
pub(super) fn post_stop(
    app: &AppPlan,
    mount_ns: RawFd,
    host_root: Option<(u64, u64)>,
    stdio: Stdio,
    report: Reporter,
) -> ! {
    sys::reset_signal_dispositions();
    let joined = sys::setns(mount_ns, libc::CLONE_NEWNS).and_then(|()| {
        let root = sys::file_id(c"/")?;
        if host_root.is_none_or(|h| h == root) {
            return Err(std::io::Error::other(
                "the app's filesystem was never set up",
            ));
        }
        Ok(())
    });
    let fail = match joined {
        Err(e) => app::Failure::setup(format!(
            "joining the app's mount namespace: {}",
            errno_text(&e)
        )),
        Ok(()) => {
            if let Err(f) = app::join_app_context(app, false) {
                report.send(Kind::PostStop, &f.message);
                sys::exit(f.code);
            }
            let _ = sys::dup2(stdio.stdin, 0);
            let _ = sys::dup2(stdio.stdout, 1);
            let _ = sys::dup2(stdio.stderr, 2);
            match app::take_identity(app) {
                Err(f) => f,
                Ok(()) => {
                    app::unblock_all();
                    let handler = app.post_stop.as_ref().expect("post-stop present");
                    match app::lock_down(app) {
                        Err(f) => f,
                        Ok(()) => app::exec(handler, &app.env, &app.path_dirs),
                    }
                }
            }
        }
    };
    report.send(Kind::PostStop, &fail.message);
    sys::exit(fail.code)
}
