//! Operations: create on any device (one, or up to [`MAX_BATCH`] in one request), get, list by
//! device / state / group operation, cancel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use unidm_core::{NewOperation, OperationQuery};
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

/// Most operations one `POST /operations/batch` creates.
pub const MAX_BATCH: usize = 1_000;

/// Many new operations, created in one request and committed together.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOperations {
    /// The operations (1 to 1,000), each as `POST /operations` takes it.
    #[schema(min_items = 1, max_items = 1000)]
    pub operations: Vec<CreateOperation>,
}

/// What became of each operation of a batch, in the order asked.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchCreated {
    /// Operations created.
    pub created: usize,
    /// Requests refused.
    pub refused: usize,
    /// One item per request, in order.
    pub items: Vec<BatchItem>,
}

/// One request of a batch: the operation created (its id and state), or why it was refused.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchItem {
    /// The operation's id (`GET /operations/{id}`), when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Its state, when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<OperationState>,
    /// Why it was refused (its `field` names the request's place: `operations[3].action.uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

impl BatchItem {
    fn refused(i: usize, p: Problem) -> Self {
        let field = Some(match &p.field {
            Some(f) => format!("operations[{i}].{f}"),
            None => format!("operations[{i}]"),
        });
        BatchItem { id: None, state: None, problem: Some(Problem { field, ..p }) }
    }
}

/// Create many operations at once (as many `POST /operations`, committed together): the
/// answer says, per request and in order, the operation created or why it was refused. The
/// whole batch fails only when the body is malformed or the store cannot commit.
#[utoipa::path(post, path = "/api/v1/operations/batch", tag = "operations", request_body = CreateOperations,
    responses((status = 200, body = BatchCreated), (status = 400, body = Problem), (status = 503, body = Problem)))]
pub async fn create_batch(
    State(app): State<AppState>,
    ApiJson(r): ApiJson<CreateOperations>,
) -> ApiResult<Json<BatchCreated>> {
    if r.operations.is_empty() || r.operations.len() > MAX_BATCH {
        return Err(Problem::bad_request("operations", format!("must hold 1 to {MAX_BATCH} operations")));
    }
    let mut items: Vec<Option<BatchItem>> = Vec::with_capacity(r.operations.len());
    let mut asked = Vec::with_capacity(r.operations.len());
    for (i, o) in r.operations.into_iter().enumerate() {
        let options = OperationOptions { timeout_seconds: o.timeout_seconds, retry: o.retry };
        match options.to_core() {
            Ok(options) => {
                asked.push(NewOperation { device: o.device, action: o.action, options });
                items.push(None);
            }
            Err(p) => items.push(Some(BatchItem::refused(i, p))),
        }
    }
    let mut results = app.engine.create_operations(asked).await?.into_iter();
    let items: Vec<BatchItem> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Some(refused) => refused,
            None => match results.next() {
                Some(Ok(op)) => BatchItem { id: Some(op.id.0), state: Some(op.state), problem: None },
                Some(Err(e)) => BatchItem::refused(i, e.into()),
                None => BatchItem::refused(
                    i,
                    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "no result"),
                ),
            },
        })
        .collect();
    let created = items.iter().filter(|i| i.id.is_some()).count();
    Ok(Json(BatchCreated { created, refused: items.len() - created, items }))
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
