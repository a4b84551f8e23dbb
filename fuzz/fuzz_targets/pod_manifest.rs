//! Pod manifests (`jetpack run --pod-manifest`, the metadata service's registrations): a
//! manifest that parses re-serialises to JSON that parses to an equal manifest, and
//! validation of a parsed manifest never panics.
#![no_main]

use appc::PodManifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = PodManifest::from_slice(data) else {
        return;
    };
    let _ = m.validate();
    for json in [m.to_json(), m.to_json_pretty()] {
        let again = PodManifest::from_slice(json.as_bytes())
            .unwrap_or_else(|e| panic!("re-serialised manifest refused: {e}\n{json}"));
        assert_eq!(m, again, "round trip changed the manifest\n{json}");
    }
});
