//! The service as the host runs it (`jetpack mds`): its address and files come from the
//! store's settings and layout, its sockets are bound while root, then it becomes `mds.user`.

use std::net::SocketAddr;
use std::time::Duration;

use jetpack_settings::Settings;

use crate::error::{Error, Result};
use crate::server::{Server, ServerConfig};

#[cfg(target_os = "freebsd")]
use jetpack_runtime::freebsd::drop_privileges;
#[cfg(target_os = "linux")]
use jetpack_runtime::linux::drop_privileges;

/// Where the service listens on FreeBSD: the host's address of the jail subnet (the first,
/// on `jail.interface`), port `mds.port`, as Jetpack's did.
#[cfg(target_os = "freebsd")]
pub fn listen_address(settings: &Settings) -> Result<Option<SocketAddr>> {
    let host = settings.jail.subnet.host();
    Ok(Some(SocketAddr::new(host.into(), settings.mds.port)))
}

/// Where the service listens: the default network's host address, port `mds.port`. `None`
/// when there is no default network; refused when it is another store's.
#[cfg(not(target_os = "freebsd"))]
pub fn listen_address(settings: &Settings) -> Result<Option<SocketAddr>> {
    let dir = &settings.net.dir;
    match jetpack_net::load_network(dir, jetpack_net::DEFAULT_NETWORK) {
        Ok(n) => {
            // Another store's network: its service wants that address, not this store's.
            n.check_owner(&settings.store.root)?;
            Ok(n.host_address()
                .map(|a| SocketAddr::new(a, settings.mds.port)))
        }
        Err(jetpack_net::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A bound service, no longer root (unless `mds.user` is empty or unknown).
pub struct Daemon {
    server: Server,
    running_as: String,
}

impl Daemon {
    /// Binds the service's sockets and takes its lock, then drops privileges. `None` when it
    /// was started on demand (`idle_exit` given) while another one started: that one serves.
    pub fn start(settings: &Settings, idle_exit: Option<Duration>) -> Result<Option<Daemon>> {
        let listen = listen_address(settings)?.ok_or_else(|| Error::NoDefaultNetwork {
            dir: settings.net.dir.clone(),
        })?;
        let layout = settings.store.layout();
        let server = match Server::bind(ServerConfig {
            listen,
            control: layout.mds_control(),
            lock: layout.mds_lock(),
            key: layout.mds_key(),
            threads: 4,
            idle_exit,
        }) {
            Err(Error::AlreadyRunning { .. }) if idle_exit.is_some() => return Ok(None),
            r => r.map_err(|e| Error::Start(Box::new(e)))?,
        };
        let running_as = match &settings.mds.user {
            None => "root".to_string(),
            Some(user) => match drop_privileges(user)? {
                Some((uid, gid)) => format!("{user} ({uid}:{gid})"),
                None => {
                    tracing::warn!("mds.user {user:?} does not exist on this host: staying root");
                    "root".to_string()
                }
            },
        };
        Ok(Some(Daemon { server, running_as }))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The user the service runs as, with its uid and gid.
    pub fn running_as(&self) -> &str {
        &self.running_as
    }

    /// Serves until stopped (or idle for `idle_exit`).
    pub fn serve(self) -> Result<()> {
        self.server.serve()
    }
}
