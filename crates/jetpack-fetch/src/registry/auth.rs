//! Registry authentication: credentials from the files people already have (podman's
//! `auth.json`, Docker's `config.json`), the `WWW-Authenticate` challenge, and bearer tokens
//! cached per scope for their lifetime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, IoContext, Result};

/// Docker Hub's key in Docker's `config.json`.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// Lifetime of a token whose answer names none (the distribution spec's default).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;

/// A user name and password for one registry, and the file they came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// The file they were read from, for messages; `None` when given directly.
    pub source: Option<PathBuf>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn new(user: &str, password: &str) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
            source: None,
        }
    }

    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!("Basic {}", STANDARD.encode(pair))
    }
}

/// Where credentials are looked for, first match wins (podman's order):
/// `$REGISTRY_AUTH_FILE`, `${XDG_RUNTIME_DIR}/containers/auth.json`, `~/.docker/config.json`.
pub fn default_auth_files() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut files = Vec::new();
    files.extend(env("REGISTRY_AUTH_FILE"));
    files.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    files.extend(env("HOME").map(|h| h.join(".docker/config.json")));
    files
}

/// The credentials for `registry` (`docker.io`, `host:port`) in the first of `files` that has
/// an entry for it. Missing files are skipped; a file that is not JSON is an error.
pub fn lookup(registry: &str, files: &[PathBuf]) -> Result<Option<Credentials>> {
    for f in files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => Err(e).at(f)?,
        };
        if let Some(c) = from_file(registry, &bytes, f)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn from_file(registry: &str, bytes: &[u8], path: &Path) -> Result<Option<Credentials>> {
    let bad = |msg: String| Error::Invalid(format!("{}: {msg}", path.display()));
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a JSON auth file: {e}")))?;
    let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    let entry = auths
        .iter()
        .find(|(k, _)| key_host(k) == registry)
        .or_else(|| {
            (registry == "docker.io")
                .then(|| auths.iter().find(|(k, _)| *k == DOCKER_HUB_KEY))
                .flatten()
        });
    let Some((key, entry)) = entry else {
        return Ok(None);
    };
    let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) else {
        return Ok(None);
    };
    let decoded = STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| {
            bad(format!(
                "the auth of {key:?} is not base64 of user:password"
            ))
        })?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| bad(format!("the auth of {key:?} is not user:password")))?;
    Ok(Some(Credentials {
        user: user.into(),
        password: password.into(),
        source: Some(path.to_path_buf()),
    }))
}

/// The registry an `auths` key names: `https://host:port/v1/` and `host` both mean `host`.
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// One challenge of a `WWW-Authenticate` header: its scheme (lower case) and parameters
/// (names lower case, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a `WWW-Authenticate` header (RFC 9110 §11.6.1): challenges of `scheme` followed by
/// comma-separated `name=value` parameters, where a value is a token or a quoted string with
/// backslash escapes. `Bearer realm="a,b",scope="x" , Basic realm=y` is two challenges.
pub fn parse_www_authenticate(header: &str) -> Vec<Challenge> {
    let s: Vec<char> = header.chars().collect();
    let mut i = 0;
    let mut out: Vec<Challenge> = Vec::new();
    let skip = |i: &mut usize, also_commas: bool| {
        while *i < s.len() && (s[*i].is_whitespace() || (also_commas && s[*i] == ',')) {
            *i += 1;
        }
    };
    loop {
        skip(&mut i, true);
        if i >= s.len() {
            break;
        }
        let start = i;
        while i < s.len() && !s[i].is_whitespace() && s[i] != ',' && s[i] != '=' {
            i += 1;
        }
        let token: String = s[start..i].iter().collect();
        skip(&mut i, false);
        if i < s.len() && s[i] == '=' && !out.is_empty() {
            i += 1;
            skip(&mut i, false);
            let mut value = String::new();
            if i < s.len() && s[i] == '"' {
                i += 1;
                while i < s.len() && s[i] != '"' {
                    if s[i] == '\\' && i + 1 < s.len() {
                        i += 1;
                    }
                    value.push(s[i]);
                    i += 1;
                }
                i += 1;
            } else {
                while i < s.len() && s[i] != ',' && !s[i].is_whitespace() {
                    value.push(s[i]);
                    i += 1;
                }
            }
            let last = out.last_mut().expect("checked above");
            last.params.push((token.to_ascii_lowercase(), value));
        } else if i < s.len() && s[i] == '=' {
            // A parameter before any scheme: not a challenge; skip its value.
            while i < s.len() && s[i] != ',' {
                i += 1;
            }
        } else if !token.is_empty() {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: Vec::new(),
            });
        }
    }
    out
}

/// Bearer tokens by scope, each until it expires.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: HashMap<String, (String, Instant)>,
}

impl TokenCache {
    pub fn get(&self, scope: &str) -> Option<&str> {
        self.tokens
            .get(scope)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.as_str())
    }

    pub fn put(&mut self, scope: &str, token: String, expires_in: Option<u64>) {
        // A little early, so that a token does not expire between check and use.
        let life = expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME).max(10) - 5;
        let until = Instant::now() + Duration::from_secs(life);
        self.tokens.insert(scope.to_string(), (token, until));
    }
}

/// The token (and its lifetime) in a token server's answer: `token`, or OAuth's
/// `access_token`.
pub(crate) fn parse_token(body: &[u8], realm: &str) -> Result<(String, Option<u64>)> {
    let bad = |msg: &str| Error::Http {
        url: realm.to_string(),
        msg: format!("the token server's answer {msg}"),
    };
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad("is not JSON"))?;
    let token = ["token", "access_token"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(|t| t.as_str()))
        .find(|t| !t.is_empty())
        .ok_or_else(|| bad("has no token"))?;
    let expires = v.get("expires_in").and_then(|e| e.as_u64());
    Ok((token.to_string(), expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed() {
        let c = parse_www_authenticate(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/busybox:pull"));
        // Commas and escapes inside quotes, spaces around '=', a second challenge, a token.
        let c = parse_www_authenticate(
            r#"Bearer realm = "https://x/t?a=1,b=2", scope="repository:a:pull,push" , error="say \"no\"", Basic realm=Registry"#,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].param("realm"), Some("https://x/t?a=1,b=2"));
        assert_eq!(c[0].param("scope"), Some("repository:a:pull,push"));
        assert_eq!(c[0].param("error"), Some(r#"say "no""#));
        assert_eq!(c[1].scheme, "basic");
        assert_eq!(c[1].param("realm"), Some("Registry"));
        assert_eq!(parse_www_authenticate("Basic")[0].params.len(), 0);
        assert!(parse_www_authenticate("").is_empty());
        assert!(parse_www_authenticate("realm=x").is_empty());
    }

    #[test]
    fn credentials_from_auth_files() {
        let dir = tempfile::tempdir().unwrap();
        let enc = |s: &str| STANDARD.encode(s);
        let podman = dir.path().join("auth.json");
        std::fs::write(
            &podman,
            format!(
                r#"{{"auths":{{"localhost:5000":{{"auth":"{}"}}}}}}"#,
                enc("alice:pa:ss")
            ),
        )
        .unwrap();
        let docker = dir.path().join("config.json");
        std::fs::write(
            &docker,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},
                   "https://quay.io":{{"auth":"{}"}},"localhost:5000":{{"auth":"{}"}}}}}}"#,
                enc("hub:1"),
                enc("quay:2"),
                enc("other:3")
            ),
        )
        .unwrap();
        let files = vec![dir.path().join("missing.json"), podman.clone(), docker];
        let c = lookup("localhost:5000", &files).unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("alice", "pa:ss"));
        assert_eq!(c.source.as_deref(), Some(podman.as_path()));
        assert_eq!(lookup("docker.io", &files).unwrap().unwrap().user, "hub");
        assert_eq!(lookup("quay.io", &files).unwrap().unwrap().password, "2");
        assert!(lookup("ghcr.io", &files).unwrap().is_none());
        assert_eq!(
            Credentials::new("a", "b").basic_header(),
            format!("Basic {}", enc("a:b"))
        );
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, r#"{"auths":{"x.io":{"auth":"!!"}}}"#).unwrap();
        let e = lookup("x.io", &[broken]).unwrap_err().to_string();
        assert!(e.contains("not base64"), "{e}");
    }

    #[test]
    fn tokens_are_read_and_cached() {
        assert_eq!(
            parse_token(br#"{"token":"t1","expires_in":300}"#, "r").unwrap(),
            ("t1".into(), Some(300))
        );
        assert_eq!(
            parse_token(br#"{"access_token":"t2"}"#, "r").unwrap().0,
            "t2"
        );
        assert!(parse_token(br#"{"token":""}"#, "r").is_err());
        let mut c = TokenCache::default();
        c.put("repository:a:pull", "t".into(), None);
        assert_eq!(c.get("repository:a:pull"), Some("t"));
        assert_eq!(c.get("repository:b:pull"), None);
        c.put("repository:b:pull", "old".into(), Some(0));
        // Lifetimes below 10 s count as 10 s, minus the margin.
        assert_eq!(c.get("repository:b:pull"), Some("old"));
    }
}
