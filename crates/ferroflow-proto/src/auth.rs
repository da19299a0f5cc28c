//! Wire shapes of the basic-auth app (users, per-user permissions, roles) as MLflow's
//! `AuthServiceClient` and 3.18's role routes send and read them, and ferroflow's API tokens.

use crate::de;
use serde::{Deserialize, Serialize};

// ---- requests ----

/// `users/create`, `users/update-password` (with `current_password` when changing one's own).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserPassword {
    pub username: Option<String>,
    pub password: Option<String>,
    pub current_password: Option<String>,
}

/// `users/get`, `users/delete`, `users/permissions/list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserRef {
    pub username: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateUserAdmin {
    pub username: Option<String>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub is_admin: Option<bool>,
}

/// `users/permissions/grant`, `revoke` (no `permission`) and `get` (no `permission`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserResourcePermission {
    pub username: Option<String>,
    pub resource_type: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub resource_id: Option<String>,
    pub permission: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateToken {
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RevokeToken {
    #[serde(deserialize_with = "de::opt_i64")]
    pub token_id: Option<i64>,
}

/// `roles/create`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateRole {
    pub name: Option<String>,
    pub workspace: Option<String>,
    pub description: Option<String>,
}

/// `roles/get`, `roles/delete`, `roles/permissions/list`, `roles/users/list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleRef {
    #[serde(deserialize_with = "de::opt_i64")]
    pub role_id: Option<i64>,
}

/// `roles/list`: `workspace` may repeat.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListRoles {
    #[serde(deserialize_with = "de::vec_or_one")]
    pub workspace: Vec<String>,
}

/// `roles/update`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateRole {
    #[serde(deserialize_with = "de::opt_i64")]
    pub role_id: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// `roles/permissions/add`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddRolePermission {
    #[serde(deserialize_with = "de::opt_i64")]
    pub role_id: Option<i64>,
    pub resource_type: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub resource_pattern: Option<String>,
    pub permission: Option<String>,
}

/// `roles/permissions/remove` (no `permission`) and `roles/permissions/update`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RolePermissionRef {
    #[serde(deserialize_with = "de::opt_i64")]
    pub role_permission_id: Option<i64>,
    pub permission: Option<String>,
}

/// `roles/assign`, `roles/unassign`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleAssignmentRef {
    pub username: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub role_id: Option<i64>,
}

// ---- responses ----

#[derive(Debug, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
}

#[derive(Debug, Serialize)]
pub struct UserResponse {
    pub user: User,
}

#[derive(Debug, Serialize)]
pub struct CurrentUserResponse {
    pub user: User,
    pub is_basic_auth: bool,
}

/// One row of `users/list`: a user and the roles they hold.
#[derive(Debug, Serialize)]
pub struct ListedUser {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
    pub roles: Vec<Role>,
}

/// A role with its permission rows (`description` is `null` when there is none).
#[derive(Debug, Serialize)]
pub struct Role {
    pub id: i64,
    pub name: String,
    pub workspace: String,
    pub description: Option<String>,
    pub permissions: Vec<RolePermission>,
}

#[derive(Debug, Serialize)]
pub struct RolePermission {
    pub id: i64,
    pub role_id: i64,
    pub resource_type: String,
    pub resource_pattern: String,
    pub permission: String,
}

#[derive(Debug, Serialize)]
pub struct RoleAssignment {
    pub id: i64,
    pub user_id: i64,
    pub role_id: i64,
}

#[derive(Debug, Serialize)]
pub struct RoleResponse {
    pub role: Role,
}

#[derive(Debug, Serialize)]
pub struct ListRolesResponse {
    pub roles: Vec<Role>,
}

#[derive(Debug, Serialize)]
pub struct RolePermissionResponse {
    pub role_permission: RolePermission,
}

#[derive(Debug, Serialize)]
pub struct ListRolePermissionsResponse {
    pub role_permissions: Vec<RolePermission>,
}

#[derive(Debug, Serialize)]
pub struct RoleAssignmentResponse {
    pub assignment: RoleAssignment,
}

#[derive(Debug, Serialize)]
pub struct ListRoleUsersResponse {
    pub assignments: Vec<RoleAssignment>,
}

#[derive(Debug, Serialize)]
pub struct ListUsersResponse {
    pub users: Vec<ListedUser>,
}

#[derive(Debug, Serialize)]
pub struct GetUserPermissionResponse {
    pub allowed: bool,
    pub permission: String,
}

/// One grant in `users/permissions/list`, in the shape of a row of a user's own role.
#[derive(Debug, Serialize)]
pub struct PermissionRow {
    pub role_id: i64,
    pub role_name: String,
    pub workspace: String,
    pub resource_type: String,
    pub resource_pattern: String,
    pub permission: String,
}

#[derive(Debug, Serialize)]
pub struct ListUserPermissionsResponse {
    pub is_admin: bool,
    pub permissions: Vec<PermissionRow>,
}

#[derive(Debug, Serialize)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub creation_time: i64,
}

/// The secret is shown once, here; only its hash is stored.
#[derive(Debug, Serialize)]
pub struct CreateTokenResponse {
    pub token: Token,
    pub secret: String,
}

#[derive(Debug, Serialize)]
pub struct ListTokensResponse {
    pub tokens: Vec<Token>,
}

#[derive(Debug, Serialize)]
pub struct Empty {}
