//! The API's errors, as JSON with a status code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error a handler returns: a status and a message for the client.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// `404 Not Found` for the todo `id`.
    pub(crate) fn not_found(id: i64) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("no todo {id}"),
        }
    }

    /// `400 Bad Request`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

/// A pool that timed out answers `503 Service Unavailable`, one that turned
/// the request away (`max_waiting`) `429 Too Many Requests`; anything else
/// is a `500`. The pool's messages never hold a password.
impl From<tidepool_async::Error> for ApiError {
    fn from(error: tidepool_async::Error) -> Self {
        let status = if error.is_timeout() {
            StatusCode::SERVICE_UNAVAILABLE
        } else if error.is_too_many_requests() {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self {
            status,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
