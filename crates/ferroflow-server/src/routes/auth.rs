//! The users API of MLflow's basic-auth app (`/api/2.0/mlflow/users/*`, per-user permissions
//! under `/api/3.0/mlflow/users/permissions/*`) and ferroflow's API tokens
//! (`/api/3.0/mlflow/users/tokens/*`). Who may call each route is in `auth/rules.rs`; these
//! handlers only do the work. Without `--app-name basic-auth` the routes do not exist (404).

use super::roles::role_out;
use crate::auth::middleware::{admin_workspaces, resource_permission, unsupported_by_user_permission_api};
use crate::auth::{hash_password, new_token_secret, token_hash, Auth, Caller};
use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, Request};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ferroflow_core::auth::{validate_new_user, validate_password, Permission, ResourceType, User};
use ferroflow_core::roles::{DEFAULT_WORKSPACE, RESERVED_ROLE_PREFIX};
use ferroflow_core::{validation, Error, ErrorCode};
use ferroflow_proto::auth as wire;
use std::sync::Arc;

pub(super) fn user_out(user: &User) -> wire::User {
    wire::User { id: user.id, username: user.username.clone(), is_admin: user.is_admin }
}

/// The auth app; a server without one answers these routes as unknown ones.
pub(super) fn enabled(state: &AppState) -> Result<Arc<Auth>, Error> {
    state
        .auth
        .clone()
        .ok_or_else(|| Error::new(ErrorCode::EndpointNotFound, "Authentication is not enabled on this server."))
}

/// The signed-in caller the auth layer put on the request.
pub(super) fn caller(extension: Option<Extension<Caller>>) -> Result<User, Error> {
    extension.map(|Extension(Caller(user))| user).ok_or_else(|| Error::internal("no caller on an authenticated route"))
}

pub async fn create_user(State(state): State<AppState>, request: Request<axum::body::Body>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    // MLflow answers a form post here with a plain 400, not an RPC error.
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    if !is_json {
        return Ok(
            (axum::http::StatusCode::BAD_REQUEST, "Invalid content type. Must be application/json").into_response()
        );
    }
    let Rpc(body) = <Rpc<wire::UserPassword> as axum::extract::FromRequest<()>>::from_request(request, &()).await?;
    let username = body.username.unwrap_or_default();
    let password = body.password.unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        return Ok((axum::http::StatusCode::BAD_REQUEST, "Username and password cannot be empty.").into_response());
    }
    validate_new_user(&username, &password)?;
    let hash = hash_password(password).await?;
    let user = auth.store.create_user(&username, &hash, false).await?;
    Ok(Json(wire::UserResponse { user: user_out(&user) }).into_response())
}

pub async fn get_user(State(state): State<AppState>, Rpc(request): Rpc<wire::UserRef>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let username = validation::required("username", request.username.as_deref())?;
    let user = auth.store.get_user(username).await?;
    Ok(Json(wire::UserResponse { user: user_out(&user) }).into_response())
}

pub async fn current_user(State(state): State<AppState>, me: Option<Extension<Caller>>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let user = caller(me)?;
    // Fresh from the store: the admin flag may have changed since the credentials were read.
    let user = auth.store.get_user(&user.username).await?;
    Ok(Json(wire::CurrentUserResponse { user: user_out(&user), is_basic_auth: true }).into_response())
}

pub async fn list_users(State(state): State<AppState>, me: Option<Extension<Caller>>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let caller = caller(me)?;
    // Each user's roles as the caller may see them: all for admins and for one's own row,
    // else those in workspaces the caller administers.
    let administered = if caller.is_admin { Vec::new() } else { admin_workspaces(&auth, caller.id).await? };
    let mut users = Vec::new();
    for user in auth.store.list_users().await? {
        let roles = auth.store.list_user_roles(user.id).await?;
        let roles = roles
            .iter()
            .filter(|role| caller.is_admin || user.id == caller.id || administered.contains(&role.workspace))
            .map(role_out)
            .collect();
        users.push(wire::ListedUser { id: user.id, username: user.username, is_admin: user.is_admin, roles });
    }
    Ok(Json(wire::ListUsersResponse { users }).into_response())
}

pub async fn update_password(
    State(state): State<AppState>,
    me: Option<Extension<Caller>>,
    Rpc(request): Rpc<wire::UserPassword>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let caller = caller(me)?;
    let username = validation::required("username", request.username.as_deref())?;
    let password = validation::required("password", request.password.as_deref())?;
    let user = auth.store.get_user(username).await?;
    // Changing one's own password asks for the current one, so that a borrowed session
    // cannot lock its owner out; an admin resetting someone else's does not.
    if caller.username == username {
        let current = request
            .current_password
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::invalid("Current password is required when changing your own password."))?;
        if !auth.password_matches(&user, current).await? {
            return Err(Error::invalid("Current password does not match.").into());
        }
        if password == current {
            return Err(Error::invalid("New password must differ from the current password.").into());
        }
    }
    validate_password(password)?;
    let hash = hash_password(password.to_string()).await?;
    auth.store.update_user_password(username, &hash).await?;
    Ok(Json(wire::Empty {}).into_response())
}

pub async fn update_admin(
    State(state): State<AppState>,
    Rpc(request): Rpc<wire::UpdateUserAdmin>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let username = validation::required("username", request.username.as_deref())?;
    let is_admin =
        request.is_admin.ok_or_else(|| Error::invalid("Missing value for required parameter 'is_admin'."))?;
    auth.store.update_user_admin(username, is_admin).await?;
    Ok(Json(wire::Empty {}).into_response())
}

pub async fn delete_user(
    State(state): State<AppState>,
    me: Option<Extension<Caller>>,
    Rpc(request): Rpc<wire::UserRef>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let caller = caller(me)?;
    let username = validation::required("username", request.username.as_deref())?;
    if username == caller.username {
        return Err(Error::bad_request(
            "Users cannot delete their own account. Ask another admin to delete this user instead.",
        )
        .into());
    }
    auth.store.delete_user(username).await?;
    Ok(Json(wire::Empty {}).into_response())
}

/// `(user, resource type, resource id)` of a per-user permission request.
async fn target(auth: &Auth, request: &wire::UserResourcePermission) -> Result<(User, ResourceType, String), Error> {
    let username = validation::required("username", request.username.as_deref())?;
    let kind = validation::required("resource_type", request.resource_type.as_deref())?;
    let resource_id = validation::required("resource_id", request.resource_id.as_deref())?;
    let resource_type = ResourceType::parse(kind)?;
    let user = auth.store.get_user(username).await?;
    Ok((user, resource_type, resource_id.to_string()))
}

pub async fn grant_permission(
    State(state): State<AppState>,
    Rpc(request): Rpc<wire::UserResourcePermission>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let (user, resource_type, resource_id) = target(&auth, &request).await?;
    let permission = Permission::parse(validation::required("permission", request.permission.as_deref())?)?;
    // A grant is made once; changing it is a revoke and a new grant, as in MLflow.
    if auth.store.get_grant(user.id, resource_type, &resource_id).await?.is_some() {
        return Err(Error::already_exists(format!(
            "Permission for user={} on resource_type={}, resource_id={resource_id} already exists.",
            user.username,
            resource_type.as_str()
        ))
        .into());
    }
    auth.store.grant(user.id, resource_type, &resource_id, permission).await?;
    Ok(Json(wire::Empty {}).into_response())
}

pub async fn revoke_permission(
    State(state): State<AppState>,
    Rpc(request): Rpc<wire::UserResourcePermission>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let (user, resource_type, resource_id) = target(&auth, &request).await?;
    auth.store.revoke(user.id, resource_type, &resource_id).await.map_err(|error| {
        if error.is_not_found() {
            Error::not_found(format!(
                "Permission for user={} on resource_type={}, resource_id={resource_id} not found.",
                user.username,
                resource_type.as_str()
            ))
        } else {
            error
        }
    })?;
    Ok(Json(wire::Empty {}).into_response())
}

pub async fn get_permission(
    State(state): State<AppState>,
    Rpc(request): Rpc<wire::UserResourcePermission>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let (user, resource_type, resource_id) = target(&auth, &request).await?;
    if resource_type == ResourceType::Prompt {
        return Err(unsupported_by_user_permission_api(resource_type).into());
    }
    let permission = resource_permission(&auth, &user, resource_type, &resource_id).await?;
    // `allowed` is the regular access tier (USE), as MLflow answers it.
    Ok(Json(wire::GetUserPermissionResponse { allowed: permission.can_use(), permission: permission.as_str().into() })
        .into_response())
}

async fn permission_rows(auth: &Auth, user: &User) -> Result<wire::ListUserPermissionsResponse, Error> {
    let grants = auth.store.list_grants(user.id).await?;
    // Direct grants appear as the rows of the user's own role (`__user_<id>__`, which is not
    // a stored role here: id 0), then the rows of each role the user holds, as MLflow lists them.
    let mut permissions: Vec<wire::PermissionRow> = grants
        .into_iter()
        .map(|grant| wire::PermissionRow {
            role_id: 0,
            role_name: format!("{RESERVED_ROLE_PREFIX}{}__", user.id),
            workspace: DEFAULT_WORKSPACE.into(),
            resource_type: grant.resource_type.as_str().into(),
            resource_pattern: grant.resource_id,
            permission: grant.permission.as_str().into(),
        })
        .collect();
    for role in auth.store.list_user_roles(user.id).await? {
        permissions.extend(role.permissions.into_iter().map(|row| wire::PermissionRow {
            role_id: role.id,
            role_name: role.name.clone(),
            workspace: role.workspace.clone(),
            resource_type: row.resource_type,
            resource_pattern: row.resource_pattern,
            permission: row.permission.as_str().into(),
        }));
    }
    Ok(wire::ListUserPermissionsResponse { is_admin: user.is_admin, permissions })
}

pub async fn list_permissions(State(state): State<AppState>, Rpc(request): Rpc<wire::UserRef>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let username = validation::required("username", request.username.as_deref())?;
    let user = auth.store.get_user(username).await?;
    Ok(Json(permission_rows(&auth, &user).await?).into_response())
}

pub async fn current_permissions(State(state): State<AppState>, me: Option<Extension<Caller>>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let caller = caller(me)?;
    Ok(Json(permission_rows(&auth, &caller).await?).into_response())
}

fn token_out(token: &ferroflow_core::auth::ApiToken) -> wire::Token {
    wire::Token { id: token.id, name: token.name.clone(), creation_time: token.creation_time }
}

pub async fn create_token(
    State(state): State<AppState>,
    me: Option<Extension<Caller>>,
    Rpc(request): Rpc<wire::CreateToken>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let caller = caller(me)?;
    let name = request.name.unwrap_or_default();
    if name.chars().count() > 255 {
        return Err(Error::invalid("Token name must be at most 255 characters long.").into());
    }
    let secret = new_token_secret();
    let token = auth.store.create_token(caller.id, &name, &token_hash(&secret)).await?;
    Ok(Json(wire::CreateTokenResponse { token: token_out(&token), secret }).into_response())
}

pub async fn list_tokens(State(state): State<AppState>, me: Option<Extension<Caller>>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let caller = caller(me)?;
    let tokens = auth.store.list_tokens(caller.id).await?;
    Ok(Json(wire::ListTokensResponse { tokens: tokens.iter().map(token_out).collect() }).into_response())
}

pub async fn revoke_token(
    State(state): State<AppState>,
    me: Option<Extension<Caller>>,
    Rpc(request): Rpc<wire::RevokeToken>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let caller = caller(me)?;
    let token_id =
        request.token_id.ok_or_else(|| Error::invalid("Missing value for required parameter 'token_id'."))?;
    auth.store.revoke_token(caller.id, token_id).await?;
    Ok(Json(wire::Empty {}).into_response())
}
