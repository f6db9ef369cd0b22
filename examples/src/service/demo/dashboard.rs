//! The live dashboard: one page, its script and its style, built into the
//! program (no CDN, nothing fetched from elsewhere).

use axum::http::header;
use axum::response::{Html, IntoResponse};

/// `GET /`.
pub(crate) async fn page() -> Html<&'static str> {
    Html(include_str!("dashboard/index.html"))
}

/// `GET /dashboard.js`.
pub(crate) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("dashboard/dashboard.js"),
    )
}

/// `GET /dashboard.css`.
pub(crate) async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("dashboard/dashboard.css"),
    )
}
