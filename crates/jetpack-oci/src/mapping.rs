//! An image configuration as an appc image manifest (docker2aci's rules):
//!
//! - `Entrypoint` then `Cmd` are `exec` (empty when neither is given: `run` then needs
//!   `--exec`); `Env` is the environment; `WorkingDir` the working directory.
//! - `User`: `""` is `0:0`, `USER` is `USER:0`, `USER:GROUP` as given (names are resolved in
//!   the rootfs at run, as for ACIs).
//! - `ExposedPorts` `PORT/PROTO` are ports named `PORT-PROTO`; `Volumes` are mount points named
//!   `volume-` and the path (`/var/lib/db` → `volume-var-lib-db`), filled with `empty`
//!   volumes unless the pod gives one.
//! - Labels are annotations (an entry appc would refuse is left out); `created` and `author`
//!   are `created` and `authors`; `StopSignal` is `jetpack/stop-signal`.
//! - `os`, `arch` (appc's names, see [`Platform::appc_labels`]) and `version` (the tag) are
//!   labels.
//!
//! Every list is sorted, so the same configuration always gives the same manifest.

use std::collections::BTreeMap;

use appc::{AcIdentifier, AcName, App, EnvVar, ImageManifest, Label, Labels, MountPoint, Port};
use oci_spec::image::ImageConfiguration;

use crate::error::{Error, Result};
use crate::platform::Platform;

/// The annotation that keeps the configuration's `StopSignal`.
pub const STOP_SIGNAL: &str = "jetpack/stop-signal";

/// The appc manifest of an image called `name` (see [`crate::DockerRef::appc_name`]) with
/// the configuration `config`, tagged `tag`.
pub fn image_manifest(
    config: &ImageConfiguration,
    name: &AcIdentifier,
    tag: Option<&str>,
) -> Result<ImageManifest> {
    let bad = |e: appc::Error| Error::Config(e.to_string());
    let mut m = ImageManifest::new(name.clone());
    let platform = Platform {
        os: config.os().to_string(),
        architecture: config.architecture().to_string(),
        variant: config.variant().clone(),
    };
    let (os, arch) = platform.appc_labels();
    let mut labels = Vec::new();
    if let Some(t) = tag {
        labels.push(Label::new(id("version"), t));
    }
    if appc::validate_os_arch(&os, arch.as_deref()).is_ok() {
        labels.push(Label::new(id("os"), os));
        if let Some(a) = arch {
            labels.push(Label::new(id("arch"), a));
        }
    }
    m.labels = Labels::new(labels).map_err(bad)?;

    let c = config.config().clone().unwrap_or_default();
    let (user, group) = user_and_group(c.user().as_deref().unwrap_or(""));
    let app = App {
        exec: c
            .entrypoint()
            .iter()
            .flatten()
            .chain(c.cmd().iter().flatten())
            .cloned()
            .collect(),
        user,
        group,
        working_directory: c.working_dir().clone().filter(|w| w.starts_with('/')),
        environment: environment(c.env().as_deref().unwrap_or(&[])),
        ports: ports(c.exposed_ports().as_deref().unwrap_or(&[])),
        mount_points: mount_points(c.volumes().as_deref().unwrap_or(&[])),
        ..App::default()
    };
    m.app = Some(app);

    let labels: BTreeMap<&String, &String> = c.labels().iter().flatten().collect();
    let mut set = |name: &str, value: &str| {
        if let Ok(n) = AcIdentifier::sanitize(name) {
            // One appc refuses (a `homepage` that is no URL, …) is left out, not fatal.
            let _ = m.annotations.set(n, value);
        }
    };
    for (k, v) in labels {
        set(k, v);
    }
    if let Some(created) = config.created() {
        set("created", created);
    }
    if let Some(author) = config.author() {
        set("authors", author);
    }
    if let Some(s) = c.stop_signal() {
        set(STOP_SIGNAL, s);
    }
    Ok(m)
}

fn id(s: &str) -> AcIdentifier {
    s.parse().expect("a valid identifier")
}

/// docker2aci's rule: no user is root; a user without a group gets group 0.
fn user_and_group(user: &str) -> (String, String) {
    match user.split_once(':') {
        _ if user.is_empty() => ("0".into(), "0".into()),
        Some((u, g)) => (
            if u.is_empty() { "0".into() } else { u.into() },
            if g.is_empty() { "0".into() } else { g.into() },
        ),
        None => (user.into(), "0".into()),
    }
}

/// `KEY=VALUE` entries; the last of a repeated key wins. An entry without `=`, or whose key
/// appc does not accept as a variable name (`P?TH`), is left out: the manifest must be valid.
fn environment(env: &[String]) -> Vec<appc::EnvVar> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for e in env {
        if let Some((k, v)) = e.split_once('=')
            && EnvVar::valid_name(k)
            && seen.insert(k, v).is_none()
        {
            order.push(k);
        }
    }
    order
        .into_iter()
        .map(|k| EnvVar {
            name: k.into(),
            value: seen[k].into(),
        })
        .collect()
}

/// `PORT[/PROTO]` entries as ports `PORT-PROTO`, sorted; unreadable entries are left out.
fn ports(exposed: &[String]) -> Vec<Port> {
    let mut out: Vec<(u16, String)> = exposed
        .iter()
        .filter_map(|e| {
            let (p, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            let port: u16 = p.parse().ok().filter(|&p| p > 0)?;
            let proto = proto.to_ascii_lowercase();
            matches!(proto.as_str(), "tcp" | "udp" | "sctp").then_some((port, proto))
        })
        .collect();
    out.sort();
    out.dedup();
    out.into_iter()
        .map(|(port, protocol)| Port {
            name: format!("{port}-{protocol}").parse().expect("a valid name"),
            protocol,
            port,
            count: 1,
            socket_activated: false,
        })
        .collect()
}

/// Absolute volume paths as mount points, sorted, with names unique.
fn mount_points(volumes: &[String]) -> Vec<MountPoint> {
    let mut paths: Vec<&String> = volumes.iter().filter(|v| v.starts_with('/')).collect();
    paths.sort();
    paths.dedup();
    let mut names = std::collections::BTreeSet::new();
    paths
        .into_iter()
        .map(|p| {
            let base = AcName::sanitize(&format!("volume{p}"))
                .unwrap_or_else(|_| "volume".parse().expect("a valid name"));
            let mut name = base.clone();
            let mut n = 2;
            while !names.insert(name.to_string()) {
                name = format!("{base}-{n}").parse().expect("a valid name");
                n += 1;
            }
            MountPoint {
                name,
                path: p.clone(),
                read_only: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> ImageConfiguration {
        serde_json::from_str(json).unwrap()
    }

    const NGINX: &str = r#"{
      "architecture": "amd64", "os": "linux", "created": "2024-05-01T10:00:00.123456789Z",
      "author": "NGINX Docker Maintainers",
      "config": {
        "User": "nginx",
        "ExposedPorts": {"80/tcp": {}, "443/tcp": {}, "53/udp": {}, "x/tcp": {}},
        "Env": ["PATH=/usr/local/bin:/usr/bin", "NGINX_VERSION=1.25", "PATH=/bin", "BAD"],
        "Entrypoint": ["/docker-entrypoint.sh"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "WorkingDir": "/srv",
        "Volumes": {"/var/cache/nginx": {}, "/var/log/nginx": {}, "relative": {}},
        "Labels": {"maintainer": "NGINX <docker-maint@nginx.com>", "homepage": "not a url",
                   "org.opencontainers.image.version": "1.25"},
        "StopSignal": "SIGQUIT"
      },
      "rootfs": {"type": "layers", "diff_ids": []}
    }"#;

    #[test]
    fn a_configuration_becomes_an_appc_manifest() {
        let name = "docker.io/library/nginx".parse().unwrap();
        let m = image_manifest(&config(NGINX), &name, Some("1.25")).unwrap();
        // It is valid appc: it reads back as the same manifest.
        let again = ImageManifest::from_slice(m.to_json().as_bytes()).unwrap();
        assert_eq!(again, m);
        let app = m.app.as_ref().unwrap();
        assert_eq!(
            app.exec,
            ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]
        );
        assert_eq!((app.user.as_str(), app.group.as_str()), ("nginx", "0"));
        assert_eq!(app.working_directory.as_deref(), Some("/srv"));
        let env: Vec<String> = app
            .environment
            .iter()
            .map(|e| format!("{}={}", e.name, e.value))
            .collect();
        assert_eq!(env, ["PATH=/bin", "NGINX_VERSION=1.25"]);
        let ports: Vec<String> = app
            .ports
            .iter()
            .map(|p| format!("{} {}/{}", p.name, p.port, p.protocol))
            .collect();
        assert_eq!(ports, ["53-udp 53/udp", "80-tcp 80/tcp", "443-tcp 443/tcp"]);
        let mps: Vec<String> = app
            .mount_points
            .iter()
            .map(|p| format!("{} {}", p.name, p.path))
            .collect();
        assert_eq!(
            mps,
            [
                "volume-var-cache-nginx /var/cache/nginx",
                "volume-var-log-nginx /var/log/nginx"
            ]
        );
        assert_eq!(m.labels.get("version"), Some("1.25"));
        assert_eq!(m.labels.get("os"), Some("linux"));
        assert_eq!(m.labels.get("arch"), Some("amd64"));
        assert_eq!(
            m.annotations.get("maintainer"),
            Some("NGINX <docker-maint@nginx.com>")
        );
        assert_eq!(
            m.annotations.get("org.opencontainers.image.version"),
            Some("1.25")
        );
        assert_eq!(
            m.annotations.get("homepage"),
            None,
            "an invalid URL is left out"
        );
        assert_eq!(
            m.annotations.get("created"),
            Some("2024-05-01T10:00:00.123456789Z")
        );
        assert_eq!(
            m.annotations.get("authors"),
            Some("NGINX Docker Maintainers")
        );
        assert_eq!(m.annotations.get(STOP_SIGNAL), Some("SIGQUIT"));
        // The same configuration gives the same manifest, whatever the order of its maps.
        for _ in 0..5 {
            assert_eq!(
                image_manifest(&config(NGINX), &name, Some("1.25"))
                    .unwrap()
                    .to_json(),
                m.to_json()
            );
        }
    }

    #[test]
    fn configuration_with_an_env_name_appc_refuses_maps_to_a_valid_manifest() {
        let c = config(
            r#"{"architecture":"amd64","os":"linux","config":{"Env":["P?TH=/bin","1X=y","A=b","-=c"]},"rootfs":{"type":"layers","diff_ids":[]}}"#,
        );
        let m = image_manifest(&c, &"x.io/y".parse().unwrap(), None).unwrap();
        let env = &m.app.as_ref().unwrap().environment;
        assert_eq!(env.len(), 1, "{env:?}");
        assert_eq!((env[0].name.as_str(), env[0].value.as_str()), ("A", "b"));
        assert_eq!(
            ImageManifest::from_slice(m.to_json().as_bytes()).unwrap(),
            m
        );
    }

    #[test]
    fn users_groups_and_empty_configurations() {
        assert_eq!(user_and_group(""), ("0".into(), "0".into()));
        assert_eq!(user_and_group("1000"), ("1000".into(), "0".into()));
        assert_eq!(user_and_group("app:staff"), ("app".into(), "staff".into()));
        assert_eq!(user_and_group(":5"), ("0".into(), "5".into()));
        let c = config(
            r#"{"architecture":"riscv64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        );
        let m = image_manifest(&c, &"x.io/y".parse().unwrap(), None).unwrap();
        assert!(m.app.as_ref().unwrap().exec.is_empty());
        // appc has no name for riscv64: no os/arch labels rather than invalid ones.
        assert!(m.labels.get("arch").is_none());
        ImageManifest::from_slice(m.to_json().as_bytes()).unwrap();
    }

    #[test]
    fn clashing_volume_names_are_made_unique() {
        let v = vec!["/a/b".to_string(), "/a_b".to_string(), "/a-b".to_string()];
        let names: Vec<String> = mount_points(&v)
            .iter()
            .map(|m| m.name.to_string())
            .collect();
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), 3, "{names:?}");
    }
}
