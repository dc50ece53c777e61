//! The shell of the firmware update procedure ([`crate::procedure::firmware`]): executes the
//! requests the state machine asks for on the device, feeds it their answers, the State
//! notifications routed to this operation, the device's new registrations and the timeouts it
//! asks for (on the engine's clock), and applies what comes out: progress, the moves of
//! `snapshot.firmware` (through the model, [`firmware`]) and the outcome.

use std::time::Duration;

use serde_json::{json, Value as Json};
use unidm_models::{ErrorKind, FirmwareUpdate, Operation, OperationError};

use super::{contact, device_request, firmware, push, Ctx};
use crate::codec::Value;
use crate::procedure::firmware::{Event, FirmwareProcedure, Request, Settings, SnapshotMove, STATE, URI};
use crate::server::{Observed, Registration};

const PACKAGE: crate::path::Path = crate::path::Path::Resource(5, 0, 0);
const UPDATE: crate::path::Path = crate::path::Path::Resource(5, 0, 2);

/// Runs a firmware update on the operation's device to its outcome.
pub(super) async fn run(ctx: &Ctx, op: &Operation, fw: &FirmwareUpdate) -> Result<Option<Json>, OperationError> {
    let ep = op.device.native();
    let reg = ctx.registration(ep).await;
    if !reg.has_object(5) {
        return Err(OperationError::new(ErrorKind::NotSupported, "the device did not register object /5"));
    }
    // By push, the snapshot this operation wrote names the image of an update in progress.
    let known_url = ctx.handle.device(&op.device).and_then(|d| d.snapshot.firmware).and_then(|s| s.url);
    let settings = Settings { poll: ctx.config.firmware_poll, stall: ctx.config.firmware_stall };
    let mut procedure = FirmwareProcedure::new(fw.clone(), settings, known_url, ctx.handle.now());
    // Routed from the start: a State notification that comes while a request is out waits here.
    let mut notes = ctx.routes.subscribe(ep, Observed::Path(STATE));
    let mut image = None;
    // The registration the State observation was made in: a new one has dropped it.
    let mut observed_under = None;
    loop {
        while let Some(event) = procedure.poll_event() {
            match event {
                Event::Progress { percent, message } => ctx.progress(op.id, percent, &message).await,
                Event::Snapshot(change) => move_snapshot(ctx, op, change).await,
                Event::Done(outcome) => return finished(ctx, ep, outcome).await,
            }
        }
        if let Some((id, request)) = procedure.poll_request() {
            if matches!(request, Request::Observe(_)) {
                observed_under = ctx.registration_id(ep);
            }
            let answer = perform(ctx, ep, &reg, fw, request, &mut image).await;
            procedure.handle_response(ctx.handle.now(), id, answer);
            continue;
        }
        let Some(due) = procedure.poll_timeout() else {
            return Err(OperationError::new(ErrorKind::Internal, "the firmware procedure stopped without an outcome"));
        };
        let watch = ctx.wakers.watch(ep);
        let woken = watch.notified();
        if ctx.registration_id(ep) != observed_under {
            observed_under = ctx.registration_id(ep);
            procedure.handle_registration(ctx.handle.now());
            continue;
        }
        let wait = Duration::from_millis(u64::try_from(due.millis() - ctx.handle.now().millis()).unwrap_or(0));
        tokio::select! {
            response = notes.next() => {
                let state = device_request::decode(&STATE, &response, &ctx.models).ok().and_then(|c| match c.get(&STATE) {
                    Some(Value::Integer(i)) => Some(*i),
                    Some(Value::UnsignedInteger(u)) => i64::try_from(*u).ok(),
                    _ => None,
                });
                procedure.handle_notification(ctx.handle.now(), state);
            }
            _ = tokio::time::sleep(wait) => procedure.handle_timeout(ctx.handle.now()),
            // The loop looks at the registration again.
            _ = woken => {}
        }
    }
}

/// Executes one request of the procedure on the device.
async fn perform(
    ctx: &Ctx,
    ep: &str,
    reg: &Registration,
    fw: &FirmwareUpdate,
    request: Request,
    image: &mut Option<Vec<u8>>,
) -> Result<Json, OperationError> {
    match request {
        Request::Read(path) => ctx.read(ep, path, None).await,
        Request::Observe(path) => ctx.read(ep, path, Some(0)).await,
        Request::CancelObserve(path) => {
            let reg = ctx.registration(ep).await;
            ctx.request(ep, device_request::read(&reg, path, Some(1))).await.map(|_| Json::Null)
        }
        Request::WriteUri(uri) => {
            ctx.request_ok(ep, device_request::write(reg, URI, &json!(uri), &ctx.models)?).await.map(|_| Json::Null)
        }
        Request::FetchImage => {
            let (max, timeout) = (ctx.config.firmware_push_max, ctx.config.firmware_fetch_timeout);
            let fetched = push::fetch(&fw.uri, max, timeout).await?;
            let size = fetched.len();
            *image = Some(fetched);
            Ok(json!(size))
        }
        Request::WritePackage => {
            let bytes = image.take().ok_or_else(|| OperationError::new(ErrorKind::Internal, "no image fetched"))?;
            ctx.request_ok(ep, device_request::write_opaque(PACKAGE, bytes)).await.map(|_| Json::Null)
        }
        Request::ResetPackage => {
            ctx.request_ok(ep, device_request::write_opaque(PACKAGE, Vec::new())).await.map(|_| Json::Null)
        }
        Request::ExecuteUpdate => ctx.request_ok(ep, device_request::execute(UPDATE, None)).await.map(|_| Json::Null),
    }
}

/// Moves the operation's device's firmware snapshot, through the model.
async fn move_snapshot(ctx: &Ctx, op: &Operation, change: SnapshotMove) {
    let device = &op.device;
    let moved = ctx
        .handle
        .update_device(device, |d| {
            let slot = &mut d.snapshot.firmware;
            match change {
                SnapshotMove::Start(asked) => firmware::start(slot, asked, device),
                SnapshotMove::Report(report) => {
                    firmware::advance(slot, report, device);
                }
                SnapshotMove::Succeeded => firmware::succeeded(slot, device),
            }
        })
        .await;
    if let Err(e) = moved {
        tracing::warn!(%device, error = %e, "could not record the firmware state");
    }
}

/// After a success, the device's identity shows the new firmware version (/3/0/3).
async fn finished(ctx: &Ctx, ep: &str, outcome: Result<Json, OperationError>) -> Result<Option<Json>, OperationError> {
    let result = outcome?;
    if let Err(e) = contact::refresh_device_info(ctx, ep).await {
        tracing::debug!(endpoint = %ep, error = %e.message, "reading /3/0 after the update failed");
    }
    Ok(Some(result))
}
