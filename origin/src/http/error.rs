//! The one error type of the HTTP boundary. A handler returns `ApiError` with a stable code; an
//! internal cause travels with it, is logged once here, and never reaches the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onsale_shared::{ErrorBody, ErrorCode};

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    message: Option<String>,
    details: serde_json::Value,
    retry_after_secs: Option<u32>,
    cause: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self { code, message: None, details: serde_json::Value::Null, retry_after_secs: None, cause: None }
    }

    /// A message more specific than the code's default. Never put an internal error here.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Attaches the internal cause, for the log line.
    pub fn cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// An invalid field: 400 `invalid_request` naming the field and the rejected value.
    pub fn invalid(field: &str, value: impl std::fmt::Display, reason: impl std::fmt::Display) -> Self {
        let value = value.to_string();
        let value: String = value.chars().take(80).collect();
        Self::new(ErrorCode::InvalidRequest)
            .message(format!("Invalid {field}: {reason}"))
            .details(serde_json::json!({ "field": field, "value": value }))
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::InternalError).cause(cause)
    }

    /// 503 with `Retry-After`: a dependency is down, saturated or timed out.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable).retry_after(1).cause(cause)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        // A store that is down or failing over is a 503 the client retries; a reply we cannot
        // read is our bug, a 500.
        match err {
            crate::store::StoreError::Unavailable(_) => ApiError::unavailable(err),
            crate::store::StoreError::Internal(_) => ApiError::internal(err),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        // A database that is down, out of connections or busy (SQLite's write lock) is a 503 that
        // the client retries. Any other failure is a 500.
        if crate::db::is_unavailable(&err) {
            ApiError::unavailable(err).retry_after(2)
        } else {
            ApiError::internal(err)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Some(cause) = &self.cause {
            if status.is_server_error() {
                tracing::error!(error.code = %self.code, cause = format!("{cause:#}"), "request failed");
            } else {
                tracing::debug!(error.code = %self.code, cause = format!("{cause:#}"), "request rejected");
            }
        }
        let message = self.message.unwrap_or_else(|| self.code.default_message().to_owned());
        let body = ErrorBody::with_message(self.code, message).details(self.details);
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
