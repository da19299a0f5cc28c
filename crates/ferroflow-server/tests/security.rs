//! The security middleware and the limits over real sockets: Host checks, cross-origin writes,
//! CORS answers, security headers, the cap on requests in flight and the header-read timeout.

mod testkit;

use std::time::Duration;

use ferroflow_server::security::SecurityConfig;
use ferroflow_server::{Limits, ServerConfig};
use testkit::{spawn_app, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` as written on a fresh connection and returns the whole answer as text.
async fn raw(base: &str, request: &str) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn get(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_but_health_stays_open() {
    let app = spawn_app().await;
    let refused = raw(&app.base, &get("/api/2.0/mlflow/experiments/search?max_results=1", "evil.example.com")).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.ends_with("Invalid Host header - possible DNS rebinding attack detected"), "{refused}");
    let rebound = raw(&app.base, &get("/", "10.evil.example.com:5000")).await;
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");

    let health = raw(&app.base, &get("/health", "evil.example.com")).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let local = raw(&app.base, &get("/api/2.0/mlflow/experiments/search?max_results=1", "localhost:5000")).await;
    assert!(local.starts_with("HTTP/1.1 200"), "{local}");
    let private = raw(&app.base, &get("/api/2.0/mlflow/experiments/search?max_results=1", "192.168.1.20:5000")).await;
    assert!(private.starts_with("HTTP/1.1 200"), "{private}");
}

#[tokio::test]
async fn allowed_hosts_replace_the_default_and_star_allows_all() {
    let config = ServerConfig {
        security: SecurityConfig::from_flags(Some("mlflow.example.org"), None, None, false),
        ..ServerConfig::default()
    };
    let app = spawn_app_with(config).await;
    let named = raw(&app.base, &get("/api/2.0/mlflow/experiments/search?max_results=1", "mlflow.example.org")).await;
    assert!(named.starts_with("HTTP/1.1 200"), "{named}");
    let local = raw(&app.base, &get("/api/2.0/mlflow/experiments/search?max_results=1", "localhost")).await;
    assert!(local.starts_with("HTTP/1.1 403"), "{local}");

    let open = spawn_app_with(ServerConfig {
        security: SecurityConfig::from_flags(Some("*"), None, None, false),
        ..ServerConfig::default()
    })
    .await;
    let any = raw(&open.base, &get("/api/2.0/mlflow/experiments/search?max_results=1", "anything.example")).await;
    assert!(any.starts_with("HTTP/1.1 200"), "{any}");
}

#[tokio::test]
async fn cross_origin_writes_are_blocked_unless_the_origin_is_local_or_allowed() {
    let app = spawn_app().await;
    let create = |origin: &'static str, name: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/2.0/mlflow/experiments/create"))
                .header("origin", origin)
                .json(&serde_json::json!({ "name": name }))
                .send()
                .await
                .unwrap()
        }
    };
    let blocked = create("https://evil.example.com", "from-evil").await;
    assert_eq!(blocked.status().as_u16(), 403);
    assert_eq!(blocked.text().await.unwrap(), "Cross-origin request blocked");
    let missing = app.get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=from-evil").await;
    assert_eq!(missing.status, 404, "the blocked write did nothing");

    let local = create("http://localhost:3000", "from-local").await;
    assert_eq!(local.status().as_u16(), 200);
    assert_eq!(local.headers()["access-control-allow-origin"], "http://localhost:3000");
    assert_eq!(local.headers()["access-control-allow-credentials"], "true");

    // A read from a foreign origin is answered, without CORS headers, so the browser hides it.
    let read = app
        .client
        .get(app.url("/api/2.0/mlflow/experiments/search?max_results=1"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 200);
    assert!(read.headers().get("access-control-allow-origin").is_none());

    let allowed = spawn_app_with(ServerConfig {
        security: SecurityConfig::from_flags(None, Some("https://app.example.com"), None, false),
        ..ServerConfig::default()
    })
    .await;
    let ok = allowed
        .client
        .post(allowed.url("/api/2.0/mlflow/experiments/create"))
        .header("origin", "https://app.example.com")
        .json(&serde_json::json!({ "name": "from-app" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn preflight_security_headers_and_the_off_switch() {
    let app = spawn_app().await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/2.0/mlflow/runs/create"))
        .header("origin", "http://127.0.0.1:8080")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "http://127.0.0.1:8080");
    assert!(preflight.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));

    let answer = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
    assert_eq!(answer.headers()["x-frame-options"], "SAMEORIGIN");
    let error = app.client.get(app.url("/api/2.0/mlflow/experiments/get?experiment_id=x")).send().await.unwrap();
    assert_eq!(error.headers()["x-content-type-options"], "nosniff");

    let off = spawn_app_with(ServerConfig {
        security: SecurityConfig::from_flags(None, None, None, true),
        ..ServerConfig::default()
    })
    .await;
    let foreign = raw(&off.base, &get("/api/2.0/mlflow/experiments/search?max_results=1", "evil.example.com")).await;
    assert!(foreign.starts_with("HTTP/1.1 200"), "{foreign}");
    assert!(!foreign.to_ascii_lowercase().contains("x-frame-options"), "{foreign}");
}

#[tokio::test]
async fn past_the_cap_a_request_gets_503_with_retry_after() {
    let limits = Limits { max_concurrent_requests: 1, ..Limits::default() };
    let app = spawn_app_with(ServerConfig { limits, ..ServerConfig::default() }).await;
    // The first request holds the only permit: its body is announced but never finished.
    let address = app.base.trim_start_matches("http://").to_string();
    let mut holder = TcpStream::connect(&address).await.unwrap();
    holder
        .write_all(
            b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let busy = app.client.get(app.url("/api/2.0/mlflow/experiments/search?max_results=1")).send().await.unwrap();
    assert_eq!(busy.status().as_u16(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    let body: serde_json::Value = busy.json().await.unwrap();
    assert_eq!(body["error_code"], "TEMPORARILY_UNAVAILABLE", "{body}");

    drop(holder);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = app.get("/api/2.0/mlflow/experiments/search?max_results=1").await;
    assert_eq!(after.status, 200, "the permit comes back when the request ends");
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let limits = Limits { header_read_timeout: Duration::from_millis(300), ..Limits::default() };
    let app = spawn_app_with(ServerConfig { limits, ..ServerConfig::default() }).await;
    let address = app.base.trim_start_matches("http://").to_string();
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server closed the connection within the timeout");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}
