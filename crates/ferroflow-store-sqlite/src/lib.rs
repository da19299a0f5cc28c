//! ferroflow's embedded store: SQLite through sqlx, in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so writers queue in our process instead
//! of meeting `database is locked`; reads use their own pool and never wait on writers (WAL).
//! Migrations are embedded in the binary and run on [`SqliteStore::connect`].

mod error;
mod evaluation;
mod logged_models;
mod registry;
mod sql;
mod traces;
mod tracking;

use ferroflow_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::str::FromStr;
use std::time::Duration;

pub use error::map_sqlx;

/// The SQLite implementation of [`ferroflow_core::store::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    /// One connection: the single writer.
    write: SqlitePool,
    /// Readers; WAL lets them run beside the writer.
    read: SqlitePool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// The file path inside an MLflow-style URI: `sqlite:///rel.db` or `sqlite:////abs/path.db`.
pub fn path_from_uri(uri: &str) -> Result<String> {
    let rest = uri
        .strip_prefix("sqlite:///")
        .ok_or_else(|| Error::invalid(format!("Not a SQLite URI: '{uri}' (expected sqlite:///<path>)")))?;
    if rest.is_empty() {
        return Err(Error::invalid(format!("SQLite URI '{uri}' names no file")));
    }
    Ok(rest.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `uri`, runs the migrations and makes sure the
    /// `Default` experiment (id 0) exists with `<default_artifact_root>/0` as its location.
    pub async fn connect(uri: &str, default_artifact_root: &str) -> Result<Self> {
        let path = path_from_uri(uri)?;
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(map_sqlx)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a commit survives a killed process; only an OS crash may
            // lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000")
            .statement_cache_capacity(256)
            .with_regexp();
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(map_sqlx)?;
        sqlx::migrate!("./migrations")
            .run(&write)
            .await
            .map_err(|e| Error::internal(format!("migrating {path}: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .idle_timeout(Some(Duration::from_secs(60)))
            .connect_with(options.read_only(true))
            .await
            .map_err(map_sqlx)?;
        let store = SqliteStore { write, read };
        store.ensure_default_experiment(default_artifact_root).await?;
        Ok(store)
    }

    async fn ensure_default_experiment(&self, default_artifact_root: &str) -> Result<()> {
        let now = ferroflow_core::time::now_millis();
        sqlx::query(
            "INSERT OR IGNORE INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (0, 'Default', ?, 'active', ?, ?)",
        )
        .bind(format!("{}/0", default_artifact_root.trim_end_matches('/')))
        .bind(now)
        .bind(now)
        .execute(&self.write)
        .await
        .map_err(map_sqlx)?;
        Ok(())
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}
