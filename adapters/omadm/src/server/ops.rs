//! Operations as DM commands, and the device's Status / Results as their outcome: native
//! access (Get / Replace / Add / Delete / Exec), firmware through FUMO (OMA FUMO 1.0 §6.3
//! `DownloadAndUpdate`), factory reset through LAWMO (OMA LAWMO 1.0 `Operations/FactoryReset`),
//! reboot through a configured Exec node.

use serde_json::{json, Map};
use unidm_core::{Correlator, Wait};
use unidm_models::{Action, ErrorKind, NativeOp, Operation, OperationError};

use super::OmadmConfig;
use crate::codec::Item;
use crate::mo::{fumo, lawmo};
use crate::session::{Op, Value};

/// Exec accepted, the outcome comes in a Generic Alert (OMA DM Protocol 1.2 §8.7).
pub(crate) const ACCEPTED: u16 = 202;

/// What a parked operation waits for (the wait's step data).
pub(crate) const STEP_FUMO: &[u8] = b"fumo";
/// A LAWMO operation's wait.
pub(crate) const STEP_LAWMO: &[u8] = b"lawmo";

/// The DM command of an operation, or why it has none.
pub(crate) fn command(config: &OmadmConfig, op: &Operation) -> Result<Op, OperationError> {
    let correlator = Some(op.id.0.to_string());
    match &op.action {
        Action::Native(n) => {
            let uri = n.path.trim().to_owned();
            if uri.is_empty() {
                return Err(OperationError::new(ErrorKind::BadInput, "empty node URI"));
            }
            let value = n.value.as_ref().map(|v| match v {
                serde_json::Value::String(s) => Value::text(s.clone()),
                serde_json::Value::Bool(b) => Value::text(b.to_string()).with_format("bool"),
                serde_json::Value::Number(x) if x.is_i64() || x.is_u64() => {
                    Value::text(x.to_string()).with_format("int")
                }
                other => Value::text(other.to_string()),
            });
            Ok(match n.op {
                NativeOp::Read => Op::Get { uri },
                // The node's structure (OMA DM TNDS): `?list=Struct`, or `StructData` with the
                // values when `args` is `data`.
                NativeOp::Discover => {
                    let list = if n.args.as_deref() == Some("data") { "StructData" } else { "Struct" };
                    Op::Get { uri: format!("{uri}?list={list}") }
                }
                NativeOp::Copy => {
                    let source = n.value.as_ref().and_then(|v| v.as_str()).map(str::trim).unwrap_or_default();
                    if source.is_empty() {
                        return Err(OperationError::new(
                            ErrorKind::BadInput,
                            "a copy names its source node in `value`",
                        ));
                    }
                    Op::Copy { target: uri, source: source.to_owned() }
                }
                NativeOp::Write => Op::Replace {
                    uri,
                    value: value.ok_or_else(|| OperationError::new(ErrorKind::BadInput, "write needs a value"))?,
                },
                NativeOp::Create => Op::Add { uri, value },
                NativeOp::Delete => Op::Delete { uri },
                NativeOp::Execute => Op::Exec { uri, data: n.args.clone().map(Value::text), correlator: None },
                other => {
                    return Err(OperationError::new(
                        ErrorKind::NotSupported,
                        format!("native {other:?} has no OMA DM command"),
                    ))
                }
            })
        }
        Action::Firmware(f) => {
            let root = config.fumo_root.trim_end_matches('/');
            Ok(Op::Sequence(vec![
                Op::Replace { uri: format!("{root}/DownloadAndUpdate/PkgURL"), value: Value::text(f.uri.clone()) },
                Op::Exec { uri: format!("{root}/DownloadAndUpdate"), data: None, correlator },
            ]))
        }
        Action::FactoryReset => {
            Ok(Op::Exec { uri: lawmo::Operation::FactoryReset.path(&config.lawmo_root), data: None, correlator })
        }
        Action::Reboot => match &config.reboot_node {
            Some(node) => Ok(Op::Exec { uri: node.clone(), data: None, correlator: None }),
            None => Err(not_supported("reboot")),
        },
        other => Err(not_supported(other.name())),
    }
}

/// Whether the adapter can carry `action` at all (checked at submit).
pub(crate) fn supported(config: &OmadmConfig, action: &Action) -> Result<(), OperationError> {
    match action {
        Action::Native(_) | Action::Firmware(_) | Action::FactoryReset => Ok(()),
        Action::Reboot if config.reboot_node.is_some() => Ok(()),
        other => Err(not_supported(other.name())),
    }
}

fn not_supported(what: &str) -> OperationError {
    OperationError::new(ErrorKind::NotSupported, format!("{what} is not supported by the OMA DM adapter"))
}

/// What a device's answer means.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    Succeeded(Option<serde_json::Value>),
    Failed(OperationError),
    Park(Wait),
}

/// A SyncML status code (SyncML RepPro 1.2 §10) that is not success, as an error.
pub(crate) fn status_error(code: u16, what: &str) -> OperationError {
    let kind = match code {
        404 => ErrorKind::NotFound,
        405 | 406 | 501 => ErrorKind::NotSupported,
        400 | 412 | 413 | 415 | 416 | 424 => ErrorKind::BadInput,
        408 => ErrorKind::Timeout,
        _ => ErrorKind::DeviceRefused,
    };
    OperationError::new(kind, format!("{what}: the device answered status {code}")).with_code(code.to_string())
}

fn ok(code: u16) -> bool {
    (200..300).contains(&code)
}

/// The outcome of the `Response` to the command of `op`.
pub(crate) fn on_response(
    config: &OmadmConfig,
    op: &Operation,
    status: u16,
    results: &[Item],
    parts: &[u16],
) -> Outcome {
    let correlator = || Correlator::new(op.id.0.to_string());
    match &op.action {
        Action::Native(n) => {
            if !ok(status) {
                return Outcome::Failed(status_error(status, &format!("native {:?} {}", n.op, n.path)));
            }
            if matches!(n.op, NativeOp::Read | NativeOp::Discover) {
                let text = |i: &Item| {
                    serde_json::Value::String(i.data.as_ref().and_then(|d| d.as_text()).unwrap_or_default().to_owned())
                };
                // One node: its value; several (a `?list=` or an interior node): by URI.
                let value = match results {
                    [one] => text(one),
                    many => serde_json::Value::Object(
                        many.iter()
                            .map(|i| (i.source.as_ref().map_or_else(String::new, |s| s.loc_uri.clone()), text(i)))
                            .collect::<Map<_, _>>(),
                    ),
                };
                Outcome::Succeeded(Some(json!({ "path": n.path, "value": value, "status": status })))
            } else {
                Outcome::Succeeded(Some(json!({ "path": n.path, "status": status })))
            }
        }
        Action::Firmware(_) => {
            let replace = parts.first().copied().unwrap_or(status);
            let exec = parts.get(1).copied().unwrap_or(0);
            if !ok(replace) {
                return Outcome::Failed(status_error(replace, "FUMO PkgURL Replace"));
            }
            match exec {
                ACCEPTED => Outcome::Park(
                    Wait::new(correlator(), "waiting for the FUMO result (Generic Alert 1226)")
                        .with_step(STEP_FUMO.to_vec()),
                )
                .with_stall(config),
                c if ok(c) => Outcome::Succeeded(None),
                0 => Outcome::Failed(status_error(status, "FUMO DownloadAndUpdate Exec")),
                c => Outcome::Failed(status_error(c, "FUMO DownloadAndUpdate Exec")),
            }
        }
        Action::FactoryReset => match status {
            ACCEPTED => Outcome::Park(
                Wait::new(correlator(), "waiting for the LAWMO result (Generic Alert 1226)")
                    .with_step(STEP_LAWMO.to_vec()),
            )
            .with_stall(config),
            c if ok(c) => Outcome::Succeeded(None),
            c => Outcome::Failed(status_error(c, "LAWMO FactoryReset Exec")),
        },
        _ if ok(status) => Outcome::Succeeded(None),
        _ => Outcome::Failed(status_error(status, op.action.name())),
    }
}

impl Outcome {
    fn with_stall(self, config: &OmadmConfig) -> Outcome {
        match (self, config.stall_after) {
            (Outcome::Park(w), Some(limit)) => Outcome::Park(w.stall_after(limit)),
            (o, _) => o,
        }
    }
}

/// What the result code of a Generic Alert means for the operation parked with `step`.
pub(crate) fn alert_outcome(step: &[u8], code: Option<u32>) -> crate::mo::Outcome {
    let Some(code) = code else {
        return crate::mo::Outcome::Failed(OperationError::new(
            ErrorKind::DeviceRefused,
            "Generic Alert without a result code",
        ));
    };
    if step == STEP_LAWMO {
        lawmo::outcome(code)
    } else {
        fumo::outcome(code)
    }
}
