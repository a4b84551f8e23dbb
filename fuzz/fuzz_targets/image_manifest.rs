//! Image manifests (ACI `manifest` entries, fetched manifests): a manifest that parses
//! re-serialises, compactly and pretty, to JSON that parses to an equal manifest.
#![no_main]

use appc::ImageManifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = ImageManifest::from_slice(data) else {
        return;
    };
    for json in [m.to_json(), m.to_json_pretty()] {
        let again = ImageManifest::from_slice(json.as_bytes())
            .unwrap_or_else(|e| panic!("re-serialised manifest refused: {e}\n{json}"));
        assert_eq!(m, again, "round trip changed the manifest\n{json}");
    }
});
