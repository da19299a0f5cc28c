//! ferroflow's HTTP server: the MLflow REST API (`/api/2.0/mlflow/...`, `/api/3.0/mlflow/...`),
//! the proxied artifact service, and the server-level routes, on axum.
//!
//! Handlers only extract, convert, call and convert: requests become core types through
//! [`extract::Rpc`] and the `convert` module, the work happens in the store, and every failure
//! becomes an HTTP answer in exactly one place, [`error::ApiError`].
//!
//! Architecture invariant: this is the only crate that knows HTTP status codes and routes.

pub mod auth;
pub mod convert;
pub mod error;
pub mod extract;
pub mod grpc;
mod limits;
mod routes;
pub mod security;

use axum::extract::MatchedPath;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::Router;
use ferroflow_core::artifacts::ArtifactRepo;
use ferroflow_core::store::Store;
use std::future::Future;
use std::sync::Arc;
use tower::ServiceExt;
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
    /// Host, CORS and header rules (`--allowed-hosts`, `--cors-allowed-origins`, …).
    pub security: security::SecurityConfig,
    /// What keeps one client from hurting the others.
    pub limits: Limits,
    /// Whether custom `@scorer` functions may be registered (`MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS`).
    pub custom_scorers: bool,
}

/// Connection and request limits. Body size limits are per route, beside each route's reader
/// (`extract.rs` for RPC messages, `routes/otlp.rs`, artifacts stream without one).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests handled at once; one more is answered 503 with `Retry-After` (the client and
    /// OTLP exporters retry it) instead of queueing without bound.
    pub max_concurrent_requests: usize,
    /// How long a connection may take to send a request's headers (slow-header attacks).
    pub header_read_timeout: std::time::Duration,
    /// How long a request body may stall between two chunks.
    pub body_idle_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_requests: 512,
            header_read_timeout: std::time::Duration::from_secs(30),
            body_idle_timeout: std::time::Duration::from_secs(60),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            default_artifact_root: "mlflow-artifacts:".to_string(),
            serve_artifacts: true,
            static_prefix: None,
            security: security::SecurityConfig::default(),
            limits: Limits::default(),
            custom_scorers: false,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub artifacts: Arc<dyn ArtifactRepo>,
    pub config: Arc<ServerConfig>,
    /// The basic-auth app, when the server runs with `--app-name basic-auth`.
    pub auth: Option<Arc<auth::Auth>>,
}

/// The whole application as one router.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let prefix = config.static_prefix.clone();
    let guard = axum::middleware::from_fn_with_state(state.clone(), auth::middleware::check);
    let routes = routes::router(state);
    let routes = match &prefix {
        Some(prefix) => Router::new()
            .nest(prefix, routes)
            .merge(ferroflow_ui::prefix_root(prefix))
            .fallback(error::endpoint_not_found),
        None => routes,
    };
    let routes = routes
        // Inside the panic catcher and outside every route, so no route goes unchecked.
        .layer(guard)
        // A bug of ours must answer 500 in MLflow's shape, not drop the connection.
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            error::ApiError(ferroflow_core::Error::internal("handler panicked")).into_response()
        }))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(config.limits.body_idle_timeout));
    let routes = limits::concurrency(routes, config.limits.max_concurrent_requests);
    security::layer(routes, &config.security, prefix.as_deref()).layer(TraceLayer::new_for_http().make_span_with(
        |request: &Request<_>| {
            // The matched route template, not the raw URI: low-cardinality and free of ids.
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "unmatched".to_string());
            tracing::info_span!("request", method = %request.method(), route = %route)
        },
    ))
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains open requests.
///
/// Every accepted connection gets `TCP_NODELAY`: the client reuses connections, and without
/// it each small reply waits for the peer's delayed ACK (~40 ms). Connections are served by
/// hyper directly (not `axum::serve`) so that a client that sends its headers too slowly is
/// cut off (`Limits::header_read_timeout`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let header_read_timeout = state.config.limits.header_read_timeout;
    let app = router(state);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let service =
            TowerToHyperService::new(app.clone().map_request(move |request: Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(auth::middleware::PeerAddr(peer));
                request
            }));
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
