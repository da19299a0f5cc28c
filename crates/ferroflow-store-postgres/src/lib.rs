//! ferroflow's PostgreSQL store: the same [`ferroflow_core::store::Store`] as the embedded
//! SQLite store, for deployments where several `ferroflow server` replicas share one database.
//!
//! Replicas share nothing but the database: no per-process cache of stored data, every
//! invariant that the SQLite store gets from its single writer is a row lock or a unique key
//! here. Migrations are embedded and run on [`PostgresStore::connect`] under sqlx's migration
//! lock (a PostgreSQL advisory lock), so replicas started at the same moment migrate once and
//! the others wait for it.

mod auth;
mod error;
mod evaluation;
mod import;
mod issues;
mod logged_models;
mod overview;
mod registry;
mod sql;
mod trace_metrics;
mod traces;
mod tracking;

use ferroflow_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;

use error::Context;

/// The PostgreSQL implementation of [`ferroflow_core::store::Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

/// True for the URIs this store takes: `postgresql://…`, `postgres://…`, and the SQLAlchemy
/// forms MLflow users write (`postgresql+psycopg2://…`, any `+driver`).
pub fn is_postgres_uri(uri: &str) -> bool {
    let scheme = uri.split("://").next().unwrap_or("");
    let base = scheme.split('+').next().unwrap_or("");
    uri.contains("://") && matches!(base, "postgresql" | "postgres")
}

/// The URI as sqlx reads it: the `+driver` part of the scheme dropped.
pub fn normalize_uri(uri: &str) -> Result<String> {
    if !is_postgres_uri(uri) {
        return Err(Error::invalid(format!("Not a PostgreSQL URI: '{uri}' (expected postgresql://…)")));
    }
    let (_, rest) = uri.split_once("://").unwrap_or((uri, ""));
    Ok(format!("postgresql://{rest}"))
}

/// SQLSTATE 3D000: the database named in the URI does not exist.
const INVALID_CATALOG_NAME: &str = "3D000";
/// SQLSTATE 42P04: `CREATE DATABASE` of a name that exists (another replica made it).
const DUPLICATE_DATABASE: &str = "42P04";

impl PostgresStore {
    /// Connects to the database at `uri` (creating the database when the server has none of
    /// that name, as MLflow does), runs the migrations and makes sure the `Default` experiment
    /// (id 0) exists with `<default_artifact_root>/0` as its location.
    pub async fn connect(uri: &str, default_artifact_root: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(&normalize_uri(uri)?)
            .map_err(|e| Error::invalid(format!("Invalid PostgreSQL URI '{}': {e}", redact(uri))))?
            // Statements are logged by the server when they fail, not on every success.
            .disable_statement_logging();
        ensure_database(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_with(options)
            .await
            .map_err(|e| Error::internal(format!("connecting to {}: {e}", redact(uri))))?;
        // sqlx takes a PostgreSQL advisory lock around the whole run (keyed on the database),
        // so of several replicas starting at once one migrates and the others then find
        // nothing to do.
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| Error::internal(format!("migrating {}: {e}", redact(uri))))?;
        let store = PostgresStore { pool };
        store.ensure_default_experiment(default_artifact_root).await?;
        Ok(store)
    }

    async fn ensure_default_experiment(&self, default_artifact_root: &str) -> Result<()> {
        let now = ferroflow_core::time::now_millis();
        sqlx::query(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (0, 'Default', $1, 'active', $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(format!("{}/0", default_artifact_root.trim_end_matches('/')))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .context(|| "creating the Default experiment")?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the URI's database when the server has none of that name. Several replicas may
/// race here: the losers see `duplicate_database` (or a unique violation on the catalog) and
/// go on.
async fn ensure_database(options: &PgConnectOptions) -> Result<()> {
    let missing = match options.connect().await {
        Ok(connection) => {
            let _ = connection.close().await;
            return Ok(());
        }
        Err(e) if error::sqlstate(&e).as_deref() == Some(INVALID_CATALOG_NAME) => e,
        Err(e) => return Err(Error::internal(format!("connecting to PostgreSQL: {e}"))),
    };
    let Some(name) = options.get_database().map(str::to_string) else {
        return Err(Error::internal(format!("connecting to PostgreSQL: {missing}")));
    };
    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .map_err(|e| Error::internal(format!("database '{name}' is missing and could not be created: {e}")))?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    let created = sqlx::query(&format!("CREATE DATABASE {quoted}")).execute(&mut admin).await;
    let _ = admin.close().await;
    match created {
        Ok(_) => {
            tracing::info!(database = %name, "created the PostgreSQL database");
            Ok(())
        }
        Err(e) if error::sqlstate(&e).as_deref() == Some(DUPLICATE_DATABASE) || error::is_unique_violation(&e) => {
            Ok(())
        }
        Err(e) => Err(Error::internal(format!("creating database '{name}': {e}"))),
    }
}

/// The URI without its password, for messages.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let credentials = &uri[start + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &uri[..start + 3], &uri[at..]),
                None => uri.to_string(),
            }
        }
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests;
