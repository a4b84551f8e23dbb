//! The `prepare`/`run` grammar, as in rkt: pod options first, then each image followed by the
//! options that apply to it, and its arguments after `--` (ended by `---` or the end).
//!
//! ```text
//! jetpack run [--rm] [-t|-i|-d] [--app NAME] [--restart POLICY] [--name NAME] [--net default|host|none|NET,...] [--dns IP,...]
//!             [--private-users[=false]] [--hostname NAME] [--hosts-entry IP=HOST|host]...
//!             [--dns-search DOMAIN,...]... [--dns-opt OPT,...]... [--set-env K=V]...
//!             [--set-env-file FILE]... [--inherit-env] [--supplementary-gids GID,...]
//!             [--mount volume=N,target=PATH]...
//!             [--port NAME:HOSTPORT]... [--volume SPEC]... [-a K=V]...
//!             [--insecure-options image-privileges|http|tls|signature|all-fetch|all,...]
//!             [--pull-policy new|update|never] [--uuid-file-save FILE]
//!             IMAGE [--exec CMD] [--set-env K=V]... [--set-env-file FILE]... [--user U]
//!                   [--group G] [--supplementary-gids GID,...] [--working-dir DIR]
//!                   [--mount volume=N,target=PATH]... [-a K=V]... [--app-name NAME]
//!                   [--readonly-rootfs] [--memory Q] [--cpu Q] [--caps-retain CAP,...]
//!                   [--caps-remove CAP,...] [--seccomp mode=retain|remove[,errno=E],CALL,...]
//!                   [-- ARG... [---]]
//!             [IMAGE ...]
//! ```
//!
//! `prepare` takes the same without `--rm`, `-t`, `-i` and `--app`, and `-n/--dry-run`. Pod options that
//! name app settings (`--set-env`, `--set-env-file`, `--supplementary-gids`, `--mount`) apply
//! to every app before the first image, to the app they follow after it (the app's win).

use anyhow::{Result, bail};
use jetpack_fetch::{Insecure, PullPolicy};
use jetpack_pod::podopts::{
    self, check_hostname, parse_dns_list, parse_env, parse_env_file, parse_gids, parse_hosts_entry,
};
use jetpack_pod::{AppRequest, EtcOptions, PodRequest, parse_isolator, parse_mount, parse_volume};

/// Everything `prepare` and `run` accept.
#[derive(Debug, Default)]
pub struct PodArgs {
    pub request: PodRequest,
    pub name: Option<String>,
    pub net: Option<String>,
    pub dns: Vec<std::net::IpAddr>,
    /// `--port NAME:HOSTPORT`.
    pub ports: Vec<(String, u16)>,
    /// `--private-users[=BOOL]`; the configuration decides when absent.
    pub private_users: Option<bool>,
    pub pod_manifest: Option<String>,
    pub rm: bool,
    pub tty: bool,
    /// `-i/--interactive`: an app reads this command's stdin.
    pub interactive: bool,
    /// `--app NAME`: the app `-t` or `-i` is for.
    pub app: Option<String>,
    /// `run -d`: start the pod under its own supervisor and return once its apps run.
    pub detach: bool,
    /// `--restart`: what a detached pod's supervisor does when the pod ends.
    pub restart: Option<jetpack_pod::RestartPolicy>,
    /// `--uuid-file-save FILE`: where to write the new pod's UUID.
    pub uuid_file: Option<std::path::PathBuf>,
    /// `prepare -n/--dry-run`: print the pod manifest, prepare nothing.
    pub dry_run: bool,
    /// The fetch checks of `--insecure-options` (for images the store lacks); its
    /// `image-privileges` is in `request.image_privileges`.
    pub insecure: Insecure,
    /// `--pull-policy`: when to fetch the images named (not given by ID).
    pub pull: PullPolicy,
    /// `--hostname`, `--hosts-entry`, `--dns-search`, `--dns-opt`.
    pub etc: EtcOptions,
}

/// The most a `--set-env-file` may hold.
const ENV_FILE_MAX: u64 = 1 << 20;

/// The variables of a `--set-env-file`.
fn env_file(f: &str) -> Result<Vec<(String, String)>> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(f)
        .and_then(|file| file.take(ENV_FILE_MAX + 1).read_to_string(&mut text))
        .map_err(|e| anyhow::anyhow!("--set-env-file {f}: {e}"))?;
    if text.len() as u64 > ENV_FILE_MAX {
        bail!("--set-env-file {f}: larger than {ENV_FILE_MAX} bytes");
    }
    Ok(parse_env_file(f, &text)?)
}

fn split(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((k, v)) if k.starts_with("--") => (k, Some(v)),
        _ => (arg, None),
    }
}

/// `--insecure-options` of `prepare` and `run`: `image-privileges` (accept the capabilities and
/// seccomp sets images ask for beyond the defaults), the checks of `fetch` (`http`, `tls`,
/// `signature`, `all-fetch`, for images the store lacks), `none`, or `all` (all of them).
fn insecure_options(v: &str) -> Result<(bool, Insecure)> {
    let mut privileges = false;
    let mut fetch = Vec::new();
    for opt in v.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match opt {
            "image-privileges" => privileges = true,
            "all" => {
                privileges = true;
                fetch.push("all-fetch");
            }
            other => fetch.push(other),
        }
    }
    let insecure = fetch.join(",").parse::<Insecure>().map_err(|e| {
        anyhow::anyhow!("--insecure-options {v:?}: {e}, image-privileges, all-fetch")
    })?;
    Ok((privileges, insecure))
}

/// The longest pod name: the name is also the pod's hostname (HOST_NAME_MAX).
const NAME_MAX: usize = 64;

/// Checks `--name` here, before any work: it becomes the pod's hostname and must be an AC name.
fn pod_name(n: &str) -> Result<String> {
    if n.len() > NAME_MAX {
        bail!(
            "--name: {} bytes is too long: a pod name is also its hostname, at most {NAME_MAX} \
             bytes",
            n.len()
        );
    }
    let ok = !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !n.starts_with('-')
        && !n.ends_with('-');
    if !ok {
        bail!(
            "--name {n:?}: a pod name is made of a-z, 0-9 and '-', and neither starts nor ends \
             with '-' (e.g. web-1)"
        );
    }
    Ok(n.to_string())
}

/// Parses the raw arguments after the command name. `run_flags` enables `--rm` and `-t`, and
/// disables `prepare`'s `-n`.
pub fn parse(args: &[String], run_flags: bool) -> Result<PodArgs> {
    let mut out = PodArgs::default();
    let mut i = 0;
    let mut app: Option<AppRequest> = None;
    while i < args.len() {
        let (key, inline) = split(&args[i]);
        let mut value = |name: &str| -> Result<String> {
            if let Some(v) = inline {
                return Ok(v.to_string());
            }
            i += 1;
            match args.get(i) {
                Some(v) => Ok(v.clone()),
                None => bail!("{name} needs a value"),
            }
        };
        match (key, app.as_mut()) {
            ("--rm", _) if run_flags => out.rm = true,
            ("-t" | "--tty", _) if run_flags => out.tty = true,
            ("-i" | "--interactive", _) if run_flags => out.interactive = true,
            ("--app", _) if run_flags => out.app = Some(value("--app")?),
            ("-d" | "--detach", _) if run_flags => out.detach = true,
            ("--restart", None) => {
                let v = value("--restart")?;
                out.restart = Some(
                    v.parse()
                        .map_err(|e: String| anyhow::anyhow!("--restart: {e}"))?,
                );
            }
            ("-n" | "--dry-run", _) if !run_flags => out.dry_run = true,
            ("--uuid-file-save", None) => {
                out.uuid_file = Some(value("--uuid-file-save")?.into());
            }
            ("--name", None) => out.name = Some(pod_name(&value("--name")?)?),
            ("--net", None) => out.net = Some(value("--net")?),
            ("--private-users", None) => {
                out.private_users = Some(match inline {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(v) => bail!("--private-users={v}: expected true or false"),
                })
            }
            ("--dns", None) => {
                for d in value("--dns")?.split(',') {
                    out.dns.push(
                        d.trim()
                            .parse()
                            .map_err(|_| anyhow::anyhow!("--dns {d:?}: not an IP address"))?,
                    );
                }
            }
            ("--port", None) => {
                let v = value("--port")?;
                let parsed = v
                    .rsplit_once(':')
                    .and_then(|(n, p)| Some((n.to_string(), p.parse::<u16>().ok()?)))
                    .filter(|(n, p)| !n.is_empty() && *p > 0);
                match parsed {
                    Some(p) => out.ports.push(p),
                    None => bail!("--port {v:?}: expected NAME:HOSTPORT, e.g. http:8080"),
                }
            }
            ("--volume", _) => out.request.volumes.push(parse_volume(&value("--volume")?)?),
            ("--pod-manifest", None) => out.pod_manifest = Some(value("--pod-manifest")?),
            ("--pull-policy", None) => out.pull = value("--pull-policy")?.parse()?,
            ("--insecure-options", None) => {
                let v = value("--insecure-options")?;
                let (privileges, insecure) = insecure_options(&v)?;
                out.request.image_privileges |= privileges;
                out.insecure = insecure;
            }
            ("-a" | "--annotation", target) => {
                let v = value("--annotation")?;
                let Some((k, val)) = v.split_once('=') else {
                    bail!("--annotation {v:?}: expected NAME=VALUE")
                };
                let kv = (k.to_string(), val.to_string());
                match target {
                    Some(a) => a.annotations.push(kv),
                    None => out.request.annotations.push(kv),
                }
            }
            ("--hostname", None) => {
                let h = value("--hostname")?;
                check_hostname("--hostname", &h)?;
                out.etc.hostname = Some(h);
            }
            ("--hosts-entry", None) => match parse_hosts_entry(&value("--hosts-entry")?)? {
                None => out.etc.host_hosts = true,
                Some(e) => out.etc.hosts_entries.push(e),
            },
            (opt @ ("--dns-search" | "--dns-opt"), None) => {
                let list = parse_dns_list(opt, &value(opt)?)?;
                match opt {
                    "--dns-search" => out.etc.dns_search.extend(list),
                    _ => out.etc.dns_options.extend(list),
                }
            }
            ("--inherit-env", None) => {
                out.request.inherited_env = podopts::inheritable_env(std::env::vars_os());
            }
            ("--set-env", target) => {
                let kv = parse_env(&value("--set-env")?)?;
                match target {
                    Some(a) => a.env.push(kv),
                    None => out.request.env.push(kv),
                }
            }
            ("--set-env-file", target) => {
                let vars = env_file(&value("--set-env-file")?)?;
                match target {
                    Some(a) => a.env.extend(vars),
                    None => out.request.env.extend(vars),
                }
            }
            ("--supplementary-gids", target) => {
                let gids = Some(parse_gids(&value("--supplementary-gids")?)?);
                match target {
                    Some(a) => a.supplementary_gids = gids,
                    None => out.request.supplementary_gids = gids,
                }
            }
            ("--mount", None) => out.request.mounts.push(parse_mount(&value("--mount")?)?),
            ("--exec", Some(a)) => a.exec = Some(value("--exec")?),
            ("--user", Some(a)) => a.user = Some(value("--user")?),
            ("--group", Some(a)) => a.group = Some(value("--group")?),
            ("--working-dir", Some(a)) => a.working_dir = Some(value("--working-dir")?),
            ("--mount", Some(a)) => a.mounts.push(parse_mount(&value("--mount")?)?),
            ("--app-name", Some(a)) => a.name = Some(value("--app-name")?),
            ("--readonly-rootfs", Some(a)) => a.read_only_rootfs = true,
            (
                opt @ ("--memory" | "--cpu" | "--caps-retain" | "--caps-remove" | "--seccomp"),
                Some(a),
            ) => {
                let v = value(opt)?;
                a.isolators.push(parse_isolator(opt, &v)?);
            }
            ("--", Some(a)) => {
                let mut rest = Vec::new();
                i += 1;
                while i < args.len() && args[i] != "---" {
                    rest.push(args[i].clone());
                    i += 1;
                }
                a.args = Some(rest);
            }
            // Ends an app's options where no arguments (`--`) were given.
            ("---", Some(_)) => {}
            (k, None) if k.starts_with('-') && k.len() > 1 => {
                bail!("unknown option {k} before the first image (see `jetpack help prepare`)")
            }
            (k, Some(_)) if k.starts_with('-') && k.len() > 1 => {
                bail!("unknown option {k} (see `jetpack help prepare`)")
            }
            (image, _) => {
                if let Some(a) = app.take() {
                    out.request.apps.push(a);
                }
                app = Some(AppRequest {
                    image: image.to_string(),
                    ..AppRequest::default()
                });
            }
        }
        i += 1;
    }
    if let Some(a) = app {
        out.request.apps.push(a);
    }
    if out.pod_manifest.is_some() && !out.request.apps.is_empty() {
        bail!("give either --pod-manifest or images, not both");
    }
    if out.pod_manifest.is_some() && out.request.has_app_wide_options() {
        bail!(
            "--set-env, --set-env-file, --inherit-env, --supplementary-gids and --mount apply \
             to the apps of images given on the command line; with --pod-manifest, give each \
             app's environment, supplementaryGIDs and mounts in the manifest"
        );
    }
    if out.pod_manifest.is_none() && out.request.apps.is_empty() {
        bail!("no image given (see `jetpack help prepare`)");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn per_app_options_and_args() {
        let p = parse(
            &args(&[
                "--rm",
                "--name=web",
                "--volume",
                "data,kind=empty",
                "-a",
                "k=v",
                "example.com/a",
                "--exec",
                "/bin/sh",
                "--set-env",
                "X=1",
                "--mount",
                "volume=data,target=/d",
                "--",
                "-c",
                "echo hi",
                "---",
                "example.com/b:1.0",
                "--user=nobody",
                "-a",
                "x=y",
            ]),
            true,
        )
        .unwrap();
        assert!(p.rm && !p.tty);
        assert_eq!(p.name.as_deref(), Some("web"));
        assert_eq!(p.request.annotations, vec![("k".into(), "v".into())]);
        let [a, b] = &p.request.apps[..] else {
            panic!("two apps")
        };
        assert_eq!(a.image, "example.com/a");
        assert_eq!(a.exec.as_deref(), Some("/bin/sh"));
        assert_eq!(a.args, Some(args(&["-c", "echo hi"])));
        assert_eq!(a.mounts, vec![("data".into(), "/d".into())]);
        assert_eq!(b.image, "example.com/b:1.0");
        assert_eq!(b.user.as_deref(), Some("nobody"));
        assert_eq!(b.annotations, vec![("x".into(), "y".into())]);
    }

    #[test]
    fn isolator_options_are_per_app() {
        let p = parse(
            &args(&[
                "img",
                "--memory=64M",
                "--cpu",
                "500m",
                "--caps-retain=CAP_CHOWN,CAP_KILL",
                "--seccomp",
                "mode=remove,errno=EPERM,mkdir",
                "img2",
                "--caps-remove",
                "CAP_MKNOD",
            ]),
            true,
        )
        .unwrap();
        let names = |a: &AppRequest| -> Vec<String> {
            a.isolators.iter().map(|i| i.name().to_string()).collect()
        };
        assert_eq!(
            names(&p.request.apps[0]),
            vec![
                "resource/memory",
                "resource/cpu",
                "os/linux/capabilities-retain-set",
                "os/linux/seccomp-remove-set"
            ]
        );
        assert_eq!(
            names(&p.request.apps[1]),
            vec!["os/linux/capabilities-remove-set"]
        );
        assert!(
            parse(&args(&["--memory=1G", "img"]), true)
                .unwrap_err()
                .to_string()
                .contains("before the first image")
        );
        assert!(
            parse(&args(&["img", "--seccomp", "mkdir"]), true)
                .unwrap_err()
                .to_string()
                .contains("mode=")
        );
    }

    #[test]
    fn errors() {
        assert!(
            parse(&args(&["--exec", "/x", "img"]), false)
                .unwrap_err()
                .to_string()
                .contains("before the first image")
        );
        assert!(
            parse(&args(&["--rm", "img"]), false).is_err(),
            "--rm is for run only"
        );
        assert!(
            parse(&args(&[]), true)
                .unwrap_err()
                .to_string()
                .contains("no image")
        );
        assert!(
            parse(&args(&["img", "--bogus"]), true)
                .unwrap_err()
                .to_string()
                .contains("unknown option --bogus")
        );
        assert!(parse(&args(&["img", "--set-env", "NOEQ"]), true).is_err());
        let long = "a".repeat(65);
        let e = parse(&args(&["--name", &long, "img"]), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("64 bytes"), "{e}");
        assert!(parse(&args(&["--name", &long[1..], "img"]), false).is_ok());
        for bad in ["Web", "web_1", "-web", "web-", ""] {
            let e = parse(&args(&["--name", bad, "img"]), false)
                .unwrap_err()
                .to_string();
            assert!(e.contains("a-z, 0-9"), "{bad}: {e}");
        }
    }

    #[test]
    fn attach_and_pod_wide_options() {
        let p = parse(
            &args(&[
                "-i",
                "--app",
                "b",
                "--hostname",
                "h",
                "--hosts-entry",
                "host",
                "--hosts-entry=10.0.0.1=db",
                "--set-env",
                "A=1",
                "--supplementary-gids",
                "5",
                "--mount",
                "volume=v,target=/v",
                "img",
                "--app-name",
                "a",
                "---",
                "img2",
            ]),
            true,
        )
        .unwrap();
        assert!(p.interactive && !p.tty);
        assert_eq!(p.app.as_deref(), Some("b"));
        assert_eq!(p.etc.hostname.as_deref(), Some("h"));
        assert!(p.etc.host_hosts && p.etc.hosts_entries.len() == 1);
        assert_eq!(p.request.env, vec![("A".into(), "1".into())]);
        assert_eq!(p.request.supplementary_gids, Some(vec![5]));
        assert_eq!(p.request.mounts, vec![("v".into(), "/v".into())]);
        assert_eq!(p.request.apps.len(), 2);
        assert!(
            parse(&args(&["-i", "img"]), false).is_err(),
            "-i is for run only"
        );
    }

    #[test]
    fn pull_policy() {
        assert_eq!(parse(&args(&["img"]), true).unwrap().pull, PullPolicy::New);
        let p = parse(&args(&["--pull-policy=never", "img"]), false).unwrap();
        assert_eq!(p.pull, PullPolicy::Never);
        let p = parse(&args(&["--pull-policy", "update", "img"]), true).unwrap();
        assert_eq!(p.pull, PullPolicy::Update);
        let e = parse(&args(&["--pull-policy=always", "img"]), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("new, update or never"), "{e}");
    }

    #[test]
    fn insecure_options() {
        let p = parse(
            &args(&["--insecure-options=image-privileges,http", "img"]),
            false,
        )
        .unwrap();
        assert!(p.request.image_privileges && p.insecure.http && !p.insecure.signature);
        let p = parse(&args(&["--insecure-options", "signature", "img"]), true).unwrap();
        assert!(!p.request.image_privileges && p.insecure.signature);
        let p = parse(&args(&["--insecure-options=all", "img"]), true).unwrap();
        assert!(p.request.image_privileges && p.insecure.tls && p.insecure.http);
        let p = parse(&args(&["img"]), true).unwrap();
        assert!(!p.request.image_privileges && p.insecure == Insecure::default());
        let e = parse(&args(&["--insecure-options=ondisk", "img"]), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("image-privileges"), "{e}");
        assert!(
            parse(&args(&["img", "--insecure-options=image-privileges"]), true).is_err(),
            "a pod option"
        );
    }
}
