//! The StartTraceV3 record (`POST /api/3.0/mlflow/traces`) the Python client sends when a
//! trace's root span ends: TraceInfoV3 with the root's timing and state, previews, metadata
//! (`mlflow.traceInputs`/`Outputs`, `mlflow.trace_schema.version`, user, session, token usage,
//! source) and tags (`mlflow.traceName` plus the user's).
//!
//! JSON text inside string fields is written like Python's `json.dumps` (`", "` and `": "`
//! separators), so that it reads back identically through the Python client.

use std::io;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::span::{SpanRecord, SpanStatus};
use crate::tracer::TraceMeta;

/// Longest `mlflow.traceInputs` / `mlflow.traceOutputs` value (Python: 250 chars, "..." included).
const MAX_METADATA_CHARS: usize = 250;
/// Longest request/response preview of an OSS server (Python: 1000 chars).
const MAX_PREVIEW_CHARS: usize = 1000;
const TRUNCATION_SUFFIX: &str = "...";

/// `serde_json`'s compact output with Python's default separators.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// JSON text as Python's `json.dumps` writes it by default.
pub(crate) fn python_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    if value.serialize(&mut serializer).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
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
    format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:03}Z",
        millis % 1000
    )
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

fn source_name() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// The `{"trace": {"trace_info": ...}}` body for the trace whose root span is `root`.
pub(crate) fn start_trace_body(root: &SpanRecord, meta: &TraceMeta, experiment_id: &str) -> Value {
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
    put(
        "mlflow.traceOutputs",
        truncate(&outputs, MAX_METADATA_CHARS),
    );
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
    tags.insert(
        "mlflow.traceName".to_string(),
        Value::String(state.name.to_string()),
    );

    let mut info = json!({
        "trace_id": crate::ids::mlflow_trace_id(root.trace_id),
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
        "request_time": rfc3339_millis(root.start_unix_nano),
        "execution_duration": duration_millis(root.end_unix_nano.saturating_sub(root.start_unix_nano)),
        "state": match state.status { SpanStatus::Error(_) => "ERROR", _ => "OK" },
        "trace_metadata": metadata,
        "tags": tags,
    });
    if !inputs.is_empty() {
        info["request_preview"] = Value::String(truncate(&inputs, MAX_PREVIEW_CHARS));
    }
    if !outputs.is_empty() {
        info["response_preview"] = Value::String(truncate(&outputs, MAX_PREVIEW_CHARS));
    }
    if let Some(id) = &meta.client_request_id {
        info["client_request_id"] = Value::String(id.clone());
    }
    json!({"trace": {"trace_info": info}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json_separators() {
        let value = json!({"question": "what is mlflow?", "k": 3, "l": [1, 2]});
        assert_eq!(
            python_json(&value),
            r#"{"question": "what is mlflow?", "k": 3, "l": [1, 2]}"#
        );
    }

    #[test]
    fn times_and_durations() {
        // 1795779699664 ms is 2026-11-27T11:41:39.664Z (captures/b_tracing_sync.jsonl seq 9).
        assert_eq!(
            rfc3339_millis(1_795_779_699_664_652_264),
            "2026-11-27T11:41:39.664Z"
        );
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(duration_millis(110_556_000), "0.110s");
        assert_eq!(duration_millis(2_000_000_000), "2s");
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
