//! LwM2M bootstrap configurations: what the bootstrap server writes into a client's Security
//! (/0) and Server (/1) objects when it asks to be bootstrapped (LwM2M TS Core §6.1).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use unidm_lwm2m::northbound::NorthboundStatus;
use unidm_lwm2m::{BootstrapConfig, BootstrapConfigError};
use utoipa::ToSchema;

use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// One endpoint's bootstrap configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct BootstrapEntry {
    /// The client's endpoint name.
    pub endpoint: String,
    /// What it is given.
    pub config: BootstrapConfig,
}

fn adapter(app: &AppState) -> Result<&unidm_lwm2m::Lwm2mAdapter, Problem> {
    app.lwm2m.as_deref().ok_or_else(|| {
        Problem::new(StatusCode::CONFLICT, "lwm2m-disabled", "No LwM2M server", "this server runs no LwM2M adapter")
    })
}

fn problem(e: BootstrapConfigError) -> Problem {
    match e {
        BootstrapConfigError::Invalid { field, message } => Problem::bad_request(field, message),
        BootstrapConfigError::Endpoint(m) => Problem::bad_request("endpoint", m),
        other => {
            Problem::new(StatusCode::CONFLICT, "lwm2m-bootstrap", "Bootstrap server unavailable", other.to_string())
        }
    }
}

fn northbound_slot(app: &AppState) -> Result<&crate::northbound::NorthboundSlot, Problem> {
    app.northbound.as_deref().ok_or_else(|| {
        Problem::new(StatusCode::CONFLICT, "northbound-disabled", "No northbound client", "this server runs none")
    })
}

/// The LwM2M northbound client: unidm as a gateway registered with a distant LwM2M server.
#[utoipa::path(get, path = "/api/v1/lwm2m/northbound", tag = "lwm2m",
    responses((status = 200, body = NorthboundStatus), (status = 409, body = Problem)))]
pub async fn northbound(State(app): State<AppState>) -> ApiResult<Json<NorthboundStatus>> {
    let nb = northbound_slot(&app)?.current().ok_or_else(|| {
        Problem::new(
            StatusCode::CONFLICT,
            "northbound-disabled",
            "No northbound client",
            "none is configured: set [lwm2m.northbound] or PUT /api/v1/lwm2m/northbound",
        )
    })?;
    Ok(Json(nb.status()))
}

/// Sets (or replaces) the northbound client's settings: the running client de-registers, the
/// new one starts registering, and the settings are stored (a restart keeps them, over the
/// configuration file's). Admin only.
#[utoipa::path(put, path = "/api/v1/lwm2m/northbound", tag = "lwm2m",
    request_body = crate::northbound::NorthboundSettings,
    responses((status = 200, body = NorthboundStatus), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn put_northbound(
    State(app): State<AppState>,
    ApiJson(settings): ApiJson<crate::northbound::NorthboundSettings>,
) -> ApiResult<Json<NorthboundStatus>> {
    let slot = northbound_slot(&app)?;
    let config = settings.resolve().map_err(|e| {
        let text = e.to_string();
        // The message names the setting: `lwm2m.northbound.lifetime_s must be ...`.
        let field = text
            .strip_prefix("lwm2m.northbound.")
            .and_then(|t| t.split([' ', ':']).next())
            .map(|f| match f {
                "protocol" | "manufacturer" | "model" => format!("devices.{f}"),
                // The file's snake_case, the API's camelCase.
                f => f.split('_').enumerate().fold(String::new(), |mut out, (i, part)| {
                    let mut chars = part.chars();
                    match (i, chars.next()) {
                        (0, _) => out.push_str(part),
                        (_, Some(c)) => {
                            out.push(c.to_ascii_uppercase());
                            out.push_str(chars.as_str());
                        }
                        (_, None) => {}
                    }
                    out
                }),
            })
            .unwrap_or_else(|| "server".to_owned());
        Problem::bad_request(field, text)
    })?;
    let nb = slot.put(&settings, config).await.map_err(|e| {
        Problem::new(StatusCode::CONFLICT, "northbound-not-started", "Northbound client not started", e.to_string())
    })?;
    Ok(Json(nb.status()))
}

/// Stops the northbound client (it de-registers) and forgets the stored settings; a restart
/// starts the configuration file's again, if any. Admin only.
#[utoipa::path(delete, path = "/api/v1/lwm2m/northbound", tag = "lwm2m",
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_northbound(State(app): State<AppState>) -> ApiResult<StatusCode> {
    let slot = northbound_slot(&app)?;
    match slot.delete().await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(Problem::not_found("northbound client", "lwm2m")),
        Err(e) => Err(Problem::new(StatusCode::CONFLICT, "northbound-store", "Settings not removed", e.to_string())),
    }
}

/// A registered LwM2M client as its last Register / Update described it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationView {
    /// Endpoint Client Name. (The registration id is not shown: over plain CoAP it is all a
    /// peer needs to update or end the registration.)
    pub endpoint: String,
    /// Enabler version.
    pub version: String,
    /// Lifetime, seconds.
    pub lifetime: u32,
    /// Binding letters.
    pub binding: String,
    /// Queue mode.
    pub queue_mode: bool,
    /// The client's address.
    pub address: String,
    /// Content formats the client listed (1.1+).
    pub content_formats: Vec<u16>,
    /// Registered objects and instances (`/o`, `/o/i`), with `ver` when given.
    pub objects: Vec<ObjectView>,
}

/// One registered object or instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectView {
    /// `/o` or `/o/i`.
    pub path: String,
    /// Object version, when the client declared one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// An LwM2M client's live registration: its objects and instances (the tree it reported), its
/// binding and lifetime. 404 when the endpoint is not registered now.
#[utoipa::path(get, path = "/api/v1/lwm2m/registrations/{endpoint}", tag = "lwm2m",
    params(("endpoint" = String, Path, description = "Endpoint name")),
    responses((status = 200, body = RegistrationView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn registration(
    State(app): State<AppState>,
    ApiPath(ep): ApiPath<String>,
) -> ApiResult<Json<RegistrationView>> {
    let r = adapter(&app)?.registration(&ep).ok_or_else(|| Problem::not_found("registration", &ep))?;
    Ok(Json(RegistrationView {
        endpoint: r.endpoint.clone(),
        version: r.version.clone(),
        lifetime: r.lifetime_s,
        binding: r.binding.clone(),
        queue_mode: r.queue_mode,
        address: r.address.to_string(),
        content_formats: r.content_formats.clone(),
        objects: r.objects.iter().map(|o| ObjectView { path: o.path.clone(), version: o.version.clone() }).collect(),
    }))
}

/// Every bootstrap configuration.
#[utoipa::path(get, path = "/api/v1/lwm2m/bootstrap", tag = "lwm2m",
    responses((status = 200, body = Vec<BootstrapEntry>), (status = 409, body = Problem)))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Json<Vec<BootstrapEntry>>> {
    let all = adapter(&app)?.bootstrap_configs().await;
    Ok(Json(all.into_iter().map(|(endpoint, config)| BootstrapEntry { endpoint, config: config.redacted() }).collect()))
}

/// One endpoint's bootstrap configuration (private and pre-shared keys are write-only: empty).
#[utoipa::path(get, path = "/api/v1/lwm2m/bootstrap/{endpoint}", tag = "lwm2m",
    params(("endpoint" = String, Path, description = "Endpoint name")),
    responses((status = 200, body = BootstrapConfig), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn get(State(app): State<AppState>, ApiPath(ep): ApiPath<String>) -> ApiResult<Json<BootstrapConfig>> {
    adapter(&app)?
        .bootstrap_config(&ep)
        .await
        .map(|c| Json(c.redacted()))
        .ok_or_else(|| Problem::not_found("bootstrap configuration", &ep))
}

/// Create or replace an endpoint's bootstrap configuration.
#[utoipa::path(put, path = "/api/v1/lwm2m/bootstrap/{endpoint}", tag = "lwm2m",
    params(("endpoint" = String, Path, description = "Endpoint name")), request_body = BootstrapConfig,
    responses((status = 200, body = BootstrapConfig), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn put(
    State(app): State<AppState>,
    ApiPath(ep): ApiPath<String>,
    ApiJson(cfg): ApiJson<BootstrapConfig>,
) -> ApiResult<Json<BootstrapConfig>> {
    adapter(&app)?.put_bootstrap_config(&ep, cfg.clone()).await.map_err(problem)?;
    // Keys are write-only.
    Ok(Json(cfg.redacted()))
}

/// Delete an endpoint's bootstrap configuration.
#[utoipa::path(delete, path = "/api/v1/lwm2m/bootstrap/{endpoint}", tag = "lwm2m",
    params(("endpoint" = String, Path, description = "Endpoint name")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(State(app): State<AppState>, ApiPath(ep): ApiPath<String>) -> ApiResult<StatusCode> {
    if adapter(&app)?.delete_bootstrap_config(&ep).await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("bootstrap configuration", &ep))
    }
}
