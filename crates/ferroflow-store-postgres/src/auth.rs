//! The basic-auth app's users, grants and API tokens in PostgreSQL: [`AuthStore`] for
//! [`PostgresStore`] (`migrations/0004_auth.sql`), the SQLite store's in PostgreSQL's dialect.

use crate::error::{is_unique_violation, Context};
use crate::PostgresStore;
use ferroflow_core::auth::{ApiToken, Grant, Permission, ResourceType, User};
use ferroflow_core::store::AuthStore;
use ferroflow_core::{time, Error, Result};
use sqlx::postgres::PgRow;
use sqlx::Row;

const USER_COLUMNS: &str = "id, username, password_hash, is_admin";

fn user_from_row(row: &PgRow) -> User {
    User { id: row.get(0), username: row.get(1), password_hash: row.get(2), is_admin: row.get(3) }
}

fn user_not_found(username: &str) -> Error {
    Error::not_found(format!("User with username={username} not found"))
}

fn stored_permission(name: &str) -> Result<Permission> {
    Permission::parse(name).map_err(|_| crate::error::corrupt("permission", name))
}

#[async_trait::async_trait]
impl AuthStore for PostgresStore {
    async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> Result<User> {
        let row = sqlx::query(&format!(
            "INSERT INTO auth_users (username, password_hash, is_admin) VALUES ($1, $2, $3) RETURNING {USER_COLUMNS}"
        ))
        .bind(username)
        .bind(password_hash)
        .bind(is_admin)
        .fetch_one(&self.pool)
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
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM auth_users WHERE username = $1"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .context(|| format!("loading user {username}"))?
            .map(|row| user_from_row(&row))
            .ok_or_else(|| user_not_found(username))
    }

    async fn get_user_by_id(&self, user_id: i64) -> Result<User> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM auth_users WHERE id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .context(|| format!("loading user #{user_id}"))?
            .map(|row| user_from_row(&row))
            .ok_or_else(|| Error::not_found(format!("User with id={user_id} not found")))
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM auth_users ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .context(|| "listing users")?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    async fn count_users(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_users")
            .fetch_one(&self.pool)
            .await
            .context(|| "counting users")?;
        Ok(count as u64)
    }

    async fn update_user_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let done = sqlx::query("UPDATE auth_users SET password_hash = $1 WHERE username = $2")
            .bind(password_hash)
            .bind(username)
            .execute(&self.pool)
            .await
            .context(|| format!("updating the password of {username}"))?;
        if done.rows_affected() == 0 {
            return Err(user_not_found(username));
        }
        Ok(())
    }

    async fn update_user_admin(&self, username: &str, is_admin: bool) -> Result<()> {
        let done = sqlx::query("UPDATE auth_users SET is_admin = $1 WHERE username = $2")
            .bind(is_admin)
            .bind(username)
            .execute(&self.pool)
            .await
            .context(|| format!("updating the admin flag of {username}"))?;
        if done.rows_affected() == 0 {
            return Err(user_not_found(username));
        }
        Ok(())
    }

    async fn delete_user(&self, username: &str) -> Result<()> {
        // Grants and tokens go with the user (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM auth_users WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
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
            "INSERT INTO auth_grants (user_id, resource_type, resource_id, permission) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, resource_type, resource_id) DO UPDATE SET permission = EXCLUDED.permission",
        )
        .bind(user_id)
        .bind(resource_type.as_str())
        .bind(resource_id)
        .bind(permission.as_str())
        .execute(&self.pool)
        .await
        .context(|| format!("granting {} on {} {resource_id}", permission.as_str(), resource_type.as_str()))?;
        Ok(())
    }

    async fn revoke(&self, user_id: i64, resource_type: ResourceType, resource_id: &str) -> Result<()> {
        let done =
            sqlx::query("DELETE FROM auth_grants WHERE user_id = $1 AND resource_type = $2 AND resource_id = $3")
                .bind(user_id)
                .bind(resource_type.as_str())
                .bind(resource_id)
                .execute(&self.pool)
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
            "SELECT permission FROM auth_grants WHERE user_id = $1 AND resource_type = $2 AND resource_id = $3",
        )
        .bind(user_id)
        .bind(resource_type.as_str())
        .bind(resource_id)
        .fetch_optional(&self.pool)
        .await
        .context(|| format!("loading a grant on {} {resource_id}", resource_type.as_str()))?;
        name.as_deref().map(stored_permission).transpose()
    }

    async fn list_grants(&self, user_id: i64) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT resource_type, resource_id, permission FROM auth_grants WHERE user_id = $1 \
             ORDER BY resource_type, resource_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
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
        sqlx::query("UPDATE auth_grants SET resource_id = $1 WHERE resource_type = $2 AND resource_id = $3")
            .bind(new_id)
            .bind(resource_type.as_str())
            .bind(old_id)
            .execute(&self.pool)
            .await
            .context(|| format!("moving the grants of {old_id} to {new_id}"))?;
        Ok(())
    }

    async fn create_token(&self, user_id: i64, name: &str, secret_hash: &str) -> Result<ApiToken> {
        let now = time::now_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO auth_tokens (user_id, name, secret_hash, creation_time) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(secret_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .context(|| format!("creating token {name}"))?;
        Ok(ApiToken { id, user_id, name: name.to_string(), creation_time: now })
    }

    async fn find_token(&self, secret_hash: &str) -> Result<Option<(ApiToken, User)>> {
        let row = sqlx::query(
            "SELECT t.id, t.user_id, t.name, t.creation_time, u.id, u.username, u.password_hash, u.is_admin \
             FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id WHERE t.secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(&self.pool)
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
            sqlx::query("SELECT id, user_id, name, creation_time FROM auth_tokens WHERE user_id = $1 ORDER BY id")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .context(|| format!("listing the tokens of user #{user_id}"))?;
        Ok(rows
            .iter()
            .map(|row| ApiToken { id: row.get(0), user_id: row.get(1), name: row.get(2), creation_time: row.get(3) })
            .collect())
    }

    async fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM auth_tokens WHERE id = $1 AND user_id = $2")
            .bind(token_id)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .context(|| format!("revoking token #{token_id}"))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!("Token with id={token_id} not found")));
        }
        Ok(())
    }
}
