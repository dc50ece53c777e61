//! Software management by pull (Software Management object /9, registry `9.xml`, fact sheet
//! §9.10): install writes Package URI `/9/x/3` (creating the instance when no instance is in
//! INITIAL), follows Update State `/9/x/7` (observed, with reads as fallback) to DELIVERED,
//! executes Install `/9/x/4` and judges by Update Result `/9/x/9`; uninstall, activate and
//! deactivate execute `/9/x/6`, `/9/x/10`, `/9/x/11`. `Device.snapshot.software` follows
//! PkgName `/9/x/0`, PkgVersion `/9/x/1`, Update State (INSTALLED = installed) and Activation
//! State `/9/x/12`.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use unidm_models::{ErrorKind, Operation, OperationError, SoftwareAction, SoftwareModule};

use super::{device_request, native, Next, Shared};
use crate::codec::Value;
use crate::path::Path;
use crate::server::Observed;

/// What an Update Result `/9/x/9` value means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoftwareResult {
    /// 0 initial, 1 downloading, 3 downloaded and verified: not decided yet.
    Pending,
    /// 2: installed.
    Installed,
    /// 50-59 (and reserved values): failed, with the operation error to report.
    Failed(OperationError),
}

/// Maps every Update Result value of object /9 (registry `9.xml`); the error carries the
/// value as `protocol_code`.
pub fn update_result(code: i64) -> SoftwareResult {
    let (kind, text) = match code {
        0 | 1 | 3 => return SoftwareResult::Pending,
        2 => return SoftwareResult::Installed,
        50 => (ErrorKind::DeviceRefused, "not enough storage for the new software package".into()),
        51 => (ErrorKind::DeviceRefused, "out of memory during the download".into()),
        52 => (ErrorKind::Transport, "connection lost during the download".into()),
        53 => (ErrorKind::BadInput, "package integrity check failure".into()),
        54 => (ErrorKind::BadInput, "unsupported package type".into()),
        56 => (ErrorKind::BadInput, "invalid URI".into()),
        57 => (ErrorKind::DeviceRefused, "device-defined update error".into()),
        58 => (ErrorKind::DeviceRefused, "software installation failure".into()),
        59 => (ErrorKind::DeviceRefused, "uninstallation failure during forUpdate".into()),
        4..=49 | 55 | 60..=200 => (ErrorKind::DeviceRefused, format!("reserved Update Result {code}")),
        other => (ErrorKind::Internal, format!("Update Result {other} is out of range 0..200")),
    };
    SoftwareResult::Failed(OperationError::new(kind, text).with_code(code.to_string()))
}

fn module_id(module: &str) -> Result<u16, OperationError> {
    module
        .trim()
        .trim_start_matches("/9/")
        .parse()
        .map_err(|_| OperationError::new(ErrorKind::BadInput, format!("module {module:?} is not a /9 instance id")))
}

/// Runs a software action.
pub(super) async fn run(
    shared: &Shared,
    op: &Operation,
    action: &SoftwareAction,
) -> Result<Option<Json>, OperationError> {
    let ep = op.device.native();
    let reg = shared.registration(ep).await;
    if !reg.has_object(9) {
        return Err(OperationError::new(ErrorKind::NotSupported, "the device did not register object /9"));
    }
    let result = match action {
        SoftwareAction::Install { uri, .. } => install(shared, op, uri).await,
        SoftwareAction::Uninstall { module } => execute(shared, ep, module_id(module)?, 6).await,
        SoftwareAction::Activate { module } => execute(shared, ep, module_id(module)?, 10).await,
        SoftwareAction::Deactivate { module } => execute(shared, ep, module_id(module)?, 11).await,
    };
    if let Err(e) = refresh(shared, ep).await {
        tracing::debug!(endpoint = %ep, error = %e.message, "reading /9 failed");
    }
    result
}

async fn execute(shared: &Shared, ep: &str, module: u16, resource: u16) -> Result<Option<Json>, OperationError> {
    shared.request_ok(ep, device_request::execute(Path::Resource(9, module, resource), None)).await?;
    Ok(Some(json!({"module": module.to_string()})))
}

async fn install(shared: &Shared, op: &Operation, uri: &str) -> Result<Option<Json>, OperationError> {
    let ep = op.device.native();
    let reg = shared.registration(ep).await;
    let mut instance = None;
    for p in reg.object_paths().filter(|p| matches!(p, Path::ObjectInstance(9, _))) {
        if shared.read_int(ep, p.child(7).unwrap_or(p)).await.ok() == Some(0) {
            instance = p.instance_id();
            break;
        }
    }
    let module = match instance {
        Some(i) => {
            let write = device_request::write(&reg, Path::Resource(9, i, 3), &json!(uri), &shared.models)?;
            shared.request_ok(ep, write).await?;
            i
        }
        None => {
            let (request, asked) = native::create(&reg, Path::Object(9), Some(&json!({"3": uri})), &shared.models)?;
            let response = shared.request_ok(ep, request).await?;
            native::created_path(&response, asked).instance_id().unwrap_or_default()
        }
    };
    shared.progress(op.id, 10, "package URI written").await;
    let state_path = Path::Resource(9, module, 7);
    let mut notes = shared.routes.subscribe(ep, Observed::Path(state_path));
    let mut observed_under = shared.registration_id(ep);
    let mut state = shared.read(ep, state_path, Some(0)).await.ok().and_then(|v| v.as_i64());
    let mut executed = false;
    let outcome = loop {
        let result = match state {
            Some(4) => break Ok(()),
            Some(1 | 2) => {
                shared.progress(op.id, 25, "downloading").await;
                None
            }
            Some(3) if !executed => {
                shared.progress(op.id, 50, "delivered").await;
                if let Err(e) = shared.request_ok(ep, device_request::execute(Path::Resource(9, module, 4), None)).await
                {
                    break Err(e);
                }
                executed = true;
                shared.progress(op.id, 75, "installing").await;
                None
            }
            Some(0 | 3) => Some(shared.read_int(ep, Path::Resource(9, module, 9)).await.map(update_result)),
            _ => None,
        };
        match result {
            Some(Ok(SoftwareResult::Failed(e))) | Some(Err(e)) => break Err(e),
            Some(Ok(SoftwareResult::Installed)) => break Ok(()),
            Some(Ok(SoftwareResult::Pending)) | None => {}
        }
        state = match shared
            .next_state(ep, &mut notes, state_path, shared.config.firmware_poll, &mut observed_under)
            .await?
        {
            Next::State(s) | Next::Registered(s) => s,
        };
    };
    drop(notes);
    let reg = shared.registration(ep).await;
    if let Err(e) = shared.request(ep, device_request::read(&reg, state_path, Some(1))).await {
        tracing::debug!(endpoint = %ep, error = %e.message, "cancelling the observation of the Update State failed");
    }
    outcome.map(|()| Some(json!({"module": module.to_string(), "updateResult": 2})))
}

/// Reads /9 and sets `Device.snapshot.software` from it.
pub(super) async fn refresh(shared: &Shared, ep: &str) -> Result<(), OperationError> {
    let reg = shared.registration(ep).await;
    let path = Path::Object(9);
    let response = shared.request_ok(ep, device_request::read(&reg, path, None)).await?;
    let content = device_request::decode(&path, &response, &shared.models)?;
    let mut modules: BTreeMap<u16, SoftwareModule> = BTreeMap::new();
    for r in &content.records {
        let (Some(i), Some(res)) = (r.path.instance_id(), r.path.resource_id()) else { continue };
        let m = modules.entry(i).or_insert_with(|| SoftwareModule {
            id: i.to_string(),
            name: String::new(),
            version: None,
            installed: false,
            active: false,
        });
        match (res, &r.value) {
            (0, Value::String(s)) => m.name = s.clone(),
            (1, Value::String(s)) if !s.is_empty() => m.version = Some(s.clone()),
            (7, Value::Integer(s)) => m.installed = *s == 4,
            (12, Value::Boolean(b)) => m.active = *b,
            _ => {}
        }
    }
    let list: Vec<SoftwareModule> = modules.into_values().filter(|m| !m.name.is_empty() || m.installed).collect();
    shared
        .handle
        .update_device(&op_device(ep)?, |d| d.snapshot.software = list)
        .await
        .map_err(|e| OperationError::new(ErrorKind::Internal, e.to_string()))?;
    Ok(())
}

fn op_device(ep: &str) -> Result<unidm_models::DeviceId, OperationError> {
    unidm_models::DeviceId::lwm2m(ep).map_err(|e| OperationError::new(ErrorKind::BadInput, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_update_result_has_a_meaning() {
        for code in -1..=256 {
            match update_result(code) {
                SoftwareResult::Pending => assert!(matches!(code, 0 | 1 | 3)),
                SoftwareResult::Installed => assert_eq!(code, 2),
                SoftwareResult::Failed(e) => {
                    assert_eq!(e.protocol_code, Some(code.to_string()));
                    assert!(!e.message.is_empty());
                }
            }
        }
        let SoftwareResult::Failed(e) = update_result(58) else { panic!() };
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::DeviceRefused, "software installation failure"));
        let SoftwareResult::Failed(e) = update_result(52) else { panic!() };
        assert_eq!(e.kind, ErrorKind::Transport);
        assert_eq!(module_id("/9/2").unwrap(), 2);
        assert!(module_id("app").is_err());
    }
}
