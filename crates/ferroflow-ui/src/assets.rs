//! The UI's own CSS and JavaScript, embedded in the binary and served under content-hashed
//! names (`app.<hash>.js`) with a year-long immutable cache: a new build changes the name.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

struct Asset {
    /// `app.<hash>.css`: the name links use.
    name: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    // SipHash with fixed keys: the same content gives the same name in every process.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    body.hash(&mut hasher);
    Asset { name: format!("{stem}.{:012x}.{ext}", hasher.finish() & 0xffff_ffff_ffff), body, content_type }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        asset("app", "css", include_str!("../assets/app.css"), "text/css; charset=utf-8"),
        asset("app", "js", include_str!("../assets/app.js"), "text/javascript; charset=utf-8"),
    ]
});

/// The hashed name of the stylesheet.
pub fn css_name() -> &'static str {
    &ASSETS[0].name
}

/// The hashed name of the script module.
pub fn js_name() -> &'static str {
    &ASSETS[1].name
}

pub fn router() -> Router {
    Router::new().route("/static/{name}", get(serve))
}

async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
