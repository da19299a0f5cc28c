//! Roles of the basic-auth app (RBAC) under `/api/3.0/mlflow/roles/*` and
//! `/api/3.0/mlflow/users/roles/list`, in the request and response shapes of MLflow 3.18:
//! roles with their permission rows, rows added, changed and removed, and users assigned.
//! Who may call each route (admins, workspace admins, role holders) is decided before the
//! handler by `auth/rules.rs`; these handlers check the input and do the work. Only the
//! `default` workspace exists (`ferroflow_core::roles`).

use super::auth::{caller, enabled};
use crate::auth::middleware::admin_workspaces;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ferroflow_core::roles::{self, Role, RoleAssignment, RolePermission};
use ferroflow_core::{validation, Error};
use ferroflow_proto::auth as wire;

pub(super) fn role_out(role: &Role) -> wire::Role {
    wire::Role {
        id: role.id,
        name: role.name.clone(),
        workspace: role.workspace.clone(),
        description: role.description.clone(),
        permissions: role.permissions.iter().map(permission_out).collect(),
    }
}

fn permission_out(row: &RolePermission) -> wire::RolePermission {
    wire::RolePermission {
        id: row.id,
        role_id: row.role_id,
        resource_type: row.resource_type.clone(),
        resource_pattern: row.resource_pattern.clone(),
        permission: row.permission.as_str().into(),
    }
}

fn assignment_out(assignment: &RoleAssignment) -> wire::RoleAssignment {
    wire::RoleAssignment { id: assignment.id, user_id: assignment.user_id, role_id: assignment.role_id }
}

/// A parameter that must be there (an empty text is there: its own checks refuse it).
fn required<T>(name: &str, value: Option<T>) -> Result<T, Error> {
    value.ok_or_else(|| {
        Error::invalid(format!(
            "Missing value for required parameter '{name}'. See the API docs for more information about request \
             parameters."
        ))
    })
}

pub async fn create_role(State(state): State<AppState>, Rpc(request): Rpc<wire::CreateRole>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let name = required("name", request.name)?;
    let workspace = required("workspace", request.workspace)?;
    if name.trim().is_empty() {
        return Err(Error::invalid("Role name cannot be empty.").into());
    }
    roles::validate_workspace(&workspace)?;
    roles::validate_role_name(&name)?;
    roles::validate_role_description(request.description.as_deref())?;
    let role = auth.store.create_role(&name, &workspace, request.description.as_deref()).await?;
    Ok(Json(wire::RoleResponse { role: role_out(&role) }).into_response())
}

pub async fn get_role(State(state): State<AppState>, Rpc(request): Rpc<wire::RoleRef>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let role = auth.store.get_role(required("role_id", request.role_id)?).await?;
    Ok(Json(wire::RoleResponse { role: role_out(&role) }).into_response())
}

pub async fn list_roles(State(state): State<AppState>, Rpc(request): Rpc<wire::ListRoles>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    if request.workspace.iter().any(|w| w.trim().is_empty()) {
        return Err(Error::invalid("Parameter 'workspace' must be a non-empty string when provided.").into());
    }
    // No workspace: every role (admins only, by the rule); else those of the workspaces named.
    let scope = (!request.workspace.is_empty()).then_some(request.workspace.as_slice());
    let roles = auth.store.list_roles(scope).await?;
    Ok(Json(wire::ListRolesResponse { roles: roles.iter().map(role_out).collect() }).into_response())
}

pub async fn update_role(State(state): State<AppState>, Rpc(request): Rpc<wire::UpdateRole>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let role_id = required("role_id", request.role_id)?;
    if request.name.is_none() && request.description.is_none() {
        return Err(Error::invalid("At least one of 'name' or 'description' must be provided to update a role.").into());
    }
    if let Some(name) = &request.name {
        roles::validate_role_name(name)?;
    }
    roles::validate_role_description(request.description.as_deref())?;
    let role = auth.store.update_role(role_id, request.name.as_deref(), request.description.as_deref()).await?;
    Ok(Json(wire::RoleResponse { role: role_out(&role) }).into_response())
}

pub async fn delete_role(State(state): State<AppState>, Rpc(request): Rpc<wire::RoleRef>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    auth.store.delete_role(required("role_id", request.role_id)?).await?;
    Ok(Json(wire::Empty {}).into_response())
}

pub async fn add_permission(
    State(state): State<AppState>,
    Rpc(request): Rpc<wire::AddRolePermission>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let role_id = required("role_id", request.role_id)?;
    let resource_type = validation::required("resource_type", request.resource_type.as_deref())?;
    let pattern = validation::required("resource_pattern", request.resource_pattern.as_deref())?;
    let permission = validation::required("permission", request.permission.as_deref())?;
    let (pattern, level) = roles::new_role_permission(resource_type, pattern, permission)?;
    let row = auth.store.add_role_permission(role_id, resource_type, &pattern, level).await?;
    Ok(Json(wire::RolePermissionResponse { role_permission: permission_out(&row) }).into_response())
}

pub async fn remove_permission(
    State(state): State<AppState>,
    Rpc(request): Rpc<wire::RolePermissionRef>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    auth.store.remove_role_permission(required("role_permission_id", request.role_permission_id)?).await?;
    Ok(Json(wire::Empty {}).into_response())
}

pub async fn list_permissions(State(state): State<AppState>, Rpc(request): Rpc<wire::RoleRef>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let role = auth.store.get_role(required("role_id", request.role_id)?).await?;
    Ok(Json(wire::ListRolePermissionsResponse {
        role_permissions: role.permissions.iter().map(permission_out).collect(),
    })
    .into_response())
}

pub async fn update_permission(
    State(state): State<AppState>,
    Rpc(request): Rpc<wire::RolePermissionRef>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let id = required("role_permission_id", request.role_permission_id)?;
    let permission = validation::required("permission", request.permission.as_deref())?;
    // The row first (404), then whether the level suits its type (400), as the reference.
    let row = auth.store.get_role_permission(id).await?;
    let level = roles::role_permission_level(&row.resource_type, permission)?;
    let row = auth.store.update_role_permission(id, level).await?;
    Ok(Json(wire::RolePermissionResponse { role_permission: permission_out(&row) }).into_response())
}

pub async fn assign(State(state): State<AppState>, Rpc(request): Rpc<wire::RoleAssignmentRef>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let username = validation::required("username", request.username.as_deref())?;
    let role_id = required("role_id", request.role_id)?;
    let user = auth.store.get_user(username).await?;
    let assignment = auth.store.assign_role(user.id, role_id).await?;
    Ok(Json(wire::RoleAssignmentResponse { assignment: assignment_out(&assignment) }).into_response())
}

pub async fn unassign(
    State(state): State<AppState>,
    Rpc(request): Rpc<wire::RoleAssignmentRef>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let username = validation::required("username", request.username.as_deref())?;
    let role_id = required("role_id", request.role_id)?;
    let user = auth.store.get_user(username).await?;
    auth.store.unassign_role(user.id, role_id).await?;
    Ok(Json(wire::Empty {}).into_response())
}

pub async fn list_user_roles(
    State(state): State<AppState>,
    me: Option<Extension<Caller>>,
    Rpc(request): Rpc<wire::UserRef>,
) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let caller = caller(me)?;
    let username = validation::required("username", request.username.as_deref())?;
    let user = auth.store.get_user(username).await?;
    let mut roles = auth.store.list_user_roles(user.id).await?;
    // Admins and the user see every role; a workspace admin those of their workspaces.
    if !caller.is_admin && caller.username != username {
        let administered = admin_workspaces(&auth, caller.id).await?;
        roles.retain(|role| administered.contains(&role.workspace));
    }
    Ok(Json(wire::ListRolesResponse { roles: roles.iter().map(role_out).collect() }).into_response())
}

pub async fn list_role_users(State(state): State<AppState>, Rpc(request): Rpc<wire::RoleRef>) -> ApiResult<Response> {
    let auth = enabled(&state)?;
    let assignments = auth.store.list_role_users(required("role_id", request.role_id)?).await?;
    Ok(Json(wire::ListRoleUsersResponse { assignments: assignments.iter().map(assignment_out).collect() })
        .into_response())
}
