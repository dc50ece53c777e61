//! LwM2M bootstrap configurations: what the bootstrap server writes into a client's Security
//! (/0) and Server (/1) objects when it asks to be bootstrapped (LwM2M TS Core §6.1).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
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
