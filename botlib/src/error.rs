//! The one error type of botserver and its JSON shape.
//!
//! A kind exists only when a client can act on it differently; everything else is
//! [`AppError::Internal`], which is logged in full and answered with a generic message.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Result alias used across the workspace.
pub type AppResult<T> = Result<T, AppError>;

/// Errors a client can act on, plus `Internal` for everything it cannot.
#[derive(Debug)]
pub enum AppError {
    /// The request is malformed or a value is invalid; the message says which.
    BadRequest(String),
    /// No valid credentials were presented.
    Unauthorized,
    /// The password was right; a one-time code is also needed (ask for it and retry).
    MfaRequired,
    /// Credentials are valid but do not allow this action.
    Forbidden,
    /// The resource does not exist (or the caller may not know it exists).
    NotFound,
    /// The request conflicts with the current state (duplicate key, stale version).
    Conflict(String),
    /// The request body is larger than the configured limit.
    PayloadTooLarge { limit_bytes: u64 },
    /// A space's storage quota would be exceeded (507).
    QuotaExceeded { quota_bytes: u64, used_bytes: u64 },
    /// The requested byte range lies outside the object (416).
    RangeNotSatisfiable { size: u64 },
    /// Too many requests; retry after this many seconds.
    RateLimited { retry_after_secs: u64 },
    /// A service this feature needs is not configured on this server (e.g. "llm").
    NotConfigured(&'static str),
    /// A dependency (database, cache, upstream) is unavailable right now.
    Unavailable(String),
    /// The request took longer than its deadline.
    Timeout,
    /// Anything else: logged with its cause, answered with a generic message.
    Internal(anyhow::Error),
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`.
    pub error: String,
    /// Human-readable explanation, safe to show to the caller.
    pub message: String,
    /// Seconds to wait before retrying, when the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// The request id, to quote when reporting a problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl AppError {
    /// Wraps any error as an internal one.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(err.into())
    }

    /// A bad-request error with a message.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        AppError::BadRequest(msg.into())
    }

    /// The HTTP status code this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized | AppError::MfaRequired => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge { .. } => 413,
            AppError::QuotaExceeded { .. } => 507,
            AppError::RangeNotSatisfiable { .. } => 416,
            AppError::RateLimited { .. } => 429,
            AppError::NotConfigured(_) => 501,
            AppError::Unavailable(_) => 503,
            AppError::Timeout => 504,
            AppError::Internal(_) => 500,
        }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized => "unauthorized",
            AppError::MfaRequired => "mfa_required",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::QuotaExceeded { .. } => "quota_exceeded",
            AppError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::NotConfigured(_) => "not_configured",
            AppError::Unavailable(_) => "unavailable",
            AppError::Timeout => "timeout",
            AppError::Internal(_) => "internal",
        }
    }

    /// The message shown to the client. Never contains internal details.
    pub fn public_message(&self) -> String {
        match self {
            AppError::BadRequest(m) | AppError::Conflict(m) => m.clone(),
            AppError::Unauthorized => "authentication required".into(),
            AppError::MfaRequired => "a one-time code from your authenticator app is required".into(),
            AppError::Forbidden => "not allowed".into(),
            AppError::NotFound => "not found".into(),
            AppError::PayloadTooLarge { limit_bytes } => {
                format!("request body is larger than the limit of {limit_bytes} bytes")
            }
            AppError::RateLimited { retry_after_secs } => {
                format!("too many requests; retry after {retry_after_secs} s")
            }
            AppError::QuotaExceeded {
                quota_bytes,
                used_bytes,
            } => format!(
                "the space's quota of {quota_bytes} bytes would be exceeded ({used_bytes} bytes in use); \
                 delete files or empty the trash"
            ),
            AppError::RangeNotSatisfiable { size } => {
                format!("the range lies outside the file ({size} bytes)")
            }
            AppError::NotConfigured(service) => {
                format!("not configured: this server has no {service} service set up")
            }
            AppError::Unavailable(what) => format!("temporarily unavailable: {what}"),
            AppError::Timeout => "the request took too long".into(),
            AppError::Internal(_) => "internal error".into(),
        }
    }

    /// The JSON body for this error.
    pub fn body(&self, request_id: Option<String>) -> ErrorBody {
        ErrorBody {
            error: self.code().into(),
            message: self.public_message(),
            retry_after_secs: match self {
                AppError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
                _ => None,
            },
            request_id,
        }
    }

    /// The error code for a bare HTTP status (used when a layer below us produced it).
    pub fn code_for_status(status: u16) -> &'static str {
        match status {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            408 => "timeout",
            409 => "conflict",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            416 => "range_not_satisfiable",
            422 => "unprocessable_entity",
            429 => "rate_limited",
            501 => "not_configured",
            503 => "unavailable",
            504 => "timeout",
            507 => "quota_exceeded",
            402..=499 => "client_error",
            _ => "internal",
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Internal(e) => write!(f, "internal error: {e:#}"),
            other => f.write_str(&other.public_message()),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppError::Internal(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::Internal(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_body() {
        let err = AppError::internal(anyhow::anyhow!("password=hunter2 leaked"));
        let body = serde_json::to_value(err.body(None)).unwrap();
        assert_eq!(body["error"], "internal");
        assert_eq!(body["message"], "internal error");
        assert!(!body.to_string().contains("hunter2"));
        // The Display form keeps the cause, for logs.
        assert!(err.to_string().contains("hunter2"));
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let err = AppError::RateLimited { retry_after_secs: 7 };
        assert_eq!(err.status(), 429);
        let body = err.body(Some("rid-1".into()));
        assert_eq!(body.retry_after_secs, Some(7));
        assert_eq!(body.request_id.as_deref(), Some("rid-1"));
    }

    #[test]
    fn not_configured_names_the_service() {
        let err = AppError::NotConfigured("llm");
        assert_eq!(err.status(), 501);
        assert!(err.public_message().contains("llm"));
    }

    #[test]
    fn every_kind_has_a_distinct_code() {
        let kinds = [
            AppError::BadRequest(String::new()),
            AppError::Unauthorized,
            AppError::MfaRequired,
            AppError::Forbidden,
            AppError::NotFound,
            AppError::Conflict(String::new()),
            AppError::PayloadTooLarge { limit_bytes: 1 },
            AppError::RateLimited { retry_after_secs: 1 },
            AppError::QuotaExceeded {
                quota_bytes: 1,
                used_bytes: 1,
            },
            AppError::RangeNotSatisfiable { size: 1 },
            AppError::NotConfigured("x"),
            AppError::Unavailable(String::new()),
            AppError::Timeout,
            AppError::Internal(anyhow::anyhow!("x")),
        ];
        let mut codes: Vec<_> = kinds.iter().map(|k| k.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), kinds.len());
        for k in kinds.iter().filter(|k| !matches!(k, AppError::MfaRequired)) {
            assert_eq!(AppError::code_for_status(k.status()), k.code(), "{k:?}");
        }
    }
}
