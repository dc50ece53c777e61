//! Software management by pull (Software Management object /9, registry `9.xml`): install writes Package URI `/9/x/3` (creating the instance when no instance is in
//! INITIAL), follows Update State `/9/x/7` (observed, with reads as fallback) to DELIVERED,
//! executes Install `/9/x/4` and judges by Update Result `/9/x/9`, as the sans-I/O
//! [`crate::procedure::software::SoftwareInstall`] this module drives; uninstall, activate and
//! deactivate execute `/9/x/6`, `/9/x/10`, `/9/x/11`. `Device.snapshot.software` follows
//! PkgName `/9/x/0`, PkgVersion `/9/x/1`, Update State (INSTALLED = installed) and Activation
//! State `/9/x/12`.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use unidm_models::{ErrorKind, Operation, OperationError, SoftwareAction, SoftwareModule};

use super::{device_request, native, News, Shared};
use crate::codec::Value;
use crate::path::Path;
use crate::procedure::software::{Event, Request, SoftwareInstall};
use crate::server::{Observed, Registration};

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
        SoftwareAction::Install { uri, activate, .. } => install(shared, op, uri, *activate == Some(true)).await,
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

/// Drives the install procedure ([`SoftwareInstall`]): executes its requests, feeds it their
/// answers, the Update State notifications routed here, new registrations and timeouts.
async fn install(shared: &Shared, op: &Operation, uri: &str, activate: bool) -> Result<Option<Json>, OperationError> {
    let ep = op.device.native();
    let reg = shared.registration(ep).await;
    let instances = reg
        .object_paths()
        .filter_map(|p| matches!(p, Path::ObjectInstance(9, _)).then(|| p.instance_id()).flatten())
        .collect();
    let mut procedure =
        SoftwareInstall::new(uri, instances, shared.config.firmware_poll, shared.handle.now()).activating(activate);
    let mut notes = None;
    let mut observed_under = None;
    loop {
        while let Some(event) = procedure.poll_event() {
            match event {
                Event::Progress { percent, message } => shared.progress(op.id, percent, &message).await,
                Event::Done(outcome) => return outcome.map(Some),
            }
        }
        if let Some((id, request)) = procedure.poll_request() {
            if let (Request::Observe(path), None) = (&request, &notes) {
                notes = Some(shared.routes.subscribe(ep, Observed::Path(*path)));
            }
            if matches!(request, Request::Observe(_)) {
                observed_under = shared.registration_id(ep);
            }
            let answer = perform(shared, ep, &reg, request).await;
            procedure.handle_response(shared.handle.now(), id, answer);
            continue;
        }
        let (Some(due), Some(notes), Some(path)) = (procedure.poll_timeout(), notes.as_mut(), procedure.state_path())
        else {
            return Err(OperationError::new(ErrorKind::Internal, "the software procedure stopped without an outcome"));
        };
        match shared.wait_for_news(ep, notes, path, due, &mut observed_under).await {
            News::State(state) => procedure.handle_notification(shared.handle.now(), state),
            News::Registered => procedure.handle_registration(shared.handle.now()),
            News::Timeout => procedure.handle_timeout(shared.handle.now()),
        }
    }
}

/// Executes one request of the install procedure on the device.
async fn perform(shared: &Shared, ep: &str, reg: &Registration, request: Request) -> Result<Json, OperationError> {
    match request {
        Request::Read(path) => shared.read(ep, path, None).await,
        Request::Observe(path) => shared.read(ep, path, Some(0)).await,
        Request::CancelObserve(path) => {
            let reg = shared.registration(ep).await;
            shared.request(ep, device_request::read(&reg, path, Some(1))).await.map(|_| Json::Null)
        }
        Request::WriteUri(path, uri) => {
            let write = device_request::write(reg, path, &json!(uri), &shared.models)?;
            shared.request_ok(ep, write).await.map(|_| Json::Null)
        }
        Request::Create(uri) => {
            let (request, asked) = native::create(reg, Path::Object(9), Some(&json!({"3": uri})), &shared.models)?;
            let response = shared.request_ok(ep, request).await?;
            Ok(json!(native::created_path(&response, asked).instance_id().unwrap_or_default()))
        }
        Request::Execute(path) => shared.request_ok(ep, device_request::execute(path, None)).await.map(|_| Json::Null),
    }
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
