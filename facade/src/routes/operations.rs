//! Operations: create on any device, get, list by device / state / group operation, cancel.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use unidm_core::OperationQuery;
use unidm_models::{Action, DeviceId, Operation, OperationId, OperationState};
use utoipa::{IntoParams, ToSchema};

use super::devices::{accepted, start};
use super::{device_id, OperationOptions, Paging};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// A new operation on a device.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOperation {
    /// The device id.
    pub device: DeviceId,
    /// What to do.
    pub action: Action,
    /// Seconds before the operation expires.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    pub timeout_seconds: Option<u64>,
    /// Retry policy.
    #[serde(default)]
    pub retry: Option<unidm_models::RetryPolicy>,
}

/// Operation list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OperationFilter {
    /// Only this device's.
    pub device: Option<String>,
    /// Only in this state.
    pub state: Option<OperationState>,
    /// Only members of this group operation.
    #[param(maximum = 9223372036854775807_u64)]
    pub group_operation: Option<u64>,
    /// Items to skip.
    pub offset: Option<usize>,
    /// Items to return (1..=1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// A page of operations, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationPage {
    /// The operations.
    pub items: Vec<Operation>,
    /// How many match in all.
    pub total: usize,
    /// Skipped.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
}

/// Create an operation on a device.
#[utoipa::path(post, path = "/api/v1/operations", tag = "operations", request_body = CreateOperation,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create(State(app): State<AppState>, ApiJson(r): ApiJson<CreateOperation>) -> ApiResult<impl IntoResponse> {
    let o = OperationOptions { timeout_seconds: r.timeout_seconds, retry: r.retry };
    Ok(accepted(start(&app, r.device.as_str(), r.action, &o, true).await?))
}

/// List operations.
#[utoipa::path(get, path = "/api/v1/operations", tag = "operations", params(OperationFilter),
    responses((status = 200, body = OperationPage), (status = 400, body = Problem)))]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(f): ApiQuery<OperationFilter>,
) -> ApiResult<Json<OperationPage>> {
    let (offset, limit) = Paging { offset: f.offset, limit: f.limit }.resolve()?;
    let device = f.device.as_deref().filter(|d| !d.is_empty()).map(device_id).transpose()?;
    let q =
        OperationQuery { device, state: f.state, group_operation: f.group_operation.map(OperationId), offset, limit };
    let page = app.engine.operations(q).await?;
    Ok(Json(OperationPage { items: page.items, total: page.total, offset, limit }))
}

/// One operation.
#[utoipa::path(get, path = "/api/v1/operations/{id}", tag = "operations", params(("id" = u64, Path, description = "Operation id")),
    responses((status = 200, body = Operation), (status = 404, body = Problem)))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<u64>) -> ApiResult<Json<Operation>> {
    Ok(Json(app.engine.operation(OperationId(id)).await?))
}

/// Cancel an unfinished operation.
#[utoipa::path(post, path = "/api/v1/operations/{id}/cancel", tag = "operations", params(("id" = u64, Path, description = "Operation id")),
    responses((status = 200, body = Operation), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel(State(app): State<AppState>, ApiPath(id): ApiPath<u64>) -> ApiResult<Json<Operation>> {
    Ok(Json(app.engine.cancel_operation(OperationId(id)).await?))
}

/// A device's operations, newest first.
#[utoipa::path(get, path = "/api/v1/devices/{id}/operations", tag = "operations",
    params(("id" = String, Path, description = "Device id"), Paging),
    responses((status = 200, body = OperationPage), (status = 404, body = Problem)))]
pub async fn of_device(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<Json<OperationPage>> {
    let id = device_id(&id)?;
    app.engine.device(&id)?;
    let (offset, limit) = p.resolve()?;
    let page = app.engine.operations(OperationQuery { device: Some(id), offset, limit, ..Default::default() }).await?;
    Ok(Json(OperationPage { items: page.items, total: page.total, offset, limit }))
}
