//! Runs each submitted operation on its LwM2M device (TS Core 1.1 §6.3, §6.4): native read /
//! write / execute / observe / discover / write-attributes / create / delete and the LwM2M 1.1
//! composite ones ([`super::composite`]), reboot (Execute /3/0/4), factory reset (Execute
//! /3/0/5); device info refresh (Read /3/0) is in `contact`, the firmware procedure in
//! `firmware_update`, software management in [`super::software`].

use std::sync::Arc;

use serde_json::{json, Value as Json};
use unidm_models::{Action, ErrorKind, NativeOp, NativeRequest, Operation, OperationError};

use super::{composite, contact, device_request, firmware_update, native, software, Shared};
use crate::codec::ContentFormat;
use crate::path::Path;
use crate::server::Observed;

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
            native_format(n)?;
            // Malformed requests fail now, not after waiting for the device.
            match n.op {
                NativeOp::Discover => native::discover(path).map(|_| ()),
                NativeOp::WriteAttributes => {
                    native::write_attributes(path, n.value.as_ref().unwrap_or(&Json::Null)).map(|_| ())
                }
                NativeOp::Delete => native::delete(path).map(|_| ()),
                NativeOp::Copy | NativeOp::Alert => Err(copy_not_supported()),
                NativeOp::Create if !matches!(path, Path::Object(_) | Path::ObjectInstance(..)) => {
                    Err(OperationError::new(ErrorKind::BadInput, format!("Create targets /o or /o/i, not {path}")))
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The content format an API caller asked for (`NativeRequest::format`).
fn native_format(n: &NativeRequest) -> Result<Option<ContentFormat>, OperationError> {
    let Some(name) = n.format.as_deref() else { return Ok(None) };
    match ContentFormat::parse_name(name) {
        Some(ContentFormat::Other(code)) => {
            Err(OperationError::new(ErrorKind::BadInput, format!("content format {code} is not one LwM2M defines")))
        }
        Some(format) => Ok(Some(format)),
        None => Err(OperationError::new(
            ErrorKind::BadInput,
            format!(
                "unknown format `{name}`: text, opaque, tlv, json, senml+json, senml+cbor, cbor, lwm2m+cbor or a number"
            ),
        )),
    }
}

/// Runs one operation to its end and reports the outcome.
pub(super) async fn run(shared: Arc<Shared>, op: Operation) {
    let outcome = match &op.action {
        Action::Reboot => execute(&shared, &op, Path::Resource(3, 0, 4), None).await,
        Action::FactoryReset => execute(&shared, &op, Path::Resource(3, 0, 5), None).await,
        Action::RefreshDeviceInfo => contact::refresh_device_info(&shared, endpoint(&op)).await,
        Action::Native(n) => native(&shared, &op, n).await,
        Action::Firmware(f) => firmware_update::run(&shared, &op, f).await,
        Action::Software(s) => software::run(&shared, &op, s).await,
        _ => Err(OperationError::new(ErrorKind::NotSupported, "not supported")),
    };
    // Forgotten first: the engine's retry of a failed attempt comes back through `submit`.
    shared.delivery.answered(op.id);
    let reported = match outcome {
        Ok(result) => shared.handle.operation_succeeded(op.id, result).await,
        Err(e) => shared.handle.operation_failed(op.id, e).await,
    };
    if let Err(e) = reported {
        tracing::debug!(operation = %op.id, error = %e, "operation outcome not recorded");
    }
}

async fn execute(
    shared: &Shared,
    op: &Operation,
    path: Path,
    args: Option<&str>,
) -> Result<Option<Json>, OperationError> {
    let ep = endpoint(op);
    shared.registration(ep).await;
    shared.request_ok(ep, device_request::execute(path, args)).await?;
    Ok(None)
}

fn copy_not_supported() -> OperationError {
    OperationError::new(ErrorKind::NotSupported, "copy and user-interaction alerts are OMA DM commands; LwM2M has none")
}

async fn native(shared: &Shared, op: &Operation, n: &NativeRequest) -> Result<Option<Json>, OperationError> {
    let ep = endpoint(op);
    let path = native_path(n)?;
    match n.op {
        NativeOp::Copy | NativeOp::Alert => Err(copy_not_supported()),
        NativeOp::Read => match native_format(n)? {
            Some(format) => shared.read_in(ep, path, None, format).await.map(Some),
            None => shared.read(ep, path, None).await.map(Some),
        },
        NativeOp::Observe => {
            let value = match native_format(n)? {
                Some(format) => shared.read_in(ep, path, Some(0), format).await?,
                None => shared.read(ep, path, Some(0)).await?,
            };
            shared.remember_observation(ep, &Observed::Path(path), true).await;
            Ok(Some(value))
        }
        NativeOp::CancelObserve => {
            shared.remember_observation(ep, &Observed::Path(path), false).await;
            let reg = shared.registration(ep).await;
            shared.request_ok(ep, device_request::read(&reg, path, Some(1))).await?;
            Ok(None)
        }
        NativeOp::Execute => execute(shared, op, path, n.args.as_deref()).await,
        NativeOp::Discover => {
            let request = native::discover(path)?;
            shared.registration(ep).await;
            let response = shared.request_ok(ep, request).await?;
            native::discover_result(&response).map(Some)
        }
        NativeOp::WriteAttributes => {
            let attributes = n.value.as_ref().unwrap_or(&Json::Null);
            let request = native::write_attributes(path, attributes)?;
            shared.registration(ep).await;
            shared.request_ok(ep, request).await?;
            Ok(None)
        }
        NativeOp::Create => {
            let reg = shared.registration(ep).await;
            let (request, asked) = native::create(&reg, path, n.value.as_ref(), &shared.models)?;
            let response = shared.request_ok(ep, request).await?;
            Ok(Some(json!({"path": native::created_path(&response, asked).to_string()})))
        }
        NativeOp::Delete => {
            let request = native::delete(path)?;
            shared.registration(ep).await;
            shared.request_ok(ep, request).await?;
            Ok(None)
        }
        NativeOp::Write => {
            let value =
                n.value.as_ref().ok_or_else(|| OperationError::new(ErrorKind::BadInput, "a write needs a value"))?;
            let reg = shared.registration(ep).await;
            let request = device_request::write_in(&reg, path, value, &shared.models, native_format(n)?)?;
            shared.request_ok(ep, request).await?;
            Ok(None)
        }
        NativeOp::ReadComposite => {
            let paths = composite::paths(n.value.as_ref())?;
            shared.read_composite(ep, &paths, None).await.map(Some)
        }
        NativeOp::ObserveComposite => {
            let paths = composite::paths(n.value.as_ref())?;
            let value = shared.read_composite(ep, &paths, Some(0)).await?;
            shared.remember_observation(ep, &Observed::composite(paths), true).await;
            Ok(Some(value))
        }
        NativeOp::CancelObserveComposite => {
            let paths = composite::paths(n.value.as_ref())?;
            shared.remember_observation(ep, &Observed::composite(paths.iter().copied()), false).await;
            let reg = shared.composite_registration(ep).await?;
            shared.request_ok(ep, composite::read(&reg, &paths, Some(1))?).await?;
            Ok(None)
        }
        NativeOp::WriteComposite => {
            let value = n.value.as_ref().unwrap_or(&Json::Null);
            let reg = shared.composite_registration(ep).await?;
            shared.request_ok(ep, composite::write(&reg, value, &shared.models)?).await?;
            Ok(None)
        }
    }
}
