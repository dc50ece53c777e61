//! Provisioning rules: CRUD.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use unidm_models::{Action, Rule, Selector, Trigger};
use utoipa::ToSchema;

use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// A rule's definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleBody {
    /// URL-safe id (taken from the path on PUT).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub id: Option<String>,
    /// Words for a person.
    #[serde(default)]
    pub description: Option<String>,
    /// Which devices it applies to.
    #[serde(default)]
    pub selector: Selector,
    /// When it fires.
    #[schema(min_items = 1)]
    pub triggers: Vec<Trigger>,
    /// What it enqueues.
    #[schema(min_items = 1)]
    pub actions: Vec<Action>,
    /// Disabled rules do not fire (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl RuleBody {
    fn into_rule(self, id: String, created_at: unidm_models::Timestamp) -> Rule {
        Rule {
            id,
            description: self.description,
            selector: self.selector,
            triggers: self.triggers,
            actions: self.actions,
            enabled: self.enabled.unwrap_or(true),
            created_at,
        }
    }
}

/// List rules.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", responses((status = 200, body = Vec<Rule>)))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Json<Vec<Rule>>> {
    Ok(Json(app.engine.rules()?))
}

/// Create a rule.
#[utoipa::path(post, path = "/api/v1/rules", tag = "rules", request_body = RuleBody,
    responses((status = 201, body = Rule), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn create(State(app): State<AppState>, ApiJson(r): ApiJson<RuleBody>) -> ApiResult<impl IntoResponse> {
    let id = r.id.clone().ok_or_else(|| Problem::bad_request("id", "missing field `id`"))?;
    if app.engine.rule(&id).is_ok() {
        return Err(Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", format!("rule `{id}` already exists")));
    }
    let rule = r.into_rule(id, app.engine.now());
    Ok((StatusCode::CREATED, Json(app.engine.put_rule(rule).await?)))
}

/// One rule.
#[utoipa::path(get, path = "/api/v1/rules/{id}", tag = "rules", params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, body = Rule), (status = 404, body = Problem)))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Rule>> {
    Ok(Json(app.engine.rule(&id)?))
}

/// Create or replace a rule.
#[utoipa::path(put, path = "/api/v1/rules/{id}", tag = "rules", params(("id" = String, Path, description = "Rule id")),
    request_body = RuleBody, responses((status = 200, body = Rule), (status = 400, body = Problem)))]
pub async fn put(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(r): ApiJson<RuleBody>,
) -> ApiResult<Json<Rule>> {
    if r.id.as_ref().is_some_and(|body_id| body_id != &id) {
        return Err(Problem::bad_request("id", "the body's id differs from the path's"));
    }
    let created = app.engine.rule(&id).map(|r| r.created_at).unwrap_or_else(|_| app.engine.now());
    Ok(Json(app.engine.put_rule(r.into_rule(id, created)).await?))
}

/// Delete a rule.
#[utoipa::path(delete, path = "/api/v1/rules/{id}", tag = "rules", params(("id" = String, Path, description = "Rule id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    app.engine.delete_rule(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
