//! Firmware update (Firmware Update object /5, registry `5.xml`; ETS 1.0 cases 770-780): by pull,
//! write the Package URI /5/0/1; by push, fetch the image and write it to Package /5/0/0
//! block-wise. Then follow State /5/0/3 (observed, with a read as fallback), execute Update
//! /5/0/2 once Downloaded, and judge the outcome by Update Result /5/0/5.

use unidm_models::{ErrorKind, FirmwareState, FirmwareStatus, OperationError};

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

/// Folds what a read of `/5/0` reports into `status`: State /5/0/3 and Update Result /5/0/5
/// give the state (a failure code wins, then State, then a success result), Package Name
/// /5/0/6, Package Version /5/0/7 and Package URI /5/0/1 fill in what the device reports.
pub fn apply_status(content: &Content, status: &mut FirmwareStatus) {
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
    match result.map(update_result) {
        Some(UpdateResult::Failed(e)) => {
            status.state = FirmwareState::Failed;
            status.failure = Some(e.message);
        }
        Some(UpdateResult::Succeeded) if device_state.is_none_or(|s| s == FirmwareState::Idle) => {
            status.state = FirmwareState::Succeeded;
            status.failure = None;
        }
        _ => {
            if let Some(s) = device_state {
                status.state = s;
                status.failure = None;
            }
        }
    }
    if let Some(r) = result {
        status.protocol_result = Some(r.to_string());
    }
    if let Some(name) = text(6) {
        status.name = Some(name);
    }
    if let Some(version) = text(7) {
        status.version = Some(version);
    }
    if let Some(uri) = text(1) {
        status.url = Some(uri);
    }
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

    #[test]
    fn firmware_status_follows_state_and_update_result() {
        let mut s = FirmwareStatus::default();
        apply_status(
            &content(&[
                (3, Value::Integer(0)),
                (5, Value::Integer(1)),
                (6, Value::String("fw".into())),
                (7, Value::String("2.0".into())),
            ]),
            &mut s,
        );
        assert_eq!(s.state, FirmwareState::Succeeded);
        assert_eq!((s.name.as_deref(), s.version.as_deref()), (Some("fw"), Some("2.0")));
        assert_eq!(s.protocol_result.as_deref(), Some("1"));

        apply_status(&content(&[(3, Value::Integer(1)), (5, Value::Integer(0))]), &mut s);
        assert_eq!(s.state, FirmwareState::Downloading);
        assert_eq!(s.version.as_deref(), Some("2.0"), "kept when the device reports none");

        apply_status(&content(&[(3, Value::Integer(0)), (5, Value::Integer(5))]), &mut s);
        assert_eq!(s.state, FirmwareState::Failed);
        assert_eq!(s.failure.as_deref(), Some("integrity check failure for the new firmware package"));

        let mut fresh = FirmwareStatus::default();
        apply_status(&content(&[(3, Value::Integer(0)), (5, Value::Integer(0))]), &mut fresh);
        assert_eq!(fresh.state, FirmwareState::Idle);
        assert_eq!(fresh.failure, None);
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
