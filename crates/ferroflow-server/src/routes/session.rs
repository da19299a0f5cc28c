//! The web UI's sign-in and sign-out with `--app-name basic-auth`: `GET /login` shows the
//! form, `POST /login` checks the password (slowed down after failures, as every login is)
//! and starts a session (kept in the auth store) whose cookie is `HttpOnly`, `SameSite=Strict`
//! and, when the request came over HTTPS through a proxy, `Secure`; `/logout` ends it.
//! Every form carries a CSRF token: the sign-in form one it also set as a cookie of its own
//! (double submit), the sign-out form the session's. Without the auth app the pages redirect
//! to the experiments.

use crate::auth::middleware::{cookie, PeerAddr};
use crate::auth::{new_token_secret, SESSION_COOKIE};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use ferroflow_core::store::Access;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The cookie holding the sign-in form's CSRF token.
const LOGIN_COOKIE: &str = "ferroflow_login";

fn prefix(state: &AppState) -> String {
    state.config.static_prefix.clone().unwrap_or_default()
}

/// Where to go after signing in: a path of this server, never another site (`//host`).
fn local_target(prefix: &str, next: &str) -> String {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\");
    if local && !next.contains(['\r', '\n']) {
        next.to_string()
    } else {
        format!("{prefix}/experiments")
    }
}

/// Whether the browser reached us over HTTPS: ferroflow serves plain HTTP, so this is what a
/// TLS-terminating proxy in front says (`X-Forwarded-Proto: https`, or `Forwarded: proto=https`).
/// A client that sends it itself only makes its own cookies HTTPS-only.
fn over_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split([';', ',']).any(|pair| {
            pair.split_once('=').is_some_and(|(k, value)| {
                k.trim().eq_ignore_ascii_case("proto") && value.trim().trim_matches('"').eq_ignore_ascii_case("https")
            })
        })
    });
    forwarded_proto || forwarded
}

/// A cookie of ours: `HttpOnly`, `SameSite=Strict`, and `Secure` when the request came over HTTPS.
fn cookie_header(name: &str, value: &str, path: &str, max_age_s: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path={path}; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn cookie_path(state: &AppState) -> String {
    let prefix = prefix(state);
    if prefix.is_empty() {
        "/".into()
    } else {
        prefix
    }
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// The sign-in page, with a new CSRF token in its form and in a cookie.
fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    next: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let prefix = prefix(state);
    let token = new_token_secret();
    let page = ferroflow_ui::login_page(&prefix, &local_target(&prefix, next), &token, message);
    let mut response = ferroflow_ui::with_security_headers((status, page).into_response());
    let path = format!("{prefix}/login");
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie_header(LOGIN_COOKIE, &token, &path, 3600, over_https(headers)));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    if state.auth.is_none() {
        return Redirect::to(&format!("{}/experiments", prefix(&state))).into_response();
    }
    login_form(&state, &headers, &query.next, None, StatusCode::OK)
}

pub async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(auth) = state.auth.clone() else {
        return Redirect::to(&format!("{}/experiments", prefix(&state))).into_response();
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(&expected, &form.csrf) {
        let message = "The sign-in form expired or did not come from this site; please try again.";
        return login_form(&state, &headers, &form.next, Some(message), StatusCode::FORBIDDEN);
    }
    let peer = peer.map(|Extension(PeerAddr(address))| address.ip());
    let user = match auth.login(&form.username, &form.password, peer).await {
        Ok(user) => user,
        Err(error) => return crate::error::ApiError(error).into_response(),
    };
    let Some(user) = user else {
        return login_form(&state, &headers, &form.next, Some("Wrong username or password."), StatusCode::UNAUTHORIZED);
    };
    let secret = match auth.start_session(&user).await {
        Ok(secret) => secret,
        Err(error) => return crate::error::ApiError(error).into_response(),
    };
    let prefix = prefix(&state);
    let mut response = Redirect::to(&local_target(&prefix, &form.next)).into_response();
    let max_age = crate::auth::SESSION_MAX.as_secs();
    let secure = over_https(&headers);
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie_header(SESSION_COOKIE, &secret, &cookie_path(&state), max_age, secure));
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie_header(LOGIN_COOKIE, "", &format!("{prefix}/login"), 0, secure));
    response
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout_page(State(state): State<AppState>, access: Option<Extension<Access>>) -> Response {
    let Some(Extension(access)) = access else {
        return Redirect::to(&format!("{}/experiments", prefix(&state))).into_response();
    };
    let page = ferroflow_ui::logout_page(&prefix(&state), &access.user.username, &access.csrf_token);
    ferroflow_ui::with_security_headers(page.into_response())
}

pub async fn logout(
    State(state): State<AppState>,
    access: Option<Extension<Access>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let (Some(auth), Some(Extension(access))) = (state.auth.clone(), access) else {
        return Redirect::to(&format!("{}/experiments", prefix(&state))).into_response();
    };
    if !same(&access.csrf_token, &form.csrf) {
        return (StatusCode::FORBIDDEN, "This form expired or did not come from this site.").into_response();
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        if let Err(error) = auth.end_session(&secret).await {
            return crate::error::ApiError(error).into_response();
        }
    }
    let mut response = Redirect::to(&format!("{}/login", prefix(&state))).into_response();
    let cleared = cookie_header(SESSION_COOKIE, "", &cookie_path(&state), 0, over_https(&headers));
    response.headers_mut().append(header::SET_COOKIE, cleared);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_when_a_proxy_says_https() {
        let mut headers = HeaderMap::new();
        assert!(!over_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        assert!(over_https(&headers));
        let text = cookie_header("c", "v", "/", 60, true);
        assert!(text.to_str().unwrap().ends_with("HttpOnly; SameSite=Strict; Secure"));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!over_https(&headers));
        headers.insert(header::FORWARDED, HeaderValue::from_static("for=1.2.3.4;proto=https;host=x"));
        assert!(over_https(&headers));
    }

    #[test]
    fn sign_in_returns_only_to_paths_of_this_server() {
        assert_eq!(local_target("", "/experiments/1/traces?filter=x"), "/experiments/1/traces?filter=x");
        assert_eq!(local_target("/mlflow", "/mlflow/prompts"), "/mlflow/prompts");
        for elsewhere in
            ["https://evil.example/", "//evil.example/x", "/\\evil.example", "", "experiments", "/a\r\nSet-Cookie: x=y"]
        {
            assert_eq!(local_target("/p", elsewhere), "/p/experiments", "{elsewhere:?}");
        }
    }
}
