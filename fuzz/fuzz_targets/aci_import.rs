//! ACI import: one stream (tar, or gzip/bzip2/xz/zstd-compressed tar) through the import's own
//! pass (sniff, decompress, hash, check every entry, extract `rootfs/` with `TreeWriter`, set
//! directory times, parse the manifest) into a scratch tree on tmpfs, removed every iteration.
//!
//! Invariants: nothing is written beside the scratch tree; an ACI that imports also passes
//! `validate_aci` (the check `jetpack image validate` makes without writing), with the same
//! image ID and manifest.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use jetpack_storage::writer::TreeWriter;
use jetpack_store::import::{extract, pipeline};
use jetpack_store::validate_aci;
use libfuzzer_sys::fuzz_target;

/// Uncompressed tar limit (the `import.max-size` setting): bounds the memory and time an
/// input that decompresses to much more can take.
const MAX_TAR: u64 = 16 << 20;

struct Scratch {
    layer: PathBuf,
    beside: PathBuf,
}

static SCRATCH: LazyLock<Scratch> = LazyLock::new(|| {
    // On tmpfs: extraction then costs no disk I/O.
    let dir = jetpack_fuzz::scratch_dir();
    let beside = dir.join("beside");
    std::fs::create_dir(&beside).expect("scratch directory");
    Scratch {
        layer: dir.join("layer"),
        beside,
    }
});

fn import(data: &[u8], layer: &Path) -> Option<(appc::ImageManifest, String)> {
    std::fs::create_dir(layer).expect("scratch layer");
    let mut writer = TreeWriter::open(layer).expect("opening the scratch layer");
    let mut walked = extract::Walked::default();
    let mut progress = pipeline::Progress::default();
    let (_, stats) = pipeline::stream_limited(data, None, Some(MAX_TAR), &mut progress, |r| {
        extract::walk_into(r, Some(&mut writer), &mut walked)
    })
    .ok()?;
    writer.finish().ok()?;
    let manifest = appc::ImageManifest::from_slice(&walked.manifest?).ok()?;
    Some((manifest, stats.image_id()))
}

fuzz_target!(|data: &[u8]| {
    let s = &*SCRATCH;
    let imported = import(data, &s.layer);
    std::fs::remove_dir_all(&s.layer).expect("removing the scratch layer");
    let beside: Vec<_> = std::fs::read_dir(s.beside.parent().expect("scratch"))
        .expect("scratch")
        .map(|e| e.expect("scratch").file_name())
        .collect();
    assert_eq!(beside, ["beside"], "extraction wrote outside its tree");
    assert!(
        std::fs::read_dir(&s.beside)
            .expect("scratch")
            .next()
            .is_none(),
        "extraction wrote outside its tree"
    );
    if let Some((manifest, id)) = imported {
        let (m, stats) = validate_aci(data).expect("an imported ACI must validate");
        assert_eq!(m, manifest);
        assert_eq!(stats.image_id(), id);
    }
});
