//! Finished spans → OTLP protobuf (`ExportTraceServiceRequest`), encoded the way MLflow's
//! Python exporter does: attribute values as native `AnyValue`s (a JSON object becomes a
//! `kvlistValue`, a list an `arrayValue`, an integer an `intValue`, …), MLflow's keys
//! (`mlflow.traceRequestId`, `mlflow.spanType`, `mlflow.spanInputs`, `mlflow.spanOutputs`,
//! `mlflow.spanFunctionName`, `mlflow.spanLogLevel`), errors as `exception` events.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value;

use crate::capture::Captured;
use crate::span::{Payload, SpanRecord, SpanStatus, SpanType};
use crate::tracer::TraceMeta;

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

/// A JSON value as an OTLP `AnyValue` (null → an empty `AnyValue`).
pub(crate) fn any_value(value: &Value) -> AnyValue {
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(items) => {
            Some(any_value::Value::ArrayValue(ArrayValue { values: items.iter().map(any_value).collect() }))
        }
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: map.iter().map(|(k, v)| key_value(k, v)).collect(),
        })),
    };
    AnyValue { value }
}

/// What [`any_value()`] makes of the JSON of the same input.
pub(crate) fn captured_any_value(value: &Captured) -> AnyValue {
    let value = match value {
        Captured::Null => None,
        Captured::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Captured::I64(i) => Some(any_value::Value::IntValue(*i)),
        Captured::U64(u) => Some(match i64::try_from(*u) {
            Ok(i) => any_value::Value::IntValue(i),
            Err(_) => any_value::Value::DoubleValue(*u as f64),
        }),
        Captured::F64(f) if !f.is_finite() => None,
        Captured::F64(f) => Some(any_value::Value::DoubleValue(*f)),
        Captured::Str(s) => Some(any_value::Value::StringValue(s.clone())),
        Captured::Json(value) => return any_value(value),
    };
    AnyValue { value }
}

fn payload_any_value(payload: &Payload) -> AnyValue {
    match payload {
        Payload::Value(value) => captured_any_value(value),
        Payload::Fields(fields) => AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: fields
                    .iter()
                    .map(|(key, value)| KeyValue {
                        key: key.to_string(),
                        value: Some(captured_any_value(value)),
                        ..Default::default()
                    })
                    .collect(),
            })),
        },
    }
}

fn key_value(key: &str, value: &Value) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(any_value(value)), ..Default::default() }
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_string())) }),
        ..Default::default()
    }
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
    attributes.push(string_kv("mlflow.traceRequestId", &crate::ids::mlflow_trace_id(record.trace_id)));
    attributes.push(string_kv("mlflow.spanType", state.span_type.as_str()));
    if let Some(function_name) = state.function_name {
        attributes.push(string_kv("mlflow.spanFunctionName", function_name));
    }
    if let Some(inputs) = &state.inputs {
        attributes.push(KeyValue {
            key: "mlflow.spanInputs".to_string(),
            value: Some(payload_any_value(inputs)),
            ..Default::default()
        });
    }
    for (key, value) in &state.attributes {
        attributes.push(key_value(key, value));
    }
    if let Some(outputs) = &state.outputs {
        attributes.push(KeyValue {
            key: "mlflow.spanOutputs".to_string(),
            value: Some(captured_any_value(outputs)),
            ..Default::default()
        });
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
    attributes.push(key_value("mlflow.spanLogLevel", &Value::from(log_level)));
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
                attributes: event.attributes.iter().map(|(k, v)| key_value(k, v)).collect(),
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
    use serde_json::json;

    /// The OTLP/JSON rendering of an `AnyValue`, as in the captures (`stringValue`, …).
    fn render(value: &AnyValue) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn values_are_native_any_values_like_the_python_client() {
        // From captures/b_tracing_sync.jsonl seq 5 (mlflow.spanOutputs of `retrieve`).
        let outputs = json!([{"page_content": "doc about what is mlflow?", "metadata": {"id": 1}}]);
        assert_eq!(
            render(&any_value(&outputs)),
            json!({"arrayValue": {"values": [{"kvlistValue": {"values": [
                {"key": "page_content", "value": {"stringValue": "doc about what is mlflow?"}},
                {"key": "metadata", "value": {"kvlistValue": {"values": [
                    {"key": "id", "value": {"intValue": "1"}}]}}}]}}]}})
        );
        assert_eq!(render(&any_value(&json!(0.1))), json!({"doubleValue": 0.1}));
        assert_eq!(render(&any_value(&json!(true))), json!({"boolValue": true}));
        assert_eq!(render(&any_value(&json!({}))), json!({"kvlistValue": {"values": []}}));
    }
}
