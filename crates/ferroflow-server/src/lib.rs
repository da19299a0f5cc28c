//! ferroflow's HTTP server: the MLflow REST API (`/api/2.0/mlflow/...`, `/api/3.0/mlflow/...`),
//! the proxied artifact service, and the server-level routes, on axum.
//!
//! Handlers only extract, convert, call and convert: requests become core types through
//! [`extract::Rpc`] and the `convert` module, the work happens in the store, and every failure
//! becomes an HTTP answer in exactly one place, [`error::ApiError`].
//!
//! Architecture invariant: this is the only crate that knows HTTP status codes and routes.

pub mod convert;
pub mod error;
pub mod extract;
pub mod grpc;
mod routes;

use axum::extract::MatchedPath;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::Router;
use ferroflow_core::artifacts::ArtifactRepo;
use ferroflow_core::store::Store;
use std::future::Future;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// The MLflow version ferroflow speaks. The client reads `/version` to decide whether to send
/// spans over OTLP (3.4 and later) or as `traces.json` artifacts.
pub const MLFLOW_COMPAT_VERSION: &str = "3.18.0";

/// Settings the handlers need, built once by the binary from flags and environment.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where new experiments put their artifacts: `mlflow-artifacts:` when artifacts are
    /// served by this server, or a URI of the user's choice.
    pub default_artifact_root: String,
    /// Whether `/api/2.0/mlflow-artifacts/...` is served.
    pub serve_artifacts: bool,
    /// A path prefix (`/mlflow`) in front of every route, as `mlflow server --static-prefix`.
    pub static_prefix: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            default_artifact_root: "mlflow-artifacts:".to_string(),
            serve_artifacts: true,
            static_prefix: None,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub artifacts: Arc<dyn ArtifactRepo>,
    pub config: Arc<ServerConfig>,
}

/// The whole application as one router.
pub fn router(state: AppState) -> Router {
    let prefix = state.config.static_prefix.clone();
    let routes = routes::router(state);
    let routes = match prefix {
        Some(prefix) => Router::new()
            .nest(&prefix, routes)
            .merge(ferroflow_ui::prefix_root(&prefix))
            .fallback(error::endpoint_not_found),
        None => routes,
    };
    routes
        // A bug of ours must answer 500 in MLflow's shape, not drop the connection.
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            error::ApiError(ferroflow_core::Error::internal("handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            // The matched route template, not the raw URI: low-cardinality and free of ids.
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "unmatched".to_string());
            tracing::info_span!("request", method = %request.method(), route = %route)
        }))
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains open requests.
///
/// Every accepted connection gets `TCP_NODELAY`: the client reuses connections, and without
/// it each small reply waits for the peer's delayed ACK (~40 ms).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
