//! What the adapter does by itself when a device makes contact (TS Core 1.1 §6.2): reads the
//! objects it maps into the common model (/3 with /4 and /6, /5, /9; a gateway's /25), makes
//! again the user's observations a new registration or a restart ended, and hands each
//! notification to its waiting procedure and to the engine as observation events.

use serde_json::Value as Json;
use unidm_models::{ErrorKind, OperationError};

use super::{composite, device_request, firmware, gateway, mapping, software, Shared};
use crate::path::Path;
use crate::procedure::device_info::{DeviceInfo, DeviceInfoRead};
use crate::server::{DmResponse, Observed, Registration};

/// Observes again everything observed on `ep`, single paths and composite sets (after a new
/// registration, which ends the client's observations, or after an adapter restart, which
/// ends ours), and finds a gateway's end devices when none is known (after a restart), which
/// observes theirs again. Best effort.
pub(super) async fn resume_observations(shared: &Shared, ep: &str) {
    resume_own_observations(shared, ep).await;
    let reg = shared.registrations.read().ok().and_then(|r| r.get(ep).cloned());
    if let Some(reg) = reg {
        let found = gateway::ensure_children(shared, &reg).await;
        end_devices_found(shared, found).await;
    }
}

/// Observes again what the user observes on new end devices and reads their objects, as for
/// a client that registers. Outside the gateway's discovery lock: these requests may wait for
/// the gateway to come back.
async fn end_devices_found(shared: &Shared, found: Vec<gateway::Found>) {
    for child in found {
        if child.new {
            resume_own_observations(shared, &child.name).await;
        }
        read_own_objects(shared, &child.registration).await;
    }
}

/// Observes again everything observed on `ep` itself (an endpoint or an end device).
pub(super) async fn resume_own_observations(shared: &Shared, ep: &str) {
    let all: Vec<Observed> = shared
        .observed
        .lock()
        .ok()
        .and_then(|o| o.get(ep).map(|set| set.iter().filter_map(|p| p.parse().ok()).collect()))
        .unwrap_or_default();
    for what in all {
        let outcome = match &what {
            Observed::Path(path) => shared.read(ep, *path, Some(0)).await.map(|_| ()),
            Observed::Composite(paths) => shared.read_composite(ep, paths, Some(0)).await.map(|_| ()),
        };
        if let Err(e) = outcome {
            tracing::debug!(endpoint = %ep, observed = %what, error = %e.message, "observing again failed");
        }
    }
}

/// Reads /3/0 and, when the client registered them, /4/0 and /6/0.
pub(super) async fn read_device_info(shared: &Shared, ep: &str) -> Result<DeviceInfo, OperationError> {
    let reg = shared.registration(ep).await;
    let mut reads = DeviceInfoRead::new(reg.has_object(4), reg.has_object(6));
    while let Some((id, path)) = reads.poll_request() {
        let answer = match shared.request_ok(ep, device_request::read(&reg, path, None)).await {
            Ok(response) => device_request::decode(&path, &response, &shared.models),
            Err(e) => Err(e),
        };
        reads.handle_response(id, answer);
    }
    reads.poll_outcome().unwrap_or_else(|| {
        Err(OperationError::new(ErrorKind::Internal, "the device info reads ended without an outcome"))
    })
}

/// Maps what [`read_device_info`] gave into the device (identity, battery, memory, error
/// codes, connectivity, location).
pub(super) fn apply_device_info(info: &DeviceInfo, d: &mut unidm_models::Device, now: unidm_models::Timestamp) {
    mapping::apply_device_object(&info.device, d, now);
    for (_, content) in &info.extra {
        mapping::apply_connectivity(content, d);
        mapping::apply_location(content, d);
    }
}

/// Reads /3/0 and maps it into the device (identity, battery, memory, error codes), and /4/0
/// and /6/0 (connectivity, location) when the client registered them.
pub(super) async fn refresh_device_info(shared: &Shared, ep: &str) -> Result<Option<Json>, OperationError> {
    let info = read_device_info(shared, ep).await?;
    let mut result = device_request::content_to_json(&Path::ObjectInstance(3, 0), &info.device);
    for (p, content) in &info.extra {
        if let (Json::Object(all), Json::Object(more)) = (&mut result, device_request::content_to_json(p, content)) {
            all.extend(more);
        }
    }
    let id = device_id(ep)?;
    let now = shared.handle.now();
    shared
        .handle
        .update_device(&id, |d| apply_device_info(&info, d, now))
        .await
        .map_err(|e| OperationError::new(ErrorKind::Internal, e.to_string()))?;
    Ok(Some(result))
}

fn device_id(ep: &str) -> Result<unidm_models::DeviceId, OperationError> {
    unidm_models::DeviceId::lwm2m(ep).map_err(|e| OperationError::new(ErrorKind::BadInput, e.to_string()))
}

/// Reads `/5/0`.
async fn read_firmware(shared: &Shared, ep: &str) -> Result<crate::codec::Content, OperationError> {
    let reg = shared.registration(ep).await;
    let path = Path::ObjectInstance(5, 0);
    let response = shared.request_ok(ep, device_request::read(&reg, path, None)).await?;
    device_request::decode(&path, &response, &shared.models)
}

/// What the adapter reads by itself when a client registers, or updates with a new object
/// list: identity and state from /3 (with /4, /6), firmware state from /5, software from /9,
/// and the end devices of a gateway's /25. Each read is best effort.
pub(super) async fn refresh_on_contact(shared: &Shared, reg: &Registration) {
    if shared.config.read_device_on_register {
        read_own_objects(shared, reg).await;
    }
    let found = gateway::refresh(shared, reg).await;
    end_devices_found(shared, found).await;
}

/// Hands a notification to the procedures waiting on its device and path (firmware or
/// software State), named by the device it is about.
pub(super) fn route_notification(
    shared: &Shared,
    endpoint: &str,
    prefix: Option<&str>,
    observed: &Observed,
    response: &DmResponse,
) {
    let Some(device) = gateway::notified_device(shared, endpoint, prefix) else { return };
    shared.routes.route(&device, observed, response);
}

/// Reports a notification as observation events of the device it is about (an end device
/// behind a gateway for a `prefix`): one for an observed path, one per resource for an
/// Observe-Composite (as for Send).
pub(super) fn report_notification(
    shared: &Shared,
    endpoint: &str,
    prefix: Option<&str>,
    observed: &Observed,
    response: &DmResponse,
) {
    let Some(device) = gateway::notified_device(shared, endpoint, prefix) else {
        tracing::debug!(%endpoint, ?prefix, "notification of an unknown end device");
        return;
    };
    let Ok(id) = unidm_models::DeviceId::lwm2m(&device) else { return };
    if device_request::check(response).is_err() {
        return;
    }
    match observed {
        Observed::Path(path) => match device_request::decode(path, response, &shared.models) {
            Ok(content) => {
                shared.handle.observation(&id, &path.to_string(), device_request::content_to_json(path, &content))
            }
            Err(e) => tracing::debug!(device = %id, error = %e.message, "undecodable notification"),
        },
        Observed::Composite(_) => match composite::decode(response, &shared.models) {
            Ok(content) => {
                for record in &content.records {
                    shared.handle.observation(
                        &id,
                        &record.path.to_string(),
                        device_request::value_to_json(&record.value),
                    );
                }
            }
            Err(e) => tracing::debug!(device = %id, error = %e.message, "undecodable notification"),
        },
    }
}

/// What a read after registration gave, its failure logged.
fn best_effort<T>(read: Result<T, OperationError>, ep: &str, path: &str) -> Option<T> {
    read.inspect_err(
        |e| tracing::debug!(endpoint = %ep, %path, error = %e.message, "reading after registration failed"),
    )
    .ok()
}

/// Reads /3 (with /4, /6), /5 and /9 of `reg`, whichever it lists: an endpoint or an end
/// device behind a gateway (`reg` then names it `{gateway}/{device id}`). What /3 and /5 say
/// goes into the device in one update (one commit, one `DeviceUpdated`). Best effort.
pub(super) async fn read_own_objects(shared: &Shared, reg: &Registration) {
    let ep = reg.endpoint.as_str();
    let info = match reg.has_object(3) {
        true => best_effort(read_device_info(shared, ep).await, ep, "/3/0"),
        false => None,
    };
    let firmware = match reg.has_object(5) {
        true => best_effort(read_firmware(shared, ep).await, ep, "/5/0"),
        false => None,
    };
    if info.is_some() || firmware.is_some() {
        if let Ok(id) = device_id(ep) {
            let now = shared.handle.now();
            let updated = shared
                .handle
                .update_device(&id, |d| {
                    if let Some(info) = &info {
                        apply_device_info(info, d, now);
                    }
                    if let Some(content) = &firmware {
                        firmware::apply_status(content, &mut d.snapshot.firmware, &id);
                    }
                })
                .await;
            if let Err(e) = updated {
                tracing::debug!(endpoint = %ep, error = %e, "storing what /3/0 and /5/0 said failed");
            }
        }
    }
    if reg.has_object(9) {
        if let Err(e) = software::refresh(shared, ep).await {
            tracing::debug!(endpoint = %ep, error = %e.message, "reading /9 after registration failed");
        }
    }
}
