//! The HTTP face of [`AppError`]: every error leaves the server as a status and a JSON
//! [`botlib::ErrorBody`], and [`AppJson`] turns malformed JSON input into the same shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botlib::AppError;
use serde::de::DeserializeOwned;

/// An [`AppError`] on its way out as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub AppError);

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError(AppError::Internal(e))
    }
}

impl From<botstate::DbErr> for ApiError {
    fn from(e: botstate::DbErr) -> Self {
        ApiError(e.into())
    }
}

/// The request id of the current request, set by the request-id middleware.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        if let AppError::Internal(cause) = &err {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        error_response(&err, None)
    }
}

/// The JSON response for an error. The request id is filled in by the middleware.
pub fn error_response(err: &AppError, request_id: Option<String>) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(err.body(request_id))).into_response();
    if let AppError::RateLimited { retry_after_secs } = err
        && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// A JSON body extractor whose rejections are JSON errors that say what was wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(AppJson(v)),
            Err(rejection) => Err(ApiError(json_rejection(rejection))),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::BytesRejection(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::PayloadTooLarge { limit_bytes: 0 }
        }
        other => AppError::BadRequest(other.body_text()),
    }
}
