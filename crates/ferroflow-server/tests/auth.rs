//! The basic-auth app over real HTTP: challenges, permissions, tokens, and failed logins that
//! get slower.

mod testkit;

use serde_json::json;
use std::time::{Duration, Instant};

const ADMIN: (&str, &str) = ("admin", "admin-password-1234");

#[tokio::test]
async fn credentials_permissions_and_tokens() {
    let app = testkit::spawn_auth_app("READ", ADMIN.1).await;
    let url = |path: &str| app.url(path);
    let client = &app.client;

    let missing = client.get(url("/api/2.0/mlflow/experiments/get?experiment_id=0")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Basic realm=\"mlflow\"");
    assert_eq!(client.get(url("/health")).send().await.unwrap().status(), 200);

    let created = client
        .post(url("/api/2.0/mlflow/users/create"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(&json!({"username": "ann", "password": "ann-password-12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["user"]["username"], "ann");
    assert_eq!(body["user"]["is_admin"], false);

    // READ by default: reading the Default experiment works, renaming it does not.
    let read = client
        .get(url("/api/2.0/mlflow/experiments/get?experiment_id=0"))
        .basic_auth("ann", Some("ann-password-12"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let write = client
        .post(url("/api/2.0/mlflow/experiments/update"))
        .basic_auth("ann", Some("ann-password-12"))
        .json(&json!({"experiment_id": "0", "new_name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);

    // A token stands in for the password until it is revoked.
    let token: serde_json::Value = client
        .post(url("/api/3.0/mlflow/users/tokens/create"))
        .basic_auth("ann", Some("ann-password-12"))
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = token["secret"].as_str().unwrap();
    let current: serde_json::Value = client
        .get(url("/api/2.0/mlflow/users/current"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["user"]["username"], "ann");
    let revoke = client
        .delete(url("/api/3.0/mlflow/users/tokens/revoke"))
        .bearer_auth(secret)
        .json(&json!({"token_id": token["token"]["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let after = client.get(url("/api/2.0/mlflow/users/current")).bearer_auth(secret).send().await.unwrap();
    assert_eq!(after.status(), 401);
}

#[tokio::test]
async fn repeated_failed_logins_are_slowed_down() {
    let app = testkit::spawn_auth_app("READ", ADMIN.1).await;
    let attempt = || async {
        let started = Instant::now();
        let answer = app
            .client
            .get(app.url("/api/2.0/mlflow/experiments/get?experiment_id=0"))
            .basic_auth("admin", Some("wrong-password-x"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
        started.elapsed()
    };
    for _ in 0..3 {
        attempt().await;
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        slowest = slowest.max(attempt().await);
    }
    assert!(slowest >= Duration::from_millis(300), "failed logins were not slowed: {slowest:?}");
    // The right password still works (and clears the count).
    let ok = app
        .client
        .get(app.url("/api/2.0/mlflow/experiments/get?experiment_id=0"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}
