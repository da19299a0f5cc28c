//! An OTLP/HTTP JSON body through decoding to span records, and any JSON as an MLflow trace
//! document (the artifact-only traces' `traces.json`).
#![no_main]

use ferroflow_server::convert::otlp::{records_from_trace_document, span_records};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<ExportTraceServiceRequest>(data) {
        let _ = span_records(request);
    }
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = records_from_trace_document(&document);
    }
});
