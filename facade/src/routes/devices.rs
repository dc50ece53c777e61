//! Devices: list, pre-provision, read, labels, delete, topology, and the management actions.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use unidm_core::{DeviceQuery, Page};
use unidm_models::{
    Action, Device, DeviceId, FirmwareUpdate, NativeOp, NativeRequest, Operation, PingRequest, Protocol, RetryPolicy,
    SoftwareAction, TracerouteRequest,
};
use utoipa::{IntoParams, ToSchema};

use super::{device_id, parse_labels, OperationOptions, Paging};
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiPath, ApiQuery};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// Device list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeviceFilter {
    /// `lwm2m`, `tr069` or `omadm`.
    pub protocol: Option<Protocol>,
    /// Online (or sleeping) when true, offline when false.
    pub online: Option<bool>,
    /// Manufacturer, exact.
    pub manufacturer: Option<String>,
    /// Model, exact.
    pub model: Option<String>,
    /// Firmware version, exact.
    pub version: Option<String>,
    /// Part of the device id, case ignored.
    pub search: Option<String>,
    /// Labels, `key=value[,key=value]`.
    #[param(pattern = "^([^=,]+=[^,]*)?(,[^=,]+=[^,]*)*$")]
    pub label: Option<String>,
    /// Members of this group.
    pub group: Option<String>,
    /// Items to skip.
    pub offset: Option<usize>,
    /// Items to return (1..=1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// A page of devices.
#[derive(Debug, Serialize, ToSchema)]
pub struct DevicePage {
    /// The devices.
    pub items: Vec<Device>,
    /// How many match in all.
    pub total: usize,
    /// Skipped.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
}

/// Pre-provisioning a device that has not made contact yet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionRequest {
    /// `<protocol>:<native id>`.
    pub id: DeviceId,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// New labels for a device.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelsRequest {
    /// The labels (replacing all current ones).
    pub labels: BTreeMap<String, String>,
}

/// A device's place in the topology.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceTopology {
    /// The device.
    pub device: DeviceId,
    /// Its gateway.
    pub parent: Option<DeviceId>,
    /// Devices behind it.
    pub children: Vec<DeviceId>,
    /// Its area network type.
    #[serde(rename = "areaNetworkType")]
    pub area_network_type: Option<String>,
}

/// Firmware update request (`fwr.url`, `fwr.vr`, `fwr.fwn`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FirmwareRequest {
    /// Where the device fetches the image (an absolute URI).
    #[schema(min_length = 1, pattern = "://")]
    pub uri: String,
    /// The version the image carries.
    #[serde(default)]
    pub version: Option<String>,
    /// Package name.
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds before the operation expires.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    pub timeout_seconds: Option<u64>,
    /// Retry policy.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
}

/// What to do with a software module.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SoftwareVerb {
    /// Download and install (`uri` required).
    Install,
    /// Remove (`module` required).
    Uninstall,
    /// Start / enable (`module` required).
    Activate,
    /// Stop / disable (`module` required).
    Deactivate,
}

/// Software module request (`swr`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SoftwareRequest {
    /// The action.
    pub action: SoftwareVerb,
    /// Package URL (install).
    #[serde(default)]
    pub uri: Option<String>,
    /// Module name (install).
    #[serde(default)]
    pub name: Option<String>,
    /// Module version (install).
    #[serde(default)]
    pub version: Option<String>,
    /// Whether the module runs once installed (install; absent: the protocol's way).
    #[serde(default)]
    pub activate: Option<bool>,
    /// Module id from the device's software snapshot (uninstall, activate, deactivate).
    #[serde(default)]
    pub module: Option<String>,
    /// Seconds before the operation expires.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    pub timeout_seconds: Option<u64>,
    /// Retry policy.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
}

impl SoftwareRequest {
    fn action(self) -> ApiResult<SoftwareAction> {
        let module = |m: Option<String>| m.ok_or_else(|| Problem::bad_request("module", "missing field `module`"));
        Ok(match self.action {
            SoftwareVerb::Install => SoftwareAction::Install {
                uri: self.uri.ok_or_else(|| Problem::bad_request("uri", "missing field `uri`"))?,
                name: self.name,
                version: self.version,
                activate: self.activate,
            },
            SoftwareVerb::Uninstall => SoftwareAction::Uninstall { module: module(self.module)? },
            SoftwareVerb::Activate => SoftwareAction::Activate { module: module(self.module)? },
            SoftwareVerb::Deactivate => SoftwareAction::Deactivate { module: module(self.module)? },
        })
    }
}

/// Ping request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PingBody {
    /// Host name or address to ping.
    #[schema(min_length = 1, pattern = "\\S")]
    pub host: String,
    /// Number of echo requests (1..=100).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub count: Option<u32>,
    /// Per-echo timeout, milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// Seconds before the operation expires.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    pub timeout_seconds: Option<u64>,
    /// Retry policy.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
}

/// Traceroute request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracerouteBody {
    /// Host name or address.
    #[schema(min_length = 1, pattern = "\\S")]
    pub host: String,
    /// Maximum hop count.
    #[serde(default)]
    pub max_hops: Option<u32>,
    /// Seconds before the operation expires.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    pub timeout_seconds: Option<u64>,
    /// Retry policy.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
}

/// Native request: `{op, path, value?, args?}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NativeBody {
    /// What to do.
    pub op: NativeOp,
    /// The protocol path (`/3/0/0`, `Device.DeviceInfo.`, `./DevInfo/Man`).
    #[schema(min_length = 1, pattern = "\\S")]
    pub path: String,
    /// The value to write.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// Execute arguments.
    #[serde(default)]
    pub args: Option<String>,
    /// Seconds before the operation expires.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    pub timeout_seconds: Option<u64>,
    /// Retry policy.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
}

fn options(timeout_seconds: Option<u64>, retry: Option<RetryPolicy>) -> OperationOptions {
    OperationOptions { timeout_seconds, retry }
}

/// `202 Accepted` with the operation and its `Location`.
pub(crate) fn accepted(op: Operation) -> impl IntoResponse {
    let location = format!("/api/v1/operations/{}", op.id);
    (StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(op))
}

/// Starts `action` on a device. `nested` says whether the request body holds the action under
/// an `action` key (as `POST /operations` does) or at its top level (the per-function routes),
/// so that a validation error names the field as the client wrote it.
pub(crate) async fn start(
    app: &AppState,
    raw_id: &str,
    action: Action,
    options: &OperationOptions,
    nested: bool,
) -> ApiResult<Operation> {
    let id = device_id(raw_id)?;
    let opts = options.to_core()?;
    match app.engine.create_operation(&id, action, opts).await {
        Ok(op) => Ok(op),
        Err(unidm_core::CoreError::BadInput { field, message }) if !nested => {
            Err(Problem::bad_request(field.trim_start_matches("action."), message))
        }
        Err(e) => Err(e.into()),
    }
}

/// List devices.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", params(DeviceFilter),
    responses((status = 200, body = DevicePage), (status = 400, body = Problem), (status = 404, description = "Unknown group", body = Problem)))]
pub async fn list(State(app): State<AppState>, ApiQuery(f): ApiQuery<DeviceFilter>) -> ApiResult<Json<DevicePage>> {
    let (offset, limit) = Paging { offset: f.offset, limit: f.limit }.resolve()?;
    // An empty filter (`?group=`) is no filter, as forms send it.
    let given = |v: Option<String>| v.filter(|s| !s.is_empty());
    let q = DeviceQuery {
        protocol: f.protocol,
        online: f.online,
        manufacturer: given(f.manufacturer),
        model: given(f.model),
        version: given(f.version),
        search: given(f.search),
        labels: parse_labels(f.label.as_deref())?,
        group: given(f.group),
        offset,
        limit,
    };
    let Page { items, total } = app.engine.devices(&q)?;
    Ok(Json(DevicePage { items, total, offset, limit }))
}

/// Pre-provision a device.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", request_body = ProvisionRequest,
    responses((status = 201, body = Device), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn provision(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<ProvisionRequest>,
) -> ApiResult<impl IntoResponse> {
    let device = app.engine.provision_device(req.id, req.labels).await?;
    Ok((StatusCode::CREATED, Json(device)))
}

/// One device.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = Device), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Device>> {
    Ok(Json(app.engine.device(&device_id(&id)?)?))
}

/// Delete a device (its unfinished operations are cancelled).
#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = String, Path, description = "Device id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    app.engine.delete_device(&device_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a device's labels.
#[utoipa::path(put, path = "/api/v1/devices/{id}/labels", tag = "devices", params(("id" = String, Path, description = "Device id")),
    request_body = LabelsRequest, responses((status = 200, body = Device), (status = 404, body = Problem)))]
pub async fn put_labels(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<LabelsRequest>,
) -> ApiResult<Json<Device>> {
    Ok(Json(app.engine.set_labels(&device_id(&id)?, req.labels).await?))
}

/// A device's gateway and children.
#[utoipa::path(get, path = "/api/v1/devices/{id}/topology", tag = "topology", params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = DeviceTopology), (status = 404, body = Problem)))]
pub async fn topology(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<DeviceTopology>> {
    let d = app.engine.device(&device_id(&id)?)?;
    Ok(Json(DeviceTopology {
        device: d.id,
        parent: d.topology.parent,
        children: d.topology.children,
        area_network_type: d.topology.area_network_type,
    }))
}

/// Reboot (`rbo`).
#[utoipa::path(post, path = "/api/v1/devices/{id}/reboot", tag = "management", params(("id" = String, Path, description = "Device id")),
    request_body(content = Option<OperationOptions>, description = "optional"),
    responses((status = 202, body = Operation), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn reboot(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJsonOrEmpty(o): ApiJsonOrEmpty<OperationOptions>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(start(&app, &id, Action::Reboot, &o, false).await?))
}

/// Factory reset (`far`).
#[utoipa::path(post, path = "/api/v1/devices/{id}/factory-reset", tag = "management", params(("id" = String, Path, description = "Device id")),
    request_body(content = Option<OperationOptions>, description = "optional"),
    responses((status = 202, body = Operation), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn factory_reset(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJsonOrEmpty(o): ApiJsonOrEmpty<OperationOptions>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(start(&app, &id, Action::FactoryReset, &o, false).await?))
}

/// Firmware update (`fwr`): `{uri, version?, name?}`.
#[utoipa::path(post, path = "/api/v1/devices/{id}/firmware", tag = "management", params(("id" = String, Path, description = "Device id")),
    request_body = FirmwareRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn firmware(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(r): ApiJson<FirmwareRequest>,
) -> ApiResult<impl IntoResponse> {
    let o = options(r.timeout_seconds, r.retry);
    let update = FirmwareUpdate { uri: r.uri, version: r.version, name: r.name };
    Ok(accepted(start(&app, &id, Action::Firmware(update), &o, false).await?))
}

/// Software module action (`swr`): `{action: install|uninstall|activate|deactivate, ...}`.
#[utoipa::path(post, path = "/api/v1/devices/{id}/software", tag = "management", params(("id" = String, Path, description = "Device id")),
    request_body = SoftwareRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn software(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(r): ApiJson<SoftwareRequest>,
) -> ApiResult<impl IntoResponse> {
    let o = options(r.timeout_seconds, r.retry);
    Ok(accepted(start(&app, &id, Action::Software(r.action()?), &o, false).await?))
}

/// Ping diagnostic.
#[utoipa::path(post, path = "/api/v1/devices/{id}/diagnostics/ping", tag = "management", params(("id" = String, Path, description = "Device id")),
    request_body = PingBody,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn ping(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(r): ApiJson<PingBody>,
) -> ApiResult<impl IntoResponse> {
    let o = options(r.timeout_seconds, r.retry);
    let ping = PingRequest { host: r.host, count: r.count, timeout_ms: r.timeout_ms };
    Ok(accepted(start(&app, &id, Action::Ping(ping), &o, false).await?))
}

/// Traceroute diagnostic.
#[utoipa::path(post, path = "/api/v1/devices/{id}/diagnostics/traceroute", tag = "management", params(("id" = String, Path, description = "Device id")),
    request_body = TracerouteBody,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn traceroute(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(r): ApiJson<TracerouteBody>,
) -> ApiResult<impl IntoResponse> {
    let o = options(r.timeout_seconds, r.retry);
    let t = TracerouteRequest { host: r.host, max_hops: r.max_hops };
    Ok(accepted(start(&app, &id, Action::Traceroute(t), &o, false).await?))
}

/// Refresh the device's management snapshot (deviceInfo, firmware, software).
#[utoipa::path(post, path = "/api/v1/devices/{id}/refresh", tag = "management", params(("id" = String, Path, description = "Device id")),
    request_body(content = Option<OperationOptions>, description = "optional"),
    responses((status = 202, body = Operation), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn refresh(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJsonOrEmpty(o): ApiJsonOrEmpty<OperationOptions>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(start(&app, &id, Action::RefreshDeviceInfo, &o, false).await?))
}

/// Native read / write / execute / observe / cancelObserve of a protocol path:
/// `{op, path, value?, args?}`.
#[utoipa::path(post, path = "/api/v1/devices/{id}/native", tag = "management", params(("id" = String, Path, description = "Device id")),
    request_body = NativeBody,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn native(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(r): ApiJson<NativeBody>,
) -> ApiResult<impl IntoResponse> {
    let o = options(r.timeout_seconds, r.retry);
    let request = NativeRequest { op: r.op, path: r.path, value: r.value, args: r.args, format: None };
    Ok(accepted(start(&app, &id, Action::Native(request), &o, false).await?))
}
