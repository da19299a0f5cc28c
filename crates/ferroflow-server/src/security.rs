//! The security middleware, wire-compatible with `mlflow server`'s (MLflow 3.5+): Host header
//! checks against DNS rebinding, a CORS policy that refuses cross-origin writes, and the
//! `X-Content-Type-Options` / `X-Frame-Options` headers — with MLflow's flag and variable
//! names, defaults, messages and order of checks (Host first, then CORS, then the headers).
//!
//! Why it matters for a server on localhost: any web page a user visits can send requests to
//! `http://127.0.0.1:5000`. The Host check stops a rebound DNS name from reading answers; the
//! Origin check stops a foreign page from writing (a browser sends `Origin` on every
//! cross-origin POST, and a "simple" POST needs no preflight).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{HeaderValue, CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, Any, CorsLayer};

/// MLflow's answer to a Host header it does not allow.
pub const INVALID_HOST_MSG: &str = "Invalid Host header - possible DNS rebinding attack detected";
/// MLflow's answer to a cross-origin write.
pub const CORS_BLOCKED_MSG: &str = "Cross-origin request blocked";

const LOCALHOST_VARIANTS: [&str; 4] = ["localhost", "127.0.0.1", "[::1]", "0.0.0.0"];
const PRIVATE_IPV6_PATTERNS: [&str; 2] = ["fc00:*", "fd00:*"];

/// The security settings of `ferroflow server` (`--allowed-hosts`, `--cors-allowed-origins`,
/// `--x-frame-options`, `--disable-security-middleware`).
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// `false` with `--disable-security-middleware`: no checks and no headers at all.
    pub enabled: bool,
    /// Host header patterns (`fnmatch` style: `*`, `?`, `[…]`); `*` alone allows every host.
    pub allowed_hosts: Vec<String>,
    /// Origins allowed to write cross-origin besides localhost ones (exact, or a pattern with
    /// `*`); `*` alone allows every origin (without credentials).
    pub cors_allowed_origins: Vec<String>,
    /// `SAMEORIGIN` (the default), `DENY`, or `None` for no header (`NONE` on the command line).
    pub x_frame_options: Option<String>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            enabled: true,
            allowed_hosts: default_allowed_hosts(),
            cors_allowed_origins: Vec::new(),
            x_frame_options: Some("SAMEORIGIN".to_string()),
        }
    }
}

impl SecurityConfig {
    /// The settings from the flags' text, as `mlflow server` reads them: comma-separated lists
    /// (a given host list replaces the default), `NONE` turns `X-Frame-Options` off.
    pub fn from_flags(
        allowed_hosts: Option<&str>,
        cors_allowed_origins: Option<&str>,
        x_frame_options: Option<&str>,
        disabled: bool,
    ) -> Self {
        let list = |text: &str| text.split(',').map(|item| item.trim().to_string()).collect::<Vec<_>>();
        let default = SecurityConfig::default();
        SecurityConfig {
            enabled: !disabled,
            allowed_hosts: allowed_hosts.filter(|t| !t.is_empty()).map(list).unwrap_or(default.allowed_hosts),
            cors_allowed_origins: cors_allowed_origins.filter(|t| !t.is_empty()).map(list).unwrap_or_default(),
            x_frame_options: match x_frame_options {
                None | Some("") => default.x_frame_options,
                Some(value) if value.eq_ignore_ascii_case("NONE") => None,
                Some(value) => Some(value.to_ascii_uppercase()),
            },
        }
    }

    fn wildcard_origins(&self) -> bool {
        self.cors_allowed_origins.iter().any(|o| o == "*")
    }
}

/// Localhost in every spelling (any port), and the private address ranges of RFC 1918 and
/// RFC 4193: a server on a laptop or a private network works without flags.
pub fn default_allowed_hosts() -> Vec<String> {
    let mut hosts: Vec<String> = LOCALHOST_VARIANTS.iter().map(|h| h.to_string()).collect();
    // `[` opens a character class in a pattern; `[[]` is a literal one.
    hosts.extend(LOCALHOST_VARIANTS.iter().map(|h| format!("{}:*", h.replacen('[', "[[]", 1))));
    hosts.push("192.168.*".into());
    hosts.push("10.*".into());
    hosts.extend((16..32).map(|i| format!("172.{i}.*")));
    hosts.extend(PRIVATE_IPV6_PATTERNS.iter().map(|p| p.to_string()));
    hosts
}

/// Wraps `routes` in the security middleware (outermost first: Host check, CORS, the
/// cross-origin write block, the response headers). `prefix` is `--static-prefix`.
pub fn layer(routes: Router, config: &SecurityConfig, prefix: Option<&str>) -> Router {
    if !config.enabled {
        return routes;
    }
    let paths = Arc::new(Paths { prefix: prefix.unwrap_or("").to_string() });
    let headers = {
        let paths = paths.clone();
        let x_frame_options = config.x_frame_options.as_deref().and_then(|v| HeaderValue::from_str(v).ok());
        axum::middleware::from_fn(move |request: Request, next: Next| {
            security_headers(paths.clone(), x_frame_options.clone(), request, next)
        })
    };
    let mut routes = routes.layer(headers);
    if !config.wildcard_origins() {
        let paths = paths.clone();
        let allowed = Arc::new(config.cors_allowed_origins.clone());
        routes = routes.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            block_cross_origin_writes(paths.clone(), allowed.clone(), request, next)
        }));
    }
    routes = routes.layer(cors(config));
    if !config.allowed_hosts.iter().any(|h| h == "*") {
        let allowed = Arc::new(config.allowed_hosts.iter().map(|p| HostPattern::new(p)).collect::<Vec<_>>());
        routes = routes.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            check_host(paths.clone(), allowed.clone(), request, next)
        }));
    }
    routes
}

/// The CORS answers a browser reads: localhost origins (and the configured ones) may make
/// credentialed requests; `*` lets every origin in, without credentials.
fn cors(config: &SecurityConfig) -> CorsLayer {
    if config.wildcard_origins() {
        return CorsLayer::new().allow_origin(Any).allow_methods(Any).allow_headers(Any).expose_headers(Any);
    }
    let allowed = config.cors_allowed_origins.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            let origin = origin.to_str().unwrap_or("");
            allowed.iter().any(|a| a == origin) || is_localhost_origin_pattern(origin)
        }))
        .allow_credentials(true)
        .allow_methods(AllowMethods::list([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
        ]))
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(600))
}

/// Which paths are the API (the CORS rules) and which are health checks (no Host check).
struct Paths {
    prefix: String,
}

impl Paths {
    fn is_api(&self, path: &str) -> bool {
        let rest = path.strip_prefix(self.prefix.as_str()).unwrap_or("");
        let prefixed = rest.starts_with("/api/") || rest.starts_with("/ajax-api/");
        // The artifact routes answer unprefixed too.
        let artifacts = path.starts_with("/api/2.0/mlflow-artifacts/artifacts")
            || path.starts_with("/ajax-api/2.0/mlflow-artifacts/artifacts");
        (prefixed || artifacts) && path != "/test" && path != "/api/test"
    }

    fn is_health(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str()).is_some_and(|rest| rest == "/health" || rest == "/version")
    }
}

async fn check_host(paths: Arc<Paths>, allowed: Arc<Vec<HostPattern>>, request: Request, next: Next) -> Response {
    if paths.is_health(request.uri().path()) {
        return next.run(request).await;
    }
    let host = request.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if host.is_empty() || !allowed.iter().any(|pattern| pattern.matches(host)) {
        tracing::warn!(host, "rejected a request with a Host header that is not allowed");
        return plain(StatusCode::FORBIDDEN, INVALID_HOST_MSG);
    }
    next.run(request).await
}

async fn block_cross_origin_writes(
    paths: Arc<Paths>,
    allowed: Arc<Vec<String>>,
    request: Request,
    next: Next,
) -> Response {
    let writes = matches!(*request.method(), Method::POST | Method::PUT | Method::DELETE | Method::PATCH);
    if writes && paths.is_api(request.uri().path()) {
        let origin = request.headers().get(ORIGIN).and_then(|h| h.to_str().ok()).unwrap_or("");
        if !origin.is_empty() && !origin_may_write(origin, &allowed) {
            tracing::warn!(origin, "blocked a cross-origin write");
            return plain(StatusCode::FORBIDDEN, CORS_BLOCKED_MSG);
        }
    }
    next.run(request).await
}

async fn security_headers(
    paths: Arc<Paths>,
    x_frame_options: Option<HeaderValue>,
    request: Request,
    next: Next,
) -> Response {
    let options_on_api = request.method() == Method::OPTIONS && paths.is_api(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Some(value) = x_frame_options {
        headers.insert("x-frame-options", value);
    }
    if options_on_api && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = Body::empty();
    }
    response
}

fn plain(status: StatusCode, message: &'static str) -> Response {
    (status, [(CONTENT_TYPE, HeaderValue::from_static("text/plain"))], message).into_response()
}

/// Whether a cross-origin write from `origin` goes through: localhost origins always do.
fn origin_may_write(origin: &str, allowed: &[String]) -> bool {
    if matches!(origin_hostname(origin).as_deref(), Some("localhost" | "127.0.0.1" | "[::1]" | "::1")) {
        return true;
    }
    allowed.iter().any(|a| if a.contains('*') { HostPattern::glob_matches(a, origin) } else { a == origin })
}

/// The host name of an origin (`scheme://host[:port]`), lower-cased, IPv6 without brackets.
fn origin_hostname(origin: &str) -> Option<String> {
    let rest = origin.split_once("://").map(|(_, rest)| rest)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map(|(_, host)| host).unwrap_or(authority);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `http://localhost`, `http://127.0.0.1` or `http://[::1]`, with or without a port: the
/// origins the browser side of CORS always lets in.
fn is_localhost_origin_pattern(origin: &str) -> bool {
    ["http://localhost", "http://127.0.0.1", "http://[::1]"].iter().any(|base| match origin.strip_prefix(base) {
        Some("") => true,
        Some(port) => port.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    })
}

/// One `--allowed-hosts` entry: an exact host or an `fnmatch` pattern.
struct HostPattern {
    text: String,
    glob: Option<glob::Pattern>,
    /// `10.*`, `192.168.*:5000`: meant for IPv4 addresses only, so `10.example.com` does not
    /// match.
    ipv4_only: bool,
    /// The default private IPv6 ranges: only IPv6 addresses (`fd00:*` names no host `fd00`).
    ipv6_only: bool,
}

impl HostPattern {
    fn new(text: &str) -> Self {
        let glob = if text.contains('*') { glob::Pattern::new(text).ok() } else { None };
        HostPattern {
            text: text.to_string(),
            glob,
            ipv4_only: is_ipv4_prefix_glob(text),
            ipv6_only: PRIVATE_IPV6_PATTERNS.contains(&text),
        }
    }

    fn matches(&self, host: &str) -> bool {
        if !self.text.contains('*') {
            return host == self.text;
        }
        let Some(glob) = &self.glob else { return false };
        if !glob.matches(host) {
            return false;
        }
        if self.ipv4_only {
            return host.split(':').next().unwrap_or("").parse::<Ipv4Addr>().is_ok();
        }
        if self.ipv6_only {
            return host.parse::<Ipv6Addr>().is_ok();
        }
        true
    }

    fn glob_matches(pattern: &str, text: &str) -> bool {
        glob::Pattern::new(pattern).is_ok_and(|p| p.matches(text))
    }
}

/// `<digits>.(<digits>.)*` then `*`, then `.<digits or *>` parts, then an optional port of
/// digits and `*`: a pattern over IPv4 addresses.
fn is_ipv4_prefix_glob(pattern: &str) -> bool {
    let (address, port) = match pattern.split_once(':') {
        Some((address, port)) => (address, Some(port)),
        None => (pattern, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit() || b == b'*')) {
        return false;
    }
    let parts: Vec<&str> = address.split('.').collect();
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let Some(star) = parts.iter().position(|p| *p == "*") else { return false };
    star > 0 && parts[..star].iter().all(|p| numeric(p)) && parts[star + 1..].iter().all(|p| *p == "*" || numeric(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(host: &str) -> bool {
        default_allowed_hosts().iter().map(|p| HostPattern::new(p)).any(|p| p.matches(host))
    }

    #[test]
    fn default_hosts_are_localhost_and_private_addresses() {
        for host in ["localhost", "localhost:5000", "127.0.0.1:8080", "[::1]:5000", "0.0.0.0:1", "10.1.2.3:5000"] {
            assert!(allowed(host), "{host}");
        }
        for host in ["192.168.0.7", "172.16.0.1:80", "172.31.255.1", "fd00::1", "fc00::2"] {
            assert!(allowed(host), "{host}");
        }
        for host in ["evil.com", "10.evil.com", "172.32.0.1", "8.8.8.8:5000", "fd00:evil", "", "localhost.evil.com"] {
            assert!(!allowed(host), "{host}");
        }
    }

    #[test]
    fn given_hosts_replace_the_default() {
        let config = SecurityConfig::from_flags(Some("mlflow.example.org, *.internal:5000"), None, None, false);
        let patterns: Vec<HostPattern> = config.allowed_hosts.iter().map(|p| HostPattern::new(p)).collect();
        let ok = |h: &str| patterns.iter().any(|p| p.matches(h));
        assert!(ok("mlflow.example.org"));
        assert!(ok("a.internal:5000"));
        assert!(!ok("localhost:5000"));
        assert!(!ok("mlflow.example.org:5000"));
    }

    #[test]
    fn ipv4_prefix_globs_are_recognised() {
        for p in ["10.*", "192.168.*", "192.168.*:5000", "10.*.1", "10.*:*"] {
            assert!(is_ipv4_prefix_glob(p), "{p}");
        }
        for p in ["*", "*.example.com", "db:*", "fd00:*", "a.*", "10.*:"] {
            assert!(!is_ipv4_prefix_glob(p), "{p}");
        }
    }

    #[test]
    fn cross_origin_writes() {
        let none: Vec<String> = Vec::new();
        assert!(origin_may_write("http://localhost:3000", &none));
        assert!(origin_may_write("https://127.0.0.1", &none));
        assert!(origin_may_write("http://[::1]:8080", &none));
        assert!(!origin_may_write("https://evil.com", &none));
        assert!(!origin_may_write("http://localhost.evil.com", &none));
        let allowed = vec!["https://app.example.com".to_string(), "https://*.corp.example".to_string()];
        assert!(origin_may_write("https://app.example.com", &allowed));
        assert!(origin_may_write("https://ui.corp.example", &allowed));
        assert!(!origin_may_write("https://app.example.com.evil", &allowed));
    }

    #[test]
    fn localhost_origin_patterns_need_http_and_a_numeric_port() {
        assert!(is_localhost_origin_pattern("http://localhost"));
        assert!(is_localhost_origin_pattern("http://localhost:5173"));
        assert!(is_localhost_origin_pattern("http://[::1]:1"));
        assert!(!is_localhost_origin_pattern("https://localhost"));
        assert!(!is_localhost_origin_pattern("http://localhost:"));
        assert!(!is_localhost_origin_pattern("http://localhost.evil.com"));
    }

    #[test]
    fn x_frame_options_none_turns_the_header_off() {
        assert_eq!(SecurityConfig::from_flags(None, None, Some("none"), false).x_frame_options, None);
        assert_eq!(
            SecurityConfig::from_flags(None, None, Some("deny"), false).x_frame_options.as_deref(),
            Some("DENY")
        );
        assert_eq!(SecurityConfig::default().x_frame_options.as_deref(), Some("SAMEORIGIN"));
    }
}
