//! Operations on LwM2M devices (TS Core 1.1 §6.3, §6.4): native read / write / execute /
//! observe / discover / write-attributes / create / delete and the LwM2M 1.1 composite ones
//! ([`super::composite`]), reboot (Execute /3/0/4), factory reset (Execute /3/0/5), device
//! info refresh (Read /3/0) and the firmware pull procedure (object /5); software management
//! is in [`super::software`].

use std::sync::Arc;

use coap_lite::ResponseType;
use serde_json::{json, Value as Json};
use tokio::sync::broadcast::error::RecvError;
use unidm_models::{
    Action, ErrorKind, FirmwareState, FirmwareStatus, FirmwareUpdate, NativeOp, NativeRequest, Operation,
    OperationError, Progress,
};

use super::firmware::{self, UpdateResult};
use super::{composite, dm, mapping, native, push, Ctx};
use crate::codec::Value;
use crate::path::Path;
use crate::server::{DmResponse, Observed, Registration, ServerEvent};

fn endpoint(op: &Operation) -> &str {
    op.device.native()
}

fn native_path(n: &NativeRequest) -> Result<Path, OperationError> {
    n.path.parse::<Path>().map_err(|e| OperationError::new(ErrorKind::BadInput, format!("bad LwM2M path: {e}")))
}

/// Refuses at once what can never succeed (unsupported actions, malformed paths).
pub(super) fn check(op: &Operation) -> Result<(), OperationError> {
    match &op.action {
        Action::Ping(_) | Action::Traceroute(_) => Err(OperationError::new(
            ErrorKind::NotSupported,
            format!("{} is not supported by the LwM2M adapter yet", op.action.name()),
        )),
        Action::Native(n) if n.op.is_composite() => {
            composite::check_target(&n.path)?;
            if n.op == NativeOp::WriteComposite {
                let map = n.value.as_ref().and_then(Json::as_object).ok_or_else(|| {
                    OperationError::new(ErrorKind::BadInput, "a composite write maps paths to values")
                })?;
                map.keys()
                    .try_for_each(|k| k.parse::<Path>().map(|_| ()))
                    .map_err(|e| OperationError::new(ErrorKind::BadInput, format!("bad LwM2M path: {e}")))
            } else {
                composite::paths(n.value.as_ref()).map(|_| ())
            }
        }
        Action::Native(n) => {
            let path = native_path(n)?;
            // Malformed requests fail now, not after waiting for the device.
            match n.op {
                NativeOp::Discover => native::discover(path).map(|_| ()),
                NativeOp::WriteAttributes => {
                    native::write_attributes(path, n.value.as_ref().unwrap_or(&Json::Null)).map(|_| ())
                }
                NativeOp::Delete => native::delete(path).map(|_| ()),
                NativeOp::Create if !matches!(path, Path::Object(_) | Path::ObjectInstance(..)) => {
                    Err(OperationError::new(ErrorKind::BadInput, format!("Create targets /o or /o/i, not {path}")))
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Runs one operation to its end and reports the outcome.
pub(super) async fn run(ctx: Arc<Ctx>, op: Operation) {
    let outcome = match &op.action {
        Action::Reboot => execute(&ctx, &op, Path::Resource(3, 0, 4), None).await,
        Action::FactoryReset => execute(&ctx, &op, Path::Resource(3, 0, 5), None).await,
        Action::RefreshDeviceInfo => refresh_device_info(&ctx, endpoint(&op)).await,
        Action::Native(n) => native(&ctx, &op, n).await,
        Action::Firmware(f) => firmware_update(&ctx, &op, f).await,
        Action::Software(s) => super::software::run(&ctx, &op, s).await,
        _ => Err(OperationError::new(ErrorKind::NotSupported, "not supported")),
    };
    let reported = match outcome {
        Ok(result) => ctx.handle.operation_succeeded(op.id, result).await,
        Err(e) => ctx.handle.operation_failed(op.id, e).await,
    };
    if let Err(e) = reported {
        tracing::debug!(operation = %op.id, error = %e, "operation outcome not recorded");
    }
}

async fn execute(ctx: &Ctx, op: &Operation, path: Path, args: Option<&str>) -> Result<Option<Json>, OperationError> {
    let ep = endpoint(op);
    ctx.registration(ep).await;
    ctx.request_ok(ep, dm::execute(path, args)).await?;
    Ok(None)
}

/// Observes again everything observed on `ep`, single paths and composite sets (after a new
/// registration, which ends the client's observations, or after an adapter restart, which
/// ends ours), and finds a gateway's end devices when none is known (after a restart), which
/// observes theirs again. Best effort.
pub(super) async fn resume_observations(ctx: &Arc<Ctx>, ep: &str) {
    resume_own_observations(ctx, ep).await;
    let reg = ctx.registrations.read().ok().and_then(|r| r.get(ep).cloned());
    if let Some(reg) = reg {
        super::gateway::ensure_children(ctx, &reg).await;
    }
}

/// Observes again everything observed on `ep` itself (an endpoint or an end device).
pub(super) async fn resume_own_observations(ctx: &Ctx, ep: &str) {
    let all: Vec<Observed> = ctx
        .observed
        .lock()
        .ok()
        .and_then(|o| o.get(ep).map(|set| set.iter().filter_map(|p| p.parse().ok()).collect()))
        .unwrap_or_default();
    for what in all {
        let outcome = match &what {
            Observed::Path(path) => read(ctx, ep, *path, Some(0)).await.map(|_| ()),
            Observed::Composite(paths) => read_composite(ctx, ep, paths, Some(0)).await.map(|_| ()),
        };
        if let Err(e) = outcome {
            tracing::debug!(endpoint = %ep, observed = %what, error = %e.message, "observing again failed");
        }
    }
}

/// The registration of an endpoint that may get composite requests: a LwM2M 1.1+ client
/// registered directly (an end device behind a gateway would need the prefix inside the
/// SenML names, which no gateway TS defines).
async fn composite_registration(ctx: &Ctx, ep: &str) -> Result<Registration, OperationError> {
    if ctx.child(ep).is_some() {
        return Err(OperationError::new(
            ErrorKind::NotSupported,
            "composite operations on end devices behind a LwM2M gateway are not supported",
        ));
    }
    let reg = ctx.registration(ep).await;
    composite::check_version(&reg)?;
    Ok(reg)
}

/// Read-Composite, Observe-Composite (`Some(0)`) or its cancel (`Some(1)`) of `paths`.
async fn read_composite(ctx: &Ctx, ep: &str, paths: &[Path], observe: Option<u32>) -> Result<Json, OperationError> {
    let reg = composite_registration(ctx, ep).await?;
    let response = ctx.request_ok(ep, composite::read(&reg, paths, observe)?).await?;
    composite::result(&response, &ctx.models)
}

/// Reads `path`, asking for the client's preferred format and retrying without Accept when it
/// answers 4.06 Not Acceptable.
pub(super) async fn read(ctx: &Ctx, ep: &str, path: Path, observe: Option<u32>) -> Result<Json, OperationError> {
    let reg = ctx.registration(ep).await;
    let mut response = ctx.request(ep, dm::read(&reg, path, observe)).await?;
    if response.code == ResponseType::NotAcceptable {
        let mut again = dm::read(&reg, path, observe);
        again.accept = None;
        response = ctx.request(ep, again).await?;
    }
    dm::check(&response)?;
    let content = dm::decode(&path, &response, &ctx.models)?;
    Ok(dm::content_to_json(&path, &content))
}

async fn native(ctx: &Ctx, op: &Operation, n: &NativeRequest) -> Result<Option<Json>, OperationError> {
    let ep = endpoint(op);
    let path = native_path(n)?;
    match n.op {
        NativeOp::Read => read(ctx, ep, path, None).await.map(Some),
        NativeOp::Observe => {
            let value = read(ctx, ep, path, Some(0)).await?;
            ctx.remember_observation(ep, &Observed::Path(path), true).await;
            Ok(Some(value))
        }
        NativeOp::CancelObserve => {
            ctx.remember_observation(ep, &Observed::Path(path), false).await;
            let reg = ctx.registration(ep).await;
            ctx.request_ok(ep, dm::read(&reg, path, Some(1))).await?;
            Ok(None)
        }
        NativeOp::Execute => execute(ctx, op, path, n.args.as_deref()).await,
        NativeOp::Discover => {
            let request = native::discover(path)?;
            ctx.registration(ep).await;
            let response = ctx.request_ok(ep, request).await?;
            native::discover_result(&response).map(Some)
        }
        NativeOp::WriteAttributes => {
            let attributes = n.value.as_ref().unwrap_or(&Json::Null);
            let request = native::write_attributes(path, attributes)?;
            ctx.registration(ep).await;
            ctx.request_ok(ep, request).await?;
            Ok(None)
        }
        NativeOp::Create => {
            let reg = ctx.registration(ep).await;
            let (request, asked) = native::create(&reg, path, n.value.as_ref(), &ctx.models)?;
            let response = ctx.request_ok(ep, request).await?;
            Ok(Some(json!({"path": native::created_path(&response, asked).to_string()})))
        }
        NativeOp::Delete => {
            let request = native::delete(path)?;
            ctx.registration(ep).await;
            ctx.request_ok(ep, request).await?;
            Ok(None)
        }
        NativeOp::Write => {
            let value =
                n.value.as_ref().ok_or_else(|| OperationError::new(ErrorKind::BadInput, "a write needs a value"))?;
            let reg = ctx.registration(ep).await;
            ctx.request_ok(ep, dm::write(&reg, path, value, &ctx.models)?).await?;
            Ok(None)
        }
        NativeOp::ReadComposite => {
            let paths = composite::paths(n.value.as_ref())?;
            read_composite(ctx, ep, &paths, None).await.map(Some)
        }
        NativeOp::ObserveComposite => {
            let paths = composite::paths(n.value.as_ref())?;
            let value = read_composite(ctx, ep, &paths, Some(0)).await?;
            ctx.remember_observation(ep, &Observed::composite(paths), true).await;
            Ok(Some(value))
        }
        NativeOp::CancelObserveComposite => {
            let paths = composite::paths(n.value.as_ref())?;
            ctx.remember_observation(ep, &Observed::composite(paths.iter().copied()), false).await;
            let reg = composite_registration(ctx, ep).await?;
            ctx.request_ok(ep, composite::read(&reg, &paths, Some(1))?).await?;
            Ok(None)
        }
        NativeOp::WriteComposite => {
            let value = n.value.as_ref().unwrap_or(&Json::Null);
            let reg = composite_registration(ctx, ep).await?;
            ctx.request_ok(ep, composite::write(&reg, value, &ctx.models)?).await?;
            Ok(None)
        }
    }
}

/// Reads /3/0 and maps it into the device (identity, battery, memory, error codes), and /4/0
/// and /6/0 (connectivity, location) when the client registered them.
pub(super) async fn refresh_device_info(ctx: &Ctx, ep: &str) -> Result<Option<Json>, OperationError> {
    let reg = ctx.registration(ep).await;
    let path = Path::ObjectInstance(3, 0);
    let response = ctx.request_ok(ep, dm::read(&reg, path, None)).await?;
    let device = dm::decode(&path, &response, &ctx.models)?;
    let mut result = dm::content_to_json(&path, &device);
    let mut extra = Vec::new();
    for (object, present) in [(4, reg.has_object(4)), (6, reg.has_object(6))] {
        let p = Path::ObjectInstance(object, 0);
        if !present {
            continue;
        }
        match ctx.request_ok(ep, dm::read(&reg, p, None)).await.and_then(|r| dm::decode(&p, &r, &ctx.models)) {
            Ok(content) => {
                if let (Json::Object(all), Json::Object(more)) = (&mut result, dm::content_to_json(&p, &content)) {
                    all.extend(more);
                }
                extra.push(content);
            }
            Err(e) => tracing::debug!(endpoint = %ep, path = %p, error = %e.message, "optional read failed"),
        }
    }
    let id = unidm_models::DeviceId::lwm2m(ep).map_err(|e| OperationError::new(ErrorKind::BadInput, e.to_string()))?;
    let now = ctx.handle.now();
    ctx.handle
        .update_device(&id, |d| {
            mapping::apply_device_object(&device, d, now);
            for content in &extra {
                mapping::apply_connectivity(content, d);
                mapping::apply_location(content, d);
            }
        })
        .await
        .map_err(|e| OperationError::new(ErrorKind::Internal, e.to_string()))?;
    Ok(Some(result))
}

/// Reads `/5/0` and folds the device's firmware state into `Device.snapshot.firmware`.
pub(super) async fn refresh_firmware(ctx: &Ctx, ep: &str) -> Result<(), OperationError> {
    let reg = ctx.registration(ep).await;
    let path = Path::ObjectInstance(5, 0);
    let response = ctx.request_ok(ep, dm::read(&reg, path, None)).await?;
    let content = dm::decode(&path, &response, &ctx.models)?;
    let id = unidm_models::DeviceId::lwm2m(ep).map_err(|e| OperationError::new(ErrorKind::BadInput, e.to_string()))?;
    ctx.handle
        .update_device(&id, |d| {
            firmware::apply_status(&content, d.snapshot.firmware.get_or_insert_with(Default::default))
        })
        .await
        .map_err(|e| OperationError::new(ErrorKind::Internal, e.to_string()))?;
    Ok(())
}

/// What the adapter reads by itself when a client registers, or updates with a new object
/// list: identity and state from /3 (with /4, /6), firmware state from /5, software from /9,
/// and the end devices of a gateway's /25. Each read is best effort.
pub(super) async fn refresh_on_contact(ctx: &Arc<Ctx>, reg: &crate::server::Registration) {
    if ctx.config.read_device_on_register {
        read_own_objects(ctx, reg).await;
    }
    super::gateway::refresh(ctx, reg).await;
}

/// Hands a notification to operation tasks waiting for one (firmware State), named by the
/// device it is about.
pub(super) fn forward_notification(ctx: &Ctx, event: &ServerEvent) {
    let ServerEvent::Notification { endpoint, prefix, observed, response } = event else { return };
    let Some(device) = super::gateway::notified_device(ctx, endpoint, prefix.as_deref()) else { return };
    let note = super::Notified { endpoint: device, observed: observed.clone(), response: response.clone() };
    let _ = ctx.notifications.send(note);
}

/// Reports a notification as observation events of the device it is about (an end device
/// behind a gateway for a `prefix`): one for an observed path, one per resource for an
/// Observe-Composite (as for Send).
pub(super) fn report_notification(
    ctx: &Ctx,
    endpoint: &str,
    prefix: Option<&str>,
    observed: &Observed,
    response: &DmResponse,
) {
    let Some(device) = super::gateway::notified_device(ctx, endpoint, prefix) else {
        tracing::debug!(%endpoint, ?prefix, "notification of an unknown end device");
        return;
    };
    let Ok(id) = unidm_models::DeviceId::lwm2m(&device) else { return };
    if dm::check(response).is_err() {
        return;
    }
    match observed {
        Observed::Path(path) => match dm::decode(path, response, &ctx.models) {
            Ok(content) => ctx.handle.observation(&id, &path.to_string(), dm::content_to_json(path, &content)),
            Err(e) => tracing::debug!(device = %id, error = %e.message, "undecodable notification"),
        },
        Observed::Composite(_) => match composite::decode(response, &ctx.models) {
            Ok(content) => {
                for record in &content.records {
                    ctx.handle.observation(&id, &record.path.to_string(), dm::value_to_json(&record.value));
                }
            }
            Err(e) => tracing::debug!(device = %id, error = %e.message, "undecodable notification"),
        },
    }
}

/// Reads /3 (with /4, /6), /5 and /9 of `reg`, whichever it lists: an endpoint or an end
/// device behind a gateway (`reg` then names it `{gateway}/{device id}`). Best effort.
pub(super) async fn read_own_objects(ctx: &Ctx, reg: &crate::server::Registration) {
    let ep = reg.endpoint.as_str();
    if reg.has_object(3) {
        if let Err(e) = refresh_device_info(ctx, ep).await {
            tracing::debug!(endpoint = %ep, error = %e.message, "reading /3/0 after registration failed");
        }
    }
    if reg.has_object(5) {
        if let Err(e) = refresh_firmware(ctx, ep).await {
            tracing::debug!(endpoint = %ep, error = %e.message, "reading /5/0 after registration failed");
        }
    }
    if reg.has_object(9) {
        if let Err(e) = super::software::refresh(ctx, ep).await {
            tracing::debug!(endpoint = %ep, error = %e.message, "reading /9 after registration failed");
        }
    }
}

pub(super) async fn read_int(ctx: &Ctx, ep: &str, path: Path) -> Result<i64, OperationError> {
    match read(ctx, ep, path, None).await? {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| OperationError::new(ErrorKind::Internal, format!("{path} is not an integer")))
}

async fn set_firmware(ctx: &Ctx, op: &Operation, change: impl FnOnce(&mut FirmwareStatus)) {
    let _ = ctx
        .handle
        .update_device(&op.device, |d| {
            let fw = d.snapshot.firmware.get_or_insert_with(FirmwareStatus::default);
            change(fw);
        })
        .await;
}

pub(super) async fn progress(ctx: &Ctx, op: &Operation, percent: u8, message: &str) {
    let p = Progress { percent: Some(percent), message: Some(message.to_owned()) };
    let _ = ctx.handle.operation_progress(op.id, p).await;
}

/// Firmware update (object /5, registry `5.xml`): by pull, write Package URI; by push (Delivery
/// Method /5/0/9), fetch the image and write it to Package. Then follow State, execute Update when
/// Downloaded, and map Update Result.
async fn firmware_update(ctx: &Ctx, op: &Operation, fw: &FirmwareUpdate) -> Result<Option<Json>, OperationError> {
    let ep = endpoint(op);
    let reg = ctx.registration(ep).await;
    if !reg.has_object(5) {
        return Err(OperationError::new(ErrorKind::NotSupported, "the device did not register object /5"));
    }
    // A server must not send a URI whose scheme the client did not list in /5/0/8 (registry
    // `5.xml`); both resources are optional, so an unreadable list lets the client judge, and an
    // unreadable Delivery Method means pull.
    let supported: Option<Vec<i64>> = match read(ctx, ep, Path::Resource(5, 0, 8), None).await {
        Ok(Json::Object(listed)) => Some(listed.values().filter_map(Json::as_i64).collect()),
        _ => None,
    };
    let method = read_int(ctx, ep, Path::Resource(5, 0, 9)).await.ok();
    let delivery = firmware::delivery(method, supported.as_deref(), &fw.uri)?;
    let mut notes = ctx.notifications.subscribe();
    let state_path = Path::Resource(5, 0, 3);
    let uri_path = Path::Resource(5, 0, 1);
    let package_path = Path::Resource(5, 0, 0);
    // After a restart the engine hands the operation back: an update of the same image still
    // in progress is followed, not restarted (by pull, the Package URI names it; by push, the
    // device's firmware status this operation wrote). Anything else in progress is reset first
    // by writing an empty Package URI, or an empty Package for push (registry `5.xml`).
    let current_state = read_int(ctx, ep, state_path).await.ok();
    let same_image = match delivery {
        firmware::Delivery::Pull => {
            read(ctx, ep, uri_path, None).await.ok().as_ref().and_then(Json::as_str) == Some(fw.uri.as_str())
        }
        firmware::Delivery::Push => {
            let id = unidm_models::DeviceId::lwm2m(ep).ok();
            let status = id.and_then(|id| ctx.handle.device(&id)).and_then(|d| d.snapshot.firmware);
            status.is_some_and(|s| s.url.as_deref() == Some(fw.uri.as_str()))
        }
    };
    let resume = same_image && matches!(current_state, Some(1..=3));
    if !resume {
        // An image to push is fetched first: if that fails, the device is left as it was.
        let image = match delivery {
            firmware::Delivery::Pull => None,
            firmware::Delivery::Push => {
                progress(ctx, op, 5, "fetching the image to push").await;
                let (max, timeout) = (ctx.config.firmware_push_max, ctx.config.firmware_fetch_timeout);
                Some(push::fetch(&fw.uri, max, timeout).await?)
            }
        };
        if current_state.is_some_and(|s| s != 0) {
            let reset = match delivery {
                firmware::Delivery::Pull => dm::write(&reg, uri_path, &json!(""), &ctx.models)?,
                firmware::Delivery::Push => dm::write_opaque(package_path, Vec::new()),
            };
            ctx.request_ok(ep, reset).await?;
        }
        match image {
            None => ctx.request_ok(ep, dm::write(&reg, uri_path, &json!(fw.uri), &ctx.models)?).await?,
            Some(image) => {
                progress(ctx, op, 10, &format!("pushing {} bytes to /5/0/0", image.len())).await;
                ctx.request_ok(ep, dm::write_opaque(package_path, image)).await?
            }
        };
    }
    set_firmware(ctx, op, |s| {
        *s = FirmwareStatus {
            state: FirmwareState::Downloading,
            version: fw.version.clone(),
            name: fw.name.clone(),
            url: Some(fw.uri.clone()),
            failure: None,
            protocol_result: None,
        }
    })
    .await;
    let written = match delivery {
        firmware::Delivery::Pull => "package URI written",
        firmware::Delivery::Push => "package written",
    };
    progress(ctx, op, 20, written).await;
    let mut state = match read(ctx, ep, state_path, Some(0)).await {
        Ok(v) => v.as_i64(),
        Err(e) => {
            tracing::debug!(error = %e.message, "observing /5/0/3 failed, polling instead");
            None
        }
    };
    let mut executed = resume && current_state == Some(3);
    let outcome = loop {
        match state {
            Some(1) => progress(ctx, op, 25, "downloading").await,
            Some(3) => progress(ctx, op, 75, "updating").await,
            Some(2) if !executed => {
                set_firmware(ctx, op, |s| s.state = FirmwareState::Downloaded).await;
                progress(ctx, op, 50, "downloaded").await;
                if let Err(e) = ctx.request_ok(ep, dm::execute(Path::Resource(5, 0, 2), None)).await {
                    break Err(e);
                }
                executed = true;
                set_firmware(ctx, op, |s| s.state = FirmwareState::Updating).await;
                progress(ctx, op, 75, "updating").await;
            }
            Some(0 | 2) => match read_int(ctx, ep, Path::Resource(5, 0, 5)).await.map(firmware::update_result) {
                Ok(UpdateResult::Succeeded) => break Ok(()),
                Ok(UpdateResult::Failed(e)) => break Err(e),
                Ok(UpdateResult::Pending) => {}
                Err(e) => break Err(e),
            },
            _ => {}
        }
        state = next_state(ctx, ep, &mut notes, state_path).await?;
    };
    let reg = ctx.registration(ep).await;
    let _ = ctx.request(ep, dm::read(&reg, state_path, Some(1))).await;
    match outcome {
        Ok(()) => {
            set_firmware(ctx, op, |s| {
                s.state = FirmwareState::Succeeded;
                s.protocol_result = Some("1".into());
            })
            .await;
            let _ = refresh_device_info(ctx, ep).await;
            Ok(Some(json!({"updateResult": 1, "version": fw.version})))
        }
        Err(e) => {
            set_firmware(ctx, op, |s| {
                s.state = FirmwareState::Failed;
                s.failure = Some(e.message.clone());
                s.protocol_result = e.protocol_code.clone();
            })
            .await;
            Err(e)
        }
    }
}

/// The next State value: from a notification, or by reading it when none came in time or the
/// client registered again (it reboots to apply an image). A read that gets no answer is not
/// fatal here: a client applying firmware is often away for a while.
pub(super) async fn next_state(
    ctx: &Ctx,
    ep: &str,
    notes: &mut tokio::sync::broadcast::Receiver<super::Notified>,
    path: Path,
) -> Result<Option<i64>, OperationError> {
    let wait = tokio::time::sleep(ctx.config.firmware_poll);
    tokio::pin!(wait);
    let registration_id = |ctx: &Ctx| ctx.registrations.read().ok().and_then(|r| r.get(ep).map(|g| g.id.clone()));
    let before = registration_id(ctx);
    loop {
        let registered = ctx.registered.notified();
        tokio::select! {
            n = notes.recv() => match n {
                Ok(n) if n.endpoint == ep && n.observed == Observed::Path(path) => {
                    let content = dm::decode(&path, &n.response, &ctx.models)?;
                    return Ok(match content.get(&path) {
                        Some(Value::Integer(i)) => Some(*i),
                        Some(Value::UnsignedInteger(u)) => i64::try_from(*u).ok(),
                        _ => None,
                    });
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => {}
            },
            _ = &mut wait => {}
            _ = registered => if registration_id(ctx) == before {
                continue;
            },
        }
        return match read_int(ctx, ep, path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind.is_retryable() => Ok(None),
            Err(e) => Err(e),
        };
    }
}
