//! The route table. Each area has its own module with its handlers; this file only says
//! which path and method reach which handler.

mod artifacts;
mod experiments;
mod runs;
mod server_info;

use crate::error::endpoint_not_found;
use crate::AppState;
use axum::routing::{get, post};
use axum::Router;

pub fn router(state: AppState) -> Router {
    // Each RPC lives under /api/<v>.0/... and again under /ajax-api/<v>.0/... for web UIs.
    let v2 = Router::new()
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/search", post(experiments::search).get(experiments::search))
        .route("/experiments/update", post(experiments::update))
        .route("/experiments/delete", post(experiments::delete))
        .route("/experiments/restore", post(experiments::restore))
        .route("/experiments/set-experiment-tag", post(experiments::set_tag))
        .route("/experiments/delete-experiment-tag", post(experiments::delete_tag))
        .route("/runs/create", post(runs::create))
        .route("/runs/get", get(runs::get))
        .route("/runs/update", post(runs::update))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/log-parameter", post(runs::log_param))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/runs/log-batch", post(runs::log_batch))
        .route("/runs/search", post(runs::search).get(runs::search))
        .route("/runs/log-inputs", post(runs::log_inputs))
        .route("/runs/outputs", post(runs::log_outputs))
        .route("/metrics/get-history", get(runs::metric_history))
        .route("/artifacts/list", get(artifacts::list_run_artifacts))
        // FIXME: logged models arrive with the registry work; until then no name is a model.
        .route("/logged-models/search", post(runs::no_logged_models));
    let v3 = Router::new().route("/server-info", get(server_info::server_info));
    let artifacts = Router::new()
        .route("/artifacts", get(artifacts::list))
        .route(
            "/artifacts/{*path}",
            get(artifacts::download).put(artifacts::upload).delete(artifacts::delete),
        );

    Router::new()
        .route("/health", get(server_info::health))
        .route("/version", get(server_info::version))
        .nest("/api/2.0/mlflow", v2.clone())
        .nest("/ajax-api/2.0/mlflow", v2)
        .nest("/api/3.0/mlflow", v3.clone())
        .nest("/ajax-api/3.0/mlflow", v3)
        .nest("/api/2.0/mlflow-artifacts", artifacts.clone())
        .nest("/ajax-api/2.0/mlflow-artifacts", artifacts)
        .fallback(endpoint_not_found)
        .method_not_allowed_fallback(endpoint_not_found)
        .with_state(state)
}
