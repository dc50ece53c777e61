//! The shell of the firmware update procedure ([`crate::procedure::firmware`]): executes the
//! requests the state machine asks for on the device, feeds it their answers, the State
//! notifications routed to this operation, the device's new registrations and the timeouts it
//! asks for (on the engine's clock), and applies what comes out: progress, the moves of
//! `snapshot.firmware` (through the model, [`firmware`]) and the outcome.

use serde_json::{json, Value as Json};
use unidm_models::{ErrorKind, FirmwareUpdate, Operation, OperationError};

use super::{contact, device_request, firmware, push, News, Shared};
use crate::procedure::firmware::{Checkpoint, Event, FirmwareProcedure, Request, Settings, SnapshotMove, STATE, URI};
use crate::server::{Observed, Registration};

const PACKAGE: crate::path::Path = crate::path::Path::Resource(5, 0, 0);
const UPDATE: crate::path::Path = crate::path::Path::Resource(5, 0, 2);

/// Runs a firmware update on the operation's device to its outcome.
pub(super) async fn run(shared: &Shared, op: &Operation, fw: &FirmwareUpdate) -> Result<Option<Json>, OperationError> {
    let ep = op.device.native();
    let reg = shared.registration(ep).await;
    if !reg.has_object(5) {
        return Err(OperationError::new(ErrorKind::NotSupported, "the device did not register object /5"));
    }
    // By push, the snapshot this operation wrote names the image of an update in progress.
    let known_url = shared.handle.device(&op.device).and_then(|d| d.snapshot.firmware).and_then(|s| s.url);
    let settings = Settings { poll: shared.config.firmware_poll, stall: shared.config.firmware_stall };
    // A step stored before a restart resumes there: nothing is written or executed twice.
    let resumed = op.adapter_state.as_deref().and_then(Checkpoint::decode);
    let mut procedure = match resumed {
        Some(checkpoint) => FirmwareProcedure::resume(fw.clone(), settings, checkpoint, shared.handle.now()),
        None => FirmwareProcedure::new(fw.clone(), settings, known_url, shared.handle.now()),
    };
    // Routed from the start: a State notification that comes while a request is out waits here.
    let mut notes = shared.routes.subscribe(ep, Observed::Path(STATE));
    let mut image = None;
    // The registration the State observation was made in: a new one has dropped it.
    let mut observed_under = None;
    // The snapshot's success is written with the identity read back after it, in one update.
    let mut succeeded = false;
    loop {
        while let Some(event) = procedure.poll_event() {
            match event {
                Event::Progress { percent, message } => shared.progress(op.id, percent, &message).await,
                Event::Checkpoint { percent, message, checkpoint } => {
                    let progress = unidm_models::Progress { percent: Some(percent), message: Some(message) };
                    let stored =
                        shared.handle.operation_progress_with_state(op.id, progress, checkpoint.encode()).await;
                    if let Err(e) = stored {
                        tracing::debug!(operation = %op.id, error = %e, "firmware step not recorded");
                    }
                }
                Event::Snapshot(SnapshotMove::Succeeded) => succeeded = true,
                Event::Snapshot(change) => move_snapshot(shared, op, change).await,
                Event::Done(outcome) => return finished(shared, op, outcome, succeeded).await,
            }
        }
        if let Some((id, request)) = procedure.poll_request() {
            if matches!(request, Request::Observe(_)) {
                observed_under = shared.registration_id(ep);
            }
            let answer = perform(shared, ep, &reg, fw, request, &mut image).await;
            procedure.handle_response(shared.handle.now(), id, answer);
            continue;
        }
        let Some(due) = procedure.poll_timeout() else {
            return Err(OperationError::new(ErrorKind::Internal, "the firmware procedure stopped without an outcome"));
        };
        match shared.wait_for_news(ep, &mut notes, STATE, due, &mut observed_under).await {
            News::State(state) => procedure.handle_notification(shared.handle.now(), state),
            News::Registered => procedure.handle_registration(shared.handle.now()),
            News::Timeout => procedure.handle_timeout(shared.handle.now()),
        }
    }
}

/// Executes one request of the procedure on the device.
async fn perform(
    shared: &Shared,
    ep: &str,
    reg: &Registration,
    fw: &FirmwareUpdate,
    request: Request,
    image: &mut Option<Vec<u8>>,
) -> Result<Json, OperationError> {
    match request {
        Request::Read(path) => shared.read(ep, path, None).await,
        Request::Observe(path) => shared.read(ep, path, Some(0)).await,
        Request::CancelObserve(path) => {
            let reg = shared.registration(ep).await;
            shared.request(ep, device_request::read(&reg, path, Some(1))).await.map(|_| Json::Null)
        }
        Request::WriteUri(uri) => shared
            .request_ok(ep, device_request::write(reg, URI, &json!(uri), &shared.models)?)
            .await
            .map(|_| Json::Null),
        Request::FetchImage => {
            let (max, timeout) = (shared.config.firmware_push_max, shared.config.firmware_fetch_timeout);
            let fetched = push::fetch(&fw.uri, max, timeout, &shared.config.fetch_roots).await?;
            let size = fetched.len();
            *image = Some(fetched);
            Ok(json!(size))
        }
        Request::WritePackage => {
            let bytes = image.take().ok_or_else(|| OperationError::new(ErrorKind::Internal, "no image fetched"))?;
            shared.request_ok(ep, device_request::write_opaque(PACKAGE, bytes)).await.map(|_| Json::Null)
        }
        Request::ResetPackage => {
            shared.request_ok(ep, device_request::write_opaque(PACKAGE, Vec::new())).await.map(|_| Json::Null)
        }
        Request::ExecuteUpdate => {
            shared.request_ok(ep, device_request::execute(UPDATE, None)).await.map(|_| Json::Null)
        }
    }
}

/// Moves the operation's device's firmware snapshot, through the model.
async fn move_snapshot(shared: &Shared, op: &Operation, change: SnapshotMove) {
    let device = &op.device;
    let moved = shared
        .handle
        .change_device(device, |d| {
            let slot = &mut d.snapshot.firmware;
            // Only the firmware slot moves: it alone is compared.
            let before = slot.clone();
            match change {
                SnapshotMove::Start(asked) => firmware::start(slot, asked, device),
                SnapshotMove::Report(report) => {
                    firmware::advance(slot, report, device);
                }
                SnapshotMove::Succeeded => firmware::succeeded(slot, device),
            }
            *slot != before
        })
        .await;
    if let Err(e) = moved {
        tracing::warn!(%device, error = %e, "could not record the firmware state");
    }
}

/// After a success, the device's identity shows the new firmware version (/3/0/3): /3/0 is
/// read back and written with the snapshot's success in one device update.
async fn finished(
    shared: &Shared,
    op: &Operation,
    outcome: Result<Json, OperationError>,
    succeeded: bool,
) -> Result<Option<Json>, OperationError> {
    let ep = op.device.native();
    let info = match &outcome {
        Ok(_) => contact::read_device_info(shared, ep)
            .await
            .inspect_err(
                |e| tracing::debug!(endpoint = %ep, error = %e.message, "reading /3/0 after the update failed"),
            )
            .ok(),
        Err(_) => None,
    };
    if succeeded || info.is_some() {
        let (device, now) = (&op.device, shared.handle.now());
        let moved = shared
            .handle
            .update_device(device, |d| {
                if succeeded {
                    firmware::succeeded(&mut d.snapshot.firmware, device);
                }
                if let Some(info) = &info {
                    contact::apply_device_info(info, d, now);
                }
            })
            .await;
        if let Err(e) = moved {
            tracing::warn!(%device, error = %e, "could not record the firmware state");
        }
    }
    Ok(Some(outcome?))
}
