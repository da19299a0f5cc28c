//! The proxied artifact service (`/api/2.0/mlflow-artifacts/...`, ../shared/spec/mlflow-rest.md §7): raw bytes in and
//! out, streamed, and one-level JSON listings with base names.

use crate::error::{ApiError, ApiResult, ArtifactsNotServed};
use crate::extract::Rpc;
use crate::AppState;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferroflow_core::artifacts::FileInfo;
use ferroflow_core::ids::ExperimentId;
use ferroflow_core::{validation, Error};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

/// Layer of the proxy routes: with `--no-serve-artifacts` they answer as the reference does,
/// before any handler runs.
pub async fn require_serving(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.config.serve_artifacts {
        return next.run(request).await;
    }
    let path = match request.extensions().get::<OriginalUri>() {
        Some(original) => original.path().to_string(),
        None => request.uri().path().to_string(),
    };
    ArtifactsNotServed::for_request(request.method(), &path).into_response()
}

pub async fn upload(
    State(state): State<AppState>,
    Path(path): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    validation::artifact_path(&path)?;
    let stream = request
        .into_body()
        .into_data_stream()
        .map_err(|e| Error::bad_request(format!("Could not read the upload: {e}")));
    state.artifacts.put(&path, Box::pin(stream)).await?;
    if let Some(experiment_id) = trace_document_experiment(&path) {
        index_trace_document(&state, &path, experiment_id).await;
    }
    Ok(Json(json!({})))
}

/// `<experiment>/traces/<trace id>/artifacts/traces.json`: where clients that do not send
/// OTLP (or whose OTLP lost the race) put a trace's spans.
fn trace_document_experiment(path: &str) -> Option<ExperimentId> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [experiment, "traces", _trace, "artifacts", "traces.json"] => ExperimentId::parse(experiment).ok(),
        _ => None,
    }
}

/// Indexes the spans of an uploaded `traces.json` through the same ingest as OTLP, so they
/// are searchable. The artifact itself is stored either way; a document we cannot read is
/// logged, not refused.
async fn index_trace_document(state: &AppState, path: &str, experiment_id: ExperimentId) {
    let result = async {
        let body = state.artifacts.get(path).await?;
        let chunks: Vec<bytes::Bytes> = body.stream.try_collect().await?;
        let document: serde_json::Value = serde_json::from_slice(&chunks.concat())
            .map_err(|e| Error::invalid(format!("traces.json is not JSON: {e}")))?;
        let spans = crate::convert::otlp::records_from_trace_document(&document)?;
        ferroflow_core::traces::ingest_spans(&*state.store, experiment_id, None, spans).await
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(%path, error = %error, "could not index an uploaded traces.json");
    }
}

/// A content type by extension: enough for browsers and the client, which ignores it.
fn content_type_of(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "txt" | "log" | "md" | "py" | "yaml" | "yml" | "cfg" | "ini" | "toml" => "text/plain",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

pub async fn download(State(state): State<AppState>, Path(path): Path<String>) -> ApiResult<Response> {
    validation::artifact_path(&path)?;
    send_artifact(&state, &path).await
}

/// A stored file as an attachment (never shown inline on this server's origin).
async fn send_artifact(state: &AppState, path: &str) -> ApiResult<Response> {
    let body = state.artifacts.get(path).await?;
    let filename = path.rsplit('/').next().unwrap_or("artifact").replace('"', "");
    let mut response = Body::from_stream(body.stream.map_err(std::io::Error::other)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type_of(path)));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.size));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

pub async fn delete(State(state): State<AppState>, Path(path): Path<String>) -> ApiResult<Json<Value>> {
    state.artifacts.delete(&path).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    path: Option<String>,
}

fn file_json(info: &FileInfo, prefix: &str) -> Value {
    let path = if prefix.is_empty() { info.path.clone() } else { format!("{prefix}/{}", info.path) };
    match info.file_size {
        Some(size) if !info.is_dir => json!({"path": path, "is_dir": false, "file_size": size}),
        _ => json!({"path": path, "is_dir": info.is_dir}),
    }
}

/// One level below `path`; base names, `{}` when there is nothing (a file, or no such path).
pub async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> ApiResult<Response> {
    let path = query.path.unwrap_or_default();
    if !path.is_empty() {
        validation::artifact_path(&path)?;
    }
    let entries = state.artifacts.list(&path).await?;
    if entries.is_empty() {
        return Ok((StatusCode::OK, Json(json!({}))).into_response());
    }
    let files: Vec<Value> = entries.iter().map(|e| file_json(e, "")).collect();
    Ok(Json(json!({ "files": files })).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListRunArtifacts {
    run_id: Option<String>,
    run_uuid: Option<String>,
    path: Option<String>,
}

/// The older run-level listing: paths relative to the run's artifact root.
pub async fn list_run_artifacts(
    State(state): State<AppState>,
    Rpc(request): Rpc<ListRunArtifacts>,
) -> ApiResult<Json<Value>> {
    let run_id = crate::convert::run_id(&request.run_id, &request.run_uuid)?;
    let run = state.store.get_run(&run_id).await?;
    let root = run.info.artifact_uri.clone();
    let relative = request.path.unwrap_or_default().trim_matches('/').to_string();
    if !relative.is_empty() {
        validation::artifact_path(&relative)?;
    }
    let Some(base) = served_artifact_path(&state, &root) else {
        return Ok(Json(json!({ "root_uri": root })));
    };
    let full = if relative.is_empty() { base.to_string() } else { format!("{base}/{relative}") };
    let entries = state.artifacts.list(&full).await?;
    let files: Vec<Value> = entries.iter().map(|e| file_json(e, &relative)).collect();
    if files.is_empty() {
        return Ok(Json(json!({ "root_uri": root })));
    }
    Ok(Json(json!({ "root_uri": root, "files": files })))
}

/// Where this server keeps the artifacts of a run whose artifact root it serves: an
/// `mlflow-artifacts:` URI, or an http(s) URL of an `mlflow-artifacts` route (a root written
/// with this server's own address), as the reference resolves them. `None` for roots it does
/// not serve.
fn served_artifact_path(state: &AppState, root: &str) -> Option<String> {
    if !state.config.serve_artifacts {
        return None;
    }
    let root = root.split(['?', '#']).next().unwrap_or(root);
    let path = if let Some(rest) = root.strip_prefix("mlflow-artifacts:") {
        // `mlflow-artifacts://<netloc>/path` or `mlflow-artifacts:/path`.
        match rest.strip_prefix("//") {
            Some(with_netloc) => with_netloc.find('/').map_or("", |slash| &with_netloc[slash..]),
            None => rest,
        }
    } else if let Some(rest) = root.strip_prefix("http://").or_else(|| root.strip_prefix("https://")) {
        const ANCHOR: &str = "/api/2.0/mlflow-artifacts/artifacts/";
        let path = rest.find('/').map_or("", |slash| &rest[slash..]);
        let (_, after) = path.split_once(ANCHOR)?;
        after
    } else {
        return None;
    };
    Some(path.trim_matches('/').to_string())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetArtifact {
    run_id: Option<String>,
    run_uuid: Option<String>,
    path: Option<String>,
}

/// `GET /get-artifact?run_id=&path=`: one file of a run, as the reference's web UI reads it.
pub async fn get_run_artifact(State(state): State<AppState>, Rpc(request): Rpc<GetArtifact>) -> ApiResult<Response> {
    let run_id = crate::convert::run_id(&request.run_id, &request.run_uuid)?;
    let path = validation::required("path", request.path.as_deref())?;
    validation::artifact_path(path)?;
    let run = state.store.get_run(&run_id).await?;
    let Some(base) = served_artifact_path(&state, &run.info.artifact_uri) else {
        return Err(ApiError(Error::new(
            ferroflow_core::ErrorCode::NotImplemented,
            format!("The artifacts of run '{run_id}' are not served by this server ({}).", run.info.artifact_uri),
        )));
    };
    let full = if base.is_empty() { path.to_string() } else { format!("{base}/{path}") };
    send_artifact(&state, &full).await
}
