//! The oneM2M mirror: its status, and the endpoint the CSE notifies.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::onem2m::OneM2mStatus;
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// The mirror's connection to the CSE and its counters.
#[utoipa::path(get, path = "/api/v1/onem2m", tag = "onem2m",
    responses((status = 200, body = OneM2mStatus), (status = 409, body = Problem)))]
pub async fn status(State(app): State<AppState>) -> ApiResult<Json<OneM2mStatus>> {
    let mirror = app.onem2m.as_ref().ok_or_else(|| {
        Problem::new(StatusCode::CONFLICT, "onem2m-disabled", "No oneM2M mirror", "configure [onem2m] in serve's TOML")
    })?;
    Ok(Json(mirror.status()))
}

/// A notification (`m2m:sgn`) from the CSE, answered at once with `X-M2M-RSC: 2000` (a
/// verification request included); what it prompts runs in the background.
pub async fn notify(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(mirror) = app.onem2m.clone() else { return StatusCode::NOT_FOUND.into_response() };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, [("X-M2M-RSC", "4000")], "not JSON").into_response();
    };
    let Some(permit) = mirror.notification_permit() else {
        return (StatusCode::SERVICE_UNAVAILABLE, [("X-M2M-RSC", "5000")], "too many notifications in flight")
            .into_response();
    };
    tokio::spawn(async move {
        mirror.notified(&json).await;
        drop(permit);
    });
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    h.insert("X-M2M-RSC", HeaderValue::from_static("2000"));
    if let Some(ri) = headers.get("X-M2M-RI") {
        h.insert("X-M2M-RI", ri.clone());
    }
    response
}
