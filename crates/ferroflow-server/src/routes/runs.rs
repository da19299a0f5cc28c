//! Run RPCs: create/get/update/delete, params, metrics, tags, search, history, inputs and
//! outputs (../shared/spec/mlflow-rest.md §6).

use crate::convert;
use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use ferroflow_core::entities::{LifecycleStage, ModelOutput, NewRun, RunBatch, RunStatus, RunUpdate, Tag, ViewType};
use ferroflow_core::ids::{ExperimentId, RunId};
use ferroflow_core::search::{page_token, runs as grammar};
use ferroflow_core::store::SearchQuery;
use ferroflow_core::{time, validation, Error};
use ferroflow_proto::tracking::*;

pub async fn create(State(state): State<AppState>, Rpc(request): Rpc<CreateRun>) -> ApiResult<Json<RunResponse>> {
    let experiment_id =
        convert::optional_experiment_id(request.experiment_id.as_deref())?.unwrap_or(ExperimentId::DEFAULT);
    let tags = request.tags.iter().map(|t| convert::tag_from_wire(t, "tag")).collect::<Result<Vec<Tag>, _>>()?;
    tags.iter().try_for_each(validation::run_tag)?;
    if let Some(name) = request.run_name.as_deref() {
        validation::max_length("Run name", name, validation::MAX_RUN_NAME_LENGTH)?;
    }
    let user_id = request
        .user_id
        .clone()
        .or_else(|| tags.iter().find(|t| t.key == "mlflow.user").map(|t| t.value.clone()))
        .unwrap_or_default();
    let new_run = NewRun {
        experiment_id,
        user_id,
        run_name: request.run_name,
        start_time: request.start_time.unwrap_or_else(time::now_millis),
        tags,
    };
    let run = state.store.create_run(&new_run).await?;
    Ok(Json(RunResponse { run: convert::run(run) }))
}

pub async fn get(State(state): State<AppState>, Rpc(request): Rpc<RunRef>) -> ApiResult<Json<RunResponse>> {
    let run_id = convert::run_id(&request.run_id, &request.run_uuid)?;
    let run = state.store.get_run(&run_id).await?;
    Ok(Json(RunResponse { run: convert::run(run) }))
}

pub async fn update(State(state): State<AppState>, Rpc(request): Rpc<UpdateRun>) -> ApiResult<Json<UpdateRunResponse>> {
    let run_id = convert::run_id(&request.run_id, &request.run_uuid)?;
    let status = match request.status.as_deref() {
        None | Some("") => None,
        Some(text) => {
            Some(RunStatus::parse(text).ok_or_else(|| Error::invalid(format!("Invalid run status '{text}'")))?)
        }
    };
    if let Some(name) = request.run_name.as_deref() {
        validation::max_length("Run name", name, validation::MAX_RUN_NAME_LENGTH)?;
    }
    let update = RunUpdate { status, end_time: request.end_time, run_name: request.run_name };
    let info = state.store.update_run(&run_id, &update).await?;
    Ok(Json(UpdateRunResponse { run_info: convert::run_info(info) }))
}

pub async fn delete(State(state): State<AppState>, Rpc(request): Rpc<RunRef>) -> ApiResult<Json<Empty>> {
    let run_id = convert::run_id(&request.run_id, &request.run_uuid)?;
    state.store.set_run_lifecycle(&run_id, LifecycleStage::Deleted).await?;
    Ok(Json(Empty {}))
}

pub async fn restore(State(state): State<AppState>, Rpc(request): Rpc<RunRef>) -> ApiResult<Json<Empty>> {
    let run_id = convert::run_id(&request.run_id, &request.run_uuid)?;
    state.store.set_run_lifecycle(&run_id, LifecycleStage::Active).await?;
    Ok(Json(Empty {}))
}

/// Writes a batch after the same validation whichever route it came by.
async fn write_batch(state: &AppState, run_id: &RunId, batch: RunBatch) -> ApiResult<Json<Empty>> {
    validation::run_batch(&batch)?;
    state.store.log_batch(run_id, &batch).await?;
    Ok(Json(Empty {}))
}

pub async fn log_metric(State(state): State<AppState>, Rpc(request): Rpc<MetricIn>) -> ApiResult<Json<Empty>> {
    let run_id = convert::run_id(&request.run_id, &request.run_uuid)?;
    let metric = convert::metric_from_wire(&request)?;
    write_batch(&state, &run_id, RunBatch { metrics: vec![metric], ..Default::default() }).await
}

pub async fn log_param(State(state): State<AppState>, Rpc(request): Rpc<RunKeyValue>) -> ApiResult<Json<Empty>> {
    let run_id = convert::run_id(&request.run_id, &request.run_uuid)?;
    let param = convert::param_from_wire(&KeyValue { key: request.key, value: request.value })?;
    write_batch(&state, &run_id, RunBatch { params: vec![param], ..Default::default() }).await
}

pub async fn set_tag(State(state): State<AppState>, Rpc(request): Rpc<RunKeyValue>) -> ApiResult<Json<Empty>> {
    let run_id = convert::run_id(&request.run_id, &request.run_uuid)?;
    let tag = convert::tag_from_wire(&KeyValue { key: request.key, value: request.value }, "tag")?;
    write_batch(&state, &run_id, RunBatch { tags: vec![tag], ..Default::default() }).await
}

pub async fn delete_tag(State(state): State<AppState>, Rpc(request): Rpc<RunKeyValue>) -> ApiResult<Json<Empty>> {
    let run_id = convert::run_id(&request.run_id, &request.run_uuid)?;
    let key = validation::required("key", request.key.as_deref())?;
    state.store.delete_run_tag(&run_id, key).await?;
    Ok(Json(Empty {}))
}

pub async fn log_batch(State(state): State<AppState>, Rpc(request): Rpc<LogBatch>) -> ApiResult<Json<Empty>> {
    let run_id = convert::run_id(&request.run_id, &None)?;
    let batch = RunBatch {
        metrics: request.metrics.iter().map(convert::metric_from_wire).collect::<Result<_, _>>()?,
        params: request.params.iter().map(convert::param_from_wire).collect::<Result<_, _>>()?,
        tags: request.tags.iter().map(|t| convert::tag_from_wire(t, "tag")).collect::<Result<_, _>>()?,
    };
    write_batch(&state, &run_id, batch).await
}

pub async fn search(
    State(state): State<AppState>,
    Rpc(request): Rpc<SearchRuns>,
) -> ApiResult<Json<SearchRunsResponse>> {
    let view = match request.run_view_type.as_deref() {
        None | Some("") => ViewType::ActiveOnly,
        Some(text) => ViewType::parse(text).ok_or_else(|| Error::invalid(format!("Invalid run_view_type '{text}'")))?,
    };
    let experiment_ids = ExperimentId::parse_all(&request.experiment_ids)?;
    let max_results =
        validation::max_results("runs/search", request.max_results, 1000, validation::MAX_RESULTS_SEARCH_RUNS)?;
    let query = SearchQuery {
        clauses: grammar::parse_filter(request.filter.as_deref().unwrap_or(""))?,
        order_by: grammar::parse_order_by(&request.order_by)?,
        max_results: max_results as u64,
        offset: page_token::decode(request.page_token.as_deref())?,
    };
    let page = state.store.search_runs(&experiment_ids, view, &query).await?;
    Ok(Json(SearchRunsResponse {
        runs: page.items.into_iter().map(convert::run).collect(),
        next_page_token: page.next_offset.map(page_token::encode),
    }))
}

pub async fn metric_history(
    State(state): State<AppState>,
    Rpc(request): Rpc<GetMetricHistory>,
) -> ApiResult<Json<MetricHistoryResponse>> {
    let run_id = convert::run_id(&request.run_id, &request.run_uuid)?;
    let key = validation::required("metric_key", request.metric_key.as_deref())?;
    let max_results = validation::max_results(
        "metrics/get-history",
        request.max_results,
        validation::MAX_RESULTS_METRIC_HISTORY,
        validation::MAX_RESULTS_METRIC_HISTORY,
    )?;
    let offset = page_token::decode(request.page_token.as_deref())?;
    let page = state.store.get_metric_history(&run_id, key, max_results as u64, offset).await?;
    Ok(Json(MetricHistoryResponse {
        metrics: page.items.into_iter().map(convert::metric).collect(),
        next_page_token: page.next_offset.map(page_token::encode),
    }))
}

pub async fn log_inputs(State(state): State<AppState>, Rpc(request): Rpc<LogInputs>) -> ApiResult<Json<Empty>> {
    let run_id = convert::run_id(&request.run_id, &None)?;
    let datasets = request.datasets.iter().map(convert::dataset_input_from_wire).collect::<Result<Vec<_>, _>>()?;
    let models = request
        .models
        .iter()
        .map(|m| validation::required("model_id", m.model_id.as_deref()).map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    state.store.log_inputs(&run_id, &datasets, &models).await?;
    Ok(Json(Empty {}))
}

pub async fn log_outputs(State(state): State<AppState>, Rpc(request): Rpc<LogOutputs>) -> ApiResult<Json<Empty>> {
    let run_id = convert::run_id(&request.run_id, &None)?;
    let outputs = request
        .models
        .iter()
        .map(|m| {
            validation::required("model_id", m.model_id.as_deref())
                .map(|id| ModelOutput { model_id: id.to_string(), step: m.step.unwrap_or(0) })
        })
        .collect::<Result<Vec<_>, _>>()?;
    state.store.log_outputs(&run_id, &outputs).await?;
    Ok(Json(Empty {}))
}
