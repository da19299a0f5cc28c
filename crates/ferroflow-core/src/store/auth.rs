//! Users, their grants, roles and API tokens (the basic-auth app).

use crate::auth::{ApiToken, Grant, Permission, ResourceType, UiSession, User};
use crate::roles::{Role, RoleAssignment, RoleGrant, RolePermission, DEFAULT_WORKSPACE};
use crate::Result;
use std::sync::Arc;

/// The basic-auth app's storage. A missing user is `RESOURCE_DOES_NOT_EXIST` "User with
/// username=<name> not found"; a taken name is `RESOURCE_ALREADY_EXISTS`.
#[async_trait::async_trait]
pub trait AuthStore: Send + Sync {
    /// Creates a user; `password_hash` is already hashed.
    async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> Result<User>;
    async fn get_user(&self, username: &str) -> Result<User>;
    async fn get_user_by_id(&self, user_id: i64) -> Result<User>;
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn count_users(&self) -> Result<u64>;
    async fn update_user_password(&self, username: &str, password_hash: &str) -> Result<()>;
    async fn update_user_admin(&self, username: &str, is_admin: bool) -> Result<()>;
    /// Deletes a user with their grants and tokens.
    async fn delete_user(&self, username: &str) -> Result<()>;

    /// Sets the user's permission on a resource, replacing any earlier one.
    async fn grant(
        &self,
        user_id: i64,
        resource_type: ResourceType,
        resource_id: &str,
        permission: Permission,
    ) -> Result<()>;
    /// Removes the user's grant on a resource; `RESOURCE_DOES_NOT_EXIST` when there is none.
    async fn revoke(&self, user_id: i64, resource_type: ResourceType, resource_id: &str) -> Result<()>;
    async fn get_grant(
        &self,
        user_id: i64,
        resource_type: ResourceType,
        resource_id: &str,
    ) -> Result<Option<Permission>>;
    /// Every grant of one user's, ordered by resource type and id.
    async fn list_grants(&self, user_id: i64) -> Result<Vec<Grant>>;
    /// Moves every grant on a resource to its new id (a renamed registered model).
    async fn rename_grants(&self, resource_type: ResourceType, old_id: &str, new_id: &str) -> Result<()>;

    /// Stores a token; `secret_hash` is the SHA-256 of its secret, hex.
    async fn create_token(&self, user_id: i64, name: &str, secret_hash: &str) -> Result<ApiToken>;
    /// The token and its user for a secret's hash, if any.
    async fn find_token(&self, secret_hash: &str) -> Result<Option<(ApiToken, User)>>;
    async fn list_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>>;
    /// Revokes one of the user's tokens; `RESOURCE_DOES_NOT_EXIST` when it is not theirs.
    async fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<()>;

    // ---- web UI sessions (kept here, not in a server's memory: they outlive a restart and
    // every replica on the database accepts them) ----
    /// Stores a new session under the hash of its secret.
    async fn create_session(&self, secret_hash: &str, session: &UiSession) -> Result<()>;
    /// The session with this secret's hash and its user, if any.
    async fn find_session(&self, secret_hash: &str) -> Result<Option<(UiSession, User)>>;
    /// Records a request of the session's at `now` (ms).
    async fn touch_session(&self, secret_hash: &str, now: i64) -> Result<()>;
    /// Ends one session (nothing when there is none).
    async fn delete_session(&self, secret_hash: &str) -> Result<()>;
    /// Removes the sessions last seen before `idle_before` or started before `started_before`
    /// (ms); how many.
    async fn delete_expired_sessions(&self, idle_before: i64, started_before: i64) -> Result<u64>;

    // ---- roles (checked by `crate::roles` before they get here) ----
    /// A taken (workspace, name) is `RESOURCE_ALREADY_EXISTS`.
    async fn create_role(&self, name: &str, workspace: &str, description: Option<&str>) -> Result<Role>;
    /// A missing role is `RESOURCE_DOES_NOT_EXIST` "Role with id=<id> not found".
    async fn get_role(&self, role_id: i64) -> Result<Role>;
    /// Every role (`None`) or those of the given workspaces, by id.
    async fn list_roles(&self, workspaces: Option<&[String]>) -> Result<Vec<Role>>;
    /// Renames and/or redescribes a role; a name taken in its workspace is `RESOURCE_ALREADY_EXISTS`.
    async fn update_role(&self, role_id: i64, name: Option<&str>, description: Option<&str>) -> Result<Role>;
    /// Deletes a role with its rows and assignments.
    async fn delete_role(&self, role_id: i64) -> Result<()>;
    /// Adds a row; the role must exist, and a (type, pattern) it already has is
    /// `RESOURCE_ALREADY_EXISTS`.
    async fn add_role_permission(
        &self,
        role_id: i64,
        resource_type: &str,
        resource_pattern: &str,
        permission: Permission,
    ) -> Result<RolePermission>;
    async fn get_role_permission(&self, role_permission_id: i64) -> Result<RolePermission>;
    async fn remove_role_permission(&self, role_permission_id: i64) -> Result<()>;
    async fn update_role_permission(&self, role_permission_id: i64, permission: Permission) -> Result<RolePermission>;
    /// Both must exist; assigning twice is `RESOURCE_ALREADY_EXISTS`.
    async fn assign_role(&self, user_id: i64, role_id: i64) -> Result<RoleAssignment>;
    async fn unassign_role(&self, user_id: i64, role_id: i64) -> Result<()>;
    /// The roles a user holds, by id.
    async fn list_user_roles(&self, user_id: i64) -> Result<Vec<Role>>;
    /// Who holds a role (the role must exist), by assignment id.
    async fn list_role_users(&self, role_id: i64) -> Result<Vec<RoleAssignment>>;
    /// Every row of every role the user holds in `workspace`: what permission checks fold.
    async fn role_grants(&self, user_id: i64, workspace: &str) -> Result<Vec<RoleGrant>>;
}

/// What `user` may do on one resource: their direct grant on it and the rows of their roles
/// in the default workspace, folded by [`crate::roles::resolve_permission`] with the server's
/// default; admins everything. A registered model and a prompt share one name space, so a
/// grant of either kind on the name counts for both.
pub async fn permission_on(
    store: &dyn AuthStore,
    user: &User,
    default_permission: Permission,
    resource_type: ResourceType,
    resource_id: &str,
) -> Result<Permission> {
    if user.is_admin {
        return Ok(Permission::Manage);
    }
    let grant = match resource_type {
        ResourceType::RegisteredModel | ResourceType::Prompt => {
            match store.get_grant(user.id, ResourceType::RegisteredModel, resource_id).await? {
                Some(grant) => Some(grant),
                None => store.get_grant(user.id, ResourceType::Prompt, resource_id).await?,
            }
        }
        _ => store.get_grant(user.id, resource_type, resource_id).await?,
    };
    let roles = store.role_grants(user.id, DEFAULT_WORKSPACE).await?;
    Ok(crate::roles::resolve_permission(user, grant, &roles, default_permission, resource_type, resource_id))
}

/// One signed-in user's view of the server, as the auth layer decides it: the server puts it
/// on every request it lets through, and the web UI asks it what to show (without it, sign-in
/// is off and everything is shown).
#[derive(Clone)]
pub struct Access {
    store: Arc<dyn AuthStore>,
    pub user: User,
    default_permission: Permission,
    /// The token the user's forms must send back (CSRF): tied to the session or credentials.
    pub csrf_token: String,
    /// Whether the user came with a session cookie (then the page offers to sign out).
    pub by_session: bool,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").field("user", &self.user.username).finish_non_exhaustive()
    }
}

impl Access {
    pub fn new(
        store: Arc<dyn AuthStore>,
        user: User,
        default_permission: Permission,
        csrf_token: String,
        by_session: bool,
    ) -> Access {
        Access { store, user, default_permission, csrf_token, by_session }
    }

    pub async fn experiment(&self, experiment_id: &str) -> Result<Permission> {
        permission_on(&*self.store, &self.user, self.default_permission, ResourceType::Experiment, experiment_id).await
    }

    /// The permission on a registered model or prompt.
    pub async fn model(&self, name: &str) -> Result<Permission> {
        permission_on(&*self.store, &self.user, self.default_permission, ResourceType::RegisteredModel, name).await
    }
}
