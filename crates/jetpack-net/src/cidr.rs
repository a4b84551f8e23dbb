//! IPv4/IPv6 prefixes, only as far as the default network and the gateway address need them.

use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let bad = || format!("{s:?} is not an address prefix like 172.23.0.0/16");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// The prefix's network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    /// The first host address, the gateway `host-local` picks when none is given.
    pub fn first_host(&self) -> IpAddr {
        match self.network() {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) + 1).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) + 1).into()),
        }
    }

    /// Whether the prefix leaves room for a gateway and pods.
    pub fn usable(&self) -> bool {
        match self.addr {
            IpAddr::V4(_) => self.prefix <= 30,
            IpAddr::V6(_) => self.prefix <= 126,
        }
    }

    /// Whether the two prefixes share an address (one contains the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() {
            return false;
        }
        let shorter = self.prefix.min(other.prefix);
        Cidr {
            addr: self.addr,
            prefix: shorter,
        }
        .network()
            == Cidr {
                addr: other.addr,
                prefix: shorter,
            }
            .network()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_computes() {
        let c: Cidr = "172.23.5.9/16".parse().unwrap();
        assert_eq!(c.network().to_string(), "172.23.0.0");
        assert_eq!(c.first_host().to_string(), "172.23.0.1");
        let c: Cidr = "fd00:1::5/64".parse().unwrap();
        assert_eq!(c.first_host().to_string(), "fd00:1::1");
        for bad in ["172.23.0.0", "172.23.0.0/33", "x/8", "1.2.3.4/"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!(!"10.0.0.0/31".parse::<Cidr>().unwrap().usable());
    }

    #[test]
    fn overlaps() {
        let c = |s: &str| s.parse::<Cidr>().unwrap();
        assert!(c("10.1.0.0/16").overlaps(&c("10.1.2.0/24")));
        assert!(c("10.1.2.0/24").overlaps(&c("10.1.0.0/16")));
        assert!(c("10.1.2.0/24").overlaps(&c("10.1.2.128/25")));
        assert!(!c("10.1.2.0/24").overlaps(&c("10.1.3.0/24")));
        assert!(c("0.0.0.0/0").overlaps(&c("10.1.3.0/24")));
        assert!(!c("10.1.2.0/24").overlaps(&c("fd00::/8")));
        assert!(c("fd00:1::/64").overlaps(&c("fd00::/16")));
    }
}
