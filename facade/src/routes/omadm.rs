//! OMA DM clients: where each one's Package #0 goes, the credentials it must present, and a
//! Package #0 built on demand for a transport unidm does not run (an SMS gateway). Kept in the
//! device's record: they survive restarts. The device must be in the registry (provisioned
//! with `POST /api/v1/devices`, or seen once).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use unidm_omadm::server::{ClientError, ClientSettings, OmadmAdapter, NOTIFICATION_MEDIA_TYPE};
use unidm_omadm::session::Credentials;
use utoipa::ToSchema;

use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// A DM client's settings (never its password).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OmadmClient {
    /// The DevId.
    pub dev_id: String,
    /// Where Package #0 goes: `udp://ip:port` or an HTTP URL; absent: none.
    pub push: Option<String>,
    /// Whose credentials apply: `device`, `default` or `none`.
    pub credentials: String,
    /// Their user name.
    pub username: Option<String>,
}

impl From<ClientSettings> for OmadmClient {
    fn from(s: ClientSettings) -> Self {
        OmadmClient { dev_id: s.dev_id, push: s.push, credentials: s.credentials.into(), username: s.username }
    }
}

/// Where a client's Package #0 goes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushAddress {
    /// `udp://ip:port` (or `ip:port`) for a UDP datagram, or an `http(s)://` URL the bytes are
    /// POSTed to.
    pub address: String,
}

/// The credentials a client must present.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    /// `AAuthName`.
    pub username: String,
    /// `AAuthSecret`.
    pub password: String,
}

fn adapter(app: &AppState) -> Result<&OmadmAdapter, Problem> {
    app.omadm.as_deref().ok_or_else(|| {
        Problem::new(StatusCode::CONFLICT, "omadm-disabled", "No OMA DM server", "this server runs no OMA DM adapter")
    })
}

fn problem(e: ClientError) -> Problem {
    match e {
        ClientError::UnknownDevice(_) => Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", e.to_string()),
        ClientError::Invalid { field, message } => Problem::bad_request(field, message),
        ClientError::Unavailable(m) => {
            Problem::new(StatusCode::CONFLICT, "omadm-unavailable", "OMA DM server unavailable", m)
        }
    }
}

fn answer(r: Result<ClientSettings, ClientError>) -> ApiResult<Json<OmadmClient>> {
    r.map(|s| Json(s.into())).map_err(problem)
}

/// One DM client's settings.
#[utoipa::path(get, path = "/api/v1/omadm/clients/{devId}", tag = "omadm",
    params(("devId" = String, Path, description = "The client's DevId")),
    responses((status = 200, body = OmadmClient), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn get(State(app): State<AppState>, ApiPath(dev): ApiPath<String>) -> ApiResult<Json<OmadmClient>> {
    answer(adapter(&app)?.client(&dev))
}

/// Set where the client's Package #0 goes.
#[utoipa::path(put, path = "/api/v1/omadm/clients/{devId}/push", tag = "omadm",
    params(("devId" = String, Path, description = "The client's DevId")), request_body = PushAddress,
    responses((status = 200, body = OmadmClient), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn put_push(
    State(app): State<AppState>,
    ApiPath(dev): ApiPath<String>,
    ApiJson(p): ApiJson<PushAddress>,
) -> ApiResult<Json<OmadmClient>> {
    answer(adapter(&app)?.set_push(&dev, Some(&p.address)).await)
}

/// Forget the client's push address.
#[utoipa::path(delete, path = "/api/v1/omadm/clients/{devId}/push", tag = "omadm",
    params(("devId" = String, Path, description = "The client's DevId")),
    responses((status = 200, body = OmadmClient), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_push(State(app): State<AppState>, ApiPath(dev): ApiPath<String>) -> ApiResult<Json<OmadmClient>> {
    answer(adapter(&app)?.set_push(&dev, None).await)
}

/// Set the credentials the client must present (instead of the default account's).
#[utoipa::path(put, path = "/api/v1/omadm/clients/{devId}/credentials", tag = "omadm",
    params(("devId" = String, Path, description = "The client's DevId")), request_body = ClientCredentials,
    responses((status = 200, body = OmadmClient), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn put_credentials(
    State(app): State<AppState>,
    ApiPath(dev): ApiPath<String>,
    ApiJson(c): ApiJson<ClientCredentials>,
) -> ApiResult<Json<OmadmClient>> {
    answer(adapter(&app)?.set_credentials(&dev, Some(Credentials::new(c.username, c.password))).await)
}

/// Forget the client's own credentials (the default account applies again).
#[utoipa::path(delete, path = "/api/v1/omadm/clients/{devId}/credentials", tag = "omadm",
    params(("devId" = String, Path, description = "The client's DevId")),
    responses((status = 200, body = OmadmClient), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_credentials(
    State(app): State<AppState>,
    ApiPath(dev): ApiPath<String>,
) -> ApiResult<Json<OmadmClient>> {
    answer(adapter(&app)?.set_credentials(&dev, None).await)
}

/// A fresh Package #0 for the client (its next session is expected with its session id).
#[utoipa::path(post, path = "/api/v1/omadm/clients/{devId}/package0", tag = "omadm",
    params(("devId" = String, Path, description = "The client's DevId")),
    responses((status = 200, description = "The Package #0 bytes", content_type = "application/vnd.syncml.notification", body = Vec<u8>),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn package0(State(app): State<AppState>, ApiPath(dev): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    let bytes = adapter(&app)?.package0_now(&dev).map_err(problem)?;
    Ok(([(header::CONTENT_TYPE, NOTIFICATION_MEDIA_TYPE)], bytes))
}
