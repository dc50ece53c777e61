//! Device credentials, write-only: `PUT /api/v1/devices/{id}/credentials` sets what a device
//! must present (LwM2M: a DTLS PSK identity and key, or a raw public key, bound to the
//! endpoint; OMA DM: the
//! client account; TR-069: the CPE's user name and password, and the connection-request
//! credentials the ACS gives it), `GET` shows which kinds are set and never a secret, `DELETE`
//! removes them. Admins only (see [`crate::access`]).

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

/// A raw public key (RFC 7250) for an LwM2M device: the public half of its key pair.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RpkCredentials {
    /// The public key: PEM (`-----BEGIN PUBLIC KEY-----`), or base64 of the DER
    /// `SubjectPublicKeyInfo` or of a 64 / 65-byte P-256 point.
    pub public_key: String,
}

/// What a device must present. Write-only: no answer, event or log line contains the secrets.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceCredentials {
    /// LwM2M: the DTLS PSK of the endpoint (it may then register only over DTLS, with it).
    #[serde(default)]
    pub psk: Option<PskCredentials>,
    /// LwM2M: the DTLS raw public key of the endpoint (it may then register only over DTLS,
    /// with the matching private key).
    #[serde(default)]
    pub rpk: Option<RpkCredentials>,
    /// OMA DM: the client account's user name (`AAuthName`); TR-069: the CPE's user name.
    #[serde(default)]
    pub username: Option<String>,
    /// OMA DM: the client account's secret (`AAuthSecret`); TR-069: the CPE's password.
    #[serde(default)]
    pub password: Option<String>,
    /// TR-069: connection-request credentials, set on the CPE in its next session and used by
    /// the ACS for connection requests from then on.
    #[serde(default)]
    pub connection_request: Option<AccountCredentials>,
}

/// A user name and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
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
    /// LwM2M: the raw public keys bound to the endpoint, base64 of their DER
    /// `SubjectPublicKeyInfo` (public, so shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rpk_public_keys: Vec<String>,
    /// OMA DM: whose account the client must present (`device`, `default` or `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// OMA DM: the user name of that account; TR-069: the CPE's user name set here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TR-069: the connection-request user name the CPE took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_request_username: Option<String>,
    /// TR-069: connection-request credentials wait for the CPE's next session.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub connection_request_pending: bool,
}

fn disabled(what: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "protocol-disabled",
        "Protocol not served",
        format!("this server runs no {what} adapter"),
    )
}

/// A public key given as PEM, or as base64 of DER or of a bare P-256 point: its DER
/// `SubjectPublicKeyInfo`.
fn public_key(text: &str) -> Result<Vec<u8>, Problem> {
    use base64::Engine as _;
    let bytes = if text.trim_start().starts_with("-----") {
        text.as_bytes().to_vec()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| Problem::bad_request("rpk.publicKey", "neither PEM nor base64"))?
    };
    unidm_lwm2m::dtls::spki(&bytes).map_err(|e| Problem::bad_request("rpk.publicKey", e))
}

fn unsupported(detail: &str) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "credentials-not-supported", "Credentials not supported", detail)
}

async fn info(app: &AppState, raw: &str) -> ApiResult<CredentialsInfo> {
    let id = device_id(raw)?;
    app.engine.device(&id)?;
    let mut out = CredentialsInfo {
        device: id.to_string(),
        psk_identities: Vec::new(),
        rpk_public_keys: Vec::new(),
        account: None,
        username: None,
        connection_request_username: None,
        connection_request_pending: false,
    };
    match id.protocol() {
        Protocol::Lwm2m => {
            if let Some(l) = app.lwm2m.as_deref() {
                out.psk_identities = l
                    .psk_identities(id.native())
                    .into_iter()
                    .map(|i| String::from_utf8_lossy(&i).into_owned())
                    .collect();
                out.psk_identities.sort();
                use base64::Engine as _;
                out.rpk_public_keys = l
                    .rpk_keys(id.native())
                    .iter()
                    .map(|k| base64::engine::general_purpose::STANDARD.encode(k))
                    .collect();
                out.rpk_public_keys.sort();
            }
        }
        Protocol::Omadm => {
            if let Some(dm) = app.omadm.as_deref() {
                let s = dm.client(id.native()).map_err(|e| Problem::bad_request("id", e.to_string()))?;
                out.account = Some(s.credentials.to_owned());
                out.username = s.username;
            }
        }
        Protocol::Tr069 => {
            if let Some(acs) = app.tr069.as_deref() {
                let c = acs.credentials(&id);
                out.username = c.cpe_username;
                out.connection_request_username = c.connection_request_username;
                out.connection_request_pending = c.connection_request_pending;
            }
        }
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

/// Set what a device must present: `psk` or `rpk` for LwM2M, `username` / `password` for OMA
/// DM and TR-069, `connectionRequest` for TR-069.
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
            let lwm2m_only = "an LwM2M device takes a `psk` or an `rpk`";
            if c.username.is_some() || c.password.is_some() || c.connection_request.is_some() {
                return Err(Problem::bad_request("username", lwm2m_only));
            }
            if c.psk.is_none() && c.rpk.is_none() {
                return Err(Problem::bad_request("psk", lwm2m_only));
            }
            // Both checked before either is stored.
            let psk = match c.psk {
                Some(psk) => {
                    let key = match (psk.key, psk.key_hex) {
                        (Some(k), None) => k.into_bytes(),
                        (None, Some(h)) => unidm_core::hex::decode(&h)
                            .ok_or_else(|| Problem::bad_request("psk.keyHex", "not hexadecimal"))?,
                        _ => return Err(Problem::bad_request("psk.key", "give exactly one of `key` and `keyHex`")),
                    };
                    Some((psk.identity, key))
                }
                None => None,
            };
            let rpk = match c.rpk {
                Some(r) => Some(public_key(&r.public_key)?),
                None => None,
            };
            let lwm2m = app.lwm2m.as_deref().ok_or_else(|| disabled("LwM2M"))?;
            if let Some((identity, key)) = psk {
                lwm2m
                    .set_psk(identity.as_bytes(), Some(id.native()), &key)
                    .await
                    .map_err(|e| Problem::bad_request("psk", e.message))?;
            }
            if let Some(key) = rpk {
                lwm2m.set_rpk(&key, Some(id.native())).await.map_err(|e| Problem::bad_request("rpk", e.message))?;
            }
        }
        Protocol::Omadm => {
            if c.psk.is_some() || c.rpk.is_some() || c.connection_request.is_some() {
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
            if c.psk.is_some() || c.rpk.is_some() {
                return Err(Problem::bad_request(
                    "psk",
                    "a TR-069 device takes `username` / `password` or `connectionRequest`",
                ));
            }
            let acs = app.tr069.as_deref().ok_or_else(|| disabled("TR-069"))?;
            let refused = |e: unidm_tr069::acs::credentials::CredentialError| match e {
                unidm_tr069::acs::credentials::CredentialError::NoAuth => unsupported(&e.to_string()),
                other => Problem::bad_request("credentials", other.to_string()),
            };
            match (c.username, c.password) {
                (Some(user), Some(password)) => {
                    acs.set_cpe_credentials(&id, Some((&user, &password))).await.map_err(refused)?;
                }
                (None, None) => {}
                _ => return Err(Problem::bad_request("username", "give `username` and `password` together")),
            }
            if let Some(cr) = c.connection_request {
                acs.set_connection_request_credentials(&id, &cr.username, &cr.password).await.map_err(refused)?;
            }
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
            for key in lwm2m.rpk_keys(id.native()) {
                lwm2m.remove_rpk(&key).await.map_err(|e| Problem::bad_request("rpk", e.message))?;
            }
        }
        Protocol::Omadm => {
            let dm = app.omadm.as_deref().ok_or_else(|| disabled("OMA DM"))?;
            dm.set_credentials(id.native(), None)
                .await
                .map_err(|e| Problem::bad_request("credentials", e.to_string()))?;
        }
        Protocol::Tr069 => {
            let acs = app.tr069.as_deref().ok_or_else(|| disabled("TR-069"))?;
            acs.set_cpe_credentials(&id, None).await.map_err(|e| Problem::bad_request("credentials", e.to_string()))?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
