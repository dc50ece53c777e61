//! Device credentials, write-only: `PUT /api/v1/devices/{id}/credentials` sets what a device
//! must present (LwM2M: a DTLS PSK identity and key bound to the endpoint; OMA DM: the
//! client account), `GET` shows which kinds are set and never a secret, `DELETE` removes them.
//! Admins only (see [`crate::access`]). TR-069 CPE credentials are configured in `[tr069.users]`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use unidm_models::Protocol;
use utoipa::ToSchema;

use super::device_id;
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// A DTLS pre-shared key (RFC 4279) for an LwM2M device.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PskCredentials {
    /// The PSK identity the client presents (1 to 128 bytes).
    #[schema(min_length = 1, max_length = 128)]
    pub identity: String,
    /// The key as text; or give `keyHex`.
    #[serde(default)]
    pub key: Option<String>,
    /// The key in hexadecimal (1 to 64 bytes).
    #[serde(default)]
    pub key_hex: Option<String>,
}

/// What a device must present. Write-only: no answer, event or log line contains the secrets.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceCredentials {
    /// LwM2M: the DTLS PSK of the endpoint (it may then register only over DTLS, with it).
    #[serde(default)]
    pub psk: Option<PskCredentials>,
    /// OMA DM: the client account's user name (`AAuthName`).
    #[serde(default)]
    pub username: Option<String>,
    /// OMA DM: the client account's secret (`AAuthSecret`).
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for DeviceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCredentials").finish_non_exhaustive()
    }
}

/// Which credentials a device has (never the secrets).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsInfo {
    /// The device.
    pub device: String,
    /// LwM2M: the PSK identities bound to the endpoint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub psk_identities: Vec<String>,
    /// OMA DM: whose account the client must present (`device`, `default` or `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// OMA DM: the user name of that account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

fn disabled(what: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "protocol-disabled",
        "Protocol not served",
        format!("this server runs no {what} adapter"),
    )
}

fn unsupported(detail: &str) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "credentials-not-supported", "Credentials not supported", detail)
}

async fn info(app: &AppState, raw: &str) -> ApiResult<CredentialsInfo> {
    let id = device_id(raw)?;
    app.engine.device(&id)?;
    let mut out = CredentialsInfo { device: id.to_string(), psk_identities: Vec::new(), account: None, username: None };
    match id.protocol() {
        Protocol::Lwm2m => {
            if let Some(l) = app.lwm2m.as_deref() {
                out.psk_identities = l
                    .psk_identities(id.native())
                    .into_iter()
                    .map(|i| String::from_utf8_lossy(&i).into_owned())
                    .collect();
                out.psk_identities.sort();
            }
        }
        Protocol::Omadm => {
            if let Some(dm) = app.omadm.as_deref() {
                let s = dm.client(id.native()).map_err(|e| Problem::bad_request("id", e.to_string()))?;
                out.account = Some(s.credentials.to_owned());
                out.username = s.username;
            }
        }
        Protocol::Tr069 => {}
    }
    Ok(out)
}

/// Which credentials a device has (never the secrets).
#[utoipa::path(get, path = "/api/v1/devices/{id}/credentials", tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = CredentialsInfo), (status = 404, body = Problem)))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<CredentialsInfo>> {
    Ok(Json(info(&app, &id).await?))
}

/// Set what a device must present: `psk` for LwM2M, `username` / `password` for OMA DM.
#[utoipa::path(put, path = "/api/v1/devices/{id}/credentials", tag = "devices",
    params(("id" = String, Path, description = "Device id")), request_body = DeviceCredentials,
    responses((status = 200, body = CredentialsInfo), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put(
    State(app): State<AppState>,
    ApiPath(raw): ApiPath<String>,
    ApiJson(c): ApiJson<DeviceCredentials>,
) -> ApiResult<Json<CredentialsInfo>> {
    let id = device_id(&raw)?;
    app.engine.device(&id)?;
    match id.protocol() {
        Protocol::Lwm2m => {
            if c.username.is_some() || c.password.is_some() {
                return Err(Problem::bad_request("username", "an LwM2M device takes a `psk`"));
            }
            let psk = c.psk.ok_or_else(|| Problem::bad_request("psk", "an LwM2M device takes a `psk`"))?;
            let key = match (psk.key, psk.key_hex) {
                (Some(k), None) => k.into_bytes(),
                (None, Some(h)) => {
                    unidm_core::hex::decode(&h).ok_or_else(|| Problem::bad_request("psk.keyHex", "not hexadecimal"))?
                }
                _ => return Err(Problem::bad_request("psk.key", "give exactly one of `key` and `keyHex`")),
            };
            let lwm2m = app.lwm2m.as_deref().ok_or_else(|| disabled("LwM2M"))?;
            lwm2m
                .set_psk(psk.identity.as_bytes(), Some(id.native()), &key)
                .await
                .map_err(|e| Problem::bad_request("psk", e.message))?;
        }
        Protocol::Omadm => {
            if c.psk.is_some() {
                return Err(Problem::bad_request("psk", "an OMA DM device takes `username` and `password`"));
            }
            let (Some(user), Some(password)) = (c.username, c.password) else {
                return Err(Problem::bad_request("username", "an OMA DM device takes `username` and `password`"));
            };
            let dm = app.omadm.as_deref().ok_or_else(|| disabled("OMA DM"))?;
            dm.set_credentials(id.native(), Some(unidm_omadm::session::Credentials::new(user, password)))
                .await
                .map_err(|e| Problem::bad_request("credentials", e.to_string()))?;
        }
        Protocol::Tr069 => {
            return Err(unsupported(
                "TR-069 CPE credentials are configured in [tr069.users] of the server's configuration",
            ))
        }
    }
    Ok(Json(info(&app, &raw).await?))
}

/// Remove a device's credentials (an OMA DM client falls back to the default account).
#[utoipa::path(delete, path = "/api/v1/devices/{id}/credentials", tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn delete(State(app): State<AppState>, ApiPath(raw): ApiPath<String>) -> ApiResult<StatusCode> {
    let id = device_id(&raw)?;
    app.engine.device(&id)?;
    match id.protocol() {
        Protocol::Lwm2m => {
            let lwm2m = app.lwm2m.as_deref().ok_or_else(|| disabled("LwM2M"))?;
            for identity in lwm2m.psk_identities(id.native()) {
                lwm2m.remove_psk(&identity).await.map_err(|e| Problem::bad_request("psk", e.message))?;
            }
        }
        Protocol::Omadm => {
            let dm = app.omadm.as_deref().ok_or_else(|| disabled("OMA DM"))?;
            dm.set_credentials(id.native(), None)
                .await
                .map_err(|e| Problem::bad_request("credentials", e.to_string()))?;
        }
        Protocol::Tr069 => return Err(unsupported("TR-069 CPE credentials are configured in [tr069.users]")),
    }
    Ok(StatusCode::NO_CONTENT)
}
