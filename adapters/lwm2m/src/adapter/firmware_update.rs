//! The firmware update procedure on one device (fact sheet §9.6; ETS 1.0 cases 770-780): by
//! pull, write Package URI /5/0/1; by push (Delivery Method /5/0/9), fetch the image and write
//! it to Package /5/0/0. Then follow State /5/0/3 (observed; notifications come routed to this
//! procedure, with a read as fallback), execute Update /5/0/2 once Downloaded, and judge the
//! outcome by Update Result /5/0/5. Each step that sees no progress for
//! `Lwm2mConfig::firmware_stall` fails the operation ([`firmware::Stall`]). The device's
//! `snapshot.firmware` moves only through the model ([`firmware::advance`]).

use serde_json::{json, Value as Json};
use unidm_models::firmware::FirmwareReport;
use unidm_models::{ErrorKind, FirmwareState, FirmwareUpdate, Operation, OperationError};

use super::firmware::{self, Stall, UpdateResult};
use super::waiters::Subscription;
use super::{contact, device_request, push, Ctx, Next};
use crate::path::Path;
use crate::server::Observed;

const STATE: Path = Path::Resource(5, 0, 3);
const RESULT: Path = Path::Resource(5, 0, 5);
const URI: Path = Path::Resource(5, 0, 1);
const PACKAGE: Path = Path::Resource(5, 0, 0);

/// Moves the operation's device's firmware snapshot with `change` (through the model).
async fn report(ctx: &Ctx, op: &Operation, change: impl FnOnce(&mut Option<unidm_models::FirmwareStatus>)) {
    let device = &op.device;
    if let Err(e) = ctx.handle.update_device(device, |d| change(&mut d.snapshot.firmware)).await {
        tracing::warn!(%device, error = %e, "could not record the firmware state");
    }
}

/// Firmware update (fact sheet §9.6): by pull, write Package URI; by push (Delivery Method
/// /5/0/9), fetch the image and write it to Package. Then follow State, execute Update when
/// Downloaded, and map Update Result.
pub(super) async fn run(ctx: &Ctx, op: &Operation, fw: &FirmwareUpdate) -> Result<Option<Json>, OperationError> {
    let ep = op.device.native();
    let reg = ctx.registration(ep).await;
    if !reg.has_object(5) {
        return Err(OperationError::new(ErrorKind::NotSupported, "the device did not register object /5"));
    }
    // A server must not send a URI whose scheme the client did not list in /5/0/8 (fact sheet
    // §9.6); both resources are optional, so an unreadable list lets the client judge, and an
    // unreadable Delivery Method means pull.
    let supported: Option<Vec<i64>> = match ctx.read(ep, Path::Resource(5, 0, 8), None).await {
        Ok(Json::Object(listed)) => Some(listed.values().filter_map(Json::as_i64).collect()),
        _ => None,
    };
    let method = ctx.read_int(ep, Path::Resource(5, 0, 9)).await.ok();
    let delivery = firmware::delivery(method, supported.as_deref(), &fw.uri)?;
    // Routed from here on: a State notification that comes before the first wait is kept.
    let mut notes = ctx.routes.subscribe(ep, Observed::Path(STATE));
    // After a restart the engine hands the operation back: an update of the same image still
    // in progress is followed, not restarted (by pull, the Package URI names it; by push, the
    // device's firmware status this operation wrote). Anything else in progress is reset first
    // by writing an empty Package URI, or an empty Package for push (fact sheet §9.6).
    let current_state = ctx.read_int(ep, STATE).await.ok();
    let same_image = match delivery {
        firmware::Delivery::Pull => {
            ctx.read(ep, URI, None).await.ok().as_ref().and_then(Json::as_str) == Some(fw.uri.as_str())
        }
        firmware::Delivery::Push => {
            let status = ctx.handle.device(&op.device).and_then(|d| d.snapshot.firmware);
            status.is_some_and(|s| s.url.as_deref() == Some(fw.uri.as_str()))
        }
    };
    let resume = same_image && matches!(current_state, Some(1..=3));
    if !resume {
        // An image to push is fetched first: if that fails, the device is left as it was.
        let image = match delivery {
            firmware::Delivery::Pull => None,
            firmware::Delivery::Push => {
                ctx.progress(op.id, 5, "fetching the image to push").await;
                let (max, timeout) = (ctx.config.firmware_push_max, ctx.config.firmware_fetch_timeout);
                Some(push::fetch(&fw.uri, max, timeout).await?)
            }
        };
        if current_state.is_some_and(|s| s != 0) {
            let reset = match delivery {
                firmware::Delivery::Pull => device_request::write(&reg, URI, &json!(""), &ctx.models)?,
                firmware::Delivery::Push => device_request::write_opaque(PACKAGE, Vec::new()),
            };
            ctx.request_ok(ep, reset).await?;
        }
        match image {
            None => ctx.request_ok(ep, device_request::write(&reg, URI, &json!(fw.uri), &ctx.models)?).await?,
            Some(image) => {
                ctx.progress(op.id, 10, &format!("pushing {} bytes to /5/0/0", image.len())).await;
                ctx.request_ok(ep, device_request::write_opaque(PACKAGE, image)).await?
            }
        };
    }
    let asked = FirmwareReport {
        version: fw.version.clone(),
        name: fw.name.clone(),
        url: Some(fw.uri.clone()),
        ..FirmwareReport::default()
    };
    report(ctx, op, |slot| firmware::start(slot, asked, &op.device)).await;
    let written = match delivery {
        firmware::Delivery::Pull => "package URI written",
        firmware::Delivery::Push => "package written",
    };
    ctx.progress(op.id, 20, written).await;
    let outcome = follow(ctx, op, &mut notes, resume && current_state == Some(3)).await;
    drop(notes);
    let reg = ctx.registration(ep).await;
    if let Err(e) = ctx.request(ep, device_request::read(&reg, STATE, Some(1))).await {
        tracing::debug!(endpoint = %ep, error = %e.message, "cancelling the observation of /5/0/3 failed");
    }
    match outcome {
        Ok(()) => {
            report(ctx, op, |slot| firmware::succeeded(slot, &op.device)).await;
            if let Err(e) = contact::refresh_device_info(ctx, ep).await {
                tracing::debug!(endpoint = %ep, error = %e.message, "reading /3/0 after the update failed");
            }
            Ok(Some(json!({"updateResult": 1, "version": fw.version})))
        }
        Err(e) => {
            let failed = FirmwareReport::failed(e.message.clone(), e.protocol_code.clone());
            report(ctx, op, |slot| {
                firmware::advance(slot, failed, &op.device);
            })
            .await;
            Err(e)
        }
    }
}

/// Follows State /5/0/3 to the end of the update: executes Update once Downloaded (unless
/// `executed`, as when resuming an update already applying) and judges by Update Result.
async fn follow(
    ctx: &Ctx,
    op: &Operation,
    notes: &mut Subscription<'_>,
    mut executed: bool,
) -> Result<(), OperationError> {
    let ep = op.device.native();
    let mut stall = Stall::new(ctx.config.firmware_stall, ctx.handle.now());
    let mut observed_under = ctx.registration_id(ep);
    let mut state = match ctx.read(ep, STATE, Some(0)).await {
        Ok(v) => v.as_i64(),
        Err(e) => {
            tracing::debug!(error = %e.message, "observing /5/0/3 failed, polling instead");
            None
        }
    };
    loop {
        let mut result = None;
        match state {
            Some(1) => ctx.progress(op.id, 25, "downloading").await,
            Some(3) => {
                report(ctx, op, |slot| {
                    firmware::advance(slot, FirmwareReport::new(FirmwareState::Updating), &op.device);
                })
                .await;
                ctx.progress(op.id, 75, "updating").await;
            }
            Some(2) if !executed => {
                report(ctx, op, |slot| {
                    firmware::advance(slot, FirmwareReport::new(FirmwareState::Downloaded), &op.device);
                })
                .await;
                ctx.progress(op.id, 50, "downloaded").await;
                ctx.request_ok(ep, device_request::execute(Path::Resource(5, 0, 2), None)).await?;
                executed = true;
                stall.progressed(ctx.handle.now());
                report(ctx, op, |slot| {
                    firmware::advance(slot, FirmwareReport::new(FirmwareState::Updating), &op.device);
                })
                .await;
                ctx.progress(op.id, 75, "updating").await;
            }
            Some(0 | 2) => {
                let code = ctx.read_int(ep, RESULT).await?;
                result = Some(code);
                match firmware::update_result(code) {
                    UpdateResult::Succeeded => return Ok(()),
                    UpdateResult::Failed(e) => return Err(e),
                    UpdateResult::Pending => {}
                }
            }
            _ => {}
        }
        let now = ctx.handle.now();
        stall.reported(now, state, result);
        if let Some(stalled) = stall.check(now) {
            return Err(stalled_with_result(ctx, ep, &mut stall, stalled).await);
        }
        state = match ctx.next_state(ep, notes, STATE, stall.remaining(now), &mut observed_under).await? {
            Next::State(s) => s,
            Next::Registered(s) => {
                stall.progressed(ctx.handle.now());
                s
            }
        };
    }
}

/// The stall error with the Update Result the device reports now, when it answers.
async fn stalled_with_result(ctx: &Ctx, ep: &str, stall: &mut Stall, stalled: OperationError) -> OperationError {
    match ctx.read_int(ep, RESULT).await {
        Ok(code) => {
            stall.note_result(code);
            stall.check(stall.deadline()).unwrap_or(stalled)
        }
        Err(_) => stalled,
    }
}
