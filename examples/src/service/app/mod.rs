//! The app a user copies: the routes of a small JSON API of todos whose
//! handlers share one pool, and the mapping of the pool's errors to HTTP
//! answers. Each handler checks a connection out with `pool.get()` for the
//! length of its work, and nothing else: the pool counts, times and
//! reports its checkouts itself (`pool.stats()`, metrics, tracing).
//!
//! - `/api/todos`: create (`POST`), list (`GET`, `?limit=20&after=<id>`,
//!   a cursor), and `GET`, `PATCH`, `DELETE` of `/api/todos/{id}`;
//! - `/health`: `200` when a connection can be had within a second.

mod error;
mod todos;

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tidepool_async::Pool;

pub(crate) use error::ApiError;
pub use todos::create_schema;

/// The API's routes, sharing `pool`.
pub fn routes(pool: Pool) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/todos", get(todos::list).post(todos::create))
        .route(
            "/api/todos/{id}",
            get(todos::read).patch(todos::update).delete(todos::delete),
        )
        .with_state(pool)
}

/// `GET /health`: `200` when a connection can be had within a second.
async fn health(State(pool): State<Pool>) -> (StatusCode, Json<Value>) {
    let check = async {
        let conn = pool.get_timeout(Duration::from_secs(1)).await?;
        conn.query_one("SELECT 1", &[]).await
    };
    match check.await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": e.to_string() })),
        ),
    }
}
