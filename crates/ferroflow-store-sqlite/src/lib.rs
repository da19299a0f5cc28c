//! ferroflow's embedded store: SQLite through sqlx, in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so writers queue in our process instead
//! of meeting `database is locked`; reads use their own pool and never wait on writers (WAL).
//! Migrations are embedded in the binary and run on [`SqliteStore::connect`].

// The test modules still clone `Copy` ids left over from when ids were strings.
#![cfg_attr(test, allow(clippy::clone_on_copy, clippy::cloned_ref_to_slice_refs))]

mod auth;
mod error;
mod evaluation;
mod group_commit;
mod import;
mod issues;
mod logged_models;
mod overview;
mod registry;
mod sql;
mod text_index;
mod trace_metrics;
pub(crate) mod traces;
mod tracking;

use ferroflow_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::str::FromStr;
use std::time::Duration;

use error::Context;

/// The SQLite implementation of [`ferroflow_core::store::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    /// One connection: the single writer.
    write: SqlitePool,
    /// Readers; WAL lets them run beside the writer.
    read: SqlitePool,
    /// When spans were last ingested (ms since the epoch): the text indexer yields the
    /// writer to ingest while spans keep coming.
    last_span_ingest: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// Span batches to the writer task, which commits concurrent ones together.
    ingest: group_commit::IngestQueue,
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
        // SQLite's own answer here is "unable to open database file"; say which directory.
        let parent = std::path::Path::new(&path).parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent.filter(|p| !p.is_dir()) {
            return Err(Error::invalid(format!(
                "The directory '{}' of the SQLite file '{path}' does not exist (sqlite:///<path> is relative to \
                 the working directory, sqlite:////<path> is absolute)",
                parent.display()
            )));
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .context(|| format!("parsing the SQLite path {path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a commit survives a killed process; only an OS crash may
            // lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory")
            // Memory is bounded on purpose: 4 MiB of page cache a reader, 16 MiB for the
            // writer. No part of the file is mapped: mapped pages count in the process's RSS,
            // and on a large store the first 64 MiB of the file are no hotter than the rest
            // (bench/scale.py: peak RSS at 1M traces 161 → 87 MiB, searches and get_trace
            // unchanged; see bench/RESULTS.md).
            .pragma("cache_size", "-4000")
            .pragma("mmap_size", "0")
            .statement_cache_capacity(256)
            .with_regexp();
        // The background task below copies the WAL into the database file while the writer
        // goes on; the writer itself checkpoints only when the WAL passes 64 MiB (by then
        // most of it is copied already), which bounds the WAL under sustained load.
        // No liveness ping when a connection is handed out: it would cost every request a
        // round trip to the connection's thread, and a local file does not go away.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone().pragma("cache_size", "-16000").pragma("wal_autocheckpoint", "16384"))
            .await
            .context(|| format!("opening the writer connection to {path}"))?;
        sqlx::migrate!("./migrations")
            .run(&write)
            .await
            .map_err(|e| Error::internal(format!("migrating {path}: {e}")))?;
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(4)
            .min_connections(0)
            .idle_timeout(Some(Duration::from_secs(60)))
            .connect_with(options.clone().read_only(true))
            .await
            .context(|| format!("opening the read connections to {path}"))?;
        let ingest = group_commit::IngestQueue::start(write.clone());
        let store = SqliteStore { write, read, last_span_ingest: Default::default(), ingest };
        store.ensure_default_experiment(default_artifact_root).await?;
        tokio::spawn(checkpoint_in_background(options, store.write.clone()));
        tokio::spawn(text_index::index_in_background(
            store.read.clone(),
            store.write.clone(),
            store.last_span_ingest.clone(),
        ));
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
        .context(|| "creating the Default experiment")?;
        Ok(())
    }

    /// Closes both pools; the last connection to close checkpoints the WAL.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Copies the WAL into the database file off the writer's path: a passive checkpoint every
/// half second, which never blocks the writer or readers. Ends when the store closes.
async fn checkpoint_in_background(options: SqliteConnectOptions, write: SqlitePool) {
    use sqlx::Connection;
    let mut connection = match sqlx::SqliteConnection::connect_with(&options).await {
        Ok(connection) => connection,
        Err(error) => {
            tracing::warn!(%error, "no background checkpoints: could not open a connection");
            return;
        }
    };
    let mut interval = tokio::time::interval(Duration::from_millis(500));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !write.is_closed() {
        interval.tick().await;
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut connection).await {
            tracing::debug!(%error, "background checkpoint skipped");
        }
    }
    let _ = connection.close().await;
}

/// A store on a fresh file in a temporary directory, for the modules' tests; keep the
/// directory alive as long as the store.
#[cfg(test)]
async fn test_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = format!("sqlite:///{}", dir.path().join("t.db").display());
    let store = SqliteStore::connect(&uri, "mlflow-artifacts:").await.expect("connect");
    (dir, store)
}

#[cfg(test)]
mod connect_tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_directory_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let uri = format!("sqlite:///{}", dir.path().join("absent/t.db").display());
        let error = SqliteStore::connect(&uri, "mlflow-artifacts:").await.expect_err("no such directory");
        assert_eq!(error.code, ferroflow_core::ErrorCode::InvalidParameterValue);
        assert!(error.message.contains("absent' of the SQLite file"), "{}", error.message);
    }
}

/// The store test suite (crate `ferroflow-store-testsuite`), every check, on SQLite.
#[cfg(test)]
mod testsuite {
    ferroflow_store_testsuite::store_suite!(super::test_store);
}
