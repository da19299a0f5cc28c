//! Experiment RPCs (../shared/spec/mlflow-rest.md §5).

use crate::convert;
use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use ferroflow_core::entities::{LifecycleStage, Tag, ViewType};
use ferroflow_core::search::{experiments as grammar, page_token};
use ferroflow_core::store::SearchQuery;
use ferroflow_core::{validation, Error};
use ferroflow_proto::tracking::*;

pub async fn get_by_name(
    State(state): State<AppState>,
    Rpc(request): Rpc<GetExperimentByName>,
) -> ApiResult<Json<ExperimentResponse>> {
    let name = validation::required("experiment_name", request.experiment_name.as_deref())?;
    let experiment = state.store.get_experiment_by_name(name).await?;
    Ok(Json(ExperimentResponse { experiment: convert::experiment(experiment) }))
}

pub async fn create(
    State(state): State<AppState>,
    Rpc(request): Rpc<CreateExperiment>,
) -> ApiResult<Json<CreateExperimentResponse>> {
    let name = validation::required("name", request.name.as_deref())?;
    validation::experiment_name(name)?;
    let tags = request.tags.iter().map(|t| convert::tag_from_wire(t, "tag")).collect::<Result<Vec<Tag>, _>>()?;
    tags.iter().try_for_each(validation::experiment_tag)?;
    if let Some(location) = request.artifact_location.as_deref() {
        if location.contains("..") {
            return Err(Error::invalid(format!("Invalid artifact location '{location}'")).into());
        }
    }
    let location = request.artifact_location.as_deref().filter(|l| !l.is_empty()).map(resolve_if_local);
    let experiment_id =
        state.store.create_experiment(name, location.as_deref(), &tags, &state.config.default_artifact_root).await?;
    Ok(Json(CreateExperimentResponse { experiment_id: experiment_id.to_string() }))
}

/// A relative local path (no URI scheme) made absolute against the server's working directory,
/// as the reference stores it; anything else as given.
fn resolve_if_local(location: &str) -> String {
    let has_scheme = location.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    let path = std::path::Path::new(location);
    if has_scheme || path.is_absolute() {
        return location.to_string();
    }
    match std::env::current_dir() {
        // Collecting the components drops `.` segments and doubled slashes, as Python's pathlib.
        Ok(cwd) => cwd.join(path).components().collect::<std::path::PathBuf>().to_string_lossy().into_owned(),
        Err(error) => {
            tracing::warn!(%error, "no working directory to resolve a relative artifact location against");
            location.to_string()
        }
    }
}

pub async fn get(
    State(state): State<AppState>,
    Rpc(request): Rpc<ExperimentRef>,
) -> ApiResult<Json<ExperimentResponse>> {
    let id = convert::experiment_id(request.experiment_id.as_deref())?;
    let experiment = state.store.get_experiment(id).await?;
    Ok(Json(ExperimentResponse { experiment: convert::experiment(experiment) }))
}

pub async fn search(
    State(state): State<AppState>,
    Rpc(request): Rpc<SearchExperiments>,
) -> ApiResult<Json<SearchExperimentsResponse>> {
    let view = match request.view_type.as_deref() {
        None | Some("") => ViewType::ActiveOnly,
        Some(text) => ViewType::parse(text).ok_or_else(|| Error::invalid(format!("Invalid view_type '{text}'")))?,
    };
    let max_results = validation::max_results(
        "experiments/search",
        request.max_results,
        1000,
        validation::MAX_RESULTS_SEARCH_EXPERIMENTS,
    )?;
    let query = SearchQuery {
        clauses: grammar::parse_filter(request.filter.as_deref().unwrap_or(""))?,
        order_by: grammar::parse_order_by(&request.order_by)?,
        max_results: max_results as u64,
        offset: page_token::decode(request.page_token.as_deref())?,
    };
    let page = state.store.search_experiments(view, &query).await?;
    Ok(Json(SearchExperimentsResponse {
        experiments: page.items.into_iter().map(convert::experiment).collect(),
        next_page_token: page.next_offset.map(page_token::encode),
    }))
}

pub async fn update(State(state): State<AppState>, Rpc(request): Rpc<UpdateExperiment>) -> ApiResult<Json<Empty>> {
    let id = convert::experiment_id(request.experiment_id.as_deref())?;
    let new_name = validation::required("new_name", request.new_name.as_deref())?;
    validation::experiment_name(new_name)?;
    state.store.rename_experiment(id, new_name).await?;
    Ok(Json(Empty {}))
}

pub async fn delete(State(state): State<AppState>, Rpc(request): Rpc<ExperimentRef>) -> ApiResult<Json<Empty>> {
    let id = convert::experiment_id(request.experiment_id.as_deref())?;
    state.store.set_experiment_lifecycle(id, LifecycleStage::Deleted).await?;
    Ok(Json(Empty {}))
}

pub async fn restore(State(state): State<AppState>, Rpc(request): Rpc<ExperimentRef>) -> ApiResult<Json<Empty>> {
    let id = convert::experiment_id(request.experiment_id.as_deref())?;
    state.store.set_experiment_lifecycle(id, LifecycleStage::Active).await?;
    Ok(Json(Empty {}))
}

pub async fn set_tag(State(state): State<AppState>, Rpc(request): Rpc<SetExperimentTag>) -> ApiResult<Json<Empty>> {
    let id = convert::experiment_id(request.experiment_id.as_deref())?;
    let key = validation::required("key", request.key.as_deref())?;
    let tag = Tag::new(key, request.value.unwrap_or_default());
    validation::experiment_tag(&tag)?;
    state.store.set_experiment_tag(id, &tag).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_tag(State(state): State<AppState>, Rpc(request): Rpc<SetExperimentTag>) -> ApiResult<Json<Empty>> {
    let id = convert::experiment_id(request.experiment_id.as_deref())?;
    let key = validation::required("key", request.key.as_deref())?;
    state.store.delete_experiment_tag(id, key).await?;
    Ok(Json(Empty {}))
}
