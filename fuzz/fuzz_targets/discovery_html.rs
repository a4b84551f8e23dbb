//! The discovery page's `ac-*` meta tags, and what discovery makes of them: every tag found
//! is trimmed and complete, and rendering endpoints from them never panics.
#![no_main]

use jetpack_fetch::discovery::{image_endpoints, parse_meta, pubkey_urls, walk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let metas = parse_meta(data);
    for m in &metas {
        assert!(m.name.starts_with("ac-"));
        assert!(!m.prefix.is_empty() && !m.uri.is_empty());
        assert_eq!(m.uri.trim(), m.uri);
        assert!(!m.prefix.contains(|c: char| c.is_ascii_whitespace()));
    }
    let labels = [
        ("version".to_string(), "1.0.0".to_string()),
        ("os".to_string(), "linux".to_string()),
        ("arch".to_string(), "amd64".to_string()),
    ];
    // Names under the page's own prefixes, so that its templates are rendered.
    for m in metas.iter().take(4) {
        let name = format!("{}/app", m.prefix);
        let _ = walk(&name).count();
        let _ = pubkey_urls(&metas, &name);
        for e in image_endpoints(&metas, &name, &labels) {
            assert!(!e.aci.is_empty() && !e.asc.is_empty());
        }
    }
});
