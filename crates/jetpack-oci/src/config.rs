//! An appc image manifest as an OCI image configuration, for `image export --format oci`: the
//! reverse of [`crate::mapping`], so an OCI image exported and imported again maps to the
//! same appc manifest.
//!
//! - `exec` is `Cmd` (and no `Entrypoint`): appc has one command, and the shape Docker
//!   images mostly have keeps `podman run IMAGE` running it and `podman run IMAGE CMD…`
//!   replacing it, as for the image it may have come from (`busybox`: `Cmd` `["sh"]`). An
//!   image whose `Entrypoint` was split from its `Cmd` runs the same without arguments.
//! - `environment` is `Env`; `workingDirectory` `WorkingDir`; `user:group` is `User` (left out
//!   for `0:0`, the default).
//! - `ports` are `ExposedPorts` `PORT/PROTO` (each port of a range); `mountPoints` `Volumes`.
//! - Annotations are labels, except `created`, `authors` and `jetpack/stop-signal`, which go
//!   back to `created`, `author` and `StopSignal`.
//! - The `os` and `arch` labels are `os`, `architecture` and `variant` (this host's when the
//!   manifest has none).
//!
//! What OCI has no place for (isolators, event handlers, supplementary groups, labels other
//! than os, arch and version, which is the tag) is listed in [`Exported::left_out`].

use std::collections::{BTreeMap, HashMap};

use appc::ImageManifest;
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os,
    RootFsBuilder,
};

use crate::error::{Error, Result};
use crate::mapping::STOP_SIGNAL;
use crate::platform::Platform;

/// A configuration and what of the manifest it could not carry.
#[derive(Debug, Clone)]
pub struct Exported {
    pub config: ImageConfiguration,
    /// The manifest's fields that have no place in an OCI configuration (`isolators`, …).
    pub left_out: Vec<String>,
}

/// The configuration of image `m` whose layers have the uncompressed digests `diff_ids`.
pub fn image_config(m: &ImageManifest, diff_ids: &[String]) -> Result<Exported> {
    let bad = |e: oci_spec::OciSpecError| Error::Config(e.to_string());
    let mut left_out = Vec::new();
    let mut c = ConfigBuilder::default();
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    let (mut created, mut author) = (None, None);
    for a in &m.annotations {
        match a.name.as_str() {
            "created" => created = Some(a.value.clone()),
            "authors" => author = Some(a.value.clone()),
            STOP_SIGNAL => c = c.stop_signal(a.value.clone()),
            name => {
                labels.insert(name.to_string(), a.value.clone());
            }
        }
    }
    if let Some(app) = &m.app {
        if !app.exec.is_empty() {
            c = c.cmd(app.exec.clone());
        }
        if !app.environment.is_empty() {
            let env = app.environment.iter();
            c = c.env(
                env.map(|e| format!("{}={}", e.name, e.value))
                    .collect::<Vec<_>>(),
            );
        }
        if let Some(w) = &app.working_directory {
            c = c.working_dir(w.clone());
        }
        if (app.user.as_str(), app.group.as_str()) != ("0", "0") {
            c = c.user(format!("{}:{}", app.user, app.group));
        }
        let mut ports: Vec<String> = Vec::new();
        for p in &app.ports {
            for n in 0..p.count.max(1) {
                let Some(port) = u32::from(p.port)
                    .checked_add(n)
                    .and_then(|v| u16::try_from(v).ok())
                else {
                    break;
                };
                ports.push(format!("{port}/{}", p.protocol));
            }
        }
        if !ports.is_empty() {
            c = c.exposed_ports(ports);
        }
        if !app.mount_points.is_empty() {
            let paths = app.mount_points.iter().map(|p| p.path.clone());
            c = c.volumes(paths.collect::<Vec<_>>());
        }
        let mut note = |field: &str, empty: bool| {
            if !empty {
                left_out.push(field.to_string());
            }
        };
        note("app.isolators", app.isolators.is_empty());
        note("app.eventHandlers", app.event_handlers.is_empty());
        note("app.supplementaryGIDs", app.supplementary_gids.is_empty());
        note(
            "app.mountPoints readOnly",
            !app.mount_points.iter().any(|p| p.read_only),
        );
    }
    if !labels.is_empty() {
        c = c.labels(labels.into_iter().collect::<HashMap<_, _>>());
    }
    for l in &m.labels {
        // `version` is the tag the image is exported under (by default).
        if !matches!(l.name.as_str(), "os" | "arch" | "version") {
            left_out.push(format!("label {}", l.name));
        }
    }
    let platform = platform(m.labels.get("os"), m.labels.get("arch"));
    let mut b = ImageConfigurationBuilder::default()
        .os(Os::from(platform.os.as_str()))
        .architecture(Arch::from(platform.architecture.as_str()))
        .config(c.build().map_err(bad)?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids.to_vec())
                .build()
                .map_err(bad)?,
        )
        .history(vec![
            HistoryBuilder::default()
                .created_by(format!("jetpack image export {}", m.name))
                .build()
                .map_err(bad)?,
        ]);
    if let Some(v) = platform.variant {
        b = b.variant(v);
    }
    if let Some(t) = created {
        b = b.created(t);
    }
    if let Some(a) = author {
        b = b.author(a);
    }
    Ok(Exported {
        config: b.build().map_err(bad)?,
        left_out,
    })
}

/// The OCI platform of appc's `os` and `arch` labels (the inverse of
/// [`Platform::appc_labels`]); this host's for a missing label.
pub fn platform(os: Option<&str>, arch: Option<&str>) -> Platform {
    let host = Platform::host();
    let os = os.unwrap_or(&host.os);
    let Some(arch) = arch else {
        return Platform {
            os: os.into(),
            ..host
        };
    };
    let (architecture, variant) = match arch {
        "x86_64" | "amd64" => ("amd64", None),
        "i386" => ("386", None),
        "aarch64" => ("arm64", Some("v8")),
        "armv7l" => ("arm", Some("v7")),
        "armv6l" => ("arm", Some("v6")),
        other => (other, None),
    };
    Platform::new(os, architecture, variant)
}

/// JSON with every object's keys sorted: the configuration's maps are hash maps, and a
/// document's digest must not depend on their order.
pub fn canonical_json(v: &impl serde::Serialize) -> Result<Vec<u8>> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: BTreeMap<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    let v = serde_json::to_value(v).map_err(|e| Error::Config(e.to_string()))?;
    serde_json::to_vec(&sort(v)).map_err(|e| Error::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::image_manifest;

    const NGINX: &str = r#"{
      "architecture": "amd64", "os": "linux", "created": "2024-05-01T10:00:00Z",
      "author": "NGINX Docker Maintainers",
      "config": {
        "User": "nginx:www",
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Env": ["PATH=/usr/local/bin:/usr/bin", "NGINX_VERSION=1.25"],
        "Entrypoint": ["/docker-entrypoint.sh"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "WorkingDir": "/srv",
        "Volumes": {"/var/cache/nginx": {}},
        "Labels": {"maintainer": "NGINX <docker-maint@nginx.com>"},
        "StopSignal": "SIGQUIT"
      },
      "rootfs": {"type": "layers", "diff_ids": []}
    }"#;

    /// A configuration mapped to appc and back maps to the same appc manifest again.
    #[test]
    fn a_mapped_configuration_maps_back() {
        let original: ImageConfiguration = serde_json::from_str(NGINX).unwrap();
        let name = "docker.io/library/nginx".parse().unwrap();
        let m = image_manifest(&original, &name, Some("1.25")).unwrap();
        let diff = vec![format!("sha256:{}", "a".repeat(64))];
        let out = image_config(&m, &diff).unwrap();
        let c = &out.config;
        let cc = c.config().as_ref().unwrap();
        assert_eq!(cc.entrypoint(), &None);
        assert_eq!(
            cc.cmd().as_ref().unwrap(),
            &["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]
        );
        assert_eq!(cc.user().as_deref(), Some("nginx:www"));
        assert_eq!(cc.working_dir().as_deref(), Some("/srv"));
        assert_eq!(cc.stop_signal().as_deref(), Some("SIGQUIT"));
        assert_eq!(cc.volumes().as_ref().unwrap(), &["/var/cache/nginx"]);
        let mut ports = cc.exposed_ports().clone().unwrap();
        ports.sort();
        assert_eq!(ports, ["53/udp", "80/tcp"]);
        assert_eq!(
            cc.labels()
                .as_ref()
                .unwrap()
                .get("maintainer")
                .map(String::as_str),
            Some("NGINX <docker-maint@nginx.com>")
        );
        assert_eq!(c.created().as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(c.author().as_deref(), Some("NGINX Docker Maintainers"));
        assert_eq!(c.os(), &Os::Linux);
        assert_eq!(c.architecture(), &Arch::Amd64);
        assert_eq!(c.rootfs().diff_ids(), &diff);
        assert!(out.left_out.is_empty(), "{:?}", out.left_out);
        let again = image_manifest(c, &name, Some("1.25")).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn an_aci_manifest_becomes_a_configuration() {
        let m = ImageManifest::from_slice(
            br#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app",
                "labels":[{"name":"os","value":"linux"},{"name":"arch","value":"aarch64"}],
                "app":{"exec":["/bin/app"],"user":"0","group":"0",
                  "ports":[{"name":"http","protocol":"tcp","port":8080,"count":2}],
                  "isolators":[{"name":"resource/memory","value":{"limit":"1G"}}]}}"#,
        )
        .unwrap();
        let out = image_config(&m, &[]).unwrap();
        let cc = out.config.config().as_ref().unwrap();
        assert_eq!(cc.cmd().as_ref().unwrap(), &["/bin/app"]);
        assert_eq!(cc.entrypoint(), &None);
        assert_eq!(cc.user(), &None, "root is the default");
        let mut ports = cc.exposed_ports().clone().unwrap();
        ports.sort();
        assert_eq!(ports, ["8080/tcp", "8081/tcp"]);
        assert_eq!(out.config.architecture(), &Arch::ARM64);
        assert_eq!(out.config.variant().as_deref(), Some("v8"));
        assert_eq!(out.left_out, ["app.isolators"]);
    }

    #[test]
    fn platforms_map_back_to_oci_names() {
        for (os, arch, want) in [
            ("linux", "amd64", "linux/amd64"),
            ("linux", "i386", "linux/386"),
            ("linux", "aarch64", "linux/arm64/v8"),
            ("linux", "armv7l", "linux/arm/v7"),
            ("linux", "armv6l", "linux/arm/v6"),
            ("darwin", "x86_64", "darwin/amd64"),
            ("linux", "s390x", "linux/s390x"),
        ] {
            let p = platform(Some(os), Some(arch));
            assert_eq!(p.to_string(), want);
            assert_eq!(p.appc_labels().1.as_deref(), Some(arch), "{want}");
        }
        assert_eq!(platform(None, None), Platform::host());
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let mut m = HashMap::new();
        for k in ["z", "a", "m"] {
            m.insert(k, serde_json::json!({"y": 1, "b": 2}));
        }
        let text = String::from_utf8(canonical_json(&m).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"a":{"b":2,"y":1},"m":{"b":2,"y":1},"z":{"b":2,"y":1}}"#
        );
    }
}
