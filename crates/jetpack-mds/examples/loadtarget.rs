//! A metadata service with one fake pod, for load tests (bench/mds.sh).
//!
//! Usage: loadtarget [PORT] [THREADS] [STATE_DIR]. Prints the pod's AC_METADATA_URL on
//! stdout (line 1) once it is registered, then serves until killed. The pod
//! is reachable from 127.0.0.1 and has the apps `web` and `db`.

use std::io::Write;
use std::time::Duration;

use jetpack_mds::{
    AppImage, Registration, Server, ServerConfig, ensure_host_key, metadata_url, new_token,
    register,
};

const UUID: &str = "6733c088-a507-4694-aabf-edbe4fc5266f";

fn image_manifest(name: &str) -> String {
    format!(
        r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/{name}","labels":[{{"name":"os","value":"linux"}},{{"name":"arch","value":"amd64"}},{{"name":"version","value":"1.0.0"}}],"app":{{"exec":["/bin/{name}","--config","/etc/{name}.conf"],"user":"0","group":"0","environment":[{{"name":"PATH","value":"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},{{"name":"LANG","value":"C.UTF-8"}},{{"name":"{name}_HOME","value":"/var/lib/{name}"}},{{"name":"{name}_LOG_LEVEL","value":"info"}}],"eventHandlers":[{{"name":"pre-start","exec":["/bin/{name}","--check-config","/etc/{name}.conf"]}}],"isolators":[{{"name":"resource/memory","value":{{"limit":"512M"}}}},{{"name":"resource/cpu","value":{{"limit":"500m"}}}}],"mountPoints":[{{"name":"data","path":"/var/lib/{name}"}}],"ports":[{{"name":"http","protocol":"tcp","port":80}}]}},"annotations":[{{"name":"authors","value":"Jetpack benchmarks <bench@example.com>"}},{{"name":"homepage","value":"https://example.com/{name}"}},{{"name":"created","value":"2024-01-01T00:00:00Z"}},{{"name":"documentation","value":"https://example.com/{name}/docs"}},{{"name":"example.com/description","value":"A {name} service used to load the metadata service with a manifest of realistic size, over one kilobyte, so that a response needs more than one write."}}]}}"#
    )
}

fn registration() -> Registration {
    let id = |c: &str| format!("sha512-{}", c.repeat(128));
    let pod_manifest = format!(
        r#"{{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{{"name":"web","image":{{"name":"example.com/web","id":"{}"}},"app":{{"exec":["/bin/web"],"user":"0","group":"0"}},"annotations":[{{"name":"role","value":"frontend"}}]}},{{"name":"db","image":{{"name":"example.com/db","id":"{}"}}}}],"volumes":[],"isolators":[],"annotations":[{{"name":"ip-address","value":"127.0.0.1"}}],"ports":[]}}"#,
        id("a"),
        id("b")
    );
    Registration {
        uuid: UUID.into(),
        token: new_token(),
        ips: vec!["127.0.0.1".parse().unwrap()],
        token_only: false,
        pod_manifest,
        apps: ["web", "db"]
            .map(|n| AppImage {
                name: n.into(),
                image_manifest: image_manifest(n),
            })
            .into(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(Ok(0), |p| p.parse())?;
    let threads: usize = args.next().map_or(Ok(4), |t| t.parse())?;
    // The state directory: given by the caller, who removes it (this process ends by being
    // killed, so a temporary directory of its own would stay behind), or a temporary one.
    let temp;
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let dir = &dir;
    let key = dir.join("mds.key");
    ensure_host_key(&key)?;
    let control = dir.join("mds.sock");
    let server = Server::bind(ServerConfig {
        listen: ([127, 0, 0, 1], port).into(),
        control: control.clone(),
        lock: dir.join("mds.lock"),
        key,
        threads,
        idle_exit: None,
    })?;
    let addr = server.local_addr();
    // Registration needs the running service, so it happens on its own
    // thread, which then holds the registration for the process's life.
    std::thread::spawn(move || {
        let reg = registration();
        let mut held = register(&control, &reg, Duration::from_secs(10)).expect("register");
        println!("{}", metadata_url(addr, &reg.token));
        std::io::stdout().flush().ok();
        let _ = held.wait_closed();
    });
    server.serve()?;
    Ok(())
}
