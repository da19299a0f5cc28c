//! Artifact paths as the artifact routes receive them: checked, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = ferroflow_core::validation::artifact_path(text);
});
