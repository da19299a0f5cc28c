//! With no tracking URI, tracing is off: traced functions run unchanged, guards and trace
//! updates do nothing, and `flush` reports nothing. (A test binary of its own, because the
//! tracer is chosen once per process.)

use ferroflow_sdk::{start_span, trace, update_current_trace, SpanType, TraceUpdate};

#[trace(span_type = "TOOL")]
fn add(a: i64, b: i64) -> Result<i64, String> {
    if a < 0 {
        return Err("negative".into());
    }
    Ok(a + b)
}

#[trace]
async fn twice(x: i64) -> i64 {
    add(x, x).unwrap_or(0)
}

#[test]
fn tracing_is_a_no_op_without_a_tracking_uri() {
    for key in ["MLFLOW_TRACKING_URI", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
        std::env::remove_var(key);
    }
    assert!(!ferroflow_sdk::is_enabled());
    assert_eq!(add(1, 2), Ok(3));
    assert_eq!(add(-1, 2), Err("negative".to_string()));
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(runtime.block_on(twice(2)), 4);
    let span = start_span("nothing", SpanType::Llm);
    assert!(!span.is_recording());
    assert_eq!(span.trace_id(), None);
    span.set_inputs("ignored");
    span.record_token_usage(1, 2);
    assert!(!update_current_trace(TraceUpdate::new().user("nobody")));
    drop(span);
    assert_eq!(ferroflow_sdk::flush(), ferroflow_sdk::FlushReport::default());
}
