//! CNI network configuration files (`.conf`/`.conflist` in the net directory), loaded as
//! `jetpack run --net` loads them; every accessor of a loaded network answers without panic.
#![no_main]

use std::sync::LazyLock;

use jetpack_net::{find, load_all};
use libfuzzer_sys::fuzz_target;

static DIR: LazyLock<std::path::PathBuf> = LazyLock::new(jetpack_fuzz::scratch_dir);

fuzz_target!(|data: &[u8]| {
    let dir = DIR.as_path();
    std::fs::write(dir.join("50-fuzz.conflist"), data).expect("writing the configuration");
    let Ok(nets) = load_all(dir) else {
        return;
    };
    assert_eq!(nets.len(), 1);
    let n = &nets[0];
    assert!(!n.name.is_empty());
    assert!(!n.plugins().is_empty());
    let _ = n.cni_version();
    let _ = n.supports("portMappings");
    let _ = n.host_address();
    let _ = n.owner();
    assert!(find(&nets, dir, &n.name).is_ok());
});
