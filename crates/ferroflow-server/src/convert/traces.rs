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
        .map(|body| assessments::new_assessment(&trace_id, body, true))
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
