//! Extractors whose rejections are problem documents that name the offending field.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// Largest accepted request body (1 MiB): enough for a group of ~20,000 explicit members.
pub const MAX_BODY: usize = 1 << 20;

/// A JSON body; a decoding error names the field path (`action.uri`, `members[2]`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime == "application/json" || mime.ends_with("+json")
        });
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", "Body not readable", e.body_text())
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(ApiJson(v)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let field = field_of(&path, &inner.to_string());
                Err(Problem::bad_request(field, format!("invalid JSON: {inner}")))
            }
        }
    }
}

/// A JSON body that may be absent (an empty body is `T::default()`).
pub struct ApiJsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for ApiJsonOrEmpty<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v == "0")
            || (req.headers().get(header::CONTENT_TYPE).is_none()
                && req.headers().get(header::TRANSFER_ENCODING).is_none()
                && req.headers().get(header::CONTENT_LENGTH).is_none());
        if empty {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        // `null` means "no options" as much as an empty body does.
        ApiJson::<Option<T>>::from_request(req, state).await.map(|ApiJson(v)| ApiJsonOrEmpty(v.unwrap_or_default()))
    }
}

/// The field at fault: serde's path, extended by the field a "missing field" message names
/// (serde puts a missing field in the message, not in the path).
fn field_of(path: &str, msg: &str) -> String {
    let named = msg.starts_with("missing field").then(|| field_from_message(msg));
    match (path, named) {
        (".", Some(f)) => f,
        (".", None) => "body".to_owned(),
        (p, Some(f)) => format!("{p}.{f}"),
        (p, None) => p.to_owned(),
    }
}

/// serde names a missing field only in its message: "missing field `uri` at line 1 column 2".
fn field_from_message(msg: &str) -> String {
    msg.split('`').nth(1).map(str::to_owned).unwrap_or_else(|| "body".to_owned())
}

/// Query parameters; a decoding error names the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(ApiQuery(v)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                let field = field_of(&path, &inner);
                Err(Problem::bad_request(field, format!("invalid query parameter: {inner}")))
            }
        }
    }
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| Problem::bad_request("path", e.body_text()))
    }
}
