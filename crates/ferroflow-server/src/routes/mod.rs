//! The route table. Each area has its own module with its handlers; this file only says
//! which path and method reach which handler.

mod artifacts;
mod auth;
mod evaluation;
mod experiments;
mod issues;
mod logged_models;
mod openapi;
mod otlp;
mod registry;
mod roles;
mod runs;
mod server_info;
mod session;
mod trace_metrics;
mod traces;

use crate::error::endpoint_not_found;
use crate::AppState;
use axum::routing::{delete, get, patch, post, put};
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
        .route("/traces", post(traces::start_trace_v2))
        .route("/traces/{trace_id}", patch(traces::end_trace_v2))
        .route("/traces/{trace_id}/info", get(traces::get_trace_info_v2))
        .route("/traces/{trace_id}/tags", patch(traces::set_tag).delete(traces::delete_tag))
        .route("/traces/delete-traces", post(traces::delete_traces))
        .route("/traces/link-to-run", post(traces::link_to_run))
        .route("/traces/link-prompts", post(traces::link_prompts))
        .route("/registered-models/create", post(registry::create_model))
        .route("/registered-models/get", get(registry::get_model))
        .route("/registered-models/update", patch(registry::update_model))
        .route("/registered-models/rename", post(registry::rename_model))
        .route("/registered-models/delete", delete(registry::delete_model))
        .route("/registered-models/search", get(registry::search_models).post(registry::search_models))
        .route("/registered-models/get-latest-versions", post(registry::latest_versions).get(registry::latest_versions))
        .route("/registered-models/set-tag", post(registry::set_model_tag))
        .route("/registered-models/delete-tag", delete(registry::delete_model_tag))
        .route(
            "/registered-models/alias",
            post(registry::set_alias).delete(registry::delete_alias).get(registry::get_by_alias),
        )
        .route("/model-versions/create", post(registry::create_version))
        .route("/model-versions/get", get(registry::get_version))
        .route("/model-versions/update", patch(registry::update_version))
        .route("/model-versions/delete", delete(registry::delete_version))
        .route("/model-versions/search", get(registry::search_versions).post(registry::search_versions))
        .route("/model-versions/get-download-uri", get(registry::download_uri))
        .route("/model-versions/set-tag", post(registry::set_version_tag))
        .route("/model-versions/delete-tag", delete(registry::delete_version_tag))
        .route("/model-versions/transition-stage", post(registry::transition_stage))
        .route("/logged-models", post(logged_models::create))
        .route("/logged-models/search", post(logged_models::search))
        .route(
            "/logged-models/{model_id}",
            get(logged_models::get).patch(logged_models::finalize).delete(logged_models::delete),
        )
        .route("/logged-models/{model_id}/tags", patch(logged_models::set_tags))
        // Tag keys may hold slashes, so the key is the rest of the path.
        .route("/logged-models/{model_id}/tags/{*tag_key}", delete(logged_models::delete_tag))
        .route("/logged-models/{model_id}/params", post(logged_models::log_params))
        // The basic-auth app's users (404 unless the server runs with it).
        .route("/users/create", post(auth::create_user))
        .route("/users/get", get(auth::get_user))
        .route("/users/current", get(auth::current_user))
        .route("/users/update-password", patch(auth::update_password))
        .route("/users/update-admin", patch(auth::update_admin))
        .route("/users/delete", delete(auth::delete_user))
        .route("/users/list", get(auth::list_users));
    let v3 = Router::new()
        .route("/server-info", get(server_info::server_info))
        .route("/users/permissions/grant", post(auth::grant_permission))
        .route("/users/permissions/revoke", post(auth::revoke_permission))
        .route("/users/permissions/get", get(auth::get_permission))
        .route("/users/permissions/list", get(auth::list_permissions))
        .route("/users/current/permissions", get(auth::current_permissions))
        .route("/users/tokens/create", post(auth::create_token))
        .route("/users/tokens/list", get(auth::list_tokens))
        .route("/users/tokens/revoke", delete(auth::revoke_token))
        // Roles (RBAC), 404 unless the server runs the basic-auth app.
        .route("/users/roles/list", get(roles::list_user_roles))
        .route("/roles/create", post(roles::create_role))
        .route("/roles/get", get(roles::get_role))
        .route("/roles/list", get(roles::list_roles))
        .route("/roles/update", patch(roles::update_role))
        .route("/roles/delete", delete(roles::delete_role))
        .route("/roles/permissions/add", post(roles::add_permission))
        .route("/roles/permissions/remove", delete(roles::remove_permission))
        .route("/roles/permissions/list", get(roles::list_permissions))
        .route("/roles/permissions/update", patch(roles::update_permission))
        .route("/roles/assign", post(roles::assign))
        .route("/roles/unassign", delete(roles::unassign))
        .route("/roles/users/list", get(roles::list_role_users))
        .route("/datasets/create", post(evaluation::create_dataset))
        .route("/datasets/search", post(evaluation::search_datasets).get(evaluation::search_datasets))
        .route("/datasets/{dataset_id}", get(evaluation::get_dataset).delete(evaluation::delete_dataset))
        .route("/datasets/{dataset_id}/tags", patch(evaluation::set_dataset_tags))
        // Tag keys may hold slashes, so the key is the rest of the path.
        .route("/datasets/{dataset_id}/tags/{*key}", delete(evaluation::delete_dataset_tag))
        .route(
            "/datasets/{dataset_id}/records",
            get(evaluation::get_records).post(evaluation::upsert_records).delete(evaluation::delete_records),
        )
        .route("/datasets/{dataset_id}/experiment-ids", get(evaluation::experiment_ids_of_dataset))
        .route("/datasets/{dataset_id}/add-experiments", post(evaluation::add_to_experiments))
        .route("/datasets/{dataset_id}/remove-experiments", post(evaluation::remove_from_experiments))
        .route("/scorers/register", post(evaluation::register_scorer))
        .route("/scorers/list", get(evaluation::list_scorers))
        .route("/scorers/versions", get(evaluation::list_scorer_versions))
        .route("/scorers/get", get(evaluation::get_scorer))
        .route("/scorers/delete", delete(evaluation::delete_scorer))
        .route("/scorers/online-configs", get(evaluation::online_scoring_configs))
        .route("/scorers/online-config", put(evaluation::upsert_online_scoring_config))
        .route("/issues", post(issues::create))
        .route("/issues/search", post(issues::search))
        .route("/issues/{issue_id}", get(issues::get).patch(issues::update))
        .route("/traces", post(traces::start_trace))
        .route("/traces/get", get(traces::get_trace))
        .route("/traces/batchGet", get(traces::batch_get))
        .route("/traces/batchGetInfos", post(traces::batch_get_infos))
        .route("/traces/metrics", post(trace_metrics::query))
        .route("/traces/calculate-filter-correlation", post(trace_metrics::filter_correlation))
        .route("/traces/search", post(traces::search).get(traces::search))
        .route("/traces/delete-traces", post(traces::delete_traces))
        .route("/traces/{trace_id}", get(traces::get_trace_info))
        .route("/traces/{trace_id}/tags", patch(traces::set_tag).delete(traces::delete_tag))
        .route("/traces/{trace_id}/assessments", post(traces::create_assessment))
        .route(
            "/traces/{trace_id}/assessments/{assessment_id}",
            get(traces::get_assessment).patch(traces::update_assessment).delete(traces::delete_assessment),
        );
    let artifacts = Router::new()
        .route("/artifacts", get(artifacts::list))
        .route("/artifacts/{*path}", get(artifacts::download).put(artifacts::upload).delete(artifacts::delete))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), artifacts::require_serving));

    // The web UI's pages: it knows the prefix only to write its links.
    let prefix = state.config.static_prefix.clone().unwrap_or_default();
    let ui = ferroflow_ui::router(state.store.clone(), state.artifacts.clone(), &prefix, state.auth.is_some());

    Router::new()
        .route("/health", get(server_info::health))
        .route("/version", get(server_info::version))
        .route("/get-artifact", get(artifacts::get_run_artifact))
        .route("/api/openapi.json", get(openapi::openapi))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", get(session::logout_page).post(session::logout))
        .route("/v1/traces", post(otlp::ingest))
        .nest("/api/2.0/mlflow", v2.clone())
        .nest("/ajax-api/2.0/mlflow", v2)
        .nest("/api/3.0/mlflow", v3.clone())
        .nest("/ajax-api/3.0/mlflow", v3)
        .nest("/api/2.0/mlflow-artifacts", artifacts.clone())
        .nest("/ajax-api/2.0/mlflow-artifacts", artifacts)
        .fallback(endpoint_not_found)
        .method_not_allowed_fallback(endpoint_not_found)
        .with_state(state)
        .merge(ui)
}
