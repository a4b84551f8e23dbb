//! Host name overrides, like curl's `--resolve` (and `--connect-to` when a port is given):
//! `HOST:PORT:ADDRESS[:PORT]`, comma-separated. Certificates are still checked against HOST,
//! so an override changes where a connection goes, never whom it must prove to be. Tests use
//! this to serve `https://example.test/…` (port 443) from a server on 127.0.0.1 and any port.

use std::net::{IpAddr, SocketAddr};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use crate::error::{Error, Result};

/// One override: connections to `host:port` go to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRule {
    pub host: String,
    pub port: u16,
    pub to: SocketAddr,
}

/// Parses `HOST:PORT:ADDRESS[:PORT][,…]`; ADDRESS is an IPv4 address or `[IPv6]`.
pub fn parse_rules(spec: &str) -> Result<Vec<ResolveRule>> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|rule| {
            let bad = |why: &str| {
                Error::Invalid(format!(
                    "resolve rule {rule:?}: {why} (expected HOST:PORT:ADDRESS[:PORT], e.g. \
                     example.test:443:127.0.0.1:8443)"
                ))
            };
            let mut parts = rule.splitn(3, ':');
            let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("missing fields"));
            };
            let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
            let to = match addr.parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    let ip = addr.trim_start_matches('[').trim_end_matches(']');
                    SocketAddr::new(ip.parse::<IpAddr>().map_err(|_| bad("bad address"))?, port)
                }
            };
            if host.is_empty() {
                return Err(bad("empty host"));
            }
            Ok(ResolveRule {
                host: host.to_ascii_lowercase(),
                port,
                to,
            })
        })
        .collect()
}

/// Resolves overridden hosts from the rules, everything else as usual.
#[derive(Debug)]
pub(crate) struct RuleResolver {
    pub rules: Vec<ResolveRule>,
    pub fallback: DefaultResolver,
}

impl Resolver for RuleResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> std::result::Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(host) = uri.host() {
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("http") => 80,
                _ => 443,
            });
            if let Some(r) = self
                .rules
                .iter()
                .find(|r| r.port == port && r.host.eq_ignore_ascii_case(host))
            {
                let mut out = self.empty();
                out.push(r.to);
                return Ok(out);
            }
        }
        self.fallback.resolve(uri, config, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let r = parse_rules(
            "example.test:443:127.0.0.1:8443, Other.test:80:127.0.0.2,v6.test:443:[::1]",
        )
        .unwrap();
        assert_eq!(r[0].to, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(r[1].host, "other.test");
        assert_eq!(r[1].to, "127.0.0.2:80".parse().unwrap());
        assert_eq!(r[2].to, "[::1]:443".parse().unwrap());
        assert!(parse_rules("").unwrap().is_empty());
        for bad in [
            "example.test",
            "example.test:x:127.0.0.1",
            "h:443:nowhere",
            ":443:127.0.0.1",
        ] {
            assert!(parse_rules(bad).is_err(), "{bad}");
        }
    }
}
