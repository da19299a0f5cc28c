//! JSON request bodies and query strings through the request extractor (`parse_message`) into
//! the wire messages of the busiest routes, then into domain values where a handler would.
#![no_main]

use ferroflow_proto::{evaluation, registry, traces, tracking};
use ferroflow_server::convert;
use ferroflow_server::extract::{parse_message, query_to_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = query_to_json(text);
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return };
    let _ = parse_message::<tracking::CreateExperiment>(value.clone());
    let _ = parse_message::<tracking::SearchExperiments>(value.clone());
    let _ = parse_message::<tracking::LogBatch>(value.clone());
    let _ = parse_message::<tracking::SearchRuns>(value.clone());
    let _ = parse_message::<evaluation::UpsertDatasetRecords>(value.clone());
    if let Ok(request) = parse_message::<registry::CreateModelVersion>(value.clone()) {
        let _ = convert::new_model_version(&request);
    }
    if let Ok(request) = parse_message::<traces::SearchTracesV3>(value.clone()) {
        let _ = request;
    }
    if let Ok(request) = parse_message::<traces::StartTraceV3>(value) {
        if let Some(info) = request.trace.and_then(|t| t.trace_info) {
            let _ = convert::trace_info_from_wire(info);
        }
    }
    let _ = convert::dataset_record_upserts(text);
});
