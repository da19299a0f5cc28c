//! The store test suite on PostgreSQL: each test gets a database of its own in the scratch
//! cluster (`ferroflow-pgtest`; `FERROFLOW_TEST_POSTGRES_URL` points elsewhere), dropped when
//! the test ends.

use crate::PostgresStore;
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;

/// A fresh database; dropped (with `FORCE`, closing what is left connected) on drop.
pub(crate) struct ScratchDatabase {
    admin_url: String,
    pub(crate) name: String,
}

impl ScratchDatabase {
    pub(crate) async fn new() -> Self {
        let admin_url = tokio::task::spawn_blocking(ferroflow_pgtest::admin_url)
            .await
            .expect("join")
            .expect("a PostgreSQL server for the tests");
        let name = format!("ff_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection(&admin_url).await;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
        let _ = admin.close().await;
        ScratchDatabase { admin_url, name }
    }

    /// The database's URI, as a user would give it to the server.
    pub(crate) fn uri(&self) -> String {
        let base = self.admin_url.rsplit_once('/').map(|(base, _)| base).unwrap_or(&self.admin_url);
        format!("{base}/{}", self.name)
    }
}

async fn admin_connection(url: &str) -> sqlx::PgConnection {
    sqlx::postgres::PgConnectOptions::from_str(url)
        .expect("admin url")
        .disable_statement_logging()
        .connect()
        .await
        .expect("connect to the admin database")
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside any runtime's async context: a thread of its own does the I/O.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let mut admin = admin_connection(&url).await;
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
            });
        })
        .join();
    }
}

/// A store on a fresh database; keep the guard alive as long as the store.
pub(crate) async fn test_store() -> (ScratchDatabase, PostgresStore) {
    let database = ScratchDatabase::new().await;
    let store = PostgresStore::connect(&database.uri(), "mlflow-artifacts:").await.expect("connect");
    (database, store)
}

mod suite {
    ferroflow_store_testsuite::store_suite!(
        super::test_store;
        check_experiments,
        check_runs,
        check_registry_concurrent_registrations_get_distinct_consecutive_versions,
        check_registry_prompts_are_hidden_unless_asked_for,
        check_registry_aliases_and_latest,
        check_registry_children_come_back_in_the_order_they_were_set,
        check_registry_registering_a_version_touches_its_model,
        check_registry_search_pages_keep_their_order,
        check_registry_logged_model_sources_resolve_to_their_artifacts,
        check_logged_models_run_metrics_reach_models_and_drive_search,
    );
}

#[test]
fn uris() {
    assert!(crate::is_postgres_uri("postgresql://u:p@h:5432/db"));
    assert!(crate::is_postgres_uri("postgresql+psycopg2://u:p@h/db"));
    assert!(crate::is_postgres_uri("postgres://h/db"));
    assert!(!crate::is_postgres_uri("sqlite:///x.db"));
    assert_eq!(crate::normalize_uri("postgresql+psycopg2://u@h/db").unwrap(), "postgresql://u@h/db");
    assert_eq!(crate::redact("postgresql://u:secret@h/db"), "postgresql://u:***@h/db");
}
