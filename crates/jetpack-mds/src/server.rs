//! The service: lock, host key, TCP listener and control socket are set up
//! by [`Server::bind`] (while privileged); [`Server::serve`] runs it.

use std::fs;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use jetpack_fs::{Lock, LockFile, read_pid};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::conn::{self, Front, Limits, Listener};
use crate::control::{self, Connections};
use crate::error::{Error, IoContext, Result};
use crate::key::{HostKey, load_host_key, new_token};
use crate::registry::Registry;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Normally the default pod network's gateway address, port
    /// [`DEFAULT_PORT`](crate::DEFAULT_PORT). It may not exist yet. Unless
    /// it is `127.0.0.1` or unspecified, the service also listens on
    /// `127.0.0.1` with the same port, for token-only pods (see
    /// [`Registration::token_only`](crate::Registration::token_only)).
    pub listen: SocketAddr,
    /// Unix socket for registrations, mode 0600: only root registers pods.
    pub control: PathBuf,
    /// Locked for the server's life; holds its pid.
    pub lock: PathBuf,
    pub key: PathBuf,
    /// No longer used: each HTTP connection has its own thread, and
    /// [`Limits`] bounds them. Kept so that existing configurations build.
    pub threads: usize,
    /// Exit once no pod has been registered for this long.
    pub idle_exit: Option<Duration>,
}

pub struct Server {
    cfg: ServerConfig,
    /// Dropped (unlocked) last, after the control socket is removed.
    _lock: Lock,
    key: HostKey,
    tcp: TcpListener,
    local_addr: SocketAddr,
    /// `127.0.0.1`, same port: what the host's own network namespace reaches.
    loopback: Option<TcpListener>,
    control: UnixListener,
    limits: Limits,
}

/// Locks `path` (flock, released when the file is closed) and writes our pid.
fn lock(path: &Path) -> Result<Lock> {
    let ctx = || format!("lock file {}", path.display());
    let file_err = |e: jetpack_fs::IoError| Error::io(ctx(), e.source);
    let Some(mut lock) = LockFile::new(path)
        .mode(0o644)
        .try_lock()
        .map_err(file_err)?
    else {
        return Err(Error::AlreadyRunning {
            pid: read_pid(path),
        });
    };
    lock.write_pid().doing(ctx)?;
    Ok(lock)
}

fn tcp_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    // The pod bridge (and so the gateway address) may be created after us.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    match addr {
        SocketAddr::V4(_) => s.set_freebind_v4(true)?,
        SocketAddr::V6(_) => s.set_freebind_v6(true)?,
    }
    // Accepted sockets inherit it (Linux, FreeBSD): an answer is one write,
    // but one larger than a segment (a manifest, on a 1500-byte MTU) ends
    // with a partial segment, which Nagle would hold back until the
    // client's delayed ACK.
    s.set_tcp_nodelay(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// The loopback listener next to `main`, if it is not one itself. A port
/// taken on `127.0.0.1` (another service) leaves the service without it:
/// token-only pods are then refused, the others are served.
fn loopback_listener(main: SocketAddr) -> Option<TcpListener> {
    let ip = main.ip();
    if ip.is_unspecified() || ip == IpAddr::V4(Ipv4Addr::LOCALHOST) {
        return None;
    }
    let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), main.port());
    tcp_listener(addr)
        .inspect_err(|e| {
            tracing::warn!(
                "cannot listen on {addr}: {e}; pods on the host's network get no metadata"
            )
        })
        .ok()
}

/// Binds the control socket at `path` with mode 0600 from the start: bound
/// under a temporary name, restricted, then renamed into place.
fn control_listener(path: &Path) -> Result<UnixListener> {
    let ctx = || format!("control socket {}", path.display());
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(Error::io(ctx(), e)),
        _ => {}
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}", &new_token()[..12]));
    let bound = UnixListener::bind(&tmp).and_then(|l| {
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
        fs::rename(&tmp, path)?;
        Ok(l)
    });
    if bound.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok(bound.doing(ctx)?)
}

impl Server {
    /// Loads the host key, takes the lock, binds the TCP listener and the
    /// control socket. All that needs privileges happens here, so the
    /// caller may drop them before [`serve`](Self::serve).
    pub fn bind(cfg: ServerConfig) -> Result<Server> {
        // The key first: when it is missing, so is usually the whole state
        // directory, and its error says to run `jetpack init`.
        let key = load_host_key(&cfg.key)?;
        let lock = lock(&cfg.lock)?;
        // While privileged, in case the hard limit is what it takes.
        conn::raise_nofile();
        let tcp = tcp_listener(cfg.listen).doing(|| format!("listening on {}", cfg.listen))?;
        let local_addr = tcp.local_addr().doing(|| "listener address".into())?;
        let loopback = loopback_listener(local_addr);
        // Only now, holding the lock: a socket file left there is stale.
        let control = control_listener(&cfg.control)?;
        Ok(Server {
            cfg,
            _lock: lock,
            key,
            tcp,
            local_addr,
            loopback,
            control,
            limits: Limits::default(),
        })
    }

    /// Replaces the default [`Limits`].
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The loopback listener's address, if the service has one.
    pub fn loopback_addr(&self) -> Option<SocketAddr> {
        self.loopback.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until idle exit (`Ok`) or a failure of the HTTP listener.
    pub fn serve(self) -> Result<()> {
        let loopback_addr = self.loopback_addr();
        let reg = Arc::new(Registry::new());
        let conns = Arc::new(Connections::default());
        let key = Arc::new(self.key);
        let front = Arc::new(Front::new(
            self.limits.clone(),
            reg.clone(),
            key,
            self.loopback.is_some(),
        ));
        let mut acceptors = Vec::new();
        let listeners = [
            (Listener::Main, Some(&self.tcp)),
            (Listener::Loopback, self.loopback.as_ref()),
        ];
        for (which, l) in listeners {
            let Some(l) = l else { continue };
            let l = l.try_clone().doing(|| "HTTP listener".into())?;
            let front = front.clone();
            acceptors.push(
                thread::Builder::new()
                    .name("mds-http".into())
                    .spawn(move || conn::accept_loop(l, which, front))
                    .doing(|| "starting the HTTP thread".into())?,
            );
        }
        tracing::info!("metadata service listening on {}", self.local_addr);
        if let Some(a) = loopback_addr {
            tracing::info!("and on {a} for pods on the host's network");
        }
        let control = self.control.try_clone().doing(|| "control socket".into())?;
        {
            let (front, conns) = (front.clone(), conns.clone());
            thread::Builder::new()
                .name("mds-accept".into())
                .spawn(move || control::accept_loop(control, front, conns))
                .doing(|| "starting the control thread".into())?;
        }

        let failure = reg.wait_for_stop(self.cfg.idle_exit);

        // Stop accepting registrations, and close the open ones so their
        // holders notice. The accept thread is woken by shutdown(2) (Linux)
        // or a connection of ours (it may be unreachable after dropping
        // privileges; then the thread stays blocked, harmlessly).
        let _ = SockRef::from(&self.control).shutdown(Shutdown::Read);
        drop(UnixStream::connect(&self.cfg.control));
        let _ = fs::remove_file(&self.cfg.control);
        conns.close_all();
        // The HTTP accept threads likewise: shutdown(2) wakes a blocked
        // accept on Linux, a connection of ours elsewhere. (Pods' own
        // listeners were shut down with their registrations.)
        let _ = SockRef::from(&self.tcp).shutdown(Shutdown::Read);
        if let Some(l) = &self.loopback {
            let _ = SockRef::from(l).shutdown(Shutdown::Read);
        }
        if acceptors.iter().any(|a| !a.is_finished()) {
            for addr in [Some(self.local_addr), loopback_addr].into_iter().flatten() {
                drop(TcpStream::connect_timeout(&addr, Duration::from_secs(1)));
            }
        }
        for a in acceptors {
            let _ = a.join();
        }
        front.tracker.close_all(Duration::from_secs(2));
        failure.map_or(Ok(()), Err)
    }
}
