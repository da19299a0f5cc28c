//! The basic-auth app's users, grants, roles, API tokens and web UI sessions in SQLite:
//! [`AuthStore`] for [`SqliteStore`] (`migrations/0013_auth.sql`, roles in
//! `0016_auth_roles.sql`, sessions in `0017_auth_sessions.sql`). A role comes back with its
//! permission rows in one statement (a JSON array built by a subquery).

use crate::error::{is_unique_violation, Context};
use crate::SqliteStore;
use ferroflow_core::auth::{ApiToken, Grant, Permission, ResourceType, UiSession, User};
use ferroflow_core::roles::{Role, RoleAssignment, RoleGrant, RolePermission};
use ferroflow_core::store::AuthStore;
use ferroflow_core::{time, Error, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// A role's columns and its rows as one JSON array `[[id, type, pattern, permission], …]`.
const ROLE_COLUMNS: &str = "r.id, r.name, r.workspace, r.description, \
     (SELECT json_group_array(json_array(p.id, p.resource_type, p.resource_pattern, p.permission)) \
      FROM (SELECT * FROM auth_role_permissions WHERE role_id = r.id ORDER BY id) p)";

fn role_from_row(row: &SqliteRow) -> Result<Role> {
    let id: i64 = row.get(0);
    let rows: String = row.get(4);
    let rows: Vec<(i64, String, String, String)> =
        serde_json::from_str(&rows).map_err(|e| crate::error::corrupt("role permissions", e))?;
    let permissions = rows
        .into_iter()
        .map(|(row_id, resource_type, resource_pattern, permission)| {
            Ok(RolePermission {
                id: row_id,
                role_id: id,
                resource_type,
                resource_pattern,
                permission: stored_permission(&permission)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Role { id, name: row.get(1), workspace: row.get(2), description: row.get(3), permissions })
}

fn role_not_found(role_id: i64) -> Error {
    Error::not_found(format!("Role with id={role_id} not found"))
}

fn role_permission_not_found(role_permission_id: i64) -> Error {
    Error::not_found(format!("Role permission with id={role_permission_id} not found"))
}

fn role_permission_from_row(row: &SqliteRow) -> Result<RolePermission> {
    Ok(RolePermission {
        id: row.get(0),
        role_id: row.get(1),
        resource_type: row.get(2),
        resource_pattern: row.get(3),
        permission: stored_permission(row.get(4))?,
    })
}

const ROLE_PERMISSION_COLUMNS: &str = "id, role_id, resource_type, resource_pattern, permission";

const USER_COLUMNS: &str = "id, username, password_hash, is_admin";

fn user_from_row(row: &SqliteRow) -> User {
    User { id: row.get(0), username: row.get(1), password_hash: row.get(2), is_admin: row.get(3) }
}

fn user_not_found(username: &str) -> Error {
    Error::not_found(format!("User with username={username} not found"))
}

fn stored_permission(name: &str) -> Result<Permission> {
    Permission::parse(name).map_err(|_| crate::error::corrupt("permission", name))
}

#[async_trait::async_trait]
impl AuthStore for SqliteStore {
    async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> Result<User> {
        let row = sqlx::query(&format!(
            "INSERT INTO auth_users (username, password_hash, is_admin) VALUES (?, ?, ?) RETURNING {USER_COLUMNS}"
        ))
        .bind(username)
        .bind(password_hash)
        .bind(is_admin)
        .fetch_one(&self.write)
        .await;
        match row {
            Ok(row) => Ok(user_from_row(&row)),
            Err(error) if is_unique_violation(&error) => {
                Err(Error::already_exists(format!("User (username={username}) already exists.")))
            }
            Err(error) => Err(error).context(|| format!("creating user {username}")),
        }
    }

    async fn get_user(&self, username: &str) -> Result<User> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM auth_users WHERE username = ?"))
            .bind(username)
            .fetch_optional(&self.read)
            .await
            .context(|| format!("loading user {username}"))?
            .map(|row| user_from_row(&row))
            .ok_or_else(|| user_not_found(username))
    }

    async fn get_user_by_id(&self, user_id: i64) -> Result<User> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM auth_users WHERE id = ?"))
            .bind(user_id)
            .fetch_optional(&self.read)
            .await
            .context(|| format!("loading user #{user_id}"))?
            .map(|row| user_from_row(&row))
            .ok_or_else(|| Error::not_found(format!("User with id={user_id} not found")))
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM auth_users ORDER BY id"))
            .fetch_all(&self.read)
            .await
            .context(|| "listing users")?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    async fn count_users(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_users")
            .fetch_one(&self.write)
            .await
            .context(|| "counting users")?;
        Ok(count as u64)
    }

    async fn update_user_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let done = sqlx::query("UPDATE auth_users SET password_hash = ? WHERE username = ?")
            .bind(password_hash)
            .bind(username)
            .execute(&self.write)
            .await
            .context(|| format!("updating the password of {username}"))?;
        if done.rows_affected() == 0 {
            return Err(user_not_found(username));
        }
        Ok(())
    }

    async fn update_user_admin(&self, username: &str, is_admin: bool) -> Result<()> {
        let done = sqlx::query("UPDATE auth_users SET is_admin = ? WHERE username = ?")
            .bind(is_admin)
            .bind(username)
            .execute(&self.write)
            .await
            .context(|| format!("updating the admin flag of {username}"))?;
        if done.rows_affected() == 0 {
            return Err(user_not_found(username));
        }
        Ok(())
    }

    async fn delete_user(&self, username: &str) -> Result<()> {
        // Grants and tokens go with the user (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM auth_users WHERE username = ?")
            .bind(username)
            .execute(&self.write)
            .await
            .context(|| format!("deleting user {username}"))?;
        if done.rows_affected() == 0 {
            return Err(user_not_found(username));
        }
        Ok(())
    }

    async fn grant(
        &self,
        user_id: i64,
        resource_type: ResourceType,
        resource_id: &str,
        permission: Permission,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_grants (user_id, resource_type, resource_id, permission) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id, resource_type, resource_id) DO UPDATE SET permission = excluded.permission",
        )
        .bind(user_id)
        .bind(resource_type.as_str())
        .bind(resource_id)
        .bind(permission.as_str())
        .execute(&self.write)
        .await
        .context(|| format!("granting {} on {} {resource_id}", permission.as_str(), resource_type.as_str()))?;
        Ok(())
    }

    async fn revoke(&self, user_id: i64, resource_type: ResourceType, resource_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM auth_grants WHERE user_id = ? AND resource_type = ? AND resource_id = ?")
            .bind(user_id)
            .bind(resource_type.as_str())
            .bind(resource_id)
            .execute(&self.write)
            .await
            .context(|| format!("revoking a grant on {} {resource_id}", resource_type.as_str()))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "Permission on {}={resource_id} for user id {user_id} not found",
                resource_type.as_str()
            )));
        }
        Ok(())
    }

    async fn get_grant(
        &self,
        user_id: i64,
        resource_type: ResourceType,
        resource_id: &str,
    ) -> Result<Option<Permission>> {
        let name: Option<String> = sqlx::query_scalar(
            "SELECT permission FROM auth_grants WHERE user_id = ? AND resource_type = ? AND resource_id = ?",
        )
        .bind(user_id)
        .bind(resource_type.as_str())
        .bind(resource_id)
        .fetch_optional(&self.read)
        .await
        .context(|| format!("loading a grant on {} {resource_id}", resource_type.as_str()))?;
        name.as_deref().map(stored_permission).transpose()
    }

    async fn list_grants(&self, user_id: i64) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT resource_type, resource_id, permission FROM auth_grants WHERE user_id = ? \
             ORDER BY resource_type, resource_id",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await
        .context(|| format!("listing the grants of user #{user_id}"))?;
        rows.iter()
            .map(|row| {
                let kind: &str = row.get(0);
                Ok(Grant {
                    resource_type: ResourceType::parse(kind)
                        .map_err(|_| crate::error::corrupt("resource type", kind))?,
                    resource_id: row.get(1),
                    permission: stored_permission(row.get(2))?,
                })
            })
            .collect()
    }

    async fn rename_grants(&self, resource_type: ResourceType, old_id: &str, new_id: &str) -> Result<()> {
        sqlx::query("UPDATE auth_grants SET resource_id = ? WHERE resource_type = ? AND resource_id = ?")
            .bind(new_id)
            .bind(resource_type.as_str())
            .bind(old_id)
            .execute(&self.write)
            .await
            .context(|| format!("moving the grants of {old_id} to {new_id}"))?;
        Ok(())
    }

    async fn create_token(&self, user_id: i64, name: &str, secret_hash: &str) -> Result<ApiToken> {
        let now = time::now_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO auth_tokens (user_id, name, secret_hash, creation_time) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(secret_hash)
        .bind(now)
        .fetch_one(&self.write)
        .await
        .context(|| format!("creating token {name}"))?;
        Ok(ApiToken { id, user_id, name: name.to_string(), creation_time: now })
    }

    async fn find_token(&self, secret_hash: &str) -> Result<Option<(ApiToken, User)>> {
        let row = sqlx::query(
            "SELECT t.id, t.user_id, t.name, t.creation_time, u.id, u.username, u.password_hash, u.is_admin \
             FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id WHERE t.secret_hash = ?",
        )
        .bind(secret_hash)
        .fetch_optional(&self.read)
        .await
        .context(|| "looking up a token")?;
        Ok(row.map(|row| {
            (
                ApiToken { id: row.get(0), user_id: row.get(1), name: row.get(2), creation_time: row.get(3) },
                User { id: row.get(4), username: row.get(5), password_hash: row.get(6), is_admin: row.get(7) },
            )
        }))
    }

    async fn list_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>> {
        let rows =
            sqlx::query("SELECT id, user_id, name, creation_time FROM auth_tokens WHERE user_id = ? ORDER BY id")
                .bind(user_id)
                .fetch_all(&self.read)
                .await
                .context(|| format!("listing the tokens of user #{user_id}"))?;
        Ok(rows
            .iter()
            .map(|row| ApiToken { id: row.get(0), user_id: row.get(1), name: row.get(2), creation_time: row.get(3) })
            .collect())
    }

    async fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM auth_tokens WHERE id = ? AND user_id = ?")
            .bind(token_id)
            .bind(user_id)
            .execute(&self.write)
            .await
            .context(|| format!("revoking token #{token_id}"))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!("Token with id={token_id} not found")));
        }
        Ok(())
    }

    async fn create_session(&self, secret_hash: &str, session: &UiSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_sessions (secret_hash, user_id, password_fingerprint, started, last_seen) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(secret_hash)
        .bind(session.user_id)
        .bind(&session.password_fingerprint)
        .bind(session.started)
        .bind(session.last_seen)
        .execute(&self.write)
        .await
        .context(|| format!("starting a session of user #{}", session.user_id))?;
        Ok(())
    }

    async fn find_session(&self, secret_hash: &str) -> Result<Option<(UiSession, User)>> {
        let row = sqlx::query(
            "SELECT s.user_id, s.password_fingerprint, s.started, s.last_seen, \
             u.id, u.username, u.password_hash, u.is_admin \
             FROM auth_sessions s JOIN auth_users u ON u.id = s.user_id WHERE s.secret_hash = ?",
        )
        .bind(secret_hash)
        .fetch_optional(&self.read)
        .await
        .context(|| "looking up a session")?;
        Ok(row.map(|row| {
            (
                UiSession {
                    user_id: row.get(0),
                    password_fingerprint: row.get(1),
                    started: row.get(2),
                    last_seen: row.get(3),
                },
                User { id: row.get(4), username: row.get(5), password_hash: row.get(6), is_admin: row.get(7) },
            )
        }))
    }

    async fn touch_session(&self, secret_hash: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE auth_sessions SET last_seen = max(last_seen, ?) WHERE secret_hash = ?")
            .bind(now)
            .bind(secret_hash)
            .execute(&self.write)
            .await
            .context(|| "recording a session's request")?;
        Ok(())
    }

    async fn delete_session(&self, secret_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM auth_sessions WHERE secret_hash = ?")
            .bind(secret_hash)
            .execute(&self.write)
            .await
            .context(|| "ending a session")?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, idle_before: i64, started_before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM auth_sessions WHERE last_seen < ? OR started < ?")
            .bind(idle_before)
            .bind(started_before)
            .execute(&self.write)
            .await
            .context(|| "removing expired sessions")?;
        Ok(done.rows_affected())
    }

    async fn create_role(&self, name: &str, workspace: &str, description: Option<&str>) -> Result<Role> {
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO auth_roles (name, workspace, description) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(workspace)
        .bind(description)
        .fetch_one(&self.write)
        .await;
        match id {
            Ok(id) => Ok(Role {
                id,
                name: name.to_string(),
                workspace: workspace.to_string(),
                description: description.map(str::to_string),
                permissions: Vec::new(),
            }),
            Err(error) if is_unique_violation(&error) => {
                Err(Error::already_exists(format!("Role (name={name}, workspace={workspace}) already exists.")))
            }
            Err(error) => Err(error).context(|| format!("creating role {name}")),
        }
    }

    async fn get_role(&self, role_id: i64) -> Result<Role> {
        let row = sqlx::query(&format!("SELECT {ROLE_COLUMNS} FROM auth_roles r WHERE r.id = ?"))
            .bind(role_id)
            .fetch_optional(&self.read)
            .await
            .context(|| format!("loading role #{role_id}"))?;
        row.as_ref().map(role_from_row).transpose()?.ok_or_else(|| role_not_found(role_id))
    }

    async fn list_roles(&self, workspaces: Option<&[String]>) -> Result<Vec<Role>> {
        let rows = match workspaces {
            None => {
                sqlx::query(&format!("SELECT {ROLE_COLUMNS} FROM auth_roles r ORDER BY r.id"))
                    .fetch_all(&self.read)
                    .await
            }
            Some(names) => {
                let names = serde_json::to_string(names).map_err(|e| Error::internal(e.to_string()))?;
                sqlx::query(&format!(
                    "SELECT {ROLE_COLUMNS} FROM auth_roles r \
                     WHERE r.workspace IN (SELECT value FROM json_each(?)) ORDER BY r.id"
                ))
                .bind(names)
                .fetch_all(&self.read)
                .await
            }
        }
        .context(|| "listing roles")?;
        rows.iter().map(role_from_row).collect()
    }

    async fn update_role(&self, role_id: i64, name: Option<&str>, description: Option<&str>) -> Result<Role> {
        let mut tx = self.write.begin().await.context(|| format!("updating role #{role_id}"))?;
        let workspace: Option<String> = sqlx::query_scalar("SELECT workspace FROM auth_roles WHERE id = ?")
            .bind(role_id)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("loading role #{role_id}"))?;
        let workspace = workspace.ok_or_else(|| role_not_found(role_id))?;
        if let Some(name) = name {
            let taken: Option<i64> =
                sqlx::query_scalar("SELECT id FROM auth_roles WHERE workspace = ? AND name = ? AND id <> ?")
                    .bind(&workspace)
                    .bind(name)
                    .bind(role_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .context(|| format!("checking the role name {name}"))?;
            if taken.is_some() {
                return Err(Error::already_exists(format!(
                    "Role with name={name} already exists in workspace={workspace}"
                )));
            }
        }
        sqlx::query(
            "UPDATE auth_roles SET name = coalesce(?, name), description = coalesce(?, description) WHERE id = ?",
        )
        .bind(name)
        .bind(description)
        .bind(role_id)
        .execute(&mut *tx)
        .await
        .context(|| format!("updating role #{role_id}"))?;
        let row = sqlx::query(&format!("SELECT {ROLE_COLUMNS} FROM auth_roles r WHERE r.id = ?"))
            .bind(role_id)
            .fetch_one(&mut *tx)
            .await
            .context(|| format!("loading role #{role_id}"))?;
        let role = role_from_row(&row)?;
        tx.commit().await.context(|| format!("updating role #{role_id}"))?;
        Ok(role)
    }

    async fn delete_role(&self, role_id: i64) -> Result<()> {
        // Its rows and assignments go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM auth_roles WHERE id = ?")
            .bind(role_id)
            .execute(&self.write)
            .await
            .context(|| format!("deleting role #{role_id}"))?;
        if done.rows_affected() == 0 {
            return Err(role_not_found(role_id));
        }
        Ok(())
    }

    async fn add_role_permission(
        &self,
        role_id: i64,
        resource_type: &str,
        resource_pattern: &str,
        permission: Permission,
    ) -> Result<RolePermission> {
        let mut tx = self.write.begin().await.context(|| format!("adding a permission to role #{role_id}"))?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM auth_roles WHERE id = ?")
            .bind(role_id)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("loading role #{role_id}"))?;
        exists.ok_or_else(|| role_not_found(role_id))?;
        let row = sqlx::query(&format!(
            "INSERT INTO auth_role_permissions (role_id, resource_type, resource_pattern, permission) \
             VALUES (?, ?, ?, ?) RETURNING {ROLE_PERMISSION_COLUMNS}"
        ))
        .bind(role_id)
        .bind(resource_type)
        .bind(resource_pattern)
        .bind(permission.as_str())
        .fetch_one(&mut *tx)
        .await;
        let row = match row {
            Ok(row) => row,
            Err(error) if is_unique_violation(&error) => {
                return Err(Error::already_exists(format!(
                    "Role permission (role_id={role_id}, resource_type={resource_type}, \
                     resource_pattern={resource_pattern}) already exists."
                )))
            }
            Err(error) => return Err(error).context(|| format!("adding a permission to role #{role_id}")),
        };
        let added = role_permission_from_row(&row)?;
        tx.commit().await.context(|| format!("adding a permission to role #{role_id}"))?;
        Ok(added)
    }

    async fn get_role_permission(&self, role_permission_id: i64) -> Result<RolePermission> {
        let row = sqlx::query(&format!("SELECT {ROLE_PERMISSION_COLUMNS} FROM auth_role_permissions WHERE id = ?"))
            .bind(role_permission_id)
            .fetch_optional(&self.read)
            .await
            .context(|| format!("loading role permission #{role_permission_id}"))?;
        row.as_ref()
            .map(role_permission_from_row)
            .transpose()?
            .ok_or_else(|| role_permission_not_found(role_permission_id))
    }

    async fn remove_role_permission(&self, role_permission_id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM auth_role_permissions WHERE id = ?")
            .bind(role_permission_id)
            .execute(&self.write)
            .await
            .context(|| format!("removing role permission #{role_permission_id}"))?;
        if done.rows_affected() == 0 {
            return Err(role_permission_not_found(role_permission_id));
        }
        Ok(())
    }

    async fn update_role_permission(&self, role_permission_id: i64, permission: Permission) -> Result<RolePermission> {
        let row = sqlx::query(&format!(
            "UPDATE auth_role_permissions SET permission = ? WHERE id = ? RETURNING {ROLE_PERMISSION_COLUMNS}"
        ))
        .bind(permission.as_str())
        .bind(role_permission_id)
        .fetch_optional(&self.write)
        .await
        .context(|| format!("updating role permission #{role_permission_id}"))?;
        row.as_ref()
            .map(role_permission_from_row)
            .transpose()?
            .ok_or_else(|| role_permission_not_found(role_permission_id))
    }

    async fn assign_role(&self, user_id: i64, role_id: i64) -> Result<RoleAssignment> {
        let mut tx = self.write.begin().await.context(|| format!("assigning role #{role_id}"))?;
        let user: Option<i64> = sqlx::query_scalar("SELECT id FROM auth_users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("loading user #{user_id}"))?;
        user.ok_or_else(|| Error::not_found(format!("User with id={user_id} not found")))?;
        let role: Option<i64> = sqlx::query_scalar("SELECT id FROM auth_roles WHERE id = ?")
            .bind(role_id)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("loading role #{role_id}"))?;
        role.ok_or_else(|| role_not_found(role_id))?;
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO auth_role_assignments (user_id, role_id) VALUES (?, ?) RETURNING id",
        )
        .bind(user_id)
        .bind(role_id)
        .fetch_one(&mut *tx)
        .await;
        let id = match id {
            Ok(id) => id,
            Err(error) if is_unique_violation(&error) => {
                return Err(Error::already_exists(format!(
                    "User role assignment (user_id={user_id}, role_id={role_id}) already exists"
                )))
            }
            Err(error) => return Err(error).context(|| format!("assigning role #{role_id}")),
        };
        tx.commit().await.context(|| format!("assigning role #{role_id}"))?;
        Ok(RoleAssignment { id, user_id, role_id })
    }

    async fn unassign_role(&self, user_id: i64, role_id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM auth_role_assignments WHERE user_id = ? AND role_id = ?")
            .bind(user_id)
            .bind(role_id)
            .execute(&self.write)
            .await
            .context(|| format!("unassigning role #{role_id}"))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "User role assignment (user_id={user_id}, role_id={role_id}) not found"
            )));
        }
        Ok(())
    }

    async fn list_user_roles(&self, user_id: i64) -> Result<Vec<Role>> {
        let rows = sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM auth_roles r \
             JOIN auth_role_assignments a ON a.role_id = r.id WHERE a.user_id = ? ORDER BY r.id"
        ))
        .bind(user_id)
        .fetch_all(&self.read)
        .await
        .context(|| format!("listing the roles of user #{user_id}"))?;
        rows.iter().map(role_from_row).collect()
    }

    async fn list_role_users(&self, role_id: i64) -> Result<Vec<RoleAssignment>> {
        // The role's existence and its assignments, in one statement: one row with NULLs when
        // the role has nobody, none when there is no role.
        let rows = sqlx::query(
            "SELECT a.id, a.user_id FROM auth_roles r LEFT JOIN auth_role_assignments a ON a.role_id = r.id \
             WHERE r.id = ? ORDER BY a.id",
        )
        .bind(role_id)
        .fetch_all(&self.read)
        .await
        .context(|| format!("listing the users of role #{role_id}"))?;
        if rows.is_empty() {
            return Err(role_not_found(role_id));
        }
        Ok(rows
            .iter()
            .filter_map(|row| {
                let id: Option<i64> = row.get(0);
                let user_id: Option<i64> = row.get(1);
                Some(RoleAssignment { id: id?, user_id: user_id?, role_id })
            })
            .collect())
    }

    async fn role_grants(&self, user_id: i64, workspace: &str) -> Result<Vec<RoleGrant>> {
        let rows = sqlx::query(
            "SELECT p.resource_type, p.resource_pattern, p.permission FROM auth_role_assignments a \
             JOIN auth_roles r ON r.id = a.role_id JOIN auth_role_permissions p ON p.role_id = r.id \
             WHERE a.user_id = ? AND r.workspace = ?",
        )
        .bind(user_id)
        .bind(workspace)
        .fetch_all(&self.read)
        .await
        .context(|| format!("loading the role grants of user #{user_id}"))?;
        rows.iter()
            .map(|row| {
                Ok(RoleGrant {
                    resource_type: row.get(0),
                    resource_pattern: row.get(1),
                    permission: stored_permission(row.get(2))?,
                })
            })
            .collect()
    }
}
