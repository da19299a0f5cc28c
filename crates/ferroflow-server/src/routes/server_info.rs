//! Server-level routes: `/health`, `/version`, `server-info` (../shared/spec/mlflow-rest.md §4).

use crate::{AppState, MLFLOW_COMPAT_VERSION};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn health() -> &'static str {
    "OK"
}

/// The bare version text; the client parses it as a PEP 440 version.
pub async fn version() -> &'static str {
    MLFLOW_COMPAT_VERSION
}

/// What the artifact client reads before its first transfer. Multipart and presigned
/// transfers stay off: plain PUT/GET through this server.
pub async fn server_info(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
        "artifact_serving_enabled": state.config.serve_artifacts,
        "artifacts_presigned_only": false,
        "features_enabled": {},
        "tracking_auth": "",
    }))
}
