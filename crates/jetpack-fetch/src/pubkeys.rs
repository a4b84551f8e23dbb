//! Getting public keys to trust: from a file, a URL, or meta discovery
//! (`ac-discovery-pubkeys`). Whether to trust them is the caller's decision.

use pgp::composed::SignedPublicKey;

use crate::discovery;
use crate::error::{IoContext, Result};
use crate::http::Client;
use crate::keys::parse_keyring;

/// Keys from `location`: an `https://`, `http://` or `file://` URL, or a path.
pub fn load_keys(client: &Client, location: &str) -> Result<Vec<SignedPublicKey>> {
    let data = if location.contains("://") {
        client.get_small(location)?
    } else {
        std::fs::read(location).at(location)?
    };
    parse_keyring(&data, location)
}

/// The key rings offered for `name` by meta discovery, walking up the name until a page
/// names at least one; each with the URL it came from.
pub fn discover_keys(client: &Client, name: &str) -> Result<Vec<(String, Vec<SignedPublicKey>)>> {
    let urls = discovery::discover(
        name,
        |url| client.get_discovery_page(url),
        |m| discovery::pubkey_urls(m, name),
        "ac-discovery-pubkeys tag",
    )?;
    let mut out = Vec::new();
    for url in urls {
        client.check_remote_url(&url)?;
        let keys = load_keys(client, &url)?;
        out.push((url, keys));
    }
    Ok(out)
}
