//! Trace RPCs (../shared/spec/mlflow-rest.md §8.4–8.8) and assessments (§9). Span lists are written from the
//! store's stored text a chunk of spans at a time and streamed past a size, so a trace of any size is never
//! built in memory.

use crate::convert;
use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferroflow_core::entities::{TraceDeletion, TraceInfo};
use ferroflow_core::ids::{ExperimentId, RunId, TraceId};
use ferroflow_core::search::{page_token, traces as grammar};
use ferroflow_core::store::{SearchQuery, Store};
use ferroflow_core::{assessments, validation, Error};
use ferroflow_proto::traces::*;
use ferroflow_proto::tracking::Empty;
use futures::stream::{self, BoxStream, StreamExt};
use serde::Serialize;
use std::sync::Arc;

pub async fn start_trace(State(state): State<AppState>, Rpc(request): Rpc<StartTraceV3>) -> ApiResult<Response> {
    let wire = request
        .trace
        .and_then(|t| t.trace_info)
        .ok_or_else(|| Error::invalid("Missing value for required parameter 'trace.trace_info'."))?;
    let info = convert::trace_info_from_wire(wire)?;
    let stored = state.store.start_trace(&info).await?;
    Ok(Json(TraceInfoResponse { trace: TraceInfoOnly { trace_info: convert::trace_info(&stored) } }).into_response())
}

/// The v2 record of a trace (`TraceStatus` names where v3 has states).
fn trace_info_v2(info: &TraceInfo) -> TraceInfoV2Response<'_> {
    use ferroflow_core::entities::TraceState;
    fn pairs(pairs: &[(String, String)]) -> Vec<KeyValueOut<'_>> {
        pairs.iter().map(|(key, value)| KeyValueOut { key, value }).collect()
    }
    TraceInfoV2Response {
        trace_info: TraceInfoV2Out {
            request_id: info.trace_id.as_str(),
            experiment_id: info.experiment_id.to_string(),
            timestamp_ms: info.request_time,
            execution_time_ms: info.execution_duration.unwrap_or(0),
            status: match info.state {
                TraceState::Unspecified => "TRACE_STATUS_UNSPECIFIED",
                other => other.as_str(),
            },
            request_metadata: pairs(&info.metadata),
            tags: pairs(&info.tags),
        },
    }
}

fn trace_pairs(pairs: &[TraceTag], what: &str) -> Result<Vec<(String, String)>, Error> {
    pairs
        .iter()
        .map(|pair| {
            let key = validation::required(&format!("{what}.key"), pair.key.as_deref())?;
            Ok((key.to_string(), pair.value.clone().unwrap_or_default()))
        })
        .collect()
}

/// `POST /api/2.0/mlflow/traces` (StartTrace, v2): a trace record made by the server, in
/// progress, with a v2 id (32 hex characters).
pub async fn start_trace_v2(State(state): State<AppState>, Rpc(request): Rpc<StartTraceV2>) -> ApiResult<Response> {
    let experiment_id = ExperimentId::parse(validation::required("experiment_id", request.experiment_id.as_deref())?)?;
    let info = TraceInfo {
        trace_id: TraceId::parse(&ferroflow_core::ids::new_hex_id())?,
        experiment_id,
        client_request_id: None,
        request_time: request.timestamp_ms.unwrap_or_else(ferroflow_core::time::now_millis),
        execution_duration: None,
        state: ferroflow_core::entities::TraceState::InProgress,
        request_preview: None,
        response_preview: None,
        metadata: trace_pairs(&request.request_metadata, "request_metadata")?,
        tags: trace_pairs(&request.tags, "tags")?,
        assessments: Vec::new(),
    };
    let stored = state.store.start_trace(&info).await?;
    Ok(Json(trace_info_v2(&stored)).into_response())
}

/// `PATCH /api/2.0/mlflow/traces/{request_id}` (EndTrace, v2): the end time, status, and more
/// metadata and tags, merged into the record.
pub async fn end_trace_v2(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    Rpc(request): Rpc<EndTraceV2>,
) -> ApiResult<Response> {
    use ferroflow_core::entities::TraceState;
    let trace_id = TraceId::parse(&request_id)?;
    let mut info = state.store.get_trace_info(&trace_id).await?;
    let end = request.timestamp_ms.unwrap_or_else(ferroflow_core::time::now_millis);
    info.execution_duration = Some(end - info.request_time);
    info.state = match request.status.as_deref() {
        None | Some("") | Some("TRACE_STATUS_UNSPECIFIED") => TraceState::Unspecified,
        Some(text) => TraceState::parse(text)
            .ok_or_else(|| Error::invalid(format!("Invalid value '{text}' for parameter 'status'.")))?,
    };
    info.metadata.extend(trace_pairs(&request.request_metadata, "request_metadata")?);
    info.tags.extend(trace_pairs(&request.tags, "tags")?);
    // The record's assessments are already stored; StartTraceV3's upsert would add them again.
    info.assessments.clear();
    let stored = state.store.start_trace(&info).await?;
    Ok(Json(trace_info_v2(&stored)).into_response())
}

/// `GET /api/2.0/mlflow/traces/{request_id}/info` (GetTraceInfo, v2).
pub async fn get_trace_info_v2(State(state): State<AppState>, Path(request_id): Path<String>) -> ApiResult<Response> {
    let info = state.store.get_trace_info(&TraceId::parse(&request_id)?).await?;
    Ok(Json(trace_info_v2(&info)).into_response())
}

fn trace_id_of(path: Option<&str>, request: &TraceRef) -> Result<TraceId, Error> {
    let id = path
        .or(request.trace_id.as_deref())
        .or(request.request_id.as_deref())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid("Missing value for required parameter 'trace_id'."))?;
    TraceId::parse(id)
}

pub async fn get_trace_info(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
    Rpc(request): Rpc<TraceRef>,
) -> ApiResult<Response> {
    let trace_id = trace_id_of(Some(&trace_id), &request)?;
    let info = state.store.get_trace_info(&trace_id).await?;
    Ok(Json(TraceInfoResponse { trace: TraceInfoOnly { trace_info: convert::trace_info(&info) } }).into_response())
}

/// Spans written into one part of the body at most (the store hands them over in chunks of
/// about this many; one part per chunk keeps the body's parts few and large).
const SPANS_PER_PART: usize = 2000;

/// `{"trace_info": ..., "spans": [...]}` as a stream of bytes: each chunk of spans the store
/// hands over becomes one part, written straight from the stored text.
fn trace_json(store: Arc<dyn Store>, info: TraceInfo) -> BoxStream<'static, Result<Bytes, Error>> {
    let spans = store.stream_spans(&info.trace_id);
    let head = match serde_json::to_string(&convert::trace_info(&info)) {
        Ok(text) => format!("{{\"trace_info\":{text},\"spans\":["),
        Err(e) => return stream::once(async move { Err(Error::internal(e.to_string())) }).boxed(),
    };
    let body = spans.ready_chunks(SPANS_PER_PART).enumerate().map(|(index, chunk)| {
        let mut out = Vec::with_capacity(chunk.len() * SPAN_BYTES);
        for (position, span) in chunk.into_iter().enumerate() {
            if index > 0 || position > 0 {
                out.push(b',');
            }
            convert::otlp::write_span_json(&mut out, &span?)?;
        }
        Ok(Bytes::from(out))
    });
    stream::once(async move { Ok(Bytes::from(head)) })
        .chain(body)
        .chain(stream::once(async { Ok(Bytes::from_static(b"]}")) }))
        .boxed()
}

/// About the size of one span in the read format, to size a part's buffer up front.
const SPAN_BYTES: usize = 768;

/// A body up to this size is sent whole, with its length; past it the rest is streamed.
const WHOLE_BODY_BYTES: usize = 1 << 20;

/// About the size of one trace record on the wire, to size a response buffer up front.
const RECORD_BYTES: usize = 1024;

/// A JSON response written into a buffer of `capacity` bytes to begin with (`Json` starts at
/// 128 bytes and copies the body each time it doubles).
fn json_response<T: Serialize>(value: &T, capacity: usize) -> Result<Response, Error> {
    let mut body = Vec::with_capacity(capacity.max(128));
    serde_json::to_writer(&mut body, value).map_err(|e| Error::internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A JSON body from its parts: sent whole with a `Content-Length` when it ends within
/// [`WHOLE_BODY_BYTES`] (most traces: one write, and a client reads it in one go instead of
/// chunk by chunk), else what was gathered and then the rest as it comes, so a trace of any
/// size is never held in memory. A failure before the first byte is sent is an error answer.
async fn json_body(mut parts: BoxStream<'static, Result<Bytes, Error>>) -> Result<Response, Error> {
    let mut head = Vec::new();
    while let Some(part) = parts.next().await {
        head.extend_from_slice(&part?);
        if head.len() > WHOLE_BODY_BYTES {
            let rest = stream::once(async move { Ok(Bytes::from(head)) }).chain(parts);
            let body = Body::from_stream(rest.map(|part| part.map_err(|e| std::io::Error::other(e.message))));
            return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], head).into_response())
}

pub async fn get_trace(State(state): State<AppState>, Rpc(request): Rpc<TraceRef>) -> ApiResult<Response> {
    let trace_id = trace_id_of(None, &request)?;
    // The reference words this route's miss apart from the trace info routes'.
    let info = state.store.get_trace_info(&trace_id).await.map_err(|error| match error.is_not_found() {
        true => Error::not_found(format!("Trace with ID {trace_id} is not found.")),
        false => error,
    })?;
    let parts = stream::once(async { Ok(Bytes::from_static(b"{\"trace\":")) })
        .chain(trace_json(state.store.clone(), info))
        .chain(stream::once(async { Ok(Bytes::from_static(b"}")) }))
        .boxed();
    Ok(json_body(parts).await?)
}

pub async fn batch_get(State(state): State<AppState>, Rpc(request): Rpc<TraceIds>) -> ApiResult<Response> {
    let mut infos = state.store.get_trace_infos(&TraceId::parse_all(&request.trace_ids)?).await?;
    retain_experiments(&mut infos, &request.experiment_ids)?;
    let store = state.store.clone();
    let traces = stream::iter(infos.into_iter().enumerate()).flat_map(move |(index, info)| {
        let separator = if index == 0 { "" } else { "," };
        stream::once(async move { Ok(Bytes::from_static(separator.as_bytes())) }).chain(trace_json(store.clone(), info))
    });
    let parts = stream::once(async { Ok(Bytes::from_static(b"{\"traces\":[")) })
        .chain(traces)
        .chain(stream::once(async { Ok(Bytes::from_static(b"]}")) }))
        .boxed();
    Ok(json_body(parts).await?)
}

pub async fn batch_get_infos(State(state): State<AppState>, Rpc(request): Rpc<TraceIds>) -> ApiResult<Response> {
    let mut infos = state.store.get_trace_infos(&TraceId::parse_all(&request.trace_ids)?).await?;
    retain_experiments(&mut infos, &request.experiment_ids)?;
    Ok(Json(TraceInfosResponse { trace_infos: infos.iter().map(convert::trace_info).collect() }).into_response())
}

/// Keeps the traces of the given experiments (all of them when none is given).
fn retain_experiments(infos: &mut Vec<TraceInfo>, experiment_ids: &[String]) -> Result<(), Error> {
    let experiment_ids = ExperimentId::parse_all(experiment_ids)?;
    if !experiment_ids.is_empty() {
        infos.retain(|info| experiment_ids.contains(&info.experiment_id));
    }
    Ok(())
}

pub async fn search(State(state): State<AppState>, Rpc(request): Rpc<SearchTracesV3>) -> ApiResult<Response> {
    let mut experiment_ids: Vec<String> =
        request.locations.iter().filter_map(|l| convert::location_experiment(&Some(l.clone()))).collect();
    experiment_ids.extend(request.experiment_ids.iter().cloned());
    if experiment_ids.is_empty() {
        return Err(
            Error::invalid("At least one location (an MLflow experiment) must be given to search traces.").into()
        );
    }
    let experiment_ids = ExperimentId::parse_all(&experiment_ids)?;
    let max_results =
        validation::max_results("traces/search", request.max_results, 100, validation::MAX_RESULTS_SEARCH_TRACES)?;
    let query = SearchQuery {
        clauses: grammar::parse_filter(request.filter.as_deref().unwrap_or(""))?,
        order_by: grammar::parse_order_by(&request.order_by)?,
        max_results: max_results as u64,
        offset: page_token::decode(request.page_token.as_deref())?,
    };
    let page = state.store.search_traces(&experiment_ids, &query).await?;
    // Written here, while the page it borrows from is alive.
    let response = SearchTracesResponse {
        traces: page.items.iter().map(convert::trace_info).collect(),
        next_page_token: page.next_offset.map(page_token::encode),
    };
    Ok(json_response(&response, RECORD_BYTES * page.items.len())?)
}

pub async fn set_tag(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
    Rpc(request): Rpc<TraceTag>,
) -> ApiResult<Json<Empty>> {
    let trace_id = TraceId::parse(&trace_id)?;
    let key = validation::required("key", request.key.as_deref())?;
    let value = request.value.unwrap_or_default();
    validation::set_trace_tag(key, &value)?;
    state.store.set_trace_tag(&trace_id, key, &value).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
    Rpc(request): Rpc<TraceTag>,
) -> ApiResult<Json<Empty>> {
    let trace_id = TraceId::parse(&trace_id)?;
    let key = validation::required("key", request.key.as_deref())?;
    state.store.delete_trace_tag(&trace_id, key).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_traces(
    State(state): State<AppState>,
    Rpc(request): Rpc<DeleteTraces>,
) -> ApiResult<Json<DeleteTracesResponse>> {
    let experiment_id = convert::experiment_id(request.experiment_id.as_deref())?;
    let mut ids = TraceId::parse_all(&request.request_ids)?;
    ids.extend(TraceId::parse_all(&request.trace_ids)?);
    let which = match (ids.is_empty(), request.max_timestamp_millis) {
        (false, None) => TraceDeletion::Ids(ids),
        (true, Some(max_timestamp_millis)) => {
            TraceDeletion::OlderThan { max_timestamp_millis, max_traces: request.max_traces.filter(|n| *n > 0) }
        }
        (false, Some(_)) => {
            return Err(Error::invalid("Give either 'request_ids' or 'max_timestamp_millis', not both.").into());
        }
        (true, None) => {
            return Err(Error::invalid("Either 'request_ids' or 'max_timestamp_millis' must be given.").into())
        }
    };
    let traces_deleted = state.store.delete_traces(experiment_id, &which).await?;
    Ok(Json(DeleteTracesResponse { traces_deleted }))
}

/// The reference server takes at most this many traces per link request.
const MAX_LINKED_TRACES: usize = 100;

pub async fn link_to_run(State(state): State<AppState>, Rpc(request): Rpc<LinkTracesToRun>) -> ApiResult<Json<Empty>> {
    let run_id = RunId::parse(validation::required("run_id", request.run_id.as_deref())?)?;
    let trace_ids = TraceId::parse_all(&request.trace_ids)?;
    if request.trace_ids.len() > MAX_LINKED_TRACES {
        return Err(Error::invalid(format!(
            "Cannot link more than {MAX_LINKED_TRACES} traces to a run in a single request. Provided {} traces.",
            request.trace_ids.len()
        ))
        .into());
    }
    state.store.link_traces_to_run(&trace_ids, &run_id).await?;
    Ok(Json(Empty {}))
}

pub async fn link_prompts(
    State(state): State<AppState>,
    Rpc(request): Rpc<LinkPromptsToTrace>,
) -> ApiResult<Json<Empty>> {
    let trace_id = TraceId::parse(validation::required("trace_id", request.trace_id.as_deref())?)?;
    let prompts = request
        .prompt_versions
        .iter()
        .map(|p| {
            let name = validation::required("prompt_versions.name", p.name.as_deref())?;
            let version = validation::required("prompt_versions.version", p.version.as_deref())?;
            Ok((name.to_string(), version.to_string()))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let merge = |current: Option<&str>| {
        let entries = ferroflow_core::traces::merge_linked_prompts(current, &prompts)?;
        Ok(ferroflow_proto::encoding::python_json(&entries))
    };
    state.store.link_prompts(&trace_id, &merge).await?;
    Ok(Json(Empty {}))
}

pub async fn create_assessment(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
    Rpc(request): Rpc<AssessmentRequest>,
) -> ApiResult<Json<AssessmentResponse>> {
    let trace_id = TraceId::parse(&trace_id)?;
    let mut body =
        request.assessment.ok_or_else(|| Error::invalid("Missing value for required parameter 'assessment'."))?;
    convert::serialize_expectation_value(&mut body);
    let assessment = assessments::new_assessment(&trace_id, body, false)?;
    let stored = state.store.create_assessment(&assessment).await?;
    Ok(Json(AssessmentResponse { assessment: stored.body }))
}

pub async fn get_assessment(
    State(state): State<AppState>,
    Path((trace_id, assessment_id)): Path<(String, String)>,
) -> ApiResult<Json<AssessmentResponse>> {
    let trace_id = TraceId::parse(&trace_id)?;
    let stored = state.store.get_assessment(&trace_id, &assessment_id).await?;
    Ok(Json(AssessmentResponse { assessment: stored.body }))
}

pub async fn update_assessment(
    State(state): State<AppState>,
    Path((trace_id, assessment_id)): Path<(String, String)>,
    Rpc(request): Rpc<AssessmentRequest>,
) -> ApiResult<Json<AssessmentResponse>> {
    let trace_id = TraceId::parse(&trace_id)?;
    let mut changes = request.assessment.unwrap_or_default();
    convert::serialize_expectation_value(&mut changes);
    let mask = match request.update_mask {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text,
        // A FieldMask may also come as {"paths": [...]}.
        Some(other) => other
            .get("paths")
            .and_then(|p| p.as_array())
            .map(|paths| paths.iter().filter_map(|p| p.as_str()).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
    };
    let update = |existing: &ferroflow_core::entities::Assessment| assessments::apply_update(existing, &changes, &mask);
    let stored = state.store.update_assessment(&trace_id, &assessment_id, &update).await?;
    Ok(Json(AssessmentResponse { assessment: stored.body }))
}

pub async fn delete_assessment(
    State(state): State<AppState>,
    Path((trace_id, assessment_id)): Path<(String, String)>,
) -> ApiResult<Json<Empty>> {
    let trace_id = TraceId::parse(&trace_id)?;
    // Deleting is idempotent, as on the reference: an assessment (or trace) that is not
    // there is already deleted.
    match state.store.delete_assessment(&trace_id, &assessment_id).await {
        Ok(()) => {}
        Err(error) if error.is_not_found() => {}
        Err(error) => return Err(error.into()),
    }
    Ok(Json(Empty {}))
}
