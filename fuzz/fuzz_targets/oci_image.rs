//! OCI and Docker image documents (`jetpack-oci`): what a registry, an OCI layout or a
//! `docker save` archive hands over, and image references. The first input byte chooses
//! what the rest is:
//! - 0: a manifest or index, with a media type given by the next byte (none, or one of the
//!   registry's), then the platform choice of an index and the layers' compressions;
//! - 1: an image configuration, mapped to an appc manifest that must be valid appc (it reads
//!   back as the same manifest), and its layers' chain IDs;
//! - 2: a `docker save` archive's `manifest.json`;
//! - 3: a reference (`docker://…`, `oci:…`, …), which prints as text that parses back to it.
#![no_main]

use jetpack_oci::manifest::parse_config;
use jetpack_oci::media;
use jetpack_oci::{
    ImageRef, Parsed, Platform, chain::chain_ids, parse_docker_archive_manifest, parse_manifest,
    select,
};
use libfuzzer_sys::fuzz_target;

const MEDIA_TYPES: [Option<&str>; 7] = [
    None,
    Some(media::OCI_INDEX),
    Some(media::OCI_MANIFEST),
    Some(media::DOCKER_LIST),
    Some(media::DOCKER_MANIFEST),
    Some("application/json"),
    Some(""),
];

fn manifest(data: &[u8]) {
    let Some((&t, doc)) = data.split_first() else {
        return;
    };
    let media_type = MEDIA_TYPES[usize::from(t) % MEDIA_TYPES.len()];
    match parse_manifest(doc, media_type, "fuzz") {
        Ok(Parsed::Index(i)) => {
            for want in [Platform::new("linux", "amd64", None), Platform::host()] {
                if let Ok(d) = select(i.manifests(), &want, "fuzz") {
                    assert!(i.manifests().iter().any(|m| std::ptr::eq(m, d)));
                }
            }
        }
        Ok(Parsed::Manifest(m)) => {
            for l in m.layers() {
                assert!(media::layer_compression(&l.media_type().to_string()).is_some());
            }
        }
        Err(_) => {}
    }
}

fn config(doc: &[u8]) {
    let Ok(c) = parse_config(doc, "fuzz") else {
        return;
    };
    let ids = chain_ids(c.rootfs().diff_ids());
    assert_eq!(ids.len(), c.rootfs().diff_ids().len());
    let name = "docker.io/library/fuzz".parse().expect("an AC identifier");
    let Ok(m) = jetpack_oci::image_manifest(&c, &name, Some("latest")) else {
        return;
    };
    let json = m.to_json();
    let again = appc::ImageManifest::from_slice(json.as_bytes())
        .unwrap_or_else(|e| panic!("the mapped manifest is not valid appc: {e}\n{json}"));
    assert_eq!(again, m, "{json}");
}

fn reference(text: &[u8]) {
    let Ok(s) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(Some(r)) = ImageRef::parse(s) else {
        return;
    };
    if let ImageRef::Docker(d) = &r {
        let _ = (d.api_host(), d.name(), d.appc_name(), d.reference());
    }
    let shown = r.to_string();
    let again = ImageRef::parse(&shown)
        .unwrap_or_else(|e| panic!("{s:?} shows as {shown:?}, which is refused: {e}"));
    assert_eq!(again.as_ref(), Some(&r), "{s:?} shows as {shown:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&what, rest)) = data.split_first() else {
        return;
    };
    match what % 4 {
        0 => manifest(rest),
        1 => config(rest),
        2 => {
            let _ = parse_docker_archive_manifest(rest);
        }
        _ => reference(rest),
    }
});
