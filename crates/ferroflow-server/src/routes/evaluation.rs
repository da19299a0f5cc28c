//! Evaluation-dataset RPCs (../shared/spec/mlflow-rest.md §13) and registered-scorer RPCs (§14),
//! all under `/api/3.0/mlflow`. Dataset ids come from the path; the body or query carries the rest.
//!
//! Scorers are stored, never run: ferroflow executes no Python, so a custom `@scorer`
//! (whose serialization carries its source code) is registered like a built-in one, and an
//! online scoring config is kept for the client to read back without anything sampling traces.

use crate::convert;
use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use ferroflow_core::entities::NewEvaluationDataset;
use ferroflow_core::evaluation as rules;
use ferroflow_core::ids::ExperimentId;
use ferroflow_core::search::{datasets as grammar, page_token, traces as trace_grammar};
use ferroflow_core::store::SearchQuery;
use ferroflow_core::{validation, Error};
use ferroflow_proto::evaluation::*;
use ferroflow_proto::tracking::Empty;

pub async fn create_dataset(
    State(state): State<AppState>,
    Rpc(request): Rpc<CreateDataset>,
) -> ApiResult<Json<DatasetResponse>> {
    let name = validation::required("name", request.name.as_deref())?;
    rules::dataset_name(name)?;
    let new = NewEvaluationDataset {
        name: name.to_string(),
        experiment_ids: ExperimentId::parse_all(&request.experiment_ids)?,
        tags: convert::dataset_tags_from_wire(request.tags.as_deref())?,
        created_by: request.created_by.filter(|user| !user.is_empty()),
    };
    let dataset = state.store.create_evaluation_dataset(&new).await?;
    Ok(Json(DatasetResponse { dataset: convert::evaluation_dataset(dataset) }))
}

pub async fn get_dataset(
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    Rpc(_request): Rpc<DatasetRef>,
) -> ApiResult<Json<DatasetResponse>> {
    let dataset = state.store.get_evaluation_dataset(&dataset_id).await?;
    Ok(Json(DatasetResponse { dataset: convert::evaluation_dataset(dataset) }))
}

pub async fn delete_dataset(
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    Rpc(_request): Rpc<DatasetRef>,
) -> ApiResult<Json<Empty>> {
    state.store.delete_evaluation_dataset(&dataset_id).await?;
    Ok(Json(Empty {}))
}

pub async fn search_datasets(
    State(state): State<AppState>,
    Rpc(request): Rpc<SearchEvaluationDatasets>,
) -> ApiResult<Json<SearchEvaluationDatasetsResponse>> {
    let max_results =
        validation::max_results("datasets/search", request.max_results, 1000, rules::MAX_RESULTS_SEARCH_DATASETS)?;
    let query = SearchQuery {
        clauses: grammar::parse_filter(request.filter_string.as_deref().unwrap_or(""))?,
        order_by: grammar::parse_order_by(&request.order_by)?,
        max_results: max_results as u64,
        offset: page_token::decode(request.page_token.as_deref())?,
    };
    let page =
        state.store.search_evaluation_datasets(&ExperimentId::parse_all(&request.experiment_ids)?, &query).await?;
    Ok(Json(SearchEvaluationDatasetsResponse {
        datasets: page.items.into_iter().map(convert::evaluation_dataset).collect(),
        next_page_token: page.next_offset.map(page_token::encode),
    }))
}

pub async fn set_dataset_tags(
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    Rpc(request): Rpc<SetDatasetTags>,
) -> ApiResult<Json<Empty>> {
    let text = validation::required("tags", request.tags.as_deref())?;
    let tags = convert::dataset_tags_from_wire(Some(text))?;
    state.store.set_evaluation_dataset_tags(&dataset_id, &tags).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_dataset_tag(
    State(state): State<AppState>,
    Path((dataset_id, key)): Path<(String, String)>,
    Rpc(_request): Rpc<DatasetRef>,
) -> ApiResult<Json<Empty>> {
    state.store.delete_evaluation_dataset_tag(&dataset_id, &key).await?;
    Ok(Json(Empty {}))
}

pub async fn upsert_records(
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    Rpc(request): Rpc<UpsertDatasetRecords>,
) -> ApiResult<Json<UpsertDatasetRecordsResponse>> {
    let text = validation::required("records", request.records.as_deref())?;
    let records = convert::dataset_record_upserts(text)?;
    let updated_by = request.updated_by.as_deref().filter(|user| !user.is_empty());
    let counts = state.store.upsert_dataset_records(&dataset_id, &records, updated_by).await?;
    Ok(Json(UpsertDatasetRecordsResponse { inserted_count: counts.inserted, updated_count: counts.updated }))
}

pub async fn get_records(
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    Rpc(request): Rpc<GetDatasetRecords>,
) -> ApiResult<Json<GetDatasetRecordsResponse>> {
    // A page larger than the cap is cut to it rather than refused: the token leads on.
    let max_results = match request.max_results {
        None | Some(0) => 1000,
        Some(number) if number < 0 => {
            return Err(Error::invalid(format!("Invalid value {number} for parameter 'max_results'.")).into())
        }
        Some(number) => number.min(rules::MAX_RESULTS_DATASET_RECORDS),
    };
    let after = rules::decode_record_cursor(request.page_token.as_deref())?;
    let page = state.store.get_dataset_records(&dataset_id, max_results as u64, after.as_ref()).await?;
    Ok(Json(GetDatasetRecordsResponse {
        records: convert::dataset_records_json(page.records)?,
        next_page_token: page.next.as_ref().map(rules::encode_record_cursor),
    }))
}

pub async fn delete_records(
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    Rpc(request): Rpc<DeleteDatasetRecords>,
) -> ApiResult<Json<DeleteDatasetRecordsResponse>> {
    let deleted_count = state.store.delete_dataset_records(&dataset_id, &request.dataset_record_ids).await?;
    Ok(Json(DeleteDatasetRecordsResponse { deleted_count }))
}

pub async fn experiment_ids_of_dataset(
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    Rpc(_request): Rpc<DatasetRef>,
) -> ApiResult<Json<DatasetExperimentIdsResponse>> {
    let experiment_ids = state.store.get_dataset_experiment_ids(&dataset_id).await?;
    Ok(Json(DatasetExperimentIdsResponse {
        experiment_ids: experiment_ids.iter().map(ExperimentId::to_string).collect(),
    }))
}

pub async fn add_to_experiments(
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    Rpc(request): Rpc<DatasetExperiments>,
) -> ApiResult<Json<DatasetResponse>> {
    let ids = ExperimentId::parse_all(&request.experiment_ids)?;
    let dataset = state.store.add_dataset_to_experiments(&dataset_id, &ids).await?;
    Ok(Json(DatasetResponse { dataset: convert::evaluation_dataset(dataset) }))
}

pub async fn remove_from_experiments(
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    Rpc(request): Rpc<DatasetExperiments>,
) -> ApiResult<Json<DatasetResponse>> {
    let ids = ExperimentId::parse_all(&request.experiment_ids)?;
    let dataset = state.store.remove_dataset_from_experiments(&dataset_id, &ids).await?;
    Ok(Json(DatasetResponse { dataset: convert::evaluation_dataset(dataset) }))
}

/// The experiment and scorer name every scorer RPC names.
fn scorer_target(experiment_id: &Option<String>, name: &Option<String>) -> Result<(ExperimentId, String), Error> {
    let experiment_id = convert::experiment_id(experiment_id.as_deref())?;
    let name = validation::required("name", name.as_deref())?;
    rules::scorer_name(name)?;
    Ok((experiment_id, name.to_string()))
}

pub async fn register_scorer(
    State(state): State<AppState>,
    Rpc(request): Rpc<RegisterScorer>,
) -> ApiResult<Json<RegisterScorerResponse>> {
    let (experiment_id, name) = scorer_target(&request.experiment_id, &request.name)?;
    let serialized = validation::required("serialized_scorer", request.serialized_scorer.as_deref())?;
    rules::serialized_scorer(serialized, state.config.custom_scorers)?;
    let scorer = state.store.register_scorer(experiment_id, &name, serialized).await?;
    Ok(Json(convert::registered_scorer(scorer)))
}

pub async fn list_scorers(
    State(state): State<AppState>,
    Rpc(request): Rpc<ListScorers>,
) -> ApiResult<Json<ScorersResponse>> {
    let mut ids = ExperimentId::parse_all(&request.experiment_ids)?;
    ids.extend(convert::optional_experiment_id(request.experiment_id.as_deref())?);
    if ids.is_empty() {
        return Err(Error::invalid("Missing value for required parameter 'experiment_id'.").into());
    }
    ids.sort_unstable();
    ids.dedup();
    let scorers = state.store.list_scorers(&ids).await?;
    Ok(Json(ScorersResponse { scorers: scorers.into_iter().map(convert::scorer_version).collect() }))
}

pub async fn list_scorer_versions(
    State(state): State<AppState>,
    Rpc(request): Rpc<ScorerRef>,
) -> ApiResult<Json<ScorersResponse>> {
    let (experiment_id, name) = scorer_target(&request.experiment_id, &request.name)?;
    let scorers = state.store.list_scorer_versions(experiment_id, &name).await?;
    Ok(Json(ScorersResponse { scorers: scorers.into_iter().map(convert::scorer_version).collect() }))
}

pub async fn get_scorer(
    State(state): State<AppState>,
    Rpc(request): Rpc<ScorerRef>,
) -> ApiResult<Json<ScorerResponse>> {
    let (experiment_id, name) = scorer_target(&request.experiment_id, &request.name)?;
    let version = convert::scorer_version_number(request.version)?;
    let scorer = state.store.get_scorer(experiment_id, &name, version).await?;
    Ok(Json(ScorerResponse { scorer: convert::scorer_version(scorer) }))
}

pub async fn delete_scorer(State(state): State<AppState>, Rpc(request): Rpc<ScorerRef>) -> ApiResult<Json<Empty>> {
    let (experiment_id, name) = scorer_target(&request.experiment_id, &request.name)?;
    let version = convert::scorer_version_number(request.version)?;
    state.store.delete_scorer(experiment_id, &name, version).await?;
    Ok(Json(Empty {}))
}

pub async fn online_scoring_configs(
    State(state): State<AppState>,
    Rpc(request): Rpc<GetOnlineScoringConfigs>,
) -> ApiResult<Json<OnlineScoringConfigsResponse>> {
    let configs = state.store.get_online_scoring_configs(&request.scorer_ids).await?;
    Ok(Json(OnlineScoringConfigsResponse {
        configs: configs.into_iter().map(convert::online_scoring_config).collect(),
    }))
}

pub async fn upsert_online_scoring_config(
    State(state): State<AppState>,
    Rpc(request): Rpc<UpsertOnlineScoringConfig>,
) -> ApiResult<Json<OnlineScoringConfigResponse>> {
    let (experiment_id, name) = scorer_target(&request.experiment_id, &request.name)?;
    let sample_rate =
        request.sample_rate.ok_or_else(|| Error::invalid("Missing value for required parameter 'sample_rate'."))?;
    rules::sample_rate(sample_rate)?;
    let filter_string = request.filter_string.as_deref().filter(|filter| !filter.trim().is_empty());
    if let Some(filter) = filter_string {
        // The filter selects traces, so it must be a valid trace search filter.
        trace_grammar::parse_filter(filter)?;
    }
    // A scorer that does not exist yet is the upsert's own error.
    match state.store.get_scorer(experiment_id, &name, None).await {
        Ok(latest) => rules::online_scoring(&name, &latest.serialized_scorer, sample_rate)?,
        Err(error) if error.is_not_found() => {}
        Err(error) => return Err(error.into()),
    }
    let config = state.store.upsert_online_scoring_config(experiment_id, &name, sample_rate, filter_string).await?;
    Ok(Json(OnlineScoringConfigResponse { config: convert::online_scoring_config(config) }))
}
