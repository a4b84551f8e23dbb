//! `jetpack.conf` (KEY = VALUE lines) and `-o KEY=VALUE` overrides, loaded as the CLI loads
//! them. Whatever loads round-trips: its non-default entries, written back as a file, load
//! to the same typed settings.
#![no_main]

use std::sync::LazyLock;

use jetpack_store::Config;
use libfuzzer_sys::fuzz_target;

static DIR: LazyLock<std::path::PathBuf> = LazyLock::new(jetpack_fuzz::scratch_dir);

fn check(cfg: &Config) {
    let _ = cfg.layout();
    let text: String = cfg
        .entries()
        .into_iter()
        .filter(|(_, _, origin)| *origin != "default")
        .map(|(k, v, _)| format!("{k} = {v}\n"))
        .collect();
    let file = DIR.join("again.conf");
    std::fs::write(&file, &text).expect("writing the configuration");
    let again = Config::load(Some(&file), &[])
        .unwrap_or_else(|e| panic!("written back, the configuration is refused: {e}\n{text}"));
    assert_eq!(cfg.settings(), again.settings(), "{text}");
}

fuzz_target!(|data: &[u8]| {
    let file = DIR.join("jetpack.conf");
    std::fs::write(&file, data).expect("writing the configuration");
    if let Ok(cfg) = Config::load(Some(&file), &[]) {
        check(&cfg);
    }
    // The same lines as overrides, over an empty file.
    let overrides: Vec<String> = String::from_utf8_lossy(data)
        .lines()
        .take(64)
        .map(str::to_string)
        .collect();
    std::fs::write(&file, b"").expect("writing the configuration");
    if let Ok(cfg) = Config::load(Some(&file), &overrides) {
        check(&cfg);
    }
});
