//! The auth layer in front of every route: authenticate (HTTP Basic, or an API token as
//! `Bearer`), then check the route's [`Rule`](super::rules::Rule) before the handler runs, and
//! afterwards give creators MANAGE on what they made and leave out of search answers what the
//! caller may not read (where MLflow filters silently rather than refusing).

use super::rules::{self, Api, Locate, Matched, Rule};
use super::{Auth, Caller, SESSION_COOKIE};
use crate::error::ApiError;
use crate::extract::{query_to_json, MAX_RPC_BODY};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ferroflow_core::auth::{Permission, ResourceType, User};
use ferroflow_core::ids::{ExperimentId, RunId, TraceId};
use ferroflow_core::roles::RolePermission;
use ferroflow_core::store::permission_on;
use ferroflow_core::{Error, Result};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;

/// The peer's address, put on each request by `serve` (failed logins are counted per address).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// 401 with the Basic challenge, as MLflow's auth app answers missing or wrong credentials.
fn unauthenticated() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "You are not authenticated. Please provide a username and password (HTTP Basic) or an API token (Bearer).",
    )
        .into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"mlflow\""));
    response
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "Permission denied").into_response()
}

pub(crate) async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(auth) = state.auth.clone() else { return next.run(request).await };
    match guard(&state, &auth, request, next).await {
        Ok(response) => response,
        Err(error) => ApiError(error).into_response(),
    }
}

async fn guard(state: &AppState, auth: &Arc<Auth>, request: Request, next: Next) -> Result<Response> {
    let path = request.uri().path();
    let path = match &state.config.static_prefix {
        Some(prefix) => path.strip_prefix(prefix.as_str()).unwrap_or(path),
        None => path,
    };
    let matched = rules::find(request.method().as_str(), path);
    // CORS preflights carry no credentials; the security layer answers them. The UI's
    // stylesheet and script are the same for everyone (and the sign-in page needs them).
    let asset = matched.is_none() && path.starts_with("/static/");
    if request.method() == Method::OPTIONS || asset || matches!(matched, Some(Matched { rule: Rule::Public, .. })) {
        return Ok(next.run(request).await);
    }
    let peer = request.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    let reading = request.method() == Method::GET || request.method() == Method::HEAD;
    let mut session = None;
    let user = match request.headers().get(header::AUTHORIZATION) {
        Some(value) => authenticate(auth, value.to_str().ok(), peer).await?,
        None => match cookie(request.headers(), SESSION_COOKIE) {
            // The web UI's session signs in its pages (forms carry a CSRF token) and the API
            // reads they link to, never API writes: those need credentials of their own.
            Some(secret) if reading || matched.as_ref().is_none_or(|m| m.template == "/logout") => {
                let user = auth.session_user(&secret).await?;
                session = user.is_some().then_some(secret);
                user
            }
            _ => None,
        },
    };
    let Some(user) = user else {
        // A browser asking for a UI page goes to the sign-in page instead of a Basic prompt.
        if matched.is_none() && reading && wants_html(request.headers()) {
            return Ok(to_login(state, request.uri()));
        }
        return Ok(unauthenticated());
    };
    // Not an API route: a web UI page (which asks the `Access` what to show) or an unknown
    // route (the router's 404).
    let Some(matched) = matched else {
        let mut request = request;
        request.extensions_mut().insert(auth.access(user, session.as_deref()));
        return Ok(next.run(request).await);
    };
    let (mut request, params) = read_params(request, &matched).await?;
    if !user.is_admin && !allowed(state, auth, &user, &matched, &params, request.headers()).await? {
        return Ok(forbidden());
    }
    request.extensions_mut().insert(Caller(user.clone()));
    request.extensions_mut().insert(auth.access(user.clone(), session.as_deref()));
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    after(auth, &user, &matched, &params, response).await
}

/// The value of one cookie of the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name && !value.is_empty()).then(|| value.to_string())
    })
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// 303 to the sign-in page, which comes back to `uri` afterwards.
fn to_login(state: &AppState, uri: &axum::http::Uri) -> Response {
    let prefix = state.config.static_prefix.as_deref().unwrap_or("");
    let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    axum::response::Redirect::to(&format!("{prefix}/login?next={next}")).into_response()
}

/// The caller, from `Authorization: Basic …` or `Authorization: Bearer <token>`; `None` when
/// the credentials are missing or wrong.
pub(crate) async fn authenticate(
    auth: &Auth,
    value: Option<&str>,
    peer: Option<std::net::IpAddr>,
) -> Result<Option<User>> {
    let Some(value) = value else { return Ok(None) };
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) else { return Ok(None) };
        let Ok(decoded) = String::from_utf8(decoded) else { return Ok(None) };
        let Some((username, password)) = decoded.split_once(':') else { return Ok(None) };
        auth.login(username, password, peer).await
    } else if scheme.eq_ignore_ascii_case("bearer") {
        auth.token_user(credentials).await
    } else {
        Ok(None)
    }
}

/// The request's parameters (query string, and the JSON body of a non-GET RPC, which is put
/// back for the handler). Artifact uploads and OTLP bodies are streams and are not read.
async fn read_params(request: Request, matched: &Matched) -> Result<(Request, Map<String, Value>)> {
    let mut params = match query_to_json(request.uri().query().unwrap_or("")) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let streamed = matched.api == Api::Artifacts || matched.template == "/v1/traces";
    if request.method() == Method::GET || streamed {
        return Ok((request, params));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_RPC_BODY)
        .await
        .map_err(|e| Error::bad_request(format!("Could not read the request body: {e}")))?;
    // A body that is not a JSON object is the handler's to refuse, with its own message.
    if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&bytes) {
        for (key, value) in body {
            params.insert(key, value);
        }
    }
    Ok((Request::from_parts(parts, Body::from(bytes)), params))
}

/// A parameter by its snake_case name or its lowerCamelCase spelling.
fn param<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    params.get(name).or_else(|| {
        let mut camel = String::new();
        let mut upper = false;
        for c in name.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                camel.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                camel.push(c);
            }
        }
        params.get(&camel)
    })
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn texts(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
        Some(value) => text(value).into_iter().collect(),
        None => Vec::new(),
    }
}

fn path_param(matched: &Matched, name: &str) -> Option<String> {
    matched.path_params.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone())
}

/// The caller's permission on an experiment.
pub(crate) async fn experiment_permission(auth: &Auth, user: &User, experiment_id: &str) -> Result<Permission> {
    resource_permission(auth, user, ResourceType::Experiment, experiment_id).await
}

/// The caller's permission on a registered model or prompt (a grant of either kind counts).
pub(crate) async fn model_permission(auth: &Auth, user: &User, name: &str) -> Result<Permission> {
    resource_permission(auth, user, ResourceType::RegisteredModel, name).await
}

/// The caller's permission on any resource a grant can name.
pub(crate) async fn resource_permission(
    auth: &Auth,
    user: &User,
    resource_type: ResourceType,
    resource_id: &str,
) -> Result<Permission> {
    permission_on(&*auth.store, user, auth.settings.default_permission, resource_type, resource_id).await
}

/// Swallows "no such thing": the handler answers it with its own 404 (and a malformed id
/// with its own 400), as when the check passes.
fn found<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_not_found() || error.code == ferroflow_core::ErrorCode::InvalidParameterValue => {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The experiments a request acts on; `None` when there is nothing to check (the handler
/// will refuse the request itself), `Some(empty)` when the rule needs some and none are named.
async fn experiments_of(
    state: &AppState,
    matched: &Matched,
    locate: Locate,
    params: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<Option<Vec<String>>> {
    let store = &state.store;
    Ok(match locate {
        Locate::Id(name) | Locate::OptionalId(name) => param(params, name).and_then(text).map(|id| vec![id]),
        Locate::Name => match param(params, "experiment_name").and_then(text) {
            Some(name) => found(store.get_experiment_by_name(&name).await)?.map(|e| vec![e.experiment_id.to_string()]),
            None => None,
        },
        Locate::Each(name) => Some(texts(param(params, name))),
        Locate::Run => {
            let id = param(params, "run_id").and_then(text).or_else(|| param(params, "run_uuid").and_then(text));
            match id.map(|id| RunId::parse(&id)) {
                Some(Ok(run_id)) => {
                    found(store.get_run(&run_id).await)?.map(|run| vec![run.info.experiment_id.to_string()])
                }
                _ => None,
            }
        }
        Locate::Trace(name) => {
            let id = path_param(matched, name).or_else(|| param(params, name).and_then(text));
            match id.map(|id| TraceId::parse(&id)) {
                Some(Ok(trace_id)) => {
                    found(store.get_trace_info(&trace_id).await)?.map(|info| vec![info.experiment_id.to_string()])
                }
                _ => None,
            }
        }
        Locate::Traces(name) => {
            let ids = texts(param(params, name));
            match TraceId::parse_all(&ids) {
                Ok(trace_ids) if !trace_ids.is_empty() => found(store.get_trace_infos(&trace_ids).await)?
                    .map(|infos| infos.iter().map(|info| info.experiment_id.to_string()).collect()),
                _ => None,
            }
        }
        Locate::NewTrace => {
            let location = &params.get("trace").and_then(|t| t.get("trace_info")).and_then(|i| i.get("trace_location"));
            location
                .and_then(|l| l.get("mlflow_experiment"))
                .and_then(|m| m.get("experiment_id"))
                .and_then(text)
                .map(|id| vec![id])
        }
        Locate::TraceLocations => {
            let mut ids = texts(param(params, "experiment_ids"));
            if let Some(Value::Array(locations)) = param(params, "locations") {
                ids.extend(
                    locations
                        .iter()
                        .filter_map(|l| l.get("mlflow_experiment").and_then(|m| m.get("experiment_id")).and_then(text)),
                );
            }
            // A GET carries the locations as JSON text in the query string.
            if let Some(Value::String(json)) = param(params, "locations") {
                if let Ok(Value::Array(locations)) = serde_json::from_str::<Value>(json) {
                    ids.extend(locations.iter().filter_map(|l| {
                        l.get("mlflow_experiment").and_then(|m| m.get("experiment_id")).and_then(text)
                    }));
                }
            }
            Some(ids)
        }
        Locate::LoggedModel => match path_param(matched, "model_id") {
            Some(id) => found(store.get_logged_model(&id, true).await)?.map(|m| vec![m.experiment_id.to_string()]),
            None => None,
        },
        Locate::Issue => match path_param(matched, "issue_id") {
            Some(id) => found(store.get_issue(&id).await)?.map(|issue| vec![issue.experiment_id.to_string()]),
            None => None,
        },
        Locate::Dataset | Locate::DatasetAndEach(_) => {
            let Some(id) = path_param(matched, "dataset_id") else { return Ok(None) };
            let Some(own) = found(store.get_dataset_experiment_ids(&id).await)? else { return Ok(None) };
            let mut ids: Vec<String> = own.iter().map(ExperimentId::to_string).collect();
            if ids.is_empty() {
                return Ok(Some(ids));
            }
            if let Locate::DatasetAndEach(name) = locate {
                let added = texts(param(params, name));
                if added.is_empty() {
                    return Ok(Some(Vec::new()));
                }
                ids.extend(added);
            }
            Some(ids)
        }
        Locate::ArtifactPath => {
            let path = path_param(matched, "path").or_else(|| param(params, "path").and_then(text)).unwrap_or_default();
            let first = path.trim_start_matches('/').split('/').next().unwrap_or("").to_string();
            // Proxied artifacts live under `<experiment_id>/…`; anything else has no owner to ask.
            Some(if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) { vec![first] } else { Vec::new() })
        }
        Locate::Header => headers
            .get("x-mlflow-experiment-id")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|id| vec![id]),
    })
}

/// MLflow answers per-user permission requests on prompts this way (prompt grants are made
/// by admins, or by creating the prompt).
pub(crate) fn unsupported_by_user_permission_api(resource_type: ResourceType) -> Error {
    Error::invalid(format!(
        "resource_type '{}' is not supported by the per-user permission convenience APIs.",
        resource_type.as_str()
    ))
}

/// Whether a non-admin caller may make this request.
async fn allowed(
    state: &AppState,
    auth: &Auth,
    user: &User,
    matched: &Matched,
    params: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<bool> {
    Ok(match matched.rule {
        Rule::Public | Rule::Authenticated => true,
        Rule::Admin => false,
        Rule::SelfOrAdmin => param(params, "username").and_then(text).is_some_and(|name| name == user.username),
        Rule::Experiment(need, locate) => match experiments_of(state, matched, locate, params, headers).await? {
            None => true,
            Some(ids) if ids.is_empty() => false,
            Some(ids) => {
                for id in ids {
                    if !experiment_permission(auth, user, &id).await?.allows(need) {
                        return Ok(false);
                    }
                }
                true
            }
        },
        Rule::RegisteredModel(need) => match param(params, "name").and_then(text) {
            Some(name) => model_permission(auth, user, &name).await?.allows(need),
            None => true,
        },
        Rule::ManageResource => {
            let kind = param(params, "resource_type").and_then(text).unwrap_or_default();
            let id = param(params, "resource_id").and_then(text).unwrap_or_default();
            let resource_type = ResourceType::parse(&kind)?;
            if resource_type == ResourceType::Prompt {
                return Err(unsupported_by_user_permission_api(resource_type));
            }
            // A wildcard grant belongs to no resource: only admins make one.
            id != "*" && resource_permission(auth, user, resource_type, &id).await?.can_manage()
        }
        Rule::ManageRoles => match role_workspace(auth, params).await? {
            Some(workspace) => admin_workspaces(auth, user.id).await?.contains(&workspace),
            None => false,
        },
        Rule::ViewRoles => match role_workspace(auth, params).await? {
            Some(workspace) => role_workspaces(auth, user.id).await?.contains(&workspace),
            None => false,
        },
        Rule::ListRoles => {
            let asked: Vec<String> =
                texts(param(params, "workspace")).into_iter().filter(|w| !w.trim().is_empty()).collect();
            let held = role_workspaces(auth, user.id).await?;
            !asked.is_empty() && asked.iter().all(|w| held.contains(w))
        }
        Rule::ViewUserRoles => match param(params, "username").and_then(text) {
            Some(name) if name == user.username => true,
            Some(name) => match found(auth.store.get_user(&name).await)? {
                Some(target) => {
                    let administered = admin_workspaces(auth, user.id).await?;
                    role_workspaces(auth, target.id).await?.iter().any(|w| administered.contains(w))
                }
                None => false,
            },
            None => false,
        },
    })
}

/// An integer parameter of a role request; a malformed one is a 400 before anything is looked
/// up (so the answer does not tell whether some other id exists).
fn int_param(params: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    let Some(value) = param(params, name) else { return Ok(None) };
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| Error::invalid(format!("Parameter '{name}' must be an integer. Got: {value}")))
}

/// The workspace a role request acts in, from every identifier it carries (`role_id`,
/// `role_permission_id`, `workspace`); `None` (refused) when one names nothing or they
/// disagree, so that a caller cannot act in one workspace while authorized in another.
async fn role_workspace(auth: &Auth, params: &Map<String, Value>) -> Result<Option<String>> {
    let role_permission_id = int_param(params, "role_permission_id")?;
    let role_id = int_param(params, "role_id")?;
    let workspace = match param(params, "workspace") {
        None => None,
        Some(Value::String(w)) if !w.trim().is_empty() => Some(w.clone()),
        Some(_) => return Err(Error::invalid("Parameter 'workspace' must be a non-empty string.")),
    };
    if role_permission_id.is_none() && role_id.is_none() && workspace.is_none() {
        return Err(Error::invalid("Request must include one of: role_id, role_permission_id, workspace."));
    }
    let mut role_ids: Vec<i64> = role_id.into_iter().collect();
    if let Some(id) = role_permission_id {
        match found(auth.store.get_role_permission(id).await)? {
            Some(row) => role_ids.push(row.role_id),
            None => return Ok(None),
        }
    }
    role_ids.sort_unstable();
    role_ids.dedup();
    let mut workspaces: Vec<String> = workspace.into_iter().collect();
    for id in role_ids {
        match found(auth.store.get_role(id).await)? {
            Some(role) => workspaces.push(role.workspace),
            None => return Ok(None),
        }
    }
    workspaces.sort_unstable();
    workspaces.dedup();
    Ok(if workspaces.len() == 1 { workspaces.pop() } else { None })
}

/// The workspaces the user holds any role in.
async fn role_workspaces(auth: &Auth, user_id: i64) -> Result<Vec<String>> {
    Ok(auth.store.list_user_roles(user_id).await?.into_iter().map(|role| role.workspace).collect())
}

/// The workspaces the user administers (a role there with MANAGE on `(workspace, *)`).
pub(crate) async fn admin_workspaces(auth: &Auth, user_id: i64) -> Result<Vec<String>> {
    Ok(auth
        .store
        .list_user_roles(user_id)
        .await?
        .into_iter()
        .filter(|role| role.permissions.iter().any(RolePermission::makes_workspace_admin))
        .map(|role| role.workspace)
        .collect())
}

/// After a successful request: creators get MANAGE, renames carry grants along, and searches
/// lose what the caller may not read.
async fn after(
    auth: &Auth,
    user: &User,
    matched: &Matched,
    params: &Map<String, Value>,
    response: Response,
) -> Result<Response> {
    match (matched.api, matched.template) {
        (Api::V2, "/experiments/create") => {
            let (response, body) = buffered(response).await?;
            if let Some(id) = body.get("experiment_id").and_then(text) {
                auth.store.grant(user.id, ResourceType::Experiment, &id, Permission::Manage).await?;
            }
            Ok(response)
        }
        (Api::V2, "/registered-models/create") => {
            if let Some(name) = param(params, "name").and_then(text) {
                let kind = if is_prompt(params) { ResourceType::Prompt } else { ResourceType::RegisteredModel };
                auth.store.grant(user.id, kind, &name, Permission::Manage).await?;
            }
            Ok(response)
        }
        (Api::V2, "/registered-models/rename") => {
            if let (Some(old), Some(new)) =
                (param(params, "name").and_then(text), param(params, "new_name").and_then(text))
            {
                auth.store.rename_grants(ResourceType::RegisteredModel, &old, &new).await?;
                auth.store.rename_grants(ResourceType::Prompt, &old, &new).await?;
            }
            Ok(response)
        }
        (Api::V2, "/experiments/search") if !user.is_admin => {
            filter(
                response,
                "experiments",
                |item| item.get("experiment_id").and_then(text),
                |id| async move { Ok(experiment_permission(auth, user, &id).await?.can_read()) },
            )
            .await
        }
        // Runs and logged models are searched across experiments and filtered silently, as
        // MLflow does (its trace and dataset searches refuse instead).
        (Api::V2, "/runs/search") | (Api::V2, "/logged-models/search") if !user.is_admin => {
            let key = if matched.template == "/runs/search" { "runs" } else { "models" };
            filter(
                response,
                key,
                |item| item.get("info").and_then(|info| info.get("experiment_id")).and_then(text),
                |id| async move { Ok(experiment_permission(auth, user, &id).await?.can_read()) },
            )
            .await
        }
        (Api::V2, "/registered-models/search") | (Api::V2, "/model-versions/search") if !user.is_admin => {
            let key =
                if matched.template == "/registered-models/search" { "registered_models" } else { "model_versions" };
            filter(
                response,
                key,
                |item| item.get("name").and_then(text),
                |name| async move { Ok(model_permission(auth, user, &name).await?.can_read()) },
            )
            .await
        }
        _ => Ok(response),
    }
}

/// Whether a registered-model create makes a prompt (MLflow marks prompts with a tag).
fn is_prompt(params: &Map<String, Value>) -> bool {
    match params.get("tags") {
        Some(Value::Array(tags)) => tags.iter().any(|tag| {
            tag.get("key").and_then(Value::as_str) == Some("mlflow.prompt.is_prompt")
                && tag.get("value").and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case("true"))
        }),
        _ => false,
    }
}

/// Reads a response's JSON body, giving back a response with the same body.
async fn buffered(response: Response) -> Result<(Response, Value)> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| Error::internal(format!("reading a response body: {e}")))?;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((Response::from_parts(parts, Body::from(bytes)), value))
}

/// Drops the items of the list `key` that `keep` refuses (each by the id `id_of` finds).
async fn filter<F, Fut>(
    response: Response,
    key: &str,
    id_of: impl Fn(&Value) -> Option<String>,
    keep: F,
) -> Result<Response>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| Error::internal(format!("reading a response body: {e}")))?;
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(Response::from_parts(parts, Body::from(bytes)));
    };
    if let Some(Value::Array(items)) = value.get_mut(key) {
        let mut kept = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            let allowed = match id_of(&item) {
                Some(id) => keep(id).await?,
                None => false,
            };
            if allowed {
                kept.push(item);
            }
        }
        *items = kept;
    }
    let bytes = serde_json::to_vec(&value).map_err(|e| Error::internal(format!("writing a response body: {e}")))?;
    let mut response = Response::from_parts(parts, Body::from(bytes));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(response)
}
