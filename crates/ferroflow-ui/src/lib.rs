//! ferroflow's web UI: server-rendered HTML pages over the core's read API (the `Store`
//! trait, never SQL), progressively enhanced by small JavaScript modules of our own.
//!
//! [`router`] answers the page paths (`/experiments`, `/experiments/{id}/traces/...`) and the
//! embedded assets; `ferroflow-server` merges it under its API routes, which keep priority.
//! Every piece of user data goes through maud, which escapes it; pages carry a
//! Content-Security-Policy that allows only this origin and no inline script.

mod access;
mod assets;
mod format;
mod layout;
mod pages;

use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use ferroflow_core::artifacts::ArtifactRepo;
use ferroflow_core::store::Store;
use std::sync::Arc;

/// What every page handler can reach.
#[derive(Clone)]
pub(crate) struct Ui {
    pub store: Arc<dyn Store>,
    /// Served artifacts (`mlflow-artifacts:` roots), for a run's files.
    pub artifacts: Arc<dyn ArtifactRepo>,
    /// The server's `--static-prefix` (`/mlflow`) or empty: every link starts with it.
    pub prefix: Arc<str>,
    /// Whether users sign in (`--app-name basic-auth`): pages offer to sign out.
    pub sign_in: bool,
}

impl Ui {
    /// An absolute link to `path` (which starts with `/`) under the prefix.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

/// The policy every page carries: this origin only, no inline script, no plugins, no framing
/// by others. Inline `style` attributes are refused too, so layout lives in `app.css`.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'";

/// The UI's routes. `prefix` is the server's static prefix (empty when none); the returned
/// router is mounted by the caller under that same prefix. With `sign_in`, each request
/// carries the user's `Access` (the server's auth layer puts it there) and pages show only
/// what it allows.
pub fn router(store: Arc<dyn Store>, artifacts: Arc<dyn ArtifactRepo>, prefix: &str, sign_in: bool) -> Router {
    let ui = Ui { store, artifacts, prefix: Arc::from(prefix), sign_in };
    let pages = Router::new()
        .route("/", get(pages::experiments::root))
        .route("/experiments", get(pages::experiments::list))
        .route("/experiments/{experiment_id}/traces", get(pages::traces::table))
        .route("/experiments/{experiment_id}/traces/{trace_id}", get(pages::trace::page))
        .route("/experiments/{experiment_id}/traces/{trace_id}/spans/{span_id}", get(pages::trace::span_fragment))
        .route("/experiments/{experiment_id}/traces/{trace_id}/feedback", post(pages::trace::add_feedback))
        .route("/experiments/{experiment_id}/sessions", get(pages::sessions::list))
        .route("/experiments/{experiment_id}/sessions/{session_id}", get(pages::sessions::conversation))
        .route("/experiments/{experiment_id}/runs", get(pages::runs::list))
        .route("/experiments/{experiment_id}/runs/{run_id}", get(pages::runs::page))
        .route("/experiments/{experiment_id}/compare", get(pages::runs::compare))
        .route("/runs/{run_id}", get(pages::runs::by_id))
        .route("/prompts", get(pages::registry::prompts))
        .route("/prompts/{name}", get(pages::registry::prompt))
        .route("/models", get(pages::registry::models))
        .route("/models/{name}", get(pages::registry::model))
        .route("/experiments/{experiment_id}/datasets", get(pages::evaluation::datasets))
        .route("/experiments/{experiment_id}/datasets/{dataset_id}", get(pages::evaluation::dataset))
        .route("/experiments/{experiment_id}/scorers", get(pages::evaluation::scorers))
        .route_layer(axum::middleware::from_fn_with_state(ui.clone(), access::gate))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(ui);
    pages.merge(assets::router())
}

/// `<prefix>/` (with the slash, which a router nested at the prefix does not match): the same
/// redirect to the experiments as `/`.
pub fn prefix_root(prefix: &str) -> Router {
    let target = format!("{prefix}/experiments");
    Router::new().route(
        &format!("{prefix}/"),
        get(move || {
            let target = target.clone();
            async move { axum::response::Redirect::to(&target) }
        }),
    )
}

/// The sign-in page: `next` is where a successful sign-in goes, `csrf` the token its form
/// carries, `message` a failure to show.
pub fn login_page(prefix: &str, next: &str, csrf: &str, message: Option<&str>) -> maud::Markup {
    let body = maud::html! {
        form.login method="post" action=(format!("{prefix}/login")) {
            @if let Some(message) = message { p.error role="alert" { (message) } }
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            label { "Username" input name="username" autocomplete="username" required autofocus; }
            label { "Password" input type="password" name="password" autocomplete="current-password" required; }
            button type="submit" { "Sign in" }
        }
    };
    layout::frame(prefix, false, "Sign in", &[], body)
}

/// The sign-out page: one button, posting the user's CSRF token.
pub fn logout_page(prefix: &str, username: &str, csrf: &str) -> maud::Markup {
    let body = maud::html! {
        form.login method="post" action=(format!("{prefix}/logout")) {
            p { "Signed in as " strong { (username) } "." }
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { "Sign out" }
        }
    };
    layout::frame(prefix, true, "Sign out", &[], body)
}

/// The UI's security headers, for pages served outside its router (sign-in) too.
pub fn with_security_headers(response: axum::response::Response) -> axum::response::Response {
    let mut response = response;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

async fn security_headers(response: axum::response::Response) -> axum::response::Response {
    with_security_headers(response)
}
