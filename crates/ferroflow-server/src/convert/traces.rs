//! Traces and assessments: wire ⇄ domain.

use ferroflow_core::entities::{Assessment, TraceInfo, TraceState};
use ferroflow_core::ids::{ExperimentId, TraceId};
use ferroflow_core::{assessments, time, validation, Error, Result};
use ferroflow_proto::traces::{ExperimentLocationOut, PairsOut, TraceInfoOut, TraceInfoV3, TraceLocation};
use serde_json::{Map, Value};

fn pairs(map: &Map<String, Value>) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// The experiment a trace location names.
pub fn location_experiment(location: &Option<TraceLocation>) -> Option<String> {
    location
        .as_ref()
        .and_then(|l| l.mlflow_experiment.as_ref())
        .and_then(|e| e.experiment_id.clone())
        .filter(|id| !id.is_empty())
}

/// A StartTraceV3 record → the domain record.
pub fn trace_info_from_wire(wire: TraceInfoV3) -> Result<TraceInfo> {
    let trace_id = TraceId::parse(validation::required("trace_id", wire.trace_id.as_deref())?)?;
    let experiment_id = location_experiment(&wire.trace_location).ok_or_else(|| {
        Error::invalid("Missing value for required parameter 'trace_location.mlflow_experiment.experiment_id'.")
    })?;
    let experiment_id = ExperimentId::parse(&experiment_id)?;
    let request_time = match wire.request_time.as_deref() {
        Some(text) if !text.is_empty() => time::rfc3339_to_millis(text)?,
        _ => time::now_millis(),
    };
    let execution_duration = match wire.execution_duration.as_deref() {
        Some(text) if !text.is_empty() => Some(time::duration_to_millis(text)?),
        _ => None,
    };
    let state = match wire.state.as_deref() {
        None | Some("") => TraceState::Ok,
        Some(text) => TraceState::parse(text).ok_or_else(|| Error::invalid(format!("Invalid trace state '{text}'")))?,
    };
    let tags = pairs(&wire.tags);
    for (key, value) in &tags {
        validation::trace_tag(key, value)?;
    }
    let assessments = wire
        .assessments
        .into_iter()
        .map(|mut body| {
            serialize_expectation_value(&mut body);
            assessments::new_assessment(&trace_id, body, true)
        })
        .collect::<Result<Vec<Assessment>>>()?;
    Ok(TraceInfo {
        trace_id,
        experiment_id,
        client_request_id: wire.client_request_id.filter(|s| !s.is_empty()),
        request_time,
        execution_duration,
        state,
        request_preview: wire.request_preview,
        response_preview: wire.response_preview,
        metadata: pairs(&wire.trace_metadata),
        tags,
        assessments,
    })
}

/// A record as responses write it (borrowed: nothing is copied but the two formatted times).
pub fn trace_info(info: &TraceInfo) -> TraceInfoOut<'_> {
    TraceInfoOut {
        trace_id: info.trace_id.as_str(),
        client_request_id: info.client_request_id.as_deref(),
        trace_location: ExperimentLocationOut(info.experiment_id.get()),
        request_preview: info.request_preview.as_deref(),
        response_preview: info.response_preview.as_deref(),
        request_time: time::millis_to_rfc3339(info.request_time),
        execution_duration: info.execution_duration.map(time::millis_to_duration),
        state: info.state.as_str(),
        trace_metadata: PairsOut(&info.metadata),
        assessments: info.assessments.iter().map(|a| &a.body).collect(),
        tags: PairsOut(&info.tags),
    }
}

/// An expectation whose `value` is an object or a list is kept as MLflow keeps it:
/// `serialized_value: {serialization_format: "JSON_FORMAT", value: <Python's JSON text>}`, which
/// is where the client reads such values back. Applied to a client's assessment body before the
/// core sees it (creates, updates and StartTraceV3's assessments alike).
pub fn serialize_expectation_value(body: &mut Map<String, Value>) {
    let Some(Value::Object(expectation)) = body.get_mut("expectation") else { return };
    if !matches!(expectation.get("value"), Some(Value::Object(_) | Value::Array(_))) {
        return;
    }
    let Some(value) = expectation.remove("value") else { return };
    let serialized = serde_json::json!({
        "serialization_format": "JSON_FORMAT",
        "value": ferroflow_proto::encoding::python_json(&as_protobuf_value(value)),
    });
    expectation.insert("serialized_value".into(), serialized);
}

/// The value as it is after passing through protobuf's `Value`, as the reference's does:
/// every number is a double (`2` is written `2.0`).
fn as_protobuf_value(value: Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number),
        Value::Array(items) => Value::Array(items.into_iter().map(as_protobuf_value).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, as_protobuf_value(v))).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn serialized(value: Value) -> Value {
        let Value::Object(mut body) = json!({"expectation": {"value": value}}) else { unreachable!() };
        serialize_expectation_value(&mut body);
        body["expectation"].clone()
    }

    #[test]
    fn expectation_objects_become_serialized_values() {
        assert_eq!(
            serialized(json!({"k": [1, 2.5], "s": "x"})),
            json!({"serialized_value": {"serialization_format": "JSON_FORMAT", "value": "{\"k\": [1.0, 2.5], \"s\": \"x\"}"}})
        );
        // Primitives stay as they are.
        assert_eq!(serialized(json!(3)), json!({"value": 3}));
    }
}
