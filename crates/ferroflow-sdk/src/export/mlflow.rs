//! The StartTraceV3 record (`POST /api/3.0/mlflow/traces`) the Python client sends when a
//! trace's root span ends: TraceInfoV3 with the root's timing and state, previews, metadata
//! (`mlflow.traceInputs`/`Outputs`, `mlflow.trace_schema.version`, user, session, token usage,
//! source) and tags (`mlflow.traceName` plus the user's).
//!
//! JSON text inside string fields is written like Python's `json.dumps` (`", "` and `": "`
//! separators; `ferroflow_proto::encoding`), so that it reads back identically through the
//! Python client. The messages are `ferroflow_proto`'s, the ones the server reads.

use ferroflow_proto::encoding::{python_json, python_json_ascii_len};
use ferroflow_proto::traces::{
    LinkPromptsToTrace, PromptVersionRef, StartTraceV3, TraceIn, TraceInfoV3, TraceLocation,
};
use serde_json::{json, Map, Value};

use crate::record::ids::mlflow_trace_id;
use crate::record::{linked_prompts_json, SpanRecord, SpanStatus, TraceMeta, LINKED_PROMPTS_KEY};

/// Longest `mlflow.traceInputs` / `mlflow.traceOutputs` value (Python: 250 chars, "..." included).
const MAX_METADATA_CHARS: usize = 250;
/// Longest request/response preview of an OSS server (Python: 1000 chars).
const MAX_PREVIEW_CHARS: usize = 1000;
const TRUNCATION_SUFFIX: &str = "...";

/// The size Python's `add_size_stats_to_trace_metadata` counts for one span: the bytes of
/// `json.dumps(span.to_dict())`, where attribute values are JSON text (as MLflow keeps them on
/// the OTel span) and ids are base64. Computed on the exporter thread, per span, so that the
/// root's trace record can carry `mlflow.trace.sizeBytes` / `mlflow.trace.sizeStats`.
pub(crate) fn span_json_size(record: &SpanRecord) -> usize {
    let state = &record.state;
    let mut attributes = Map::new();
    let mut put = |key: &str, text: String| {
        attributes.insert(key.to_string(), Value::String(text));
    };
    put("mlflow.traceRequestId", python_json(&mlflow_trace_id(record.trace_id)));
    put("mlflow.spanType", python_json(state.span_type.as_str()));
    if let Some(function_name) = state.function_name {
        put("mlflow.spanFunctionName", python_json(function_name));
    }
    if let Some(inputs) = &state.inputs {
        put("mlflow.spanInputs", python_json(inputs));
    }
    for (key, value) in &state.attributes {
        put(key, python_json(value));
    }
    if let Some(outputs) = &state.outputs {
        put("mlflow.spanOutputs", python_json(outputs));
    }
    let (code, message) = match &state.status {
        SpanStatus::Error(message) => ("STATUS_CODE_ERROR", message.as_str()),
        SpanStatus::Ok => ("STATUS_CODE_OK", ""),
        SpanStatus::Unset => ("STATUS_CODE_UNSET", ""),
    };
    let log_level = super::otlp::log_level(&state.span_type, &state.status);
    put("mlflow.spanLogLevel", log_level.to_string());
    let events: Vec<Value> = state
        .events
        .iter()
        .map(|event| {
            let attributes: Map<String, Value> = event.attributes.iter().cloned().collect();
            json!({"name": event.name, "time_unix_nano": event.time_unix_nano, "attributes": attributes})
        })
        .collect();
    // base64 of 16 and 8 bytes: 24 and 12 characters, none escaped.
    let span = json!({
        "trace_id": "A".repeat(24),
        "span_id": "A".repeat(12),
        "parent_span_id": record.parent_id.map(|_| "A".repeat(12)),
        "name": state.name,
        "start_time_unix_nano": record.start_unix_nano,
        "end_time_unix_nano": record.end_unix_nano,
        "events": events,
        "status": {"code": code, "message": message},
        "attributes": attributes,
        "links": [],
    });
    python_json_ascii_len(&span)
}

/// Adds `mlflow.trace.sizeBytes` and `mlflow.trace.sizeStats` to a trace record body, as
/// `add_size_stats_to_trace_metadata` does: the spans' sizes, the trace info's (`{"info":
/// ..., "data": {"spans": []}}`, before these two keys are added) and the `", "` between spans.
fn add_size_stats(info: &mut TraceInfoV3, span_sizes: &[usize], duration_ms: u64) {
    if span_sizes.is_empty() {
        return;
    }
    let mut as_dict = serde_json::to_value(&*info).unwrap_or_default();
    if let Some(object) = as_dict.as_object_mut() {
        object.remove("execution_duration");
        object.insert("execution_duration_ms".to_string(), Value::from(duration_ms));
    }
    let metadata_size = python_json_ascii_len(&json!({"info": as_dict, "data": {"spans": []}}));
    let total = span_sizes.iter().sum::<usize>() + metadata_size + (span_sizes.len() - 1) * 2;
    let mut sorted = span_sizes.to_vec();
    sorted.sort_unstable();
    let percentile = |p: f64| -> u64 {
        let index = p * (sorted.len() - 1) as f64;
        let lower = index as usize;
        if lower + 1 >= sorted.len() {
            return sorted[sorted.len() - 1] as u64;
        }
        let weight = index - lower as f64;
        (sorted[lower] as f64 * (1.0 - weight) + sorted[lower + 1] as f64 * weight) as u64
    };
    let stats = json!({
        "total_size_bytes": total,
        "num_spans": sorted.len(),
        "max": sorted[sorted.len() - 1],
        "p25": percentile(0.25),
        "p50": percentile(0.50),
        "p75": percentile(0.75),
    });
    let metadata = &mut info.trace_metadata;
    metadata.insert("mlflow.trace.sizeStats".to_string(), Value::String(python_json(&stats)));
    metadata.insert("mlflow.trace.sizeBytes".to_string(), Value::String(total.to_string()));
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let keep = max_chars - TRUNCATION_SUFFIX.len();
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(TRUNCATION_SUFFIX);
    out
}

/// `2026-11-27T11:41:39.664Z` for a time in nanoseconds since the epoch.
pub(crate) fn rfc3339_millis(unix_nanos: u64) -> String {
    let millis = unix_nanos / 1_000_000;
    let secs = millis / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:03}Z", millis % 1000)
}

/// A protobuf `Duration` in JSON (`"0.110s"`, `"2s"`) at millisecond resolution.
pub(crate) fn duration_millis(nanos: u64) -> String {
    let millis = nanos / 1_000_000;
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{}.{:03}s", millis / 1000, millis % 1000)
    }
}

/// The program's file name: `mlflow.source.name` of what this process records.
pub(crate) fn source_name() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// The StartTraceV3 body (`{"trace": {"trace_info": ...}}`) for the trace whose root span is
/// `root`. `span_sizes` are the [`span_json_size`]s of the trace's spans (none: no size
/// metadata).
pub(crate) fn start_trace_body(
    root: &SpanRecord,
    meta: &TraceMeta,
    experiment_id: &str,
    span_sizes: &[usize],
) -> StartTraceV3 {
    let state = &root.state;
    let inputs = state.inputs.as_ref().map(python_json).unwrap_or_default();
    let outputs = state.outputs.as_ref().map(python_json).unwrap_or_default();

    let mut metadata = Map::new();
    for (key, value) in &meta.metadata {
        metadata.insert(key.clone(), Value::String(value.clone()));
    }
    let mut put = |key: &str, value: String| {
        metadata.insert(key.to_string(), Value::String(value));
    };
    put("mlflow.trace_schema.version", "3".to_string());
    put("mlflow.traceInputs", truncate(&inputs, MAX_METADATA_CHARS));
    put("mlflow.traceOutputs", truncate(&outputs, MAX_METADATA_CHARS));
    if let Some(user) = &meta.user {
        put("mlflow.trace.user", user.clone());
    }
    if let Some(session) = &meta.session {
        put("mlflow.trace.session", session.clone());
    }
    if let Some(usage) = &meta.token_usage {
        put("mlflow.trace.tokenUsage", python_json(usage));
    }
    if let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        put("mlflow.user", user);
    }
    put("mlflow.source.name", source_name());
    put("mlflow.source.type", "LOCAL".to_string());

    let mut tags = Map::new();
    for (key, value) in &meta.tags {
        tags.insert(key.clone(), Value::String(value.clone()));
    }
    tags.insert("mlflow.traceName".to_string(), Value::String(state.name.to_string()));
    if !meta.linked_prompts.is_empty() {
        tags.insert(LINKED_PROMPTS_KEY.to_string(), Value::String(linked_prompts_json(&meta.linked_prompts)));
    }

    let duration = root.end_unix_nano.saturating_sub(root.start_unix_nano);
    let mut info = TraceInfoV3 {
        trace_id: Some(mlflow_trace_id(root.trace_id)),
        client_request_id: meta.client_request_id.clone(),
        trace_location: Some(TraceLocation::experiment(experiment_id.to_string())),
        request_preview: (!inputs.is_empty()).then(|| truncate(&inputs, MAX_PREVIEW_CHARS)),
        response_preview: (!outputs.is_empty()).then(|| truncate(&outputs, MAX_PREVIEW_CHARS)),
        request_time: Some(rfc3339_millis(root.start_unix_nano)),
        execution_duration: Some(duration_millis(duration)),
        state: Some(
            match state.status {
                SpanStatus::Error(_) => "ERROR",
                _ => "OK",
            }
            .to_string(),
        ),
        trace_metadata: metadata,
        assessments: Vec::new(),
        tags,
    };
    add_size_stats(&mut info, span_sizes, duration / 1_000_000);
    StartTraceV3 { trace: Some(TraceIn { trace_info: Some(info) }) }
}

/// The `POST /api/2.0/mlflow/traces/link-prompts` body for a trace that loaded prompts.
pub(crate) fn link_prompts_body(root: &SpanRecord, meta: &TraceMeta) -> Option<LinkPromptsToTrace> {
    if meta.linked_prompts.is_empty() {
        return None;
    }
    let prompt_versions = meta
        .linked_prompts
        .iter()
        .map(|(name, version)| PromptVersionRef { name: Some(name.clone()), version: Some(version.clone()) })
        .collect();
    Some(LinkPromptsToTrace { trace_id: Some(mlflow_trace_id(root.trace_id)), prompt_versions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        // 1795779699664 ms is 2026-11-27T11:41:39.664Z (captures/b_tracing_sync.jsonl seq 9).
        assert_eq!(rfc3339_millis(1_795_779_699_664_652_264), "2026-11-27T11:41:39.664Z");
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(duration_millis(110_556_000), "0.110s");
        assert_eq!(duration_millis(2_000_000_000), "2s");
    }

    fn record(
        name: &'static str,
        span_type: crate::SpanType,
        parent_id: Option<u64>,
        inputs: crate::record::capture::Fields,
        outputs: crate::record::capture::Captured,
        start_end: (u64, u64),
    ) -> SpanRecord {
        SpanRecord {
            trace_id: 0x48dd06a2abcf02c365ac80b6c6c01bee,
            remote: false,
            span_id: 1,
            parent_id,
            start_unix_nano: start_end.0,
            end_unix_nano: start_end.1,
            state: crate::record::FinishedState {
                name: name.into(),
                span_type,
                function_name: Some(name),
                inputs: Some(crate::record::Payload::Fields(inputs)),
                outputs: Some(outputs),
                attributes: Vec::new(),
                events: Vec::new(),
                status: SpanStatus::Ok,
            },
        }
    }

    #[test]
    fn span_sizes_are_the_python_clients() {
        use crate::record::capture::{capture, Captured, Fields};
        use crate::SpanType;
        // `len(json.dumps(span.to_dict()))` from mlflow 3.17.2 for the same spans.
        let plain = record(
            "use_prompt",
            SpanType::Unknown,
            None,
            Fields::default(),
            Captured::Str("Q: x\nStyle: y\nA:".into()),
            (1795788371884568476, 1795788371906968944),
        );
        assert_eq!(span_json_size(&plain), 550);
        let mut inputs = Fields::default();
        inputs.push("q", capture("h\u{e9}llo"));
        let agent =
            record("parent", SpanType::Agent, None, inputs, capture(&3), (1795788371916253329, 1795788371918517557));
        assert_eq!(span_json_size(&agent), 538);
        let mut inputs = Fields::default();
        inputs.push("a", capture(&1));
        inputs.push("b", capture(&2));
        let tool =
            record("add", SpanType::Tool, Some(2), inputs, capture(&3), (1795788371916572915, 1795788371916739534));
        assert_eq!(span_json_size(&tool), 538);
    }

    #[test]
    fn size_stats_like_python() {
        let mut info: TraceInfoV3 = serde_json::from_value(json!({"trace_id": "tr-1", "execution_duration": "0.002s",
            "trace_metadata": {"k": "v"}}))
        .unwrap();
        let dict = json!({"info": {"trace_id": "tr-1", "trace_metadata": {"k": "v"},
            "execution_duration_ms": 2}, "data": {"spans": []}});
        let metadata_size = python_json(&dict).len();
        add_size_stats(&mut info, &[538, 100, 400, 200], 2);
        let total = 538 + 100 + 400 + 200 + metadata_size + 3 * 2;
        assert_eq!(info.trace_metadata["mlflow.trace.sizeBytes"], total.to_string());
        // Python: p25 = 100*0.25 + 200*0.75 = 175, p50 = 300, p75 = 400*0.75 + 538*0.25 = 434.5.
        assert_eq!(
            info.trace_metadata["mlflow.trace.sizeStats"],
            format!(
                r#"{{"total_size_bytes": {total}, "num_spans": 4, "max": 538, "p25": 175, "p50": 300, "p75": 434}}"#
            )
        );
    }

    #[test]
    fn truncation_keeps_250_chars() {
        let long = "x".repeat(300);
        let cut = truncate(&long, MAX_METADATA_CHARS);
        assert_eq!(cut.chars().count(), 250);
        assert!(cut.ends_with("..."));
        assert_eq!(truncate("short", 250), "short");
    }
}
