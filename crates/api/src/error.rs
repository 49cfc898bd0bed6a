//! Refusals as HTTP: the status from the rejection table, the body `{"error": {…}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tongdao_domain::{ErrorCode, Rejection};

/// A refusal on its way out.
#[derive(Debug)]
pub struct ApiError(pub Rejection);

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError(r)
    }
}

pub fn error_json(rejection: &Rejection) -> String {
    let mut error = serde_json::json!({ "code": rejection.code.as_str(), "message": rejection.message });
    if let Some(field) = &rejection.field {
        error["field"] = serde_json::Value::String(field.clone());
    }
    if let Some(seconds) = rejection.retry_after {
        error["retry_after"] = serde_json::Value::from(seconds);
    }
    serde_json::json!({ "error": error }).to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, error_json(&self.0)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.0.code == ErrorCode::Unauthorized {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.0.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub async fn not_found() -> ApiError {
    ApiError(Rejection::new(ErrorCode::NotFound, "no such route"))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError(Rejection::new(ErrorCode::MethodNotAllowed, "this route does not take that method"))
}

/// The code for a refusal axum produced itself (a malformed path or query), by status.
pub fn code_for_status(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        500..=599 => ErrorCode::Internal,
        _ => ErrorCode::InvalidRequest,
    }
}
