//! Every search grammar's filter and order-by parser on arbitrary text: an error, never a panic.
#![no_main]

use ferroflow_core::search::{datasets, experiments, logged_models, registry, runs, traces};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = experiments::parse_filter(text);
    let _ = runs::parse_filter(text);
    let _ = traces::parse_filter(text);
    let _ = datasets::parse_filter(text);
    let _ = logged_models::parse_filter(text);
    let _ = logged_models::parse_order_by_field(text);
    let _ = registry::parse_registered_model_filter(text);
    let _ = registry::parse_model_version_filter(text);
    let items: Vec<String> = text.split('\n').map(str::to_string).collect();
    let _ = experiments::parse_order_by(&items);
    let _ = runs::parse_order_by(&items);
    let _ = traces::parse_order_by(&items);
    let _ = datasets::parse_order_by(&items);
    let _ = registry::parse_registered_model_order_by(&items);
    let _ = registry::parse_model_version_order_by(&items);
});
