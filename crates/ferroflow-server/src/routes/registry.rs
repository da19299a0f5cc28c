//! Model registry RPCs: registered models, model versions, tags and aliases
//! (../shared/spec/mlflow-rest.md §11). Prompts use the same routes (§10); the prompt/model divide
//! of searches is decided in core.

use crate::convert;
use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use ferroflow_core::ids::AliasName;
use ferroflow_core::search::{page_token, registry as grammar};
use ferroflow_core::store::SearchQuery;
use ferroflow_core::validation;
use ferroflow_proto::registry::*;
use ferroflow_proto::tracking::Empty;

pub async fn create_model(
    State(state): State<AppState>,
    Rpc(request): Rpc<CreateRegisteredModel>,
) -> ApiResult<Json<RegisteredModelResponse>> {
    let model = convert::new_registered_model(&request)?;
    let created = state.store.create_registered_model(&model).await?;
    Ok(Json(RegisteredModelResponse { registered_model: convert::registered_model(created) }))
}

pub async fn get_model(
    State(state): State<AppState>,
    Rpc(request): Rpc<RegisteredModelRef>,
) -> ApiResult<Json<RegisteredModelResponse>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let model = state.store.get_registered_model(&name).await?;
    Ok(Json(RegisteredModelResponse { registered_model: convert::registered_model(model) }))
}

pub async fn update_model(
    State(state): State<AppState>,
    Rpc(request): Rpc<UpdateRegisteredModel>,
) -> ApiResult<Json<RegisteredModelResponse>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let model = state.store.update_registered_model(&name, request.description.as_deref()).await?;
    Ok(Json(RegisteredModelResponse { registered_model: convert::registered_model(model) }))
}

pub async fn rename_model(
    State(state): State<AppState>,
    Rpc(request): Rpc<RenameRegisteredModel>,
) -> ApiResult<Json<RegisteredModelResponse>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let new_name = convert::model_name("new_name", request.new_name.as_deref())?;
    let model = state.store.rename_registered_model(&name, &new_name).await?;
    Ok(Json(RegisteredModelResponse { registered_model: convert::registered_model(model) }))
}

pub async fn delete_model(
    State(state): State<AppState>,
    Rpc(request): Rpc<RegisteredModelRef>,
) -> ApiResult<Json<Empty>> {
    let name = convert::registry_name(request.name.as_deref())?;
    state.store.delete_registered_model(&name).await?;
    Ok(Json(Empty {}))
}

pub async fn search_models(
    State(state): State<AppState>,
    Rpc(request): Rpc<SearchRegistry>,
) -> ApiResult<Json<SearchRegisteredModelsResponse>> {
    let max_results = validation::max_results(
        "registered-models/search",
        request.max_results,
        100,
        validation::MAX_RESULTS_SEARCH_REGISTERED_MODELS,
    )?;
    let clauses = grammar::parse_registered_model_filter(request.filter.as_deref().unwrap_or(""))?;
    let (scope, clauses) = grammar::split_prompt_scope(clauses);
    let query = SearchQuery {
        clauses,
        order_by: grammar::parse_registered_model_order_by(&request.order_by)?,
        max_results: max_results as u64,
        offset: page_token::decode(request.page_token.as_deref())?,
    };
    let page = state.store.search_registered_models(scope, &query).await?;
    Ok(Json(SearchRegisteredModelsResponse {
        registered_models: page.items.into_iter().map(convert::registered_model).collect(),
        next_page_token: page.next_offset.map(page_token::encode),
    }))
}

pub async fn latest_versions(
    State(state): State<AppState>,
    Rpc(request): Rpc<GetLatestVersions>,
) -> ApiResult<Json<ModelVersionsResponse>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let stages = request.stages.iter().map(|stage| convert::model_stage(Some(stage))).collect::<Result<Vec<_>, _>>()?;
    let versions = state.store.get_latest_versions(&name, &stages).await?;
    Ok(Json(ModelVersionsResponse {
        model_versions: versions.into_iter().map(convert::model_version).collect(),
        next_page_token: None,
    }))
}

pub async fn set_model_tag(
    State(state): State<AppState>,
    Rpc(request): Rpc<RegisteredModelTag>,
) -> ApiResult<Json<Empty>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let tag = convert::registry_tag(request.key.as_deref(), request.value.as_deref())?;
    state.store.set_registered_model_tag(&name, &tag).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_model_tag(
    State(state): State<AppState>,
    Rpc(request): Rpc<RegisteredModelTag>,
) -> ApiResult<Json<Empty>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let key = convert::registry_tag_key(request.key.as_deref())?;
    state.store.delete_registered_model_tag(&name, &key).await?;
    Ok(Json(Empty {}))
}

pub async fn create_version(
    State(state): State<AppState>,
    Rpc(request): Rpc<CreateModelVersion>,
) -> ApiResult<Json<ModelVersionResponse>> {
    let version = convert::new_model_version(&request)?;
    if !version.is_prompt() {
        check_source_owner(&state, &version).await?;
    }
    let created = state.store.create_model_version(&version).await?;
    Ok(Json(ModelVersionResponse { model_version: convert::model_version(created) }))
}

/// The source must belong to the run (or, with `model_id`, the logged model) the request names:
/// `validation::model_version_source_owner`, with the owner's artifact root looked up here.
async fn check_source_owner(state: &AppState, version: &ferroflow_core::entities::NewModelVersion) -> ApiResult<()> {
    use validation::SourceOwner;
    let source = version.source.as_str();
    let (owner, owner_id) = match version.model_id.as_deref() {
        Some(model_id) => (SourceOwner::LoggedModel, Some(model_id)),
        None => (SourceOwner::Run, version.run_id.as_deref()),
    };
    let mut root = None;
    if let Some(id) = owner_id.filter(|_| validation::source_needs_owner_root(source)) {
        let found = match owner {
            SourceOwner::Run => match ferroflow_core::ids::RunId::parse(id) {
                Ok(run_id) => state.store.get_run(&run_id).await.map(|run| run.info.artifact_uri),
                Err(error) => Err(error),
            },
            SourceOwner::LoggedModel => state.store.get_logged_model(id, false).await.map(|model| model.artifact_uri),
        };
        root = match found {
            Ok(root) => Some(root),
            Err(error) if error.code == ferroflow_core::ErrorCode::ResourceDoesNotExist => {
                return Err(validation::source_not_of_owner(source, owner).into())
            }
            Err(error) if error.code == ferroflow_core::ErrorCode::InvalidParameterValue => {
                return Err(validation::source_not_of_owner(source, owner).into())
            }
            Err(error) => return Err(error.into()),
        };
    }
    validation::model_version_source_owner(source, owner, owner_id, root.as_deref())?;
    Ok(())
}

pub async fn get_version(
    State(state): State<AppState>,
    Rpc(request): Rpc<ModelVersionRef>,
) -> ApiResult<Json<ModelVersionResponse>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let number = convert::registry_version(request.version.as_deref())?;
    let version = state.store.get_model_version(&name, number).await?;
    Ok(Json(ModelVersionResponse { model_version: convert::model_version(version) }))
}

pub async fn update_version(
    State(state): State<AppState>,
    Rpc(request): Rpc<UpdateModelVersion>,
) -> ApiResult<Json<ModelVersionResponse>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let number = convert::registry_version(request.version.as_deref())?;
    let version = state.store.update_model_version(&name, number, request.description.as_deref()).await?;
    Ok(Json(ModelVersionResponse { model_version: convert::model_version(version) }))
}

pub async fn transition_stage(
    State(state): State<AppState>,
    Rpc(request): Rpc<TransitionModelVersionStage>,
) -> ApiResult<Json<ModelVersionResponse>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let number = convert::registry_version(request.version.as_deref())?;
    let stage = convert::model_stage(request.stage.as_deref())?;
    let archive = request.archive_existing_versions.unwrap_or(false);
    let version = state.store.transition_model_version_stage(&name, number, stage, archive).await?;
    Ok(Json(ModelVersionResponse { model_version: convert::model_version(version) }))
}

pub async fn delete_version(
    State(state): State<AppState>,
    Rpc(request): Rpc<ModelVersionRef>,
) -> ApiResult<Json<Empty>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let number = convert::registry_version(request.version.as_deref())?;
    state.store.delete_model_version(&name, number).await?;
    Ok(Json(Empty {}))
}

pub async fn search_versions(
    State(state): State<AppState>,
    Rpc(request): Rpc<SearchRegistry>,
) -> ApiResult<Json<ModelVersionsResponse>> {
    let max_results = validation::max_results(
        "model-versions/search",
        request.max_results,
        10_000,
        validation::MAX_RESULTS_SEARCH_MODEL_VERSIONS,
    )?;
    let clauses = grammar::parse_model_version_filter(request.filter.as_deref().unwrap_or(""))?;
    let (scope, clauses) = grammar::split_prompt_scope(clauses);
    let query = SearchQuery {
        clauses,
        order_by: grammar::parse_model_version_order_by(&request.order_by)?,
        max_results: max_results as u64,
        offset: page_token::decode(request.page_token.as_deref())?,
    };
    let page = state.store.search_model_versions(scope, &query).await?;
    Ok(Json(ModelVersionsResponse {
        model_versions: page.items.into_iter().map(convert::model_version).collect(),
        next_page_token: page.next_offset.map(page_token::encode),
    }))
}

pub async fn download_uri(
    State(state): State<AppState>,
    Rpc(request): Rpc<ModelVersionRef>,
) -> ApiResult<Json<DownloadUriResponse>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let number = convert::registry_version(request.version.as_deref())?;
    let artifact_uri = state.store.get_model_version_download_uri(&name, number).await?;
    Ok(Json(DownloadUriResponse { artifact_uri }))
}

pub async fn set_version_tag(
    State(state): State<AppState>,
    Rpc(request): Rpc<ModelVersionTag>,
) -> ApiResult<Json<Empty>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let number = convert::registry_version(request.version.as_deref())?;
    let tag = convert::registry_tag(request.key.as_deref(), request.value.as_deref())?;
    state.store.set_model_version_tag(&name, number, &tag).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_version_tag(
    State(state): State<AppState>,
    Rpc(request): Rpc<ModelVersionTag>,
) -> ApiResult<Json<Empty>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let number = convert::registry_version(request.version.as_deref())?;
    let key = convert::registry_tag_key(request.key.as_deref())?;
    state.store.delete_model_version_tag(&name, number, &key).await?;
    Ok(Json(Empty {}))
}

pub async fn set_alias(
    State(state): State<AppState>,
    Rpc(request): Rpc<RegisteredModelAlias>,
) -> ApiResult<Json<Empty>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let alias = AliasName::parse_settable(validation::required("alias", request.alias.as_deref())?)?;
    let number = convert::registry_version(request.version.as_deref())?;
    state.store.set_registered_model_alias(&name, &alias, number).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_alias(
    State(state): State<AppState>,
    Rpc(request): Rpc<RegisteredModelAlias>,
) -> ApiResult<Json<Empty>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let alias = AliasName::parse(validation::required("alias", request.alias.as_deref())?)?;
    state.store.delete_registered_model_alias(&name, &alias).await?;
    Ok(Json(Empty {}))
}

pub async fn get_by_alias(
    State(state): State<AppState>,
    Rpc(request): Rpc<RegisteredModelAlias>,
) -> ApiResult<Json<ModelVersionResponse>> {
    let name = convert::registry_name(request.name.as_deref())?;
    let alias = validation::alias_lookup(validation::required("alias", request.alias.as_deref())?)?;
    let version = state.store.get_model_version_by_alias(&name, &alias).await?;
    Ok(Json(ModelVersionResponse { model_version: convert::model_version(version) }))
}
