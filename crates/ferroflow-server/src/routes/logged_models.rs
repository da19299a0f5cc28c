//! Logged model RPCs (../shared/spec/mlflow-rest.md §12): create, finalize, get, search, tags,
//! params, delete. The model id comes from the path; a body may repeat it.

use crate::convert;
use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use ferroflow_core::search::page_token;
use ferroflow_proto::logged_models::*;
use ferroflow_proto::tracking::Empty;

pub async fn create(
    State(state): State<AppState>,
    Rpc(request): Rpc<CreateLoggedModel>,
) -> ApiResult<Json<LoggedModelResponse>> {
    let model = convert::new_logged_model(&request)?;
    let created = state.store.create_logged_model(&model).await?;
    Ok(Json(LoggedModelResponse { model: convert::logged_model(created) }))
}

pub async fn get(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    Rpc(request): Rpc<GetLoggedModel>,
) -> ApiResult<Json<LoggedModelResponse>> {
    let model = state.store.get_logged_model(&model_id, request.allow_deleted.unwrap_or(false)).await?;
    Ok(Json(LoggedModelResponse { model: convert::logged_model(model) }))
}

pub async fn finalize(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    Rpc(request): Rpc<FinalizeLoggedModel>,
) -> ApiResult<Json<LoggedModelResponse>> {
    let status = convert::logged_model_status(request.status.as_deref())?;
    let model = state.store.finalize_logged_model(&model_id, status).await?;
    Ok(Json(LoggedModelResponse { model: convert::logged_model(model) }))
}

pub async fn search(
    State(state): State<AppState>,
    Rpc(request): Rpc<SearchLoggedModels>,
) -> ApiResult<Json<SearchLoggedModelsResponse>> {
    let search = convert::logged_model_search(&request)?;
    let page = state.store.search_logged_models(&search).await?;
    Ok(Json(SearchLoggedModelsResponse {
        models: page.items.into_iter().map(convert::logged_model).collect(),
        next_page_token: page.next_offset.map(page_token::encode),
    }))
}

pub async fn set_tags(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    Rpc(request): Rpc<SetLoggedModelTags>,
) -> ApiResult<Json<Empty>> {
    let tags = convert::logged_model_tags(&request.tags)?;
    state.store.set_logged_model_tags(&model_id, &tags).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Path((model_id, tag_key)): Path<(String, String)>,
) -> ApiResult<Json<Empty>> {
    state.store.delete_logged_model_tag(&model_id, &tag_key).await?;
    Ok(Json(Empty {}))
}

pub async fn delete(State(state): State<AppState>, Path(model_id): Path<String>) -> ApiResult<Json<Empty>> {
    state.store.delete_logged_model(&model_id).await?;
    Ok(Json(Empty {}))
}

pub async fn log_params(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    Rpc(request): Rpc<LogLoggedModelParams>,
) -> ApiResult<Json<Empty>> {
    let params = convert::logged_model_params(&request.params)?;
    state.store.log_logged_model_params(&model_id, &params).await?;
    Ok(Json(Empty {}))
}
