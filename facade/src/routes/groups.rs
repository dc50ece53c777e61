//! Groups (member list and / or selector), their members, and group operations with their
//! aggregate.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use unidm_core::GroupOperationView;
use unidm_models::{Action, DeviceId, Group, GroupOperation, OperationId, Selector};
use utoipa::ToSchema;

use super::OperationOptions;
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// A group to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateGroup {
    /// URL-safe id.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub id: String,
    /// Words for a person.
    #[serde(default)]
    pub description: Option<String>,
    /// Explicit members.
    #[serde(default)]
    pub members: BTreeSet<DeviceId>,
    /// Devices matching this are members too.
    #[serde(default)]
    pub selector: Option<Selector>,
}

/// A group's new definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateGroup {
    /// Words for a person.
    #[serde(default)]
    pub description: Option<String>,
    /// Explicit members.
    #[serde(default)]
    pub members: BTreeSet<DeviceId>,
    /// Devices matching this are members too.
    #[serde(default)]
    pub selector: Option<Selector>,
}

/// A group operation to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartGroupOperation {
    /// What every member does.
    pub action: Action,
    /// Most members in flight at once (default 50).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub concurrency: Option<u32>,
    /// Seconds before each member operation expires.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    pub timeout_seconds: Option<u64>,
}

/// List groups.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", responses((status = 200, body = Vec<Group>)))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Json<Vec<Group>>> {
    Ok(Json(app.engine.groups()?))
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 201, body = Group), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn create(State(app): State<AppState>, ApiJson(r): ApiJson<CreateGroup>) -> ApiResult<impl IntoResponse> {
    if app.engine.group(&r.id).is_ok() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            "Conflict",
            format!("group `{}` already exists", r.id),
        ));
    }
    let g = Group {
        id: r.id,
        description: r.description,
        members: r.members,
        selector: r.selector,
        created_at: app.engine.now(),
    };
    Ok((StatusCode::CREATED, Json(app.engine.put_group(g).await?)))
}

/// One group.
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = Group), (status = 404, body = Problem)))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Group>> {
    Ok(Json(app.engine.group(&id)?))
}

/// Replace a group's definition.
#[utoipa::path(put, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = String, Path, description = "Group id")),
    request_body = UpdateGroup, responses((status = 200, body = Group), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn update(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(r): ApiJson<UpdateGroup>,
) -> ApiResult<Json<Group>> {
    let old = app.engine.group(&id)?;
    let g =
        Group { id, description: r.description, members: r.members, selector: r.selector, created_at: old.created_at };
    Ok(Json(app.engine.put_group(g).await?))
}

/// Delete a group.
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = String, Path, description = "Group id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    app.engine.delete_group(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The group's members now (explicit ones and those its selector matches).
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "groups", params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = Vec<String>), (status = 404, body = Problem)))]
pub async fn members(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Vec<DeviceId>>> {
    Ok(Json(app.engine.group_members(&id)?))
}

/// Start an action on every member.
#[utoipa::path(post, path = "/api/v1/groups/{id}/operations", tag = "groups", params(("id" = String, Path, description = "Group id")),
    request_body = StartGroupOperation,
    responses((status = 202, body = GroupOperationView), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn start(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(r): ApiJson<StartGroupOperation>,
) -> ApiResult<impl IntoResponse> {
    let opts = OperationOptions { timeout_seconds: r.timeout_seconds, retry: None }.to_core()?;
    let gop = app.engine.start_group_operation(&id, r.action, r.concurrency, opts).await?;
    let view = app.engine.group_operation(gop.id).await?;
    let location = format!("/api/v1/group-operations/{}", gop.id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(view)))
}

/// The group's operations, newest first.
#[utoipa::path(get, path = "/api/v1/groups/{id}/operations", tag = "groups", params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = Vec<GroupOperation>), (status = 404, body = Problem)))]
pub async fn operations(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<GroupOperation>>> {
    app.engine.group(&id)?;
    Ok(Json(app.engine.group_operations(Some(&id)).await?))
}

/// A group operation with its aggregate (counts per state, per-device results).
#[utoipa::path(get, path = "/api/v1/group-operations/{id}", tag = "groups", params(("id" = u64, Path, description = "Group operation id")),
    responses((status = 200, body = GroupOperationView), (status = 404, body = Problem)))]
pub async fn get_operation(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<Json<GroupOperationView>> {
    Ok(Json(app.engine.group_operation(OperationId(id)).await?))
}

/// Cancel every unfinished member.
#[utoipa::path(post, path = "/api/v1/group-operations/{id}/cancel", tag = "groups", params(("id" = u64, Path, description = "Group operation id")),
    responses((status = 200, body = GroupOperationView), (status = 404, body = Problem)))]
pub async fn cancel_operation(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<Json<GroupOperationView>> {
    Ok(Json(app.engine.cancel_group_operation(OperationId(id)).await?))
}
