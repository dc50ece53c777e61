//! Conformance runs: a catalogue's cases on one device, started by `POST`, followed by `GET`
//! or the `conformanceRunChanged` events, reported as JSON, JUnit XML or HTML.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use unidm_interop::Report;
use unidm_models::{ConformanceRunStatus, DeviceId, Protocol};
use utoipa::{IntoParams, ToSchema};

use crate::conformance::RunError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// A new conformance run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRun {
    /// The device under test; its protocol picks the catalogue.
    pub device: DeviceId,
    /// Cases to run, by id or id suffix (`1.0-int-101`, `1.0-int-2xx`, `TR069-A.3.2.*`); all
    /// when absent or empty.
    #[serde(default)]
    pub cases: Vec<String>,
    /// A firmware image URL the device can fetch (firmware cases are inconclusive without).
    #[serde(default)]
    pub firmware_uri: Option<String>,
    /// A software package URL the device can fetch (software cases are inconclusive without).
    #[serde(default)]
    pub software_uri: Option<String>,
    /// Packages prepared for the LwM2M firmware error cases, by the Update Result the device
    /// must end with (`{"5": "http://lab/corrupt.bin"}`: 2, 3, 4, 5, 6 or 8); those cases are
    /// inconclusive without theirs.
    #[serde(default)]
    pub firmware_cases: std::collections::BTreeMap<u16, String>,
}

impl From<RunError> for Problem {
    fn from(e: RunError) -> Problem {
        match e {
            RunError::NotFound(id) => Problem::not_found("conformance run", id),
            RunError::Invalid(field, message) => Problem::bad_request(field, message),
            RunError::Busy(..) => Problem::new(StatusCode::CONFLICT, "conformance-busy", "Device busy", e.to_string()),
            RunError::Store(m) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", "Storage failed", m),
        }
    }
}

/// Starts a conformance run: the selected cases of the device's catalogue, in order, one at a
/// time; each ended case is stored, so a restart resumes at the next one.
#[utoipa::path(post, path = "/api/v1/conformance-runs", tag = "conformance", request_body = CreateRun,
    responses((status = 201, body = ConformanceRunStatus), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn create(State(app): State<AppState>, ApiJson(body): ApiJson<CreateRun>) -> ApiResult<Response> {
    let inputs = crate::conformance::Inputs {
        firmware_uri: body.firmware_uri,
        software_uri: body.software_uri,
        firmware_cases: body.firmware_cases,
    };
    let status = app.conformance.create(body.device, body.cases, inputs).await?;
    let location = format!("/api/v1/conformance-runs/{}", status.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(status)).into_response())
}

/// Every conformance run, newest first.
#[utoipa::path(get, path = "/api/v1/conformance-runs", tag = "conformance",
    responses((status = 200, body = Vec<ConformanceRunStatus>)))]
pub async fn list(State(app): State<AppState>) -> Json<Vec<ConformanceRunStatus>> {
    Json(app.conformance.list())
}

/// One run's progress and counts.
#[utoipa::path(get, path = "/api/v1/conformance-runs/{id}", tag = "conformance",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = ConformanceRunStatus), (status = 404, body = Problem)))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<ConformanceRunStatus>> {
    Ok(Json(app.conformance.get(&id)?))
}

/// Stops a run after its current case (whose written values are put back first).
#[utoipa::path(delete, path = "/api/v1/conformance-runs/{id}", tag = "conformance",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = ConformanceRunStatus), (status = 404, body = Problem)))]
pub async fn cancel(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConformanceRunStatus>> {
    Ok(Json(app.conformance.cancel(&id).await?))
}

/// The report's format.
#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// The report as JSON (default).
    #[default]
    Json,
    /// JUnit XML, for CI systems.
    Junit,
    /// A self-contained HTML page.
    Html,
}

/// Report query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default), `junit` or `html`.
    pub format: Option<ReportFormat>,
}

/// A run's report: the cases ended so far with verdicts, reasons and message exchanges.
#[utoipa::path(get, path = "/api/v1/conformance-runs/{id}/report", tag = "conformance",
    params(("id" = String, Path, description = "Run id"), ReportQuery),
    responses((status = 200, body = Report, description = "JSON; `format=junit` gives application/xml, `format=html` text/html"),
        (status = 404, body = Problem)))]
pub async fn report(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let report = app.conformance.report(&id)?;
    Ok(match q.format.unwrap_or_default() {
        ReportFormat::Json => Json(report).into_response(),
        ReportFormat::Junit => {
            ([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], report.junit()).into_response()
        }
        ReportFormat::Html => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], report.html()).into_response(),
    })
}

/// One case of a catalogue.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaseInfo {
    /// Official id (LwM2M ETS) or ours citing the section (CWMP).
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// Requirement labels covered.
    pub requirements: &'static [&'static str],
    /// Where the expected behaviour is specified.
    pub reference: &'static str,
}

/// A protocol's catalogue of cases, in the order they run.
#[utoipa::path(get, path = "/api/v1/conformance/catalogues/{protocol}", tag = "conformance",
    params(("protocol" = String, Path, description = "lwm2m, tr069 or omadm")),
    responses((status = 200, body = Vec<CaseInfo>), (status = 404, body = Problem)))]
pub async fn catalogue(ApiPath(protocol): ApiPath<String>) -> ApiResult<Json<Vec<CaseInfo>>> {
    let protocol: Protocol = serde_json::from_value(serde_json::Value::String(protocol.clone()))
        .map_err(|_| Problem::not_found("protocol", &protocol))?;
    let cases = unidm_interop::catalogue(protocol);
    Ok(Json(
        cases
            .iter()
            .map(|c| CaseInfo { id: c.id, title: c.title, requirements: c.requirements, reference: c.reference })
            .collect(),
    ))
}
