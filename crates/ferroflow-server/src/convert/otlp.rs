//! OTLP spans → [`SpanRecord`]s: attribute values decoded to MLflow's canonical JSON, the
//! GenAI conventions mapped, and the read-format JSON of each span written once, at ingest,
//! so that reads return stored text without decoding anything.

use base64::Engine;
use ferroflow_core::entities::{SpanEvent, SpanId, SpanKind, SpanLink, SpanRecord, SpanStatus, StoredSpan, TraceId};
use ferroflow_core::{semconv, traces, Result};
use ferroflow_proto::encoding::{self, any_value_json};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};
use serde_json::{json, Map, Number, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn number(value: f64) -> Value {
    Number::from_f64(value).map(Value::Number).unwrap_or_else(|| Value::String(value.to_string()))
}

/// An AnyValue as plain JSON (nested values are never unwrapped). Takes the value, so that
/// its strings move instead of being copied.
fn any_to_json(value: AnyValue) -> Value {
    match value.value {
        None => Value::Null,
        Some(Any::StringValue(s)) => Value::String(s),
        Some(Any::BoolValue(b)) => Value::Bool(b),
        Some(Any::IntValue(i)) => Value::Number(i.into()),
        Some(Any::DoubleValue(d)) => number(d),
        Some(Any::BytesValue(bytes)) => Value::String(b64(&bytes)),
        // String-table references belong to the profiles signal; a trace carries none.
        Some(Any::StringValueStrindex(index)) => Value::Number(index.into()),
        Some(Any::ArrayValue(array)) => Value::Array(array.values.into_iter().map(any_to_json).collect()),
        Some(Any::KvlistValue(list)) => Value::Object(
            list.values.into_iter().map(|kv| (kv.key, kv.value.map(any_to_json).unwrap_or(Value::Null))).collect(),
        ),
    }
}

/// A span attribute in MLflow's canonical form: strings that carry JSON are unwrapped once.
fn attribute_value(value: AnyValue) -> Value {
    match value.value {
        Some(Any::StringValue(s)) => traces::canonical_string_attribute(s),
        other => any_to_json(AnyValue { value: other }),
    }
}

/// Event and link attributes as plain JSON values, in order (their values are kept as sent,
/// not read as MLflow's JSON-text span attributes).
fn plain_attributes(attributes: Vec<KeyValue>) -> Vec<(String, Value)> {
    attributes.into_iter().map(|kv| (kv.key, kv.value.map(any_to_json).unwrap_or(Value::Null))).collect()
}

/// An attribute list in the read format: `[{"key": k, "value": <AnyValue JSON>}]`.
fn key_values_json(attributes: &[(String, Value)]) -> Value {
    Value::Array(attributes.iter().map(|(key, value)| json!({"key": key, "value": any_value_json(value)})).collect())
}

/// One OTLP span → the record the store keeps.
pub fn span_record(mut span: Span) -> Result<SpanRecord> {
    let trace_id = TraceId::parse(&encoding::mlflow_trace_id(&span.trace_id))?;
    let mut attributes: Map<String, Value> = Map::with_capacity(span.attributes.len() + 2);
    for kv in std::mem::take(&mut span.attributes) {
        let value = kv.value.map(attribute_value).unwrap_or(Value::Null);
        attributes.insert(kv.key, value);
    }
    semconv::enrich(&mut attributes);
    // The trace id attribute always names the trace the span really belongs to.
    if attributes.contains_key("mlflow.traceRequestId") {
        attributes.insert("mlflow.traceRequestId".into(), Value::String(trace_id.to_string()));
    }
    let status_code = span.status.as_ref().map(|s| s.code).unwrap_or(0);
    let status = match StatusCode::try_from(status_code).unwrap_or(StatusCode::Unset) {
        StatusCode::Ok => SpanStatus::Ok,
        StatusCode::Error => SpanStatus::Error,
        StatusCode::Unset => SpanStatus::Unset,
    };
    let status_message = span.status.take().map(|s| s.message).unwrap_or_default();
    let span_type = attributes.get("mlflow.spanType").and_then(Value::as_str).map(str::to_string);
    let token_usage = attributes.get("mlflow.chat.tokenUsage").and_then(traces::token_usage);
    // A root's inputs and outputs as the client's JSON text: the trace's previews.
    let io_text = |key: &str| {
        if span.parent_span_id.is_empty() {
            attributes.get(key).map(encoding::python_json)
        } else {
            None
        }
    };
    let (inputs_text, outputs_text) = (io_text("mlflow.spanInputs"), io_text("mlflow.spanOutputs"));
    let parent_span_id =
        if span.parent_span_id.is_empty() { None } else { Some(SpanId::parse(&hex::encode(&span.parent_span_id))?) };

    let trace_state = Some(std::mem::take(&mut span.trace_state)).filter(|state| !state.is_empty());
    let events = std::mem::take(&mut span.events)
        .into_iter()
        .map(|event| SpanEvent {
            name: event.name,
            time_unix_nano: event.time_unix_nano,
            attributes: plain_attributes(event.attributes),
        })
        .collect();
    let links = std::mem::take(&mut span.links)
        .into_iter()
        .map(|link| SpanLink {
            trace_id: link.trace_id,
            span_id: link.span_id,
            attributes: plain_attributes(link.attributes),
        })
        .collect();

    Ok(SpanRecord {
        trace_id,
        span_id: SpanId::parse(&hex::encode(&span.span_id))?,
        parent_span_id,
        name: std::mem::take(&mut span.name),
        span_type,
        status,
        status_message,
        start_time_ns: span.start_time_unix_nano.min(i64::MAX as u64) as i64,
        end_time_ns: span.end_time_unix_nano.min(i64::MAX as u64) as i64,
        attributes,
        token_usage,
        kind: SpanKind::from_number(span.kind.into()),
        inputs_text,
        outputs_text,
        trace_state,
        events,
        links,
    })
}

/// Appends a stored span in the read format of GetTrace / batchGet to `out`: OTel `Span`
/// protobuf-JSON with base64 ids and attributes as AnyValues whose JSON types round-trip.
/// Written straight into the response buffer (the attributes transcoded from their stored
/// text), so a read builds no JSON tree per span. Stored JSON that no longer decodes is an
/// error.
pub fn write_span_json(out: &mut Vec<u8>, span: &StoredSpan) -> Result<()> {
    let broken = |what: &str, e: serde_json::Error| {
        ferroflow_core::Error::internal(format!("stored {what} of span {} do not decode: {e}", span.span_id))
    };
    let quoted = |out: &mut Vec<u8>, text: &str| {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    };
    let trace_id = span.trace_id.as_str();
    out.extend_from_slice(b"{\"trace_id\":");
    write_base64_of_hex(out, trace_id.strip_prefix("tr-").unwrap_or(trace_id));
    out.extend_from_slice(b",\"span_id\":");
    write_base64_of_hex(out, span.span_id.as_str());
    if let Some(state) = &span.trace_state {
        out.extend_from_slice(b",\"trace_state\":");
        write_json(out, state);
    }
    if let Some(parent) = &span.parent_span_id {
        out.extend_from_slice(b",\"parent_span_id\":");
        write_base64_of_hex(out, parent.as_str());
    }
    out.extend_from_slice(b",\"name\":");
    write_json(out, span.name.as_str());
    out.extend_from_slice(b",\"kind\":");
    quoted(out, span.kind.as_str());
    out.extend_from_slice(b",\"start_time_unix_nano\":");
    write_json(out, &span.start_time_ns.max(0));
    out.extend_from_slice(b",\"end_time_unix_nano\":");
    write_json(out, &span.end_time_ns.max(0));
    out.extend_from_slice(b",\"attributes\":");
    encoding::write_attributes_json(out, &span.attributes).map_err(|e| broken("attributes", e))?;
    // Events and links are rare: built as JSON values, then written.
    if !span.events.is_empty() {
        let events: Vec<Value> = span
            .events
            .iter()
            .map(|event| {
                let mut e = Map::with_capacity(3);
                e.insert("time_unix_nano".into(), Value::Number(event.time_unix_nano.into()));
                e.insert("name".into(), Value::String(event.name.clone()));
                if !event.attributes.is_empty() {
                    e.insert("attributes".into(), key_values_json(&event.attributes));
                }
                Value::Object(e)
            })
            .collect();
        out.extend_from_slice(b",\"events\":");
        write_json(out, &events);
    }
    if !span.links.is_empty() {
        let links: Vec<Value> = span
            .links
            .iter()
            .map(|link| {
                json!({"trace_id": b64(&link.trace_id), "span_id": b64(&link.span_id),
                       "attributes": key_values_json(&link.attributes)})
            })
            .collect();
        out.extend_from_slice(b",\"links\":");
        write_json(out, &links);
    }
    let code = match span.status {
        SpanStatus::Ok => "STATUS_CODE_OK",
        SpanStatus::Error => "STATUS_CODE_ERROR",
        SpanStatus::Unset => "STATUS_CODE_UNSET",
    };
    out.extend_from_slice(b",\"status\":{\"code\":");
    quoted(out, code);
    if !span.status_message.is_empty() {
        out.extend_from_slice(b",\"message\":");
        write_json(out, span.status_message.as_str());
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

/// The bytes of an id's hex text as a quoted base64 string (empty when the text is not hex of
/// at most 32 bytes), without allocating: it runs for every span id of every read.
fn write_base64_of_hex(out: &mut Vec<u8>, hex_text: &str) {
    let mut bytes = [0u8; 32];
    let mut text = [0u8; 44];
    let length = hex_text.len() / 2;
    let written = if hex_text.len().is_multiple_of(2)
        && length <= bytes.len()
        && hex::decode_to_slice(hex_text, &mut bytes[..length]).is_ok()
    {
        base64::engine::general_purpose::STANDARD.encode_slice(&bytes[..length], &mut text).unwrap_or(0)
    } else {
        0
    };
    out.push(b'"');
    out.extend_from_slice(&text[..written]);
    out.push(b'"');
}

/// The JSON text of a value appended to a buffer (writing into a `Vec` cannot fail).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(out, value);
}

/// Every span of an export request, checked for usable ids. A root span gets the resource's
/// `service.name` where MLflow copies it (`semconv::add_root_service_name`).
pub fn span_records(request: ExportTraceServiceRequest) -> Result<Vec<SpanRecord>> {
    let mut records = Vec::new();
    for resource_spans in request.resource_spans {
        let service_name = resource_spans.resource.as_ref().and_then(|resource| {
            let attribute = resource.attributes.iter().find(|kv| kv.key == "service.name")?;
            match attribute.value.as_ref()?.value.as_ref()? {
                Any::StringValue(name) => Some(name.clone()),
                _ => None,
            }
        });
        for scope_spans in resource_spans.scope_spans {
            for mut span in scope_spans.spans {
                let ids = (widen_id(&span.trace_id, 16), widen_id(&span.span_id, 8), widen_id(&span.parent_span_id, 8));
                let (Some(trace_id), Some(span_id), Some(parent_span_id)) = ids else {
                    return Err(ferroflow_core::Error::invalid(format!(
                        "Span '{}' has an invalid trace or span id ({} and {} bytes; expected 16 and 8).",
                        span.name,
                        span.trace_id.len(),
                        span.span_id.len()
                    )));
                };
                if trace_id.is_empty() || span_id.is_empty() {
                    return Err(ferroflow_core::Error::invalid(format!(
                        "Span '{}' has no trace or span id.",
                        span.name
                    )));
                }
                (span.trace_id, span.span_id, span.parent_span_id) = (trace_id, span_id, parent_span_id);
                let mut record = span_record(span)?;
                if record.parent_span_id.is_none() {
                    semconv::add_root_service_name(&mut record.attributes, service_name.as_deref());
                }
                records.push(record);
            }
        }
    }
    Ok(records)
}

/// An id of `width` bytes from OTLP's bytes, read as MLflow reads them: a big-endian number, so
/// a shorter id gets leading zero bytes. Empty stays empty (no id); `None` when it is longer.
fn widen_id(bytes: &[u8], width: usize) -> Option<Vec<u8>> {
    if bytes.is_empty() || bytes.len() == width {
        return Some(bytes.to_vec());
    }
    if bytes.len() > width {
        return None;
    }
    let mut id = vec![0; width - bytes.len()];
    id.extend_from_slice(bytes);
    Some(id)
}

fn base64_field(span: &Value, key: &str) -> Result<Vec<u8>> {
    match span.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| ferroflow_core::Error::invalid(format!("Invalid base64 in span field '{key}': {e}"))),
        Some(_) => Err(ferroflow_core::Error::invalid(format!("Span field '{key}' must be a base64 string"))),
    }
}

fn u64_field(span: &Value, key: &str) -> u64 {
    match span.get(key) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A span of a `traces.json` artifact (MLflow's dict form: base64 ids, attribute values as
/// JSON text) → an OTLP span, so artifact uploads are indexed like any other ingest.
pub fn span_from_mlflow_json(span: &Value) -> Result<Span> {
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    use opentelemetry_proto::tonic::trace::v1::Status;
    let attributes =
        span.get("attributes")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .map(|(key, raw)| {
                        // Each value is JSON text of the real value, as Python writes it.
                        let value = match raw {
                            Value::String(text) => encoding::python_json_any_value(text)
                                .unwrap_or_else(|| encoding::string_any_value(text)),
                            other => encoding::any_value(other),
                        };
                        encoding::key_value(key, value)
                    })
                    .collect()
            })
            .unwrap_or_default();
    let events = span
        .get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .map(|event| Event {
                    time_unix_nano: u64_field(event, "time_unix_nano").max(u64_field(event, "timestamp")),
                    name: event.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                    attributes: event
                        .get("attributes")
                        .and_then(Value::as_object)
                        .map(|m| m.iter().map(|(k, v)| encoding::key_value(k, encoding::any_value(v))).collect())
                        .unwrap_or_default(),
                    dropped_attributes_count: 0,
                })
                .collect()
        })
        .unwrap_or_default();
    let status = span.get("status").map(|status| {
        let code = match status.get("code").and_then(Value::as_str).unwrap_or("") {
            "STATUS_CODE_OK" | "OK" => 1,
            "STATUS_CODE_ERROR" | "ERROR" => 2,
            _ => 0,
        };
        Status { code, message: status.get("message").and_then(Value::as_str).unwrap_or_default().to_string() }
    });
    let kind = span.get("kind").and_then(Value::as_str).and_then(SpanKind::parse).unwrap_or(SpanKind::Internal).number()
        as i32;
    Ok(Span {
        trace_id: base64_field(span, "trace_id")?,
        span_id: base64_field(span, "span_id")?,
        parent_span_id: base64_field(span, "parent_span_id")?,
        name: span.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        kind,
        start_time_unix_nano: u64_field(span, "start_time_unix_nano"),
        end_time_unix_nano: u64_field(span, "end_time_unix_nano"),
        attributes,
        events,
        status,
        ..Default::default()
    })
}

/// Every span of a `traces.json` document.
pub fn records_from_trace_document(document: &Value) -> Result<Vec<SpanRecord>> {
    let spans = document
        .get("spans")
        .and_then(Value::as_array)
        .ok_or_else(|| ferroflow_core::Error::invalid("A traces.json document must have a 'spans' list"))?;
    let request = ExportTraceServiceRequest {
        resource_spans: vec![opentelemetry_proto::tonic::trace::v1::ResourceSpans {
            scope_spans: vec![opentelemetry_proto::tonic::trace::v1::ScopeSpans {
                spans: spans.iter().map(span_from_mlflow_json).collect::<Result<Vec<_>>>()?,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    span_records(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::trace::v1::Status;

    fn kv(key: &str, value: Any) -> KeyValue {
        encoding::key_value(key, AnyValue { value: Some(value) })
    }

    #[test]
    fn native_and_stock_encodings_land_the_same() {
        let native = Span {
            trace_id: vec![0x80; 16],
            span_id: vec![1; 8],
            name: "llm".into(),
            attributes: vec![
                kv("mlflow.spanType", Any::StringValue("LLM".into())),
                kv(
                    "mlflow.spanInputs",
                    Any::KvlistValue(KeyValueList { values: vec![kv("prompt", Any::StringValue("hi".into()))] }),
                ),
                kv("mlflow.spanLogLevel", Any::IntValue(20)),
                kv(
                    "scores",
                    Any::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(Any::DoubleValue(0.5)) }] }),
                ),
            ],
            status: Some(Status { code: 1, message: String::new() }),
            ..Default::default()
        };
        let stock = Span {
            attributes: vec![
                kv("mlflow.spanType", Any::StringValue("\"LLM\"".into())),
                kv("mlflow.spanInputs", Any::StringValue("{\"prompt\": \"hi\"}".into())),
            ],
            ..native.clone()
        };
        let a = span_record(native.clone()).unwrap();
        let b = span_record(stock).unwrap();
        assert_eq!(a.trace_id.as_str(), format!("tr-{}", "80".repeat(16)));
        assert_eq!(a.span_type.as_deref(), Some("LLM"));
        assert_eq!(b.span_type.as_deref(), Some("LLM"));
        assert_eq!(a.attributes["mlflow.spanInputs"], b.attributes["mlflow.spanInputs"]);
        assert_eq!(a.attributes["mlflow.spanLogLevel"], json!(20));
        let stored = StoredSpan {
            trace_id: a.trace_id.clone(),
            span_id: a.span_id.clone(),
            parent_span_id: a.parent_span_id.clone(),
            name: a.name.clone(),
            kind: a.kind,
            start_time_ns: a.start_time_ns,
            end_time_ns: a.end_time_ns,
            status: a.status,
            status_message: a.status_message.clone(),
            attributes: Value::Object(a.attributes.clone()).to_string(),
            trace_state: a.trace_state.clone(),
            events: a.events.clone(),
            links: a.links.clone(),
        };
        let mut text = Vec::new();
        write_span_json(&mut text, &stored).unwrap();
        let content: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(content["trace_id"], json!("gICAgICAgICAgICAgICAgA=="));
        assert_eq!(content["span_id"], json!("AQEBAQEBAQE="));
        assert_eq!(content["status"]["code"], json!("STATUS_CODE_OK"));
        assert!(content.get("parent_span_id").is_none());
        let attrs = content["attributes"].as_array().unwrap();
        assert_eq!(attrs[2], json!({"key": "mlflow.spanLogLevel", "value": {"int_value": 20}}));
        assert_eq!(attrs[3]["value"], json!({"array_value": {"values": [{"double_value": 0.5}]}}));
    }

    #[test]
    fn events_links_and_trace_state_are_typed_and_read_back_in_the_read_format() {
        use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
        let span = Span {
            trace_id: vec![0x80; 16],
            span_id: vec![1; 8],
            name: "tool".into(),
            trace_state: "vendor=1".into(),
            events: vec![Event {
                time_unix_nano: 5,
                name: "exception".into(),
                attributes: vec![kv("exception.message", Any::StringValue("bad".into())), kv("n", Any::IntValue(3))],
                dropped_attributes_count: 0,
            }],
            links: vec![Link { trace_id: vec![2; 16], span_id: vec![3; 8], ..Default::default() }],
            ..Default::default()
        };
        let record = span_record(span).unwrap();
        assert_eq!(record.trace_state.as_deref(), Some("vendor=1"));
        assert_eq!(
            record.events,
            vec![SpanEvent {
                name: "exception".into(),
                time_unix_nano: 5,
                attributes: vec![("exception.message".into(), json!("bad")), ("n".into(), json!(3))],
            }]
        );
        assert_eq!(record.links, vec![SpanLink { trace_id: vec![2; 16], span_id: vec![3; 8], attributes: vec![] }]);
        let stored = StoredSpan {
            trace_id: record.trace_id.clone(),
            span_id: record.span_id.clone(),
            parent_span_id: None,
            name: record.name.clone(),
            kind: record.kind,
            start_time_ns: 0,
            end_time_ns: 0,
            status: record.status,
            status_message: String::new(),
            attributes: "{}".into(),
            trace_state: record.trace_state.clone(),
            events: record.events.clone(),
            links: record.links.clone(),
        };
        let mut text = Vec::new();
        write_span_json(&mut text, &stored).unwrap();
        let content: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(content["trace_state"], json!("vendor=1"));
        assert_eq!(
            content["events"],
            json!([{"time_unix_nano": 5, "name": "exception", "attributes": [
                {"key": "exception.message", "value": {"string_value": "bad"}},
                {"key": "n", "value": {"int_value": 3}}]}])
        );
        assert_eq!(
            content["links"],
            json!([{"trace_id": "AgICAgICAgICAgICAgICAg==", "span_id": "AwMDAwMDAwM=", "attributes": []}])
        );
    }
}
