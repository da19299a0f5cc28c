//! Page tokens and dataset record cursors as clients send them back: an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = ferroflow_core::search::page_token::decode(Some(text));
    let _ = ferroflow_core::evaluation::decode_record_cursor(Some(text));
});
