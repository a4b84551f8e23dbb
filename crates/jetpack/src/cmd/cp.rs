//! `cp SRC DST`: exactly one side is `POD[:APP]:PATH`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use jetpack_pod::Pods;
use jetpack_pod::lifecycle::cp::{Copy, copy};
use jetpack_store::{Config, Store};

/// A `POD[:APP]:PATH` operand, split; `None` for a host path. A host path is one without a
/// colon, or with a `/` before its first colon (`./a:b`).
fn pod_side(arg: &str) -> Option<(&str, Option<&str>, &str)> {
    let (pod, rest) = arg.split_once(':')?;
    if pod.is_empty() || pod.contains('/') {
        return None;
    }
    // POD:APP:PATH, unless the rest is an absolute path (POD:/PATH, whatever it holds).
    match rest.split_once(':') {
        Some((app, path)) if !rest.starts_with('/') && !app.contains('/') => {
            Some((pod, Some(app), path))
        }
        _ => Some((pod, None, rest)),
    }
}

pub fn run(cfg: &Config, src: &str, dst: &str) -> Result<ExitCode> {
    let (pod, app, what) = match (pod_side(src), pod_side(dst)) {
        (Some(_), Some(_)) => bail!(
            "both {src:?} and {dst:?} are in pods: one side of a copy is a host path (write a \
             host path with a colon as ./NAME)"
        ),
        (None, None) => {
            bail!("neither {src:?} nor {dst:?} is POD[:APP]:PATH: one side of a copy is in a pod")
        }
        (Some((pod, app, path)), None) => (
            pod,
            app,
            Copy::Out {
                src: path.to_string(),
                dst: PathBuf::from(dst),
            },
        ),
        (None, Some((pod, app, path))) => (
            pod,
            app,
            Copy::In {
                src: PathBuf::from(src),
                dst: path.to_string(),
            },
        ),
    };
    let store = Store::open(cfg)?;
    let pods = Pods::new(store.root());
    let rec = pods.find(pod)?;
    let app = super::exec::app_of(&rec, app)?;
    let done = copy(&store, &rec, &app, &what)?;
    tracing::debug!(
        "copied {} files, {} directories, {} symlinks, {} bytes",
        done.files,
        done.dirs,
        done.links,
        done.bytes
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::pod_side;

    #[test]
    fn operands() {
        assert_eq!(pod_side("web:/etc/motd"), Some(("web", None, "/etc/motd")));
        assert_eq!(pod_side("web:db:/x"), Some(("web", Some("db"), "/x")));
        assert_eq!(pod_side("web:/a:b"), Some(("web", None, "/a:b")));
        assert_eq!(pod_side("/tmp/a:b"), None);
        assert_eq!(pod_side("./a:b"), None);
        assert_eq!(pod_side("plain"), None);
        assert_eq!(pod_side(":x"), None);
    }
}
