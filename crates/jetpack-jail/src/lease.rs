//! Pod addresses leased in the files CNI's `host-local` plugin keeps, so the jail engine and
//! the Linux engine share one format and one lock: in the network's lease directory
//! (`<root>/net/leases/<network>/`), a file named by each leased address holding the owner's
//! ID and interface (`ID\r\nIFNAME`), all changed under an exclusive `flock` of `lock`.
//! `last_reserved_ip.0` (host-local's round-robin hint) is neither read nor written: pods get
//! the lowest free address, as in Jetpack.

use std::collections::BTreeSet;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use jetpack_fs::{IoContext, LockFile};

use crate::error::Result;
use crate::net::{Subnet, next_free};

/// One network's lease directory.
pub struct Leases {
    dir: PathBuf,
}

impl Leases {
    pub fn new(dir: &Path) -> Leases {
        Leases {
            dir: dir.to_path_buf(),
        }
    }

    /// Leases an address of `subnet` to `id` on `ifname`, skipping addresses leased already
    /// and those for which `in_use` says another host answers. An address `id` holds already
    /// is returned again.
    pub fn acquire(
        &self,
        subnet: &Subnet,
        id: &str,
        ifname: &str,
        mut in_use: impl FnMut(Ipv4Addr) -> bool,
    ) -> Result<Ipv4Addr> {
        fs::create_dir_all(&self.dir).at(&self.dir)?;
        let _lock = LockFile::new(&self.dir.join("lock")).wait()?;
        let leases = self.read()?;
        if let Some((a, _)) = leases
            .iter()
            .find(|(a, owner)| owner == id && subnet.contains(*a))
        {
            return Ok(*a);
        }
        let mut taken: BTreeSet<Ipv4Addr> = leases.into_iter().map(|(a, _)| a).collect();
        loop {
            let a = next_free(subnet, &taken)?;
            if in_use(a) {
                taken.insert(a);
                continue;
            }
            let path = self.dir.join(a.to_string());
            jetpack_fs::atomic_write(&path, format!("{id}\r\n{ifname}").as_bytes())?;
            return Ok(a);
        }
    }

    /// Releases every address `id` holds; returns them.
    pub fn release(&self, id: &str) -> Result<Vec<Ipv4Addr>> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        let _lock = LockFile::new(&self.dir.join("lock")).wait()?;
        let mut freed = Vec::new();
        for (a, owner) in self.read()? {
            if owner == id {
                let path = self.dir.join(a.to_string());
                fs::remove_file(&path).at(&path)?;
                freed.push(a);
            }
        }
        Ok(freed)
    }

    /// Every lease: address and owner ID. Other files (the lock, host-local's hints, an
    /// IPv6 lease) are not addresses of ours.
    fn read(&self) -> Result<Vec<(Ipv4Addr, String)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            let Some(addr) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let path = entry.path();
            let text = fs::read_to_string(&path).at(&path)?;
            let owner = text.lines().next().unwrap_or_default().trim().to_string();
            out.push((addr, owner));
        }
        out.sort();
        Ok(out)
    }
}
