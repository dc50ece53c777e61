//! The web console served at `/`: one page of plain JavaScript over the HTTP API, embedded in
//! the binary (no Node toolchain, no build step). The assets are public; what they show comes
//! from `/api/v1` with the user's token.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("index.html");
const APP: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// Paths the console is served at, outside the API's auth.
pub const PATHS: [&str; 3] = ["/", "/console/app.js", "/console/style.css"];

/// `GET /`.
pub async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX)
}

/// `GET /console/app.js`.
pub async fn app() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], APP)
}

/// `GET /console/style.css`.
pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], STYLE)
}
