//! The HTTP client shared by the exporter and the registry client: base URL, authentication,
//! user agent, and MLflow's error bodies turned into [`Error::Api`].

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::config::{Auth, Config};
use crate::error::{Error, ErrorCode, Result};

pub(crate) const USER_AGENT: &str = concat!("ferroflow-rust-sdk/", env!("CARGO_PKG_VERSION"));

#[derive(Clone)]
pub(crate) struct HttpClient {
    base: String,
    client: reqwest::Client,
    auth: Auth,
}

impl HttpClient {
    pub(crate) fn new(config: &Config) -> Result<HttpClient> {
        let base = config.base_url().ok_or(Error::NotConfigured)?;
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!("tracking URI {base:?} is not an http(s) URL")));
        }
        Ok(HttpClient { base: base.to_string(), client: build_client(config)?, auth: config.auth.clone() })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request to `path` (starting with `/`) with the user agent and credentials set.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        with_auth(builder, &self.auth)
    }

    /// Calls an MLflow REST endpoint: GET with `query`, other methods with the JSON `body`.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let url = self.url(path);
        let mut builder = self.request(method, path);
        if !query.is_empty() {
            builder = builder.query(query);
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(|source| Error::Transport { url: url.clone(), source })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|source| Error::Transport { url: url.clone(), source })?;
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Object(Default::default()));
            }
            return serde_json::from_slice(&bytes)
                .map_err(|err| Error::Protocol { url, message: format!("body is not JSON: {err}") });
        }
        Err(api_error(status, &bytes))
    }
}

pub(crate) fn build_client(config: &Config) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(config.request_timeout)
        .tcp_nodelay(true)
        .build()
        .map_err(|err| Error::Config(format!("could not build the HTTP client: {err}")))
}

pub(crate) fn with_auth(builder: RequestBuilder, auth: &Auth) -> RequestBuilder {
    match auth {
        Auth::None => builder,
        Auth::Bearer(token) => builder.bearer_auth(token),
        Auth::Basic { username, password } => builder.basic_auth(username, Some(password)),
    }
}

/// An error answer: MLflow's `{"error_code", "message"}`, or, for a 404 whose body is not
/// JSON, `ENDPOINT_NOT_FOUND` (the server does not know the route), as the Python client reads it.
pub(crate) fn api_error(status: StatusCode, body: &[u8]) -> Error {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| parsed.as_ref().and_then(|v| v.get(name)).and_then(Value::as_str).map(str::to_string);
    let code = match field("error_code") {
        Some(code) => ErrorCode::parse(&code),
        None if status == StatusCode::NOT_FOUND => ErrorCode::EndpointNotFound,
        None => ErrorCode::parse(match status.as_u16() {
            400 => "BAD_REQUEST",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "REQUEST_LIMIT_EXCEEDED",
            501 => "NOT_IMPLEMENTED",
            503 => "TEMPORARILY_UNAVAILABLE",
            _ => "INTERNAL_ERROR",
        }),
    };
    let message = field("message").or_else(|| field("detail")).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        text.chars().take(300).collect()
    });
    Error::Api { status: status.as_u16(), code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `https://` works out of the box: the request gets as far as the TLS handshake (here
    /// with a peer that is not TLS), where a client without TLS refuses the scheme itself.
    #[tokio::test]
    async fn https_tracking_uris_are_supported_by_default() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let config = Config::builder().tracking_uri(format!("https://{address}")).build();
        let http = HttpClient::new(&config).unwrap();
        let err = http.call(Method::GET, "/api/2.0/mlflow/experiments/get", &[], None).await.unwrap_err();
        let Error::Transport { source, .. } = &err else { panic!("not a transport error: {err}") };
        // Without TLS the connector answers "invalid URL, scheme is not http"; with it, the
        // handshake fails on the peer's plain-text answer.
        let chain = format!("{source:?}");
        assert!(!chain.contains("scheme is not http"), "HTTPS is not built in: {chain}");
        assert!(chain.contains("InvalidContentType") || chain.contains("InvalidMessage"), "{chain}");
    }

    #[test]
    fn error_bodies_become_codes() {
        let err = api_error(StatusCode::NOT_FOUND, br#"{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "nope"}"#);
        assert!(err.is_not_found());
        assert_eq!(err.to_string(), "RESOURCE_DOES_NOT_EXIST: nope (HTTP 404)");
        let html = api_error(StatusCode::NOT_FOUND, b"<html>404</html>");
        assert_eq!(html.error_code(), Some(ErrorCode::EndpointNotFound));
        let alias = api_error(
            StatusCode::BAD_REQUEST,
            br#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "Registered model alias x not found."}"#,
        );
        assert_eq!(alias.error_code(), Some(ErrorCode::InvalidParameterValue));
    }
}
