//! Finished spans → OTLP protobuf (`ExportTraceServiceRequest`), encoded the way MLflow's
//! Python exporter does: attribute values as native `AnyValue`s (a JSON object becomes a
//! `kvlistValue`, a list an `arrayValue`, an integer an `intValue`, …), MLflow's keys
//! (`mlflow.traceRequestId`, `mlflow.spanType`, `mlflow.spanInputs`, `mlflow.spanOutputs`,
//! `mlflow.spanFunctionName`, `mlflow.spanLogLevel`), errors as `exception` events.

use ferroflow_proto::encoding::{any_value, float_any_value, key_value, string_any_value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value;

use crate::record::capture::Captured;
use crate::record::ids::mlflow_trace_id;
use crate::record::{Payload, SpanRecord, SpanStatus, SpanType, TraceMeta};

/// Python's logging levels, which MLflow records per span.
const LOG_LEVEL_DEBUG: i64 = 10;
const LOG_LEVEL_INFO: i64 = 20;
const LOG_LEVEL_ERROR: i64 = 40;

/// `mlflow.spanLogLevel` as MLflow sets it when a span ends: ERROR for a failed span, else
/// INFO for the user-visible types (LLM, CHAT_MODEL, TOOL, RETRIEVER, AGENT, EMBEDDING) and
/// DEBUG for the rest (`default_log_level_for_span_type`).
pub(crate) fn log_level(span_type: &SpanType, status: &SpanStatus) -> i64 {
    match (status, span_type) {
        (SpanStatus::Error(_), _) => LOG_LEVEL_ERROR,
        (
            _,
            SpanType::Llm
            | SpanType::ChatModel
            | SpanType::Tool
            | SpanType::Retriever
            | SpanType::Agent
            | SpanType::Embedding,
        ) => LOG_LEVEL_INFO,
        _ => LOG_LEVEL_DEBUG,
    }
}

/// What [`any_value()`] makes of the JSON of the same input; a non-finite float stays a
/// double (the JSON would have made it null).
pub(crate) fn captured_any_value(value: &Captured) -> AnyValue {
    let value = match value {
        Captured::Null => None,
        Captured::Bool(b) => Some(Any::BoolValue(*b)),
        Captured::I64(i) => Some(Any::IntValue(*i)),
        Captured::U64(u) => Some(match i64::try_from(*u) {
            Ok(i) => Any::IntValue(i),
            Err(_) => Any::DoubleValue(*u as f64),
        }),
        Captured::F64(f) => return float_any_value(*f),
        Captured::Str(s) => Some(Any::StringValue(s.clone())),
        Captured::Json(value) => return any_value(value),
    };
    AnyValue { value }
}

fn payload_any_value(payload: &Payload) -> AnyValue {
    match payload {
        Payload::Value(value) => captured_any_value(value),
        Payload::Fields(fields) => AnyValue {
            value: Some(Any::KvlistValue(KeyValueList {
                values: fields.iter().map(|(key, value)| key_value(*key, captured_any_value(value))).collect(),
            })),
        },
    }
}

fn json_kv(key: &str, value: &Value) -> KeyValue {
    key_value(key, any_value(value))
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    key_value(key, string_any_value(value))
}

/// Extra root-span attributes for plain-OTLP export, where no trace record is sent: trace tags
/// as `mlflow.traceTag.<key>` and user/session as the OTel semantic-convention keys (which an
/// MLflow server turns back into `mlflow.trace.user` / `mlflow.trace.session`).
fn root_attributes_for_plain_otlp(meta: &TraceMeta) -> Vec<KeyValue> {
    let mut attributes: Vec<KeyValue> =
        meta.tags.iter().map(|(k, v)| string_kv(&format!("mlflow.traceTag.{k}"), v)).collect();
    if let Some(user) = &meta.user {
        attributes.push(string_kv("user.id", user));
    }
    if let Some(session) = &meta.session {
        attributes.push(string_kv("session.id", session));
    }
    attributes
}

pub(crate) fn span_to_proto(record: &SpanRecord, plain_otlp_meta: Option<&TraceMeta>) -> Span {
    let state = &record.state;
    let mut attributes = Vec::with_capacity(state.attributes.len() + 6);
    attributes.push(string_kv("mlflow.traceRequestId", &mlflow_trace_id(record.trace_id)));
    attributes.push(string_kv("mlflow.spanType", state.span_type.as_str()));
    if let Some(function_name) = state.function_name {
        attributes.push(string_kv("mlflow.spanFunctionName", function_name));
    }
    if let Some(inputs) = &state.inputs {
        attributes.push(key_value("mlflow.spanInputs", payload_any_value(inputs)));
    }
    for (key, value) in &state.attributes {
        attributes.push(json_kv(key, value));
    }
    if let Some(outputs) = &state.outputs {
        attributes.push(key_value("mlflow.spanOutputs", captured_any_value(outputs)));
    }
    if let Some(meta) = plain_otlp_meta {
        attributes.extend(root_attributes_for_plain_otlp(meta));
    }
    let log_level = log_level(&state.span_type, &state.status);
    let status = match &state.status {
        SpanStatus::Unset => Status { message: String::new(), code: StatusCode::Unset as i32 },
        SpanStatus::Ok => Status { message: String::new(), code: StatusCode::Ok as i32 },
        SpanStatus::Error(message) => Status { message: message.clone(), code: StatusCode::Error as i32 },
    };
    attributes.push(json_kv("mlflow.spanLogLevel", &Value::from(log_level)));
    Span {
        trace_id: record.trace_id.to_be_bytes().to_vec(),
        span_id: record.span_id.to_be_bytes().to_vec(),
        parent_span_id: record.parent_id.map(|id| id.to_be_bytes().to_vec()).unwrap_or_default(),
        name: state.name.to_string(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: record.start_unix_nano,
        end_time_unix_nano: record.end_unix_nano,
        attributes,
        events: state
            .events
            .iter()
            .map(|event| Event {
                time_unix_nano: event.time_unix_nano,
                name: event.name.clone(),
                attributes: event.attributes.iter().map(|(k, v)| json_kv(k, v)).collect(),
                dropped_attributes_count: 0,
            })
            .collect(),
        status: Some(status),
        ..Default::default()
    }
}

/// One request holding `spans` (one resource, one scope).
pub(crate) fn export_request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("telemetry.sdk.language", "rust"),
                    string_kv("telemetry.sdk.name", "ferroflow-sdk"),
                    string_kv("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { scope: None, spans, schema_url: String::new() }],
            schema_url: String::new(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::capture::capture;
    use serde_json::json;

    #[test]
    fn captured_values_encode_as_their_json_does() {
        for value in [
            json!(1),
            json!(-7),
            json!(u64::MAX),
            json!(0.5),
            json!("text"),
            json!(true),
            json!(null),
            json!([1, {"k": "v"}]),
            json!({"a": {"b": [null]}}),
        ] {
            assert_eq!(captured_any_value(&capture(&value)), any_value(&value), "{value}");
        }
        assert_eq!(captured_any_value(&capture(&3u8)), any_value(&json!(3)));
        // NaN: null in JSON, but the OTLP double keeps it.
        let nan = captured_any_value(&capture(&f64::NAN));
        assert!(matches!(nan.value, Some(Any::DoubleValue(d)) if d.is_nan()));
    }
}
