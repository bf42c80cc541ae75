//! The server's TOML configuration file (`--config FILE`): `FileConfig::parse`, with its
//! per-key error search, the token secret and CORS origin checks.
#![no_main]

use std::path::Path;

use attendance_server::config::FileConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz.toml");
    if let Ok(config) = FileConfig::parse(file, text) {
        // A file read once reads the same again.
        assert_eq!(FileConfig::parse(file, text).ok(), Some(config));
    }
});
