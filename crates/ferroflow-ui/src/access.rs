//! Who is looking at a page, and what they may see. With sign-in on, the server's auth layer
//! puts an [`Access`] on every request it lets through; [`gate`] checks it before any page
//! that belongs to one experiment, run, prompt or model runs (READ to look, EDIT to post a
//! form, which must also carry the user's CSRF token), and list pages leave out what the user
//! may not read. Without an `Access` (sign-in off) everything is shown.

use crate::layout::UiError;
use crate::Ui;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferroflow_core::auth::Need;
use ferroflow_core::ids::RunId;
use ferroflow_core::store::Access;
use ferroflow_core::{Error, ErrorCode, Result};
use std::convert::Infallible;

/// The request's [`Access`], if sign-in is on.
#[derive(Clone, Debug)]
pub struct Viewer(pub Option<Access>);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> std::result::Result<Self, Infallible> {
        Ok(Viewer(parts.extensions.get::<Access>().cloned()))
    }
}

impl Viewer {
    pub async fn can_read_experiment(&self, experiment_id: &str) -> Result<bool> {
        Ok(match &self.0 {
            Some(access) => access.experiment(experiment_id).await?.can_read(),
            None => true,
        })
    }

    pub async fn can_edit_experiment(&self, experiment_id: &str) -> Result<bool> {
        Ok(match &self.0 {
            Some(access) => access.experiment(experiment_id).await?.allows(Need::Update),
            None => true,
        })
    }

    /// The signed-in user's name.
    pub fn username(&self) -> Option<&str> {
        self.0.as_ref().map(|access| access.user.username.as_str())
    }

    pub async fn can_read_model(&self, name: &str) -> Result<bool> {
        Ok(match &self.0 {
            Some(access) => access.model(name).await?.can_read(),
            None => true,
        })
    }

    /// The token this user's forms carry (`csrf`), when sign-in is on.
    pub fn csrf_token(&self) -> Option<&str> {
        self.0.as_ref().map(|access| access.csrf_token.as_str())
    }

    /// Refuses a posted form whose `csrf` field is not this user's token.
    pub fn check_csrf(&self, sent: &str) -> Result<()> {
        match self.csrf_token() {
            Some(token) if !constant_time_eq(token.as_bytes(), sent.as_bytes()) => Err(Error::new(
                ErrorCode::PermissionDenied,
                "This form has expired or did not come from this site; reload the page and try again.",
            )),
            _ => Ok(()),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn forbidden() -> Error {
    Error::new(ErrorCode::PermissionDenied, "You do not have permission to see this page.")
}

/// The page routes' gate (a `route_layer`, so the route and its parameters are known).
pub async fn gate(State(ui): State<Ui>, params: RawPathParams, request: Request, next: Next) -> Response {
    let Some(access) = request.extensions().get::<Access>().cloned() else { return next.run(request).await };
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let template = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let read = request.method() == Method::GET || request.method() == Method::HEAD;
    match allowed(&ui, &access, &params, &template, if read { Need::Read } else { Need::Update }).await {
        Ok(true) => next.run(request).await,
        Ok(false) => UiError::new(&ui, forbidden()).into_response(),
        Err(error) => UiError::new(&ui, error).into_response(),
    }
}

async fn allowed(ui: &Ui, access: &Access, params: &[(String, String)], template: &str, need: Need) -> Result<bool> {
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(experiment) = param("experiment_id") {
        return Ok(access.experiment(&experiment).await?.allows(need));
    }
    if let Some(run) = param("run_id") {
        // `/runs/{run_id}`: the run's experiment decides; an unknown run is the page's 404.
        let Ok(run_id) = RunId::parse(&run) else { return Ok(true) };
        return match ui.store.get_run(&run_id).await {
            Ok(run) => Ok(access.experiment(&run.info.experiment_id.to_string()).await?.allows(need)),
            Err(error) if error.is_not_found() => Ok(true),
            Err(error) => Err(error),
        };
    }
    if template.contains("/prompts/{name}") || template.contains("/models/{name}") {
        if let Some(name) = param("name") {
            return Ok(access.model(&name).await?.allows(need));
        }
    }
    Ok(true)
}
