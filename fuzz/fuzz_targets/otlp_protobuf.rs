//! An OTLP/HTTP protobuf body through decoding to span records, as `/v1/traces` reads it.
#![no_main]

use ferroflow_server::convert::otlp::span_records;
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = ExportTraceServiceRequest::decode(data) {
        let _ = span_records(request);
    }
});
