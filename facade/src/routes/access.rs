//! API tokens and the audit log (admins only; see [`crate::access`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Paging;
use crate::access::{AccessError, AuditEntry, Role, TokenInfo};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Its name (shown in the audit log): letters, digits, `-`, `_`, `.`.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// A created token: the only time it is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The bearer token; keep it, it cannot be read again.
    pub token: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// The entries.
    pub items: Vec<AuditEntry>,
    /// Entries kept in all.
    pub total: usize,
}

fn problem(e: AccessError) -> Problem {
    match e {
        AccessError::Invalid(m) => Problem::bad_request("name", m),
        AccessError::NotFound(n) => Problem::not_found("token", n),
        AccessError::Configured(_) => {
            Problem::new(StatusCode::CONFLICT, "configured-token", "Configured token", e.to_string())
        }
        AccessError::Store(m) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "storage", "Storage failed", m),
    }
}

/// Every token (names and roles, never the tokens).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access", responses((status = 200, body = Vec<TokenInfo>)))]
pub async fn list(State(app): State<AppState>) -> Json<Vec<TokenInfo>> {
    Json(app.access.list())
}

/// Create a token with a role; the answer is the only time it is shown.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = Problem), (status = 503, body = Problem)))]
pub async fn create(
    State(app): State<AppState>,
    ApiJson(t): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let token = app.access.create(&t.name, t.role).await.map_err(problem)?;
    Ok((StatusCode::CREATED, Json(CreatedToken { name: t.name.trim().to_owned(), role: t.role, token })))
}

/// Delete a token created through the API.
#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "access",
    params(("name" = String, Path, description = "Token name")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem)))]
pub async fn delete(State(app): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<StatusCode> {
    app.access.delete(&name).await.map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit log of mutating calls, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(Paging),
    responses((status = 200, body = AuditPage), (status = 400, body = Problem)))]
pub async fn audit(State(app): State<AppState>, ApiQuery(p): ApiQuery<Paging>) -> ApiResult<Json<AuditPage>> {
    let (offset, limit) = p.resolve()?;
    let (items, total) = app.access.audit(offset, limit);
    Ok(Json(AuditPage { items, total }))
}
