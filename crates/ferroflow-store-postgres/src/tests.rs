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
    ferroflow_store_testsuite::store_suite!(super::test_store);
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

/// Two stores ("replicas") started at the same moment on one empty database: the migrations
/// run once (the other waits on the advisory lock), what one writes the other reads at once,
/// and registrations through both at the same time number 1..N.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_behave_as_one() {
    use ferroflow_core::entities::{NewModelVersion, NewRegisteredModel, Tag};
    use ferroflow_core::ids::ModelName;
    use ferroflow_core::store::{RegistryStore, TrackingStore};
    let database = ScratchDatabase::new().await;
    let uri = database.uri();
    let (a, b) = tokio::join!(
        PostgresStore::connect(&uri, "mlflow-artifacts:"),
        PostgresStore::connect(&uri, "mlflow-artifacts:")
    );
    let (a, b) = (a.expect("replica a"), b.expect("replica b"));

    let id = a.create_experiment("shared", None, &[Tag::new("k", "v")], "mlflow-artifacts:").await.expect("create");
    let seen = b.get_experiment_by_name("shared").await.expect("read through the other replica");
    assert_eq!((seen.experiment_id, seen.tags), (id, vec![Tag::new("k", "v")]));
    b.rename_experiment(id, "renamed").await.expect("rename");
    assert_eq!(a.get_experiment(id).await.expect("get").name, "renamed");
    let taken = b.create_experiment("renamed", None, &[], "mlflow-artifacts:").await.expect_err("taken");
    assert_eq!(taken.code, ferroflow_core::ErrorCode::ResourceAlreadyExists);

    let model = NewRegisteredModel { name: ModelName::from_stored("m"), description: None, tags: Vec::new() };
    a.create_registered_model(&model).await.expect("model");
    let requests: Vec<NewModelVersion> =
        (0..40).map(|i| NewModelVersion::new(ModelName::from_stored("m"), format!("s3://b/{i}"))).collect();
    let registrations = requests.iter().enumerate().map(|(i, request)| {
        let replica = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { replica.create_model_version(request).await }
    });
    let mut versions: Vec<i64> =
        futures::future::join_all(registrations).await.into_iter().map(|v| v.expect("register").version).collect();
    versions.sort();
    assert_eq!(versions, (1..=40).collect::<Vec<i64>>());
    assert_eq!(
        b.get_model_version_by_alias(&ModelName::from_stored("m"), &ferroflow_core::entities::AliasLookup::Latest)
            .await
            .unwrap()
            .version,
        40
    );
    a.close().await;
    b.close().await;
}
