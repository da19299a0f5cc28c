//! The server's test kit: `spawn_app()` starts the whole application (router, SQLite store,
//! local artifact repository) on an ephemeral loopback port over a scratch directory, as the
//! binary wires it, so integration tests speak real HTTP to a real server.

#![allow(dead_code)] // each test binary uses part of the kit

use std::sync::Arc;

use ferroflow_artifacts::ObjectStoreRepo;
use ferroflow_server::{AppState, ServerConfig};
use ferroflow_store_sqlite::SqliteStore;
use serde_json::Value;

/// A running server; it stops when the value is dropped (the runtime of the test ends).
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: SqliteStore,
    _dir: tempfile::TempDir,
}

/// An answer: the status and the decoded JSON body (`Value::Null` when the body is not JSON).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The MLflow error code of an error answer.
    pub fn error_code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(ServerConfig::default()).await
}

pub async fn spawn_app_with(config: ServerConfig) -> TestApp {
    spawn(config, None).await
}

/// The app with the basic-auth app on, its admin `admin` with `admin_password`.
pub async fn spawn_auth_app(default_permission: &str, admin_password: &str) -> TestApp {
    let ini = format!("[mlflow]\ndefault_permission = {default_permission}\nadmin_username = admin\n");
    let (settings, _) =
        ferroflow_server::auth::AuthSettings::from_ini(&ini, None, Some(admin_password.to_string())).expect("settings");
    spawn(ServerConfig::default(), Some(settings)).await
}

async fn spawn(config: ServerConfig, auth: Option<ferroflow_server::auth::AuthSettings>) -> TestApp {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let db = dir.path().join("ferroflow.db");
    let store = SqliteStore::connect(&format!("sqlite:///{}", db.display()), &config.default_artifact_root)
        .await
        .expect("the store opens");
    let artifacts = ObjectStoreRepo::local(&dir.path().join("artifacts")).expect("the artifact root opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("an ephemeral port");
    let address = listener.local_addr().expect("a bound address");
    let auth = match auth {
        Some(settings) => Some(Arc::new(
            ferroflow_server::auth::Auth::start(Arc::new(store.clone()), settings).await.expect("the auth app starts"),
        )),
        None => None,
    };
    let state =
        AppState { store: Arc::new(store.clone()), artifacts: Arc::new(artifacts), config: Arc::new(config), auth };
    tokio::spawn(ferroflow_server::serve(listener, state, std::future::pending()));
    TestApp { base: format!("http://{address}"), client: reqwest::Client::new(), store, _dir: dir }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        answer(self.client.post(self.url(path)).json(&body).send().await.expect("the request is sent")).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        answer(self.client.patch(self.url(path)).json(&body).send().await.expect("the request is sent")).await
    }

    pub async fn delete(&self, path: &str, body: Value) -> Answer {
        answer(self.client.delete(self.url(path)).json(&body).send().await.expect("the request is sent")).await
    }

    pub async fn get(&self, path_and_query: &str) -> Answer {
        answer(self.client.get(self.url(path_and_query)).send().await.expect("the request is sent")).await
    }

    /// Creates an experiment and returns its id.
    pub async fn create_experiment(&self, name: &str) -> String {
        let answer = self.post("/api/2.0/mlflow/experiments/create", serde_json::json!({ "name": name })).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["experiment_id"].as_str().expect("an experiment id").to_string()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("the body is read");
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}
