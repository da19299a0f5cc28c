//! The page frame (head, top bar, breadcrumbs), the error page and empty states.

use crate::assets;
use crate::Ui;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferroflow_core::{Error, ErrorCode};
use maud::{html, Markup, DOCTYPE};

/// A whole page: `crumbs` are (label, link) pairs shown before the title.
pub fn page(ui: &Ui, title: &str, crumbs: &[(&str, String)], body: Markup) -> Markup {
    frame(&ui.prefix, ui.sign_in, title, crumbs, body)
}

/// The frame of every page, for pages outside the router's state too (sign-in): `prefix`
/// starts every link; `sign_in` adds the sign-out link.
pub fn frame(prefix: &str, sign_in: bool, title: &str, crumbs: &[(&str, String)], body: Markup) -> Markup {
    let url = |path: &str| format!("{prefix}{path}");
    html! {
        (DOCTYPE)
        html lang="en" data-prefix=(prefix) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                // No favicon request: an empty data URL (allowed by the policy's img-src).
                link rel="icon" href="data:,";
                title { (title) " · ferroflow" }
                link rel="stylesheet" href=(url(&format!("/static/{}", assets::css_name())));
                script type="module" src=(url(&format!("/static/{}", assets::js_name()))) {}
            }
            body {
                header.top {
                    a.brand href=(url("/experiments")) { "ferroflow" }
                    nav {
                        a href=(url("/experiments")) { "Experiments" }
                        a href=(url("/prompts")) { "Prompts" }
                        a href=(url("/models")) { "Models" }
                    }
                    @if sign_in { a.signout href=(url("/logout")) { "Sign out" } }
                }
                main {
                    nav.crumbs {
                        @for (label, link) in crumbs {
                            a href=(link) { (label) } " / "
                        }
                    }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A box that says a list is empty and shows the Python that would fill it.
pub fn empty_state(what: &str, python: &str) -> Markup {
    html! {
        div.empty {
            p { (what) }
            pre.code { code { (python) } }
        }
    }
}

/// A failure shown as a page: the message (MLflow's text) and a status from its code.
pub struct UiError {
    ui_prefix: String,
    error: Error,
}

impl UiError {
    pub fn new(ui: &Ui, error: Error) -> Self {
        UiError { ui_prefix: ui.prefix.to_string(), error }
    }
}

/// The status a page failure answers with: the UI's counterpart of the API's error map.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::ResourceDoesNotExist => StatusCode::NOT_FOUND,
        ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = status_of(self.error.code);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self.error.message, "UI page failed");
        }
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "Something went wrong on the server; the log has the details.".to_string()
        } else {
            self.error.message.clone()
        };
        let home = format!("{}/experiments", self.ui_prefix);
        let body = html! {
            (DOCTYPE)
            html lang="en" {
                head { meta charset="utf-8"; link rel="icon" href="data:,"; title { "Error · ferroflow" } }
                body {
                    h1 { "Error" }
                    p.error { (message) }
                    p { a href=(home) { "Back to experiments" } }
                }
            }
        };
        (status, body).into_response()
    }
}

pub type PageResult = Result<Markup, UiError>;

/// `?` for core results inside a page handler.
pub trait OrPage<T> {
    fn or_page(self, ui: &Ui) -> Result<T, UiError>;
}

impl<T> OrPage<T> for ferroflow_core::Result<T> {
    fn or_page(self, ui: &Ui) -> Result<T, UiError> {
        self.map_err(|e| UiError::new(ui, e))
    }
}
