//! Firmware Update object /5 values (registry `5.xml`; ETS 1.0 cases 770-780) and how they move
//! a device's `snapshot.firmware`: State /5/0/3 and Update Result /5/0/5 as the model's
//! [`FirmwareReport`], every move through [`FirmwareStatus::advance_in`] (a move the model
//! refuses is logged and the snapshot kept), pull or push by Delivery Method /5/0/9. The update
//! procedure itself is [`crate::procedure::firmware`].

use unidm_models::firmware::FirmwareReport;
use unidm_models::{DeviceId, ErrorKind, FirmwareState, FirmwareStatus, OperationError};

use crate::codec::{Content, Value};
use crate::path::Path;

/// Firmware Update State /5/0/3 (registry `5.xml`).
pub fn state(value: i64) -> Option<FirmwareState> {
    Some(match value {
        0 => FirmwareState::Idle,
        1 => FirmwareState::Downloading,
        2 => FirmwareState::Downloaded,
        3 => FirmwareState::Updating,
        _ => return None,
    })
}

/// The Firmware Update Protocol Support /5/0/8 value a Package URI needs (0 CoAP, 1 CoAPS,
/// 2 HTTP 1.1, 3 HTTPS 1.1, 4 CoAP over TCP, 5 CoAP over TLS; registry `5.xml`), by scheme.
pub fn protocol_for(uri: &str) -> Option<i64> {
    let scheme = uri.split_once("://")?.0.to_ascii_lowercase();
    Some(match scheme.as_str() {
        "coap" => 0,
        "coaps" => 1,
        "http" => 2,
        "https" => 3,
        "coap+tcp" => 4,
        "coaps+tcp" => 5,
        _ => return None,
    })
}

/// How a firmware image gets to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The device fetches it from the Package URI /5/0/1.
    Pull,
    /// The server writes it to Package /5/0/0.
    Push,
}

/// How to deliver the image at `uri` to a device whose Firmware Update Delivery Method /5/0/9
/// is `method` (0 pull only, 1 push only, 2 both; `None`, unreadable: pull, the 1.0 default)
/// and whose Protocol Support /5/0/8 lists `supported` (`None`, unreadable: the device judges
/// the URI). With both, pull unless the device cannot fetch that scheme.
pub fn delivery(method: Option<i64>, supported: Option<&[i64]>, uri: &str) -> Result<Delivery, OperationError> {
    let pullable = supported.is_none_or(|list| protocol_for(uri).is_some_and(|p| list.contains(&p)));
    match method {
        Some(1) => Ok(Delivery::Push),
        Some(2) if !pullable => Ok(Delivery::Push),
        _ if pullable => Ok(Delivery::Pull),
        _ => Err(OperationError::new(
            ErrorKind::NotSupported,
            format!(
                "the device does not support the scheme of {uri} (/5/0/8 lists {:?}) and takes no push (/5/0/9 is {})",
                supported.unwrap_or_default(),
                method.map_or("unreadable".to_owned(), |m| m.to_string())
            ),
        )),
    }
}

/// What an Update Result /5/0/5 value means for the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateResult {
    /// 0: initial value, nothing decided yet.
    Pending,
    /// 1: firmware updated successfully.
    Succeeded,
    /// 2-11: the update failed, with the operation error to report.
    Failed(OperationError),
}

/// Maps every Update Result value of object /5 (1.0 values 0-9, 1.1 adds 10 and 11) to an
/// outcome; the error carries the value as `protocol_code`.
pub fn update_result(code: i64) -> UpdateResult {
    let (kind, text) = match code {
        0 => return UpdateResult::Pending,
        1 => return UpdateResult::Succeeded,
        2 => (ErrorKind::DeviceRefused, "not enough flash memory for the new firmware package"),
        3 => (ErrorKind::DeviceRefused, "out of RAM during the download"),
        4 => (ErrorKind::Transport, "connection lost during the download"),
        5 => (ErrorKind::BadInput, "integrity check failure for the new firmware package"),
        6 => (ErrorKind::BadInput, "unsupported package type"),
        7 => (ErrorKind::BadInput, "invalid URI"),
        8 => (ErrorKind::DeviceRefused, "firmware update failed"),
        9 => (ErrorKind::NotSupported, "unsupported protocol (URI scheme)"),
        10 => (ErrorKind::DeviceRefused, "firmware update cancelled"),
        11 => (ErrorKind::DeviceRefused, "firmware update deferred"),
        other => {
            return UpdateResult::Failed(
                OperationError::new(ErrorKind::DeviceRefused, format!("unknown firmware Update Result {other}"))
                    .with_code(other.to_string()),
            )
        }
    };
    UpdateResult::Failed(OperationError::new(kind, text).with_code(code.to_string()))
}

/// What a read of `/5/0` reports, as the model's [`FirmwareReport`]: State /5/0/3 and Update
/// Result /5/0/5 give the state (a failure code wins, then a success result while the device
/// rests in Idle, then State), Package Name /5/0/6, Package Version /5/0/7 and Package URI
/// /5/0/1 what the device names. `None` when the device reports neither State nor a result.
pub fn device_report(content: &Content) -> Option<FirmwareReport> {
    let get = |r| content.get(&Path::Resource(5, 0, r));
    let int = |r| match get(r) {
        Some(Value::Integer(i)) => Some(*i),
        Some(Value::UnsignedInteger(u)) => i64::try_from(*u).ok(),
        _ => None,
    };
    let text = |r| match get(r) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let result = int(5);
    let device_state = int(3).and_then(state);
    let mut report = match result.map(update_result) {
        Some(UpdateResult::Failed(e)) => FirmwareReport::failed(e.message, None),
        Some(UpdateResult::Succeeded) if device_state.is_none_or(|s| s == FirmwareState::Idle) => {
            FirmwareReport::new(FirmwareState::Succeeded)
        }
        _ => FirmwareReport::new(device_state?),
    };
    report.protocol_result = result.map(|r| r.to_string());
    report.name = text(6);
    report.version = text(7);
    report.url = text(1);
    Some(report)
}

/// Moves the firmware snapshot `slot` of `device` by `report`, through the model's state
/// machine ([`FirmwareStatus::advance_in`]); a move the model refuses is logged and leaves the
/// snapshot as it was. True when the snapshot moved.
pub fn advance(slot: &mut Option<Box<FirmwareStatus>>, report: FirmwareReport, device: &DeviceId) -> bool {
    match FirmwareStatus::advance_in(slot, report) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(%device, error = %e, "firmware state kept: the device reported a move the model refuses");
            false
        }
    }
}

/// Folds what a read of `/5/0` reports ([`device_report`]) into the snapshot `slot`. When
/// nothing was known of the device's firmware yet, what it reports is where it stands: the
/// snapshot passes through the phases the model requires to get there (a device first seen
/// with Update Result 1 did download and apply an image).
pub fn apply_status(content: &Content, slot: &mut Option<Box<FirmwareStatus>>, device: &DeviceId) {
    let Some(report) = device_report(content) else { return };
    if slot.is_none() {
        let before: &[FirmwareState] = match report.state {
            FirmwareState::Downloaded => &[FirmwareState::Downloading],
            FirmwareState::Succeeded => &[FirmwareState::Updating],
            _ => &[],
        };
        for &state in before {
            advance(slot, FirmwareReport::new(state), device);
        }
    }
    advance(slot, report, device);
}

/// The start of a new update: the snapshot moves to Downloading with what the operation asks
/// for. A snapshot left in the middle of an earlier update that nobody follows any more
/// (Downloading, Downloaded, Updating) ends as failed first, so that the new start is a move
/// from a resting state, which the model always allows.
pub fn start(slot: &mut Option<Box<FirmwareStatus>>, asked: FirmwareReport, device: &DeviceId) {
    let in_progress = slot.as_ref().is_some_and(|s| {
        matches!(s.state, FirmwareState::Downloading | FirmwareState::Downloaded | FirmwareState::Updating)
    });
    if in_progress && slot.as_ref().and_then(|s| s.url.as_ref()) != asked.url.as_ref() {
        advance(slot, FirmwareReport::failed("superseded by a new firmware update", None), device);
    }
    advance(slot, FirmwareReport { state: FirmwareState::Downloading, ..asked }, device);
}

/// The update succeeded (Update Result 1). A device that applied the image without showing
/// Updating (State straight from Downloading or Downloaded to Idle, as with Automatic Upgrade
/// at Download /5/0/14) did update: the snapshot passes through Updating, which the model
/// requires before Succeeded.
pub fn succeeded(slot: &mut Option<Box<FirmwareStatus>>, device: &DeviceId) {
    let from = slot.as_ref().map(|s| s.state);
    if !from.is_some_and(|s| s.can_move_to(FirmwareState::Succeeded)) {
        advance(slot, FirmwareReport::new(FirmwareState::Updating), device);
    }
    let report = FirmwareReport { protocol_result: Some("1".into()), ..FirmwareReport::new(FirmwareState::Succeeded) };
    advance(slot, report, device);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_follows_the_delivery_method_and_the_schemes_the_device_fetches() {
        let http = "http://files.example/fw.bin";
        let coap_only: &[i64] = &[0];
        assert_eq!(delivery(None, None, http).unwrap(), Delivery::Pull);
        assert_eq!(delivery(Some(0), Some(&[0, 2]), http).unwrap(), Delivery::Pull);
        assert_eq!(delivery(Some(2), Some(&[0, 2]), http).unwrap(), Delivery::Pull, "both: pull preferred");
        assert_eq!(delivery(Some(2), Some(coap_only), http).unwrap(), Delivery::Push, "both, scheme not fetched");
        assert_eq!(delivery(Some(1), Some(&[0, 2]), http).unwrap(), Delivery::Push);
        assert_eq!(delivery(Some(1), None, "ftp://x/y").unwrap(), Delivery::Push);
        let err = delivery(Some(0), Some(coap_only), http).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotSupported);
        assert!(err.message.contains("takes no push"), "{}", err.message);
        assert!(delivery(None, Some(coap_only), http).is_err());
    }

    fn content(records: &[(u16, Value)]) -> Content {
        Content::new(
            records.iter().map(|(r, v)| crate::codec::Record::new(Path::Resource(5, 0, *r), v.clone())).collect(),
        )
    }

    fn dev() -> DeviceId {
        DeviceId::lwm2m("fw").unwrap()
    }

    #[test]
    fn firmware_status_follows_state_and_update_result_through_the_model() {
        let mut s = None;
        apply_status(
            &content(&[
                (3, Value::Integer(0)),
                (5, Value::Integer(1)),
                (6, Value::String("fw".into())),
                (7, Value::String("2.0".into())),
            ]),
            &mut s,
            &dev(),
        );
        let now = s.clone().unwrap();
        assert_eq!(now.state, FirmwareState::Succeeded);
        assert_eq!((now.name.as_deref(), now.version.as_deref()), (Some("fw"), Some("2.0")));
        assert_eq!(now.protocol_result.as_deref(), Some("1"));

        apply_status(&content(&[(3, Value::Integer(1)), (5, Value::Integer(0))]), &mut s, &dev());
        let now = s.clone().unwrap();
        assert_eq!(now.state, FirmwareState::Downloading);
        assert_eq!(now.version.as_deref(), Some("2.0"), "kept when the device reports none");

        // Downloading -> Succeeded is no move of the model: logged, snapshot kept.
        apply_status(&content(&[(3, Value::Integer(0)), (5, Value::Integer(1))]), &mut s, &dev());
        assert_eq!(s.as_ref().unwrap().state, FirmwareState::Downloading, "an illegal move keeps the snapshot");

        apply_status(&content(&[(3, Value::Integer(0)), (5, Value::Integer(5))]), &mut s, &dev());
        let now = s.clone().unwrap();
        assert_eq!(now.state, FirmwareState::Failed);
        assert_eq!(now.failure.as_deref(), Some("integrity check failure for the new firmware package"));
        assert_eq!(now.protocol_result.as_deref(), Some("5"));

        let mut fresh = None;
        apply_status(&content(&[(3, Value::Integer(0)), (5, Value::Integer(0))]), &mut fresh, &dev());
        assert_eq!(fresh.as_ref().map(|f| (f.state, f.failure.clone())), Some((FirmwareState::Idle, None)));
        let mut first = None;
        apply_status(&content(&[(3, Value::Integer(2)), (5, Value::Integer(0))]), &mut first, &dev());
        assert_eq!(first.map(|f| f.state), Some(FirmwareState::Downloaded), "first seen mid-update");
        let mut idle = Some(Box::default());
        apply_status(&content(&[(3, Value::Integer(2)), (5, Value::Integer(0))]), &mut idle, &dev());
        assert_eq!(idle.map(|f| f.state), Some(FirmwareState::Idle), "Idle -> Downloaded is refused once known");
        let mut untouched = None;
        apply_status(&content(&[(6, Value::String("fw".into()))]), &mut untouched, &dev());
        assert_eq!(untouched, None, "no State, no result: nothing to move");
    }

    #[test]
    fn a_new_update_starts_from_any_snapshot_and_success_passes_through_updating() {
        let asked = || FirmwareReport {
            url: Some("http://f/2.bin".into()),
            version: Some("2".into()),
            ..FirmwareReport::default()
        };
        // Left in Updating by an update nobody follows any more: failed, then the new start.
        let mut slot =
            Some(Box::new(FirmwareStatus::advance(None, FirmwareReport::new(FirmwareState::Updating)).unwrap()));
        start(&mut slot, asked(), &dev());
        let s = slot.clone().unwrap();
        assert_eq!((s.state, s.url.as_deref(), s.failure), (FirmwareState::Downloading, Some("http://f/2.bin"), None));
        // A device that goes from Downloading straight to Idle with Update Result 1.
        succeeded(&mut slot, &dev());
        let s = slot.clone().unwrap();
        assert_eq!((s.state, s.protocol_result.as_deref()), (FirmwareState::Succeeded, Some("1")));
        assert_eq!(s.version.as_deref(), Some("2"));
        let mut none = None;
        start(&mut none, asked(), &dev());
        assert_eq!(none.map(|s| s.state), Some(FirmwareState::Downloading));
    }

    /// ETS 1.0-int-770 success and error cases 772-780, as Update Result values.
    #[test]
    fn every_update_result_is_mapped() {
        assert_eq!(update_result(0), UpdateResult::Pending);
        assert_eq!(update_result(1), UpdateResult::Succeeded);
        for code in 2..=11 {
            let UpdateResult::Failed(e) = update_result(code) else { panic!("{code}") };
            assert_eq!(e.protocol_code, Some(code.to_string()));
            assert!(!e.message.is_empty());
        }
        let UpdateResult::Failed(e) = update_result(4) else { panic!() };
        assert!(e.kind.is_retryable());
        assert!(matches!(update_result(42), UpdateResult::Failed(_)));
        assert_eq!(state(2), Some(FirmwareState::Downloaded));
        assert_eq!(state(9), None);
        assert_eq!(protocol_for("HTTPS://x/fw"), Some(3));
        assert_eq!(protocol_for("coaps+tcp://x/fw"), Some(5));
        assert_eq!(protocol_for("ftp://x/fw"), None);
    }
}
