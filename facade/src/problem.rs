//! Errors as `application/problem+json` (RFC 9457) with stable `type` URIs.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use unidm_core::CoreError;

/// A problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem (`urn:unidm:problem:<slug>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The request field at fault, for bad input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem of `slug` with `status`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:unidm:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }

    /// 400 naming the field.
    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Problem::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail);
        p.field = Some(field.into());
        p
    }

    /// 404.
    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        let slug = format!("{}-not-found", what.replace(' ', "-"));
        Problem::new(StatusCode::NOT_FOUND, &slug, "Not found", format!("{what} `{id}` not found"))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        res
    }
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Self {
        match &e {
            CoreError::NotFound { what, id } => Problem::not_found(what, id),
            CoreError::NotSupported { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "function-not-supported",
                "Function not supported by this device",
                e.to_string(),
            ),
            CoreError::BadInput { field, message } => Problem::bad_request(field.clone(), message.clone()),
            CoreError::Conflict(m) => Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", m.clone()),
            CoreError::Storage(unidm_core::StoreError::Unavailable(_)) => {
                tracing::warn!(error = %e, "database unavailable behind an API call");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage-unavailable",
                    "Database unavailable",
                    e.to_string(),
                )
            }
            CoreError::Storage(_) => {
                tracing::error!(error = %e, "storage failure behind an API call");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", "Storage failure", e.to_string())
            }
            CoreError::Shutdown => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "shutting-down", "Shutting down", e.to_string())
            }
        }
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, Problem>;
