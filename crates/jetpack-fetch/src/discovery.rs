//! appc meta discovery (spec §7): `<meta name="ac-discovery" content="PREFIX TEMPLATE">` and
//! `<meta name="ac-discovery-pubkeys" content="PREFIX URL">` tags, fetched from
//! `https://PREFIX?ac-discovery=1` for the image name and then each parent path.
//!
//! The functions here do no I/O; the walk takes the page fetcher as a closure.

use html5gum::{DefaultEmitter, Token, Tokenizer};

use crate::error::{Error, Result};

/// One `ac-*` meta tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// `ac-discovery` or `ac-discovery-pubkeys`.
    pub name: String,
    pub prefix: String,
    pub uri: String,
}

/// Where an image and its signature are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AciEndpoint {
    pub aci: String,
    pub asc: String,
}

/// The meta tags named `ac-…` anywhere in an HTML page, in document order. Like the reference
/// (Go's HTML tokenizer), a tag's `content` is trimmed and split at the first whitespace into
/// prefix and URI; tags missing either are skipped.
pub fn parse_meta(html: &[u8]) -> Vec<Meta> {
    let mut emitter = DefaultEmitter::default();
    // Text inside <script>, <style>, <title>… is not markup, as in a browser.
    emitter.naively_switch_states(true);
    let mut out = Vec::new();
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        let Token::StartTag(tag) = token else {
            continue;
        };
        if tag.name.as_slice() != b"meta" {
            continue;
        }
        let attr = |key: &[u8]| {
            tag.attributes
                .iter()
                .find(|(k, _)| k.as_slice() == key)
                .map(|(_, v)| String::from_utf8_lossy(&v.value).into_owned())
        };
        let (Some(name), Some(content)) = (attr(b"name"), attr(b"content")) else {
            continue;
        };
        if !name.starts_with("ac-") {
            continue;
        }
        let content = content.trim();
        let Some((prefix, uri)) = content.split_once(|c: char| c.is_ascii_whitespace()) else {
            continue;
        };
        let uri = uri.trim();
        if prefix.is_empty() || uri.is_empty() {
            continue;
        }
        out.push(Meta {
            name,
            prefix: prefix.to_string(),
            uri: uri.to_string(),
        });
    }
    out
}

/// Substitutes `{name}`, `{ext}` and `{LABEL}` for every label (version, os, arch and any
/// other) literally. `None` if a `{…}` is left, as the reference skips such templates.
pub fn render(
    template: &str,
    name: &str,
    labels: &[(String, String)],
    ext: &str,
) -> Option<String> {
    let mut s = template.replace("{name}", name).replace("{ext}", ext);
    for (k, v) in labels {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    match s.find('{') {
        Some(open) if s[open..].contains('}') => None,
        _ => Some(s),
    }
}

/// `example.com/a/b`, then `example.com/a`, then `example.com`.
pub fn walk(name: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(name);
    std::iter::from_fn(move || {
        let cur = next?;
        next = cur.rfind('/').map(|i| &cur[..i]);
        Some(cur)
    })
}

/// The discovery URL of a prefix (the reference replaces any query with `ac-discovery=1`).
pub fn discovery_url(scheme: &str, prefix: &str) -> String {
    format!("{scheme}://{prefix}?ac-discovery=1")
}

/// Image endpoints from the `ac-discovery` tags whose prefix matches `name` (a plain string
/// prefix, as in the reference). `labels` must hold version (default `latest`), os and arch.
pub fn image_endpoints(
    metas: &[Meta],
    name: &str,
    labels: &[(String, String)],
) -> Vec<AciEndpoint> {
    metas
        .iter()
        .filter(|m| m.name == "ac-discovery" && name.starts_with(&m.prefix))
        .filter_map(|m| {
            Some(AciEndpoint {
                aci: render(&m.uri, name, labels, "aci")?,
                asc: render(&m.uri, name, labels, "aci.asc")?,
            })
        })
        .collect()
}

/// Key ring URLs from the `ac-discovery-pubkeys` tags whose prefix matches `name`.
pub fn pubkey_urls(metas: &[Meta], name: &str) -> Vec<String> {
    metas
        .iter()
        .filter(|m| m.name == "ac-discovery-pubkeys" && name.starts_with(&m.prefix))
        .map(|m| m.uri.clone())
        .collect()
}

/// Walks up `name` until a page yields something `pick` accepts. `get` fetches a discovery
/// page over HTTPS (and, when allowed, falls back to HTTP itself). Any failure at a level moves
/// to the parent, as in the reference; the error lists every attempt.
pub fn discover<T>(
    name: &str,
    mut get: impl FnMut(&str) -> Result<Vec<u8>>,
    pick: impl Fn(&[Meta]) -> Vec<T>,
    what: &str,
) -> Result<Vec<T>> {
    let mut tried = Vec::new();
    for prefix in walk(name) {
        let url = discovery_url("https", prefix);
        match get(&url) {
            Ok(page) => {
                let found = pick(&parse_meta(&page));
                if !found.is_empty() {
                    return Ok(found);
                }
                tried.push(format!("{url}: no {what} for {name}"));
            }
            Err(e) => tried.push(e.to_string()),
        }
    }
    Err(Error::Discovery {
        name: name.to_string(),
        tried,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: [&[u8]; 6] = [
        include_bytes!("../testdata/discovery/meta01.html"),
        include_bytes!("../testdata/discovery/meta02.html"),
        include_bytes!("../testdata/discovery/meta03.html"),
        include_bytes!("../testdata/discovery/meta04.html"),
        include_bytes!("../testdata/discovery/meta05.html"),
        include_bytes!("../testdata/discovery/meta06.html"),
    ];

    fn labels() -> Vec<(String, String)> {
        [("version", "1.0.0"), ("os", "linux"), ("arch", "amd64")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn fixture(n: usize) -> &'static [u8] {
        FIXTURES[n - 1]
    }

    #[test]
    fn upstream_fixtures() {
        let name = "example.com/myapp";
        let eps = |n| image_endpoints(&parse_meta(fixture(n)), name, &labels());
        let keys = |n| pubkey_urls(&parse_meta(fixture(n)), name);
        let full = AciEndpoint {
            aci: "https://storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci".into(),
            asc: "https://storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci.asc".into(),
        };
        assert_eq!(eps(1), vec![full.clone()]);
        assert_eq!(keys(1), vec!["https://example.com/pubkeys.gpg".to_string()]);
        assert_eq!(eps(2), vec![full.clone()]);
        assert!(keys(2).is_empty());
        assert!(eps(3).is_empty());
        assert_eq!(keys(3).len(), 1);
        assert!(
            eps(4)[0]
                .aci
                .starts_with("https://another.storage.example.com/")
        );
        let short = "https://storage.example.com/example.com/myapp-1.0.0.aci";
        assert_eq!(eps(5).len(), 2);
        assert_eq!(eps(5)[1].aci, short);
        let six = eps(6);
        assert_eq!(six.len(), 3);
        assert!(six[2].aci.starts_with("hdfs://"));
    }

    #[test]
    fn tricky_html() {
        let html = br#"<!doctype html><HTML><HEAD>
            <META NAME="ac-discovery" CONTENT="  example.com   https://a/{name}.{ext}  ">
            <meta name=ac-discovery content='example.com https://b/{name}.{ext}'/>
            <meta name="ac-discovery" content="example.com
                https://c/{name}.{ext}">
            <!-- <meta name="ac-discovery" content="example.com https://commented/{ext}"> -->
            <script>var s = '<meta name="ac-discovery" content="example.com https://script/{ext}">';</script>
            <meta name="ac-discovery" content="example.com">
            <meta name="ac-discovery" content=" ">
            <meta name="other" content="example.com https://other/{ext}">
            <meta content="example.com https://noname/{ext}">
            <meta name="ac-discovery-pubkeys" content="example.com/app https://k/keys.asc">
            </head><body>not a <meta tag</body>"#;
        let m = parse_meta(html);
        let uris: Vec<&str> = m.iter().map(|m| m.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "https://a/{name}.{ext}",
                "https://b/{name}.{ext}",
                "https://c/{name}.{ext}",
                "https://k/keys.asc"
            ]
        );
        assert!(parse_meta(b"just text, no tags at all").is_empty());
        assert!(parse_meta(b"").is_empty());
        assert!(parse_meta(&[0xff, 0xfe, b'<', 0x00, b'>']).is_empty());
    }

    #[test]
    fn templates() {
        let l = labels();
        assert_eq!(
            render(
                "https://s/{os}/{arch}/{name}-{version}.{ext}",
                "example.com/w",
                &l,
                "aci"
            )
            .as_deref(),
            Some("https://s/linux/amd64/example.com/w-1.0.0.aci")
        );
        assert_eq!(
            render("https://s/{name}-{channel}.{ext}", "a", &l, "aci"),
            None
        );
        let mut more = l.clone();
        more.push(("channel".into(), "beta".into()));
        assert_eq!(
            render("https://s/{name}-{channel}.{ext}", "a", &more, "aci.asc").as_deref(),
            Some("https://s/a-beta.aci.asc")
        );
        assert_eq!(
            render("https://s/x.aci?a={", "a", &l, "aci").as_deref(),
            Some("https://s/x.aci?a={"),
            "an unmatched brace is not a template expression"
        );
    }

    #[test]
    fn prefix_is_a_string_prefix() {
        let m = vec![Meta {
            name: "ac-discovery".into(),
            prefix: "example.com/foo".into(),
            uri: "https://s/{name}.{ext}".into(),
        }];
        assert_eq!(
            image_endpoints(&m, "example.com/foobar", &labels()).len(),
            1
        );
        assert!(image_endpoints(&m, "example.com/fo", &labels()).is_empty());
    }

    #[test]
    fn walks_up() {
        assert_eq!(
            walk("example.com/a/b").collect::<Vec<_>>(),
            ["example.com/a/b", "example.com/a", "example.com"]
        );
        assert_eq!(walk("example.com").collect::<Vec<_>>(), ["example.com"]);
        let mut asked = Vec::new();
        let page = br#"<meta name="ac-discovery" content="example.com https://s/{name}.{ext}">"#;
        let found = discover(
            "example.com/a/b",
            |url| {
                asked.push(url.to_string());
                if url.starts_with("https://example.com?") {
                    Ok(page.to_vec())
                } else if url.contains("/a/b") {
                    Err(Error::Http {
                        url: url.into(),
                        msg: "HTTP 404 Not Found".into(),
                    })
                } else {
                    Ok(b"<html>nothing</html>".to_vec())
                }
            },
            |m| image_endpoints(m, "example.com/a/b", &labels()),
            "ac-discovery template",
        )
        .unwrap();
        assert_eq!(found[0].aci, "https://s/example.com/a/b.aci");
        assert_eq!(
            asked,
            [
                "https://example.com/a/b?ac-discovery=1",
                "https://example.com/a?ac-discovery=1",
                "https://example.com?ac-discovery=1"
            ]
        );
        let e = discover(
            "example.com/a",
            |_| Ok(Vec::new()),
            |m| pubkey_urls(m, "example.com/a"),
            "ac-discovery-pubkeys tag",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("discovery of example.com/a failed"), "{e}");
        assert!(
            e.contains("https://example.com?ac-discovery=1: no ac-discovery-pubkeys tag"),
            "{e}"
        );
    }
}
