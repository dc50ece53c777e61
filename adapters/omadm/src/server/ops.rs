//! Operations as DM commands, and the device's Status / Results as their outcome: native
//! access (Get / Replace / Add / Delete / Exec), firmware through FUMO (OMA FUMO 1.0 §6.3
//! `DownloadAndUpdate`), software through SCOMO (OMA SCOMO 1.0 §5: `Download/<x>` +
//! `Operations/DownloadInstall`, `Inventory/Deployed/<x>/Operations/{Remove, Activate,
//! Deactivate}`), factory reset through LAWMO (OMA LAWMO 1.0 `Operations/FactoryReset`), reboot
//! through a configured Exec node, ping and traceroute through a vendor DiagMon subtree
//! configured per device type ([`crate::mo::diagmon`]: set the fields, `Exec` the start, read
//! the results once it ran, at once or after its Generic Alert).

use serde_json::{json, Map};
use unidm_core::{Correlator, Wait};
use unidm_models::{Action, ErrorKind, NativeOp, Operation, OperationError, OperationId, SoftwareAction};

use super::discovery::MoList;
use super::OmadmConfig;
use crate::codec::Item;
use crate::mo::devinfo::{DeviceFacts, DEVDETAIL_NODES, DEVINFO_NODES};
use crate::mo::diagmon::{self, DiagProfile, DiagTest};
use crate::mo::scomo::{self, DeployedOperation, DownloadOperation};
use crate::mo::{fumo, lawmo};
use crate::session::{Op, Value};

/// Exec accepted, the outcome comes in a Generic Alert (OMA DM Protocol 1.2 §8.7).
pub(crate) const ACCEPTED: u16 = 202;

/// What a parked operation waits for (the wait's step data).
pub(crate) const STEP_FUMO: &[u8] = b"fumo";
/// A LAWMO operation's wait.
pub(crate) const STEP_LAWMO: &[u8] = b"lawmo";
/// A SCOMO operation's wait.
pub(crate) const STEP_SCOMO: &[u8] = b"scomo";
/// A DiagMon test's wait.
pub(crate) const STEP_DIAG: &[u8] = b"diagmon";
/// The adapter state of a diagnostic whose test ran: its next command reads the results (not
/// a [`Wait`]: the operation is queued, not parked).
pub(crate) const DIAG_RESULTS: &[u8] = b"omadm:diagmon-results";

/// Atomic roll back OK (SyncML RepPro 1.2 §10): a part undone because another failed.
const ROLLED_BACK: u16 = 216;

/// Already exists (SyncML RepPro 1.2 §10): an `Add` of a node a retry of the same install
/// created before, taken as done.
const ALREADY_EXISTS: u16 = 418;

/// The DM command of an operation, or why it has none.
///
/// `mos` are the management objects found on the device (its reboot node, its DiagMon roots).
pub(crate) fn command(config: &OmadmConfig, op: &Operation, mos: Option<&MoList>) -> Result<Op, OperationError> {
    let correlator = Some(op.id.0.to_string());
    match &op.action {
        Action::Native(n) => {
            if let Some(format) = &n.format {
                return Err(OperationError::new(
                    ErrorKind::BadInput,
                    format!("OMA DM items carry their own Meta/Format; `format` ({format}) is for LwM2M"),
                ));
            }
            let uri = n.path.trim().to_owned();
            if uri.is_empty() {
                return Err(OperationError::new(ErrorKind::BadInput, "empty node URI"));
            }
            let value = n.value.as_ref().map(|v| match v {
                // `{"./A/B": "v", "./A": null}`: a TNDS tree (OMA DM TNDS 1.2) of those nodes,
                // interior where the value is null.
                serde_json::Value::Object(nodes) => tnds_value(nodes),
                other => leaf_value(other),
            });
            Ok(match n.op {
                NativeOp::Read => Op::Get { uri },
                // Several nodes: a `Sequence` of `Get`s; several writes: an `Atomic` of
                // `Replace`s (all or none, OMA DM Protocol 1.2 §6.6.3).
                NativeOp::ReadComposite => {
                    Op::Sequence(composite_uris(n.value.as_ref())?.into_iter().map(|uri| Op::Get { uri }).collect())
                }
                NativeOp::WriteComposite => {
                    let nodes =
                        n.value.as_ref().and_then(|v| v.as_object()).filter(|m| !m.is_empty()).ok_or_else(|| {
                            OperationError::new(ErrorKind::BadInput, "a composite write maps node URIs to values")
                        })?;
                    if nodes.len() > MAX_COMPOSITE {
                        return Err(too_many());
                    }
                    Op::Atomic(
                        nodes
                            .iter()
                            .map(|(uri, v)| Op::Replace { uri: uri.trim().to_owned(), value: leaf_value(v) })
                            .collect(),
                    )
                }
                // The node's structure (OMA DM TNDS): `?list=Struct`, or `StructData` with the
                // values when `args` is `data`.
                NativeOp::Discover => {
                    let list = match n.args.as_deref() {
                        Some("data") => "StructData",
                        // The tree as TNDS, values included (`?list=TNDS`).
                        Some("tnds") => "TNDS",
                        _ => "Struct",
                    };
                    Op::Get { uri: format!("{uri}?list={list}") }
                }
                NativeOp::Alert => {
                    let code = uri.parse::<u16>().ok().filter(|c| (1100..=1104).contains(c)).ok_or_else(|| {
                        OperationError::new(ErrorKind::BadInput, "a user-interaction alert code is 1100 to 1104")
                    })?;
                    let items = n.value.as_ref().and_then(|v| v.as_array()).map_or_else(Vec::new, |a| {
                        a.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect()
                    });
                    Op::UserInteraction { code, items }
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
        Action::Software(s) => {
            let install = match s {
                SoftwareAction::Install { activate: Some(false), .. } => DownloadOperation::DownloadInstallInactive,
                _ => DownloadOperation::DownloadInstall,
            };
            software(config, op.id, s, install)
        }
        // The identity leaves, one Get each (a client without one answers it 404); the
        // server also asks the management objects again in the same session.
        Action::RefreshDeviceInfo => Ok(Op::Sequence(
            DEVINFO_NODES[1..].iter().chain(DEVDETAIL_NODES.iter()).map(|n| Op::Get { uri: (*n).to_owned() }).collect(),
        )),
        Action::Reboot => match mos.and_then(MoList::reboot_node) {
            Some(node) => Ok(Op::Exec { uri: node.to_owned(), data: None, correlator: None }),
            None => Err(not_supported("reboot")),
        },
        Action::Ping(_) | Action::Traceroute(_) => {
            let profile = diag_profile(config, op, mos)?;
            if op.adapter_state.as_deref() == Some(DIAG_RESULTS) {
                let mut gets: Vec<Op> = profile.result_gets().into_iter().map(|uri| Op::Get { uri }).collect();
                return Ok(if gets.len() == 1 { gets.remove(0) } else { Op::Sequence(gets) });
            }
            let settings = match &op.action {
                Action::Ping(p) => profile.settings(&p.host, p.count, p.timeout_ms, None),
                Action::Traceroute(t) => profile.settings(&t.host, None, None, t.max_hops),
                _ => Vec::new(),
            };
            let mut ops: Vec<Op> =
                settings.into_iter().map(|(uri, value)| Op::Replace { uri, value: Value::text(value) }).collect();
            ops.push(Op::Exec { uri: profile.node(&profile.exec), data: None, correlator });
            Ok(Op::Sequence(ops))
        }
    }
}

/// The DiagMon profile of a diagnostic operation for its device: the one whose root the device
/// was found to have.
fn diag_profile<'c>(
    config: &'c OmadmConfig,
    op: &Operation,
    mos: Option<&MoList>,
) -> Result<&'c DiagProfile, OperationError> {
    let test = match op.action {
        Action::Traceroute(_) => DiagTest::Traceroute,
        _ => DiagTest::Ping,
    };
    mos.and_then(|m| m.diag_root(test))
        .and_then(|root| config.diagnostics.iter().find(|p| p.test == test && p.root() == root))
        .ok_or_else(|| {
            OperationError::new(
                ErrorKind::NotSupported,
                format!(
                    "{}: no DiagMon subtree is configured for this device's manufacturer / model, or the device \
                     does not have it",
                    test.name()
                ),
            )
        })
}

/// Most nodes of one composite read or write.
pub(crate) const MAX_COMPOSITE: usize = 256;

fn too_many() -> OperationError {
    OperationError::new(ErrorKind::BadInput, format!("a composite operation names at most {MAX_COMPOSITE} nodes"))
}

/// The node URIs a composite read lists.
fn composite_uris(value: Option<&serde_json::Value>) -> Result<Vec<String>, OperationError> {
    let uris: Vec<String> = value
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|u| u.as_str()).map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect())
        .unwrap_or_default();
    match uris.len() {
        0 => Err(OperationError::new(ErrorKind::BadInput, "a composite read lists node URIs")),
        n if n > MAX_COMPOSITE => Err(too_many()),
        _ => Ok(uris),
    }
}

/// A leaf's value as DM data: text, with Format `bool` / `int` for JSON booleans and integers.
fn leaf_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::String(s) => Value::text(s.clone()),
        serde_json::Value::Bool(b) => Value::text(b.to_string()).with_format("bool"),
        serde_json::Value::Number(x) if x.is_i64() || x.is_u64() => Value::text(x.to_string()).with_format("int"),
        other => Value::text(other.to_string()),
    }
}

/// A TNDS `MgmtTree` of the `{uri: value}` nodes, parents before children (by URI), as the
/// `Data` of an Add / Replace.
fn tnds_value(nodes: &Map<String, serde_json::Value>) -> Value {
    let mut list: Vec<(String, Option<String>)> = nodes
        .iter()
        .map(|(uri, v)| {
            let uri = uri.trim().trim_end_matches('/');
            let uri = if uri.starts_with("./") { uri.to_owned() } else { format!("./{}", uri.trim_start_matches('/')) };
            let value = match v {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            (uri, value)
        })
        .collect();
    list.sort();
    Value {
        data: crate::codec::Data::Markup(vec![crate::mo::tnds::tree(&list)]),
        format: Some("xml".into()),
        r#type: Some(TNDS_XML.into()),
    }
}

/// The media type of a TNDS tree.
const TNDS_XML: &str = "application/vnd.syncml.dmtnds+xml";

/// The node the command of `op` created on the device for its own use (an install's
/// `Download/<x>`), to delete once the operation ended.
pub(crate) fn created_node(config: &OmadmConfig, op: &Operation) -> Option<String> {
    match &op.action {
        Action::Software(SoftwareAction::Install { .. }) if config.scomo_download.is_none() => {
            Some(scomo::download_node(&config.scomo_root, &format!("unidm{}", op.id)))
        }
        _ => None,
    }
}

/// Whether the adapter can carry `action` at all (checked at submit).
pub(crate) fn supported(config: &OmadmConfig, action: &Action) -> Result<(), OperationError> {
    match action {
        Action::Native(_)
        | Action::Firmware(_)
        | Action::Software(_)
        | Action::FactoryReset
        | Action::RefreshDeviceInfo => Ok(()),
        Action::Reboot if config.reboots() => Ok(()),
        Action::Ping(_) if config.diagnoses(DiagTest::Ping) => Ok(()),
        Action::Traceroute(_) if config.diagnoses(DiagTest::Traceroute) => Ok(()),
        other => Err(not_supported(other.name())),
    }
}

/// The SCOMO command of a software action (OMA SCOMO 1.0 §5.3 - §5.5, §6.1).
///
/// Install: a `Sequence` that creates `Download/<x>` (`x` = `unidm<operation id>`, or the
/// configured [`OmadmConfig::scomo_download`] node whose leaves are replaced instead), sets
/// `PkgID`, `PkgURL` and `Name` (when given), then `Exec`s `Operations/<install>` with the
/// operation id as `Correlator`. The module version is not sent: `Download/<x>` has no
/// `Version` node in SCOMO 1.0 (the device reports it in `Inventory/Deployed/<x>/Version`).
/// Uninstall, activate and deactivate `Exec` `Inventory/Deployed/<module>/Operations/Remove`,
/// `Activate`, `Deactivate`.
pub(crate) fn software(
    config: &OmadmConfig,
    id: OperationId,
    action: &SoftwareAction,
    install: DownloadOperation,
) -> Result<Op, OperationError> {
    let root = config.scomo_root.as_str();
    let correlator = Some(id.0.to_string());
    let deployed = |module: &str, what: DeployedOperation| -> Result<Op, OperationError> {
        let x = scomo::module_node(root, module)?;
        Ok(Op::Exec { uri: scomo::deployed_exec(root, &x, what), data: None, correlator: correlator.clone() })
    };
    match action {
        SoftwareAction::Install { uri, name, .. } => {
            let url = uri.trim();
            if url.is_empty() {
                return Err(OperationError::new(ErrorKind::BadInput, "install needs a package URL"));
            }
            let (x, create) = match &config.scomo_download {
                Some(x) => (
                    scomo::node_name(x.trim()).map(str::to_owned).ok_or_else(|| {
                        OperationError::new(ErrorKind::BadInput, format!("scomo_download {x:?} is not a node name"))
                    })?,
                    false,
                ),
                None => (format!("unidm{id}"), true),
            };
            let node = scomo::download_node(root, &x);
            let leaf = |leaf: &str, value: &str| {
                let (uri, value) = (format!("{node}/{leaf}"), Value::text(value));
                if create {
                    Op::Add { uri, value: Some(value) }
                } else {
                    Op::Replace { uri, value }
                }
            };
            let mut ops = Vec::new();
            if create {
                ops.push(Op::Add { uri: node.clone(), value: Some(Value::text("").with_format("node")) });
            }
            ops.push(leaf("PkgID", &x));
            ops.push(leaf("PkgURL", url));
            if let Some(n) = name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                ops.push(leaf("Name", n));
            }
            ops.push(Op::Exec { uri: format!("{node}/Operations/{}", install.node()), data: None, correlator });
            Ok(Op::Sequence(ops))
        }
        SoftwareAction::Uninstall { module } => deployed(module, DeployedOperation::Remove),
        SoftwareAction::Activate { module } => deployed(module, DeployedOperation::Activate),
        SoftwareAction::Deactivate { module } => deployed(module, DeployedOperation::Deactivate),
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
    /// Send the operation again with this adapter state (its next phase).
    Again(Vec<u8>),
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

/// The outcome of the `Response` to the command of `op`; `mos` as for [`command`].
pub(crate) fn on_response(
    config: &OmadmConfig,
    op: &Operation,
    mos: Option<&MoList>,
    status: u16,
    results: &[Item],
    parts: &[u16],
) -> Outcome {
    match &op.action {
        Action::Ping(_) | Action::Traceroute(_) => diag_response(config, op, mos, status, results, parts),
        Action::Native(n) if n.op == NativeOp::ReadComposite => {
            // Each node read, keyed by its URI; absent nodes (a non-2xx Get) left out.
            let value = values_by_uri(results);
            match parts.iter().copied().find(|&c| !ok(c) && c != 404) {
                Some(c) if value.is_empty() => Outcome::Failed(status_error(c, "native readComposite")),
                _ if !ok(status) => Outcome::Failed(status_error(status, "native readComposite")),
                _ => Outcome::Succeeded(Some(json!({ "path": n.path, "value": value, "status": status }))),
            }
        }
        Action::Native(n) if n.op == NativeOp::WriteComposite => {
            // The Atomic's status, and the first part that failed (not one merely rolled back,
            // 216) as the reason.
            let failed = parts.iter().copied().find(|&c| c != 0 && !ok(c) && c != ROLLED_BACK);
            match failed.or((!ok(status)).then_some(status)) {
                Some(c) => Outcome::Failed(status_error(c, "native writeComposite (Atomic)")),
                None => Outcome::Succeeded(Some(json!({ "path": n.path, "status": status }))),
            }
        }
        Action::Native(n) => {
            if !ok(status) {
                return Outcome::Failed(status_error(status, &format!("native {:?} {}", n.op, n.path)));
            }
            if n.op == NativeOp::Alert {
                // The user's answer: the Status' items (text input, the choices made).
                let answer: Vec<serde_json::Value> = results
                    .iter()
                    .map(|i| {
                        serde_json::Value::String(
                            i.data.as_ref().and_then(|d| d.as_text()).unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                return Outcome::Succeeded(Some(json!({ "code": n.path.trim(), "status": status, "answer": answer })));
            }
            if matches!(n.op, NativeOp::Read | NativeOp::Discover) {
                let text = |i: &Item| {
                    serde_json::Value::String(i.data.as_ref().and_then(|d| d.as_text()).unwrap_or_default().to_owned())
                };
                // A TNDS tree: its nodes by URI; one node: its value; several (a `?list=` or an
                // interior node): by URI.
                let trees: Vec<_> = results
                    .iter()
                    .filter_map(|i| match &i.data {
                        Some(crate::codec::Data::Markup(m)) => Some(crate::mo::tnds::nodes(m)),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                let value = match results {
                    _ if !trees.is_empty() => serde_json::Value::Object(
                        trees
                            .into_iter()
                            .map(|(uri, v)| (uri, serde_json::Value::String(v.unwrap_or_default())))
                            .collect(),
                    ),
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
            if !ok(replace) {
                return Outcome::Failed(status_error(replace, "FUMO PkgURL Replace"));
            }
            let exec = AsyncExec { what: "FUMO DownloadAndUpdate Exec", result: "FUMO", step: STEP_FUMO };
            exec.outcome(config, op, parts.get(1).copied().unwrap_or(0), status, Outcome::Succeeded(None))
        }
        Action::FactoryReset => {
            let exec = AsyncExec { what: "LAWMO FactoryReset Exec", result: "LAWMO", step: STEP_LAWMO };
            exec.outcome(config, op, status, status, Outcome::Succeeded(None))
        }
        Action::Software(s) => {
            let what = match s {
                SoftwareAction::Install { .. } => "SCOMO DownloadInstall Exec",
                SoftwareAction::Uninstall { .. } => "SCOMO Remove Exec",
                SoftwareAction::Activate { .. } => "SCOMO Activate Exec",
                SoftwareAction::Deactivate { .. } => "SCOMO Deactivate Exec",
            };
            // Install is a Sequence: the Download node's set-up, then the Exec.
            let (setup, exec) = match parts.split_last() {
                Some((exec, setup)) => (setup, *exec),
                None => (&[][..], status),
            };
            if let Some(&c) = setup.iter().find(|&&c| c != 0 && !ok(c) && c != ALREADY_EXISTS) {
                return Outcome::Failed(status_error(c, "SCOMO Download node set-up"));
            }
            AsyncExec { what, result: "SCOMO", step: STEP_SCOMO }.outcome(
                config,
                op,
                exec,
                status,
                Outcome::Succeeded(None),
            )
        }
        Action::RefreshDeviceInfo => {
            let values = values_by_uri(results);
            match parts.iter().copied().find(|&c| !ok(c) && c != 404) {
                _ if !values.is_empty() => Outcome::Succeeded(Some(json!({ "values": values }))),
                Some(c) => Outcome::Failed(status_error(c, "DevInfo / DevDetail Get")),
                None => Outcome::Failed(status_error(if ok(status) { 404 } else { status }, "DevInfo / DevDetail Get")),
            }
        }
        _ if ok(status) => Outcome::Succeeded(None),
        _ => Outcome::Failed(status_error(status, op.action.name())),
    }
}

/// The answer to a diagnostic's start (the fields' `Replace`s then the `Exec`) or to its
/// results read.
fn diag_response(
    config: &OmadmConfig,
    op: &Operation,
    mos: Option<&MoList>,
    status: u16,
    results: &[Item],
    parts: &[u16],
) -> Outcome {
    let profile = match diag_profile(config, op, mos) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e),
    };
    let test = profile.test.name();
    if op.adapter_state.as_deref() == Some(DIAG_RESULTS) {
        let found = profile.results_of(results);
        let first_failure =
            if parts.is_empty() { Some(status).filter(|&c| !ok(c)) } else { parts.iter().copied().find(|&c| !ok(c)) };
        return match first_failure {
            Some(c) if found.is_empty() => Outcome::Failed(status_error(c, &format!("DiagMon {test} results Get"))),
            _ => {
                let host = match &op.action {
                    Action::Ping(p) => p.host.trim(),
                    Action::Traceroute(t) => t.host.trim(),
                    _ => "",
                };
                Outcome::Succeeded(Some(json!({ "test": test, "host": host, "results": found })))
            }
        };
    }
    let (setup, exec) = match parts.split_last() {
        Some((exec, setup)) => (setup, *exec),
        None => (&[][..], status),
    };
    if let Some(&c) = setup.iter().find(|&&c| c != 0 && !ok(c)) {
        return Outcome::Failed(status_error(c, &format!("DiagMon {test} settings Replace")));
    }
    let what = format!("DiagMon {test} Exec");
    let exec_answer = AsyncExec { what: &what, result: test, step: STEP_DIAG };
    exec_answer.outcome(config, op, exec, status, Outcome::Again(DIAG_RESULTS.to_vec()))
}

/// The text values of Results items, by their source URI.
fn values_by_uri(results: &[Item]) -> Map<String, serde_json::Value> {
    results
        .iter()
        .filter_map(|i| {
            let uri = i.source.as_ref()?.loc_uri.clone();
            Some((uri, serde_json::Value::String(i.data.as_ref()?.as_text()?.to_owned())))
        })
        .collect()
}

/// An Exec whose outcome may come later (OMA DM Protocol 1.2 §8.7): FUMO, SCOMO, LAWMO,
/// DiagMon.
struct AsyncExec<'a> {
    /// The command, for errors (`FUMO DownloadAndUpdate Exec`).
    what: &'a str,
    /// Whose result the wait is for (`FUMO`, `ping`).
    result: &'a str,
    /// The wait's step data ([`alert_outcome`] reads it).
    step: &'static [u8],
}

impl AsyncExec<'_> {
    /// The answer `exec` to the Exec (0: the device sent no status for it; `status` is the
    /// whole answer's): 202 parks the operation on its id until the Generic Alert 1226, 2xx is
    /// `done`, anything else fails.
    fn outcome(&self, config: &OmadmConfig, op: &Operation, exec: u16, status: u16, done: Outcome) -> Outcome {
        match exec {
            ACCEPTED => Outcome::Park(
                Wait::new(
                    Correlator::new(op.id.0.to_string()),
                    format!("waiting for the {} result (Generic Alert 1226)", self.result),
                )
                .with_step(self.step.to_vec()),
            )
            .with_stall(config),
            c if ok(c) => done,
            0 if ok(status) => Outcome::Failed(OperationError::new(
                ErrorKind::DeviceRefused,
                format!("{}: the device sent no status for it", self.what),
            )),
            0 => Outcome::Failed(status_error(status, self.what)),
            c => Outcome::Failed(status_error(c, self.what)),
        }
    }
}

/// The DevInfo / DevDetail facts in the Results of a refresh.
pub(crate) fn facts(results: &[Item]) -> DeviceFacts {
    let mut f = DeviceFacts::default();
    for i in results {
        if let (Some(s), Some(v)) = (&i.source, i.data.as_ref().and_then(|d| d.as_text())) {
            f.set(&s.loc_uri, v);
        }
    }
    f
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
    match step {
        STEP_LAWMO => lawmo::outcome(code),
        STEP_SCOMO => scomo::outcome(code),
        STEP_DIAG => diagmon::outcome(code),
        _ => fumo::outcome(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidm_models::{DeviceId, RetryPolicy, Timestamp};

    fn op(action: Action) -> Operation {
        let retry = RetryPolicy { max_attempts: 1, backoff_ms: 1, max_backoff_ms: 1 };
        Operation::new(OperationId(7), DeviceId::omadm("IMEI:1").unwrap(), action, retry, Timestamp(0))
    }

    fn install(name: Option<&str>) -> SoftwareAction {
        SoftwareAction::Install {
            uri: " http://f.example/a.pkg ".into(),
            name: name.map(Into::into),
            version: None,
            activate: None,
        }
    }

    fn uris(op: &Op) -> Vec<(String, &'static str)> {
        let Op::Sequence(ops) = op else { panic!("{op:?}") };
        ops.iter()
            .map(|o| match o {
                Op::Add { uri, .. } => (uri.clone(), "Add"),
                Op::Replace { uri, .. } => (uri.clone(), "Replace"),
                Op::Exec { uri, correlator, .. } => {
                    assert_eq!(correlator.as_deref(), Some("7"));
                    (uri.clone(), "Exec")
                }
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn software_actions_are_scomo_commands() {
        let config = OmadmConfig::default();
        let id = OperationId(7);
        let cmd = software(&config, id, &install(Some("app")), DownloadOperation::DownloadInstall).unwrap();
        let d = "./SCOMO/Download/unidm7";
        assert_eq!(
            uris(&cmd),
            [
                (d.to_owned(), "Add"),
                (format!("{d}/PkgID"), "Add"),
                (format!("{d}/PkgURL"), "Add"),
                (format!("{d}/Name"), "Add"),
                (format!("{d}/Operations/DownloadInstall"), "Exec"),
            ]
        );
        let Op::Sequence(ops) = &cmd else { unreachable!() };
        assert_eq!(ops[2], Op::Add { uri: format!("{d}/PkgURL"), value: Some(Value::text("http://f.example/a.pkg")) });
        assert_eq!(ops[0], Op::Add { uri: d.into(), value: Some(Value::text("").with_format("node")) });

        let fixed = OmadmConfig {
            scomo_root: "./ManagedObjects/SCOMO/".into(),
            scomo_download: Some("pkg1".into()),
            ..OmadmConfig::default()
        };
        let cmd = software(&fixed, id, &install(None), DownloadOperation::DownloadInstallInactive).unwrap();
        let d = "./ManagedObjects/SCOMO/Download/pkg1";
        assert_eq!(
            uris(&cmd),
            [
                (format!("{d}/PkgID"), "Replace"),
                (format!("{d}/PkgURL"), "Replace"),
                (format!("{d}/Operations/DownloadInstallInactive"), "Exec"),
            ]
        );

        let remove = software(
            &config,
            id,
            &SoftwareAction::Uninstall { module: "app".into() },
            DownloadOperation::DownloadInstall,
        );
        assert_eq!(
            remove.unwrap(),
            Op::Exec {
                uri: "./SCOMO/Inventory/Deployed/app/Operations/Remove".into(),
                data: None,
                correlator: Some("7".into())
            }
        );
        let bad = SoftwareAction::Deactivate { module: "../x".into() };
        assert_eq!(
            software(&config, id, &bad, DownloadOperation::DownloadInstall).unwrap_err().kind,
            ErrorKind::BadInput
        );
        let empty = SoftwareAction::Install { uri: " ".into(), name: None, version: None, activate: None };
        assert!(software(&config, id, &empty, DownloadOperation::DownloadInstall).is_err());
        assert!(supported(&config, &Action::Software(install(None))).is_ok());
    }

    #[test]
    fn scomo_answers_park_succeed_or_fail() {
        let config = OmadmConfig::default();
        let install = op(Action::Software(install(Some("app"))));
        let Outcome::Park(w) = on_response(&config, &install, None, 200, &[], &[200, 200, 200, 200, 202]) else {
            panic!()
        };
        assert_eq!(w.step, STEP_SCOMO);
        // A retry finds the Download node it created: 418 is taken as done.
        assert_eq!(
            on_response(&config, &install, None, 200, &[], &[418, 418, 418, 418, 200]),
            Outcome::Succeeded(None)
        );
        let Outcome::Failed(e) = on_response(&config, &install, None, 200, &[], &[200, 200, 405, 200, 202]) else {
            panic!()
        };
        assert_eq!(e.protocol_code.as_deref(), Some("405"));
        let Outcome::Failed(e) = on_response(&config, &install, None, 200, &[], &[200, 200, 200, 200, 0]) else {
            panic!()
        };
        assert_eq!(e.kind, ErrorKind::DeviceRefused);
        let remove = op(Action::Software(SoftwareAction::Uninstall { module: "app".into() }));
        assert!(matches!(on_response(&config, &remove, None, 202, &[], &[]), Outcome::Park(_)));
        let Outcome::Failed(e) = on_response(&config, &remove, None, 404, &[], &[]) else { panic!() };
        assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::NotFound, Some("404")));
        assert_eq!(alert_outcome(STEP_SCOMO, Some(1200)), crate::mo::Outcome::Succeeded);
        let crate::mo::Outcome::Failed(e) = alert_outcome(STEP_SCOMO, Some(1409)) else { panic!() };
        assert_eq!(e.message, "activate failed");
        assert!(matches!(alert_outcome(STEP_SCOMO, None), crate::mo::Outcome::Failed(_)));
    }

    #[test]
    fn a_refresh_reads_the_identity_leaves_liberally() {
        let config = OmadmConfig::default();
        let refresh = op(Action::RefreshDeviceInfo);
        let Ok(Op::Sequence(gets)) = command(&config, &refresh, None) else { panic!() };
        assert_eq!(gets.len(), 10);
        assert_eq!(gets[0], Op::Get { uri: "./DevInfo/Man".into() });
        let item = |u: &str, v: &str| Item {
            source: Some(crate::codec::Location::uri(u)),
            data: Some(crate::codec::Data::Text(v.into())),
            ..Item::default()
        };
        let results = [item("./DevInfo/Man", "Acme"), item("./DevDetail/FwV", "2.1")];
        // A missing leaf (404) does not fail the refresh.
        let Outcome::Succeeded(Some(v)) = on_response(&config, &refresh, None, 200, &results, &[200, 404, 200]) else {
            panic!()
        };
        assert_eq!(v["values"]["./DevDetail/FwV"], "2.1");
        let f = facts(&results);
        assert_eq!((f.manufacturer.as_deref(), f.fw_version.as_deref()), (Some("Acme"), Some("2.1")));
        let Outcome::Failed(e) = on_response(&config, &refresh, None, 200, &[], &[425, 404]) else { panic!() };
        assert_eq!(e.protocol_code.as_deref(), Some("425"));
        let Outcome::Failed(e) = on_response(&config, &refresh, None, 200, &[], &[404, 404]) else { panic!() };
        assert_eq!(e.kind, ErrorKind::NotFound);
    }

    #[test]
    fn a_diagnostic_sets_its_fields_runs_then_reads_its_results() {
        let config =
            OmadmConfig { diagnostics: vec![DiagProfile::new(DiagTest::Ping, "./D/Ping")], ..OmadmConfig::default() };
        let mos = MoList { present: vec!["./D/Ping".into()], ping: Some("./D/Ping".into()), ..MoList::default() };
        let mut ping = op(Action::Ping(unidm_models::PingRequest {
            host: "10.0.0.1".into(),
            count: Some(2),
            timeout_ms: Some(300),
        }));
        let Ok(Op::Sequence(cmds)) = command(&config, &ping, Some(&mos)) else { panic!() };
        assert_eq!(cmds[0], Op::Replace { uri: "./D/Ping/Host".into(), value: Value::text("10.0.0.1") });
        assert_eq!(cmds[2], Op::Replace { uri: "./D/Ping/Timeout".into(), value: Value::text("300") });
        assert_eq!(
            cmds[3],
            Op::Exec { uri: "./D/Ping/Operations/Start".into(), data: None, correlator: Some("7".into()) }
        );
        let Outcome::Park(w) = on_response(&config, &ping, Some(&mos), 200, &[], &[200, 200, 200, 202]) else {
            panic!()
        };
        assert_eq!(w.step, STEP_DIAG);
        assert_eq!(
            on_response(&config, &ping, Some(&mos), 200, &[], &[200, 200, 200, 200]),
            Outcome::Again(DIAG_RESULTS.to_vec())
        );
        let Outcome::Failed(e) = on_response(&config, &ping, Some(&mos), 200, &[], &[200, 405, 200, 200]) else {
            panic!()
        };
        assert_eq!(e.protocol_code.as_deref(), Some("405"));
        let Outcome::Failed(e) = on_response(&config, &ping, Some(&mos), 200, &[], &[200, 200, 200, 0]) else {
            panic!()
        };
        assert!(e.message.contains("no status"), "{e:?}");

        ping.adapter_state = Some(DIAG_RESULTS.to_vec());
        assert_eq!(
            command(&config, &ping, Some(&mos)).unwrap(),
            Op::Get { uri: "./D/Ping/Results?list=StructData".into() }
        );
        let item = Item {
            source: Some(crate::codec::Location::uri("./D/Ping/Results/SuccessCount")),
            data: Some(crate::codec::Data::Text("2".into())),
            ..Item::default()
        };
        let Outcome::Succeeded(Some(v)) = on_response(&config, &ping, Some(&mos), 200, &[item], &[]) else { panic!() };
        assert_eq!(v, json!({"test": "ping", "host": "10.0.0.1", "results": {"Results/SuccessCount": "2"}}));
        let Outcome::Failed(e) = on_response(&config, &ping, Some(&mos), 406, &[], &[]) else { panic!() };
        assert_eq!(e.kind, ErrorKind::NotSupported);

        // A device without the subtree, or a configuration without the profile: not supported.
        let bare = MoList { present: vec![], ..mos.clone() };
        assert_eq!(command(&config, &ping, Some(&bare)).unwrap_err().kind, ErrorKind::NotSupported);
        assert_eq!(command(&config, &ping, None).unwrap_err().kind, ErrorKind::NotSupported);
        let trace = Action::Traceroute(unidm_models::TracerouteRequest { host: "h".into(), max_hops: None });
        assert!(supported(&config, &ping.action).is_ok() && supported(&config, &trace).is_err());
        assert_eq!(alert_outcome(STEP_DIAG, Some(1200)), crate::mo::Outcome::Succeeded);
    }

    #[test]
    fn an_install_deletes_the_download_node_it_created() {
        let install = op(Action::Software(install(None)));
        assert_eq!(created_node(&OmadmConfig::default(), &install).as_deref(), Some("./SCOMO/Download/unidm7"));
        let fixed = OmadmConfig { scomo_download: Some("pkg1".into()), ..OmadmConfig::default() };
        assert_eq!(created_node(&fixed, &install), None, "the configured node is the device's own");
        assert_eq!(created_node(&OmadmConfig::default(), &op(Action::FactoryReset)), None);
    }
}
