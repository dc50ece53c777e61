//! The LwM2M catalogue: the server-driven cases of the OMA ETS for LwM2M 1.0.1
//! (OMA-ETS-LightweightM2M-V1_0_1-20170830-D) and 1.1 (OMA-ETS-LightweightM2M-V1_1-20190912-D)
//! that can be run against a device registered with unidm, by their official ids.
//!
//! Optional features are inconclusive when the device does not have them (a 1.0 client and
//! SenML, a device without /5, a format it neither offers nor announces), and failed when it
//! says it has them and does otherwise. Values a case writes are written back after it.

use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use unidm_core::{Direction, Received};
use unidm_models::{Action, Event, FirmwareUpdate, NativeOp, OperationState};

use crate::case::{Case, Finding, Outcome};
use crate::ctx::{describe, protocol_code, Ctx};

/// Every case, in the order they run.
pub fn catalogue() -> Vec<Case> {
    vec![
        case!(
            "LightweightM2M-1.1-int-0",
            "Client Initiated Bootstrap",
            ["HLF-019", "BsR-002"],
            "ETS 1.1 int-0; TS Core 1.1 §6.1.3 (the client starts it, at its start-up)",
            client_initiated_bootstrap
        ),
        case!(
            "LightweightM2M-1.1-int-1",
            "Client Initiated Bootstrap Full (PSK)",
            ["HLF-019", "SEC-001", "SEC-003"],
            "ETS 1.1 int-1; TS Core 1.1 §6.1.3; TS Transport 1.1 §5.2.8.1 (PSK)",
            bootstrap_full_psk
        ),
        case!(
            "LightweightM2M-1.1-int-2",
            "Client Initiated Bootstrap Full (Cert)",
            ["HLF-019", "SEC-001", "SEC-003"],
            "ETS 1.1 int-2; TS Core 1.1 §6.1.3; TS Transport 1.1 §5.2.8.3 (certificates)",
            bootstrap_full_cert
        ),
        case!(
            "LightweightM2M-1.1-int-4",
            "Bootstrap Delete",
            ["HLF-019"],
            "ETS 1.1 int-4; TS Core 1.1 §5.2.7.5 Bootstrap-Delete",
            bootstrap_delete
        ),
        case!(
            "LightweightM2M-1.1-int-5",
            "Server Initiated Bootstrap (the Bootstrap-Request Trigger)",
            ["HLF-019", "BsR-002"],
            "ETS 1.1 int-5; TS Core 1.1 §6.1.3, registry 1.xml /1/x/9 Bootstrap-Request Trigger",
            server_initiated_bootstrap
        ),
        case!(
            "LightweightM2M-1.1-int-6",
            "Bootstrap Sequence",
            ["HLF-019", "BsR-005"],
            "ETS 1.1 int-6; TS Core 1.1 §6.1.3 (Delete, Discover, Write, Finish)",
            bootstrap_sequence
        ),
        case!(
            "LightweightM2M-1.0-int-101",
            "Initial Registration",
            ["HLF-019", "MGR-001"],
            "ETS 1.0.1 int-101; TS Core 1.1 §6.2.1",
            initial_registration
        ),
        case!(
            "LightweightM2M-1.0-int-102",
            "Registration Update",
            ["HLF-019", "HLF-010"],
            "ETS 1.0.1 int-102; TS Core 1.1 §6.2.2",
            registration_update
        ),
        case!(
            "LightweightM2M-1.0-int-103",
            "Deregistration",
            ["HLF-008", "HLF-019"],
            "ETS 1.0.1 int-103; TS Core 1.1 §6.2.3, registry 1.xml /1/x/4",
            deregistration
        ),
        case!(
            "LightweightM2M-1.0-int-104",
            "Registration Update Trigger",
            ["HLF-011"],
            "ETS 1.0.1 int-104; registry 1.xml /1/x/8",
            update_trigger
        ),
        case!(
            "LightweightM2M-1.1-int-108",
            "Turn on Queue Mode",
            ["HLF-037", "HLF-038"],
            "ETS 1.1 int-108; TS Core 1.1 §6.5",
            queue_mode
        ),
        case!(
            "LightweightM2M-1.0-int-201",
            "Querying basic information in Plain Text format",
            ["HLF-001", "HLF-034"],
            "ETS 1.0.1 int-201; TS Core 1.1 §7.4.1",
            read_text
        ),
        case!(
            "LightweightM2M-1.0-int-203",
            "Querying basic information in TLV format",
            ["HLF-001", "HLF-035"],
            "ETS 1.0.1 int-203; TS Core 1.1 §7.4.3",
            read_tlv
        ),
        case!(
            "LightweightM2M-1.0-int-204",
            "Querying basic information in JSON format",
            ["HLF-001", "HLF-035"],
            "ETS 1.0.1 int-204; TS Core 1.0 §6.4.4",
            read_json
        ),
        case!(
            "LightweightM2M-1.1-int-211",
            "Querying basic information in CBOR format",
            ["HLF-001"],
            "ETS 1.1 int-211; TS Core 1.1 §7.4.6",
            read_cbor
        ),
        case!(
            "LightweightM2M-1.1-int-231",
            "Querying basic information in SenML JSON format",
            ["HLF-001", "HLF-035"],
            "ETS 1.1 int-231; TS Core 1.1 §7.4.4",
            read_senml_json
        ),
        case!(
            "LightweightM2M-1.1-int-232",
            "Querying basic information in SenML CBOR format",
            ["HLF-001", "HLF-035"],
            "ETS 1.1 int-232; TS Core 1.1 §7.4.5",
            read_senml_cbor
        ),
        case!(
            "LightweightM2M-1.0-int-205",
            "Setting basic information in Plain Text format",
            ["HLF-010", "HLF-034"],
            "ETS 1.0.1 int-205; TS Core 1.1 §5.4.3",
            write_text
        ),
        case!(
            "LightweightM2M-1.0-int-215",
            "Setting basic information in TLV format",
            ["HLF-010", "HLF-035"],
            "ETS 1.0.1 int-215; TS Core 1.1 §5.4.3 (partial update)",
            write_tlv
        ),
        case!(
            "LightweightM2M-1.1-int-233",
            "Setting basic information in SenML CBOR format",
            ["HLF-010"],
            "ETS 1.1 int-233",
            write_senml_cbor
        ),
        case!(
            "LightweightM2M-1.1-int-234",
            "Setting basic information in SenML JSON format",
            ["HLF-010"],
            "ETS 1.1 int-234",
            write_senml_json
        ),
        case!(
            "LightweightM2M-1.1-int-221",
            "Attempt to perform operations on Security",
            ["HLF-031", "SEC-003"],
            "ETS 1.1 int-221; TS Core 1.1 §5.4 (Security object is the bootstrap server's only)",
            security_refused
        ),
        case!(
            "LightweightM2M-1.1-int-222",
            "Read on Object",
            ["HLF-034"],
            "ETS 1.1 int-222; TS Core 1.1 §5.4.1",
            read_object
        ),
        case!("LightweightM2M-1.1-int-223", "Read on Object Instance", ["HLF-034"], "ETS 1.1 int-223", read_instance),
        case!("LightweightM2M-1.1-int-224", "Read on Resource", ["HLF-034"], "ETS 1.1 int-224", read_resource),
        case!(
            "LightweightM2M-1.1-int-225",
            "Read on Resource Instance",
            ["DSE-002"],
            "ETS 1.1 int-225; TS Core 1.1 §5.4.1",
            read_resource_instance
        ),
        case!(
            "LightweightM2M-1.1-int-256",
            "Write Operation Failure",
            ["HLF-032"],
            "ETS 1.1 int-256; registry 1.xml /1/x/0 is read-only",
            write_failure
        ),
        case!(
            "LightweightM2M-1.0-int-260",
            "Discover Command",
            ["HLF-019", "MGR-003"],
            "ETS 1.0.1 int-260; TS Core 1.1 §5.4.2",
            discover
        ),
        case!(
            "LightweightM2M-1.1-int-261",
            "Write-Attribute Operation on a multiple resource",
            ["HLF-018", "HLF-029"],
            "ETS 1.1 int-261; TS Core 1.1 §5.1.2",
            write_attributes
        ),
        case!(
            "LightweightM2M-1.0-int-270",
            "Create Object Instance",
            ["HLF-014", "MGR-006"],
            "ETS 1.0.1 int-270; TS Core 1.1 §5.4.4",
            create_instance
        ),
        case!(
            "LightweightM2M-1.0-int-290",
            "Delete Object Instance",
            ["HLF-014", "MGR-006"],
            "ETS 1.0.1 int-290; TS Core 1.1 §5.4.5",
            delete_instance
        ),
        case!(
            "LightweightM2M-1.1-int-229",
            "Read-Composite Operation",
            ["DSE-001"],
            "ETS 1.1 int-229; TS Core 1.1 §5.4.6",
            read_composite
        ),
        case!(
            "LightweightM2M-1.1-int-230",
            "Write-Composite Operation",
            ["DSE-001"],
            "ETS 1.1 int-230; TS Core 1.1 §5.4.7",
            write_composite
        ),
        case!(
            "LightweightM2M-1.1-int-235",
            "Read-Composite Operation on root path",
            ["DSE-001"],
            "ETS 1.1 int-235",
            read_composite_root
        ),
        case!(
            "LightweightM2M-1.1-int-236",
            "Read-Composite - Partial Presence",
            ["DSE-001"],
            "ETS 1.1 int-236",
            read_composite_partial
        ),
        case!(
            "LightweightM2M-1.0-int-241",
            "Executable Resource: Rebooting the device",
            ["HLF-007", "MGR-009"],
            "ETS 1.0.1 int-241; registry 3.xml /3/0/4",
            reboot
        ),
        case!(
            "LightweightM2M-1.0-int-301",
            "Observation and Notification of parameter values",
            ["HLF-016", "HLF-018"],
            "ETS 1.0.1 int-301; TS Core 1.1 §5.1.2 pmin / pmax, §6.4.1",
            observe_pmin_pmax
        ),
        case!(
            "LightweightM2M-1.0-int-303",
            "Cancel observations using Observe with Cancel parameter",
            ["HLF-016"],
            "ETS 1.0.1 int-303; RFC 7641 §3.6",
            cancel_observe
        ),
        case!(
            "LightweightM2M-1.1-int-304",
            "Observe-Composite Operation",
            ["DSE-001", "IR-001"],
            "ETS 1.1 int-304; TS Core 1.1 §6.4.3",
            observe_composite
        ),
        case!(
            "LightweightM2M-1.1-int-306",
            "Send Operation",
            ["DSE-003", "DSE-005"],
            "ETS 1.1 int-306; TS Core 1.1 §6.4.6",
            send_operation
        ),
        case!(
            "LightweightM2M-1.0-int-652",
            "Querying the firmware version from the client",
            ["HLF-002"],
            "ETS 1.0.1 int-652; registry 3.xml /3/0/3",
            firmware_version
        ),
        case!(
            "LightweightM2M-1.0-int-751",
            "Querying the readable resources of the Firmware Update object",
            ["HLF-003", "HLF-004"],
            "ETS 1.0.1 int-751; registry 5.xml",
            firmware_readable
        ),
        case!(
            "LightweightM2M-1.0-int-756",
            "Setting the writable Resource Package URI",
            ["HLF-003"],
            "ETS 1.0.1 int-756; registry 5.xml /5/0/1",
            firmware_package_uri
        ),
        case!(
            "LightweightM2M-1.0-int-770",
            "Successful Firmware update",
            ["HLF-003", "HLF-004", "MGR-001"],
            "ETS 1.0.1 int-770; TS Core 1.1 §E.6 firmware update state machine",
            firmware_success
        ),
        case!(
            "LightweightM2M-1.0-int-771",
            "Successful Firmware update (via alternative mechanism)",
            ["HLF-003", "HLF-004", "MGR-001"],
            "ETS 1.0.1 int-771; registry 5.xml /5/0/0 Package (push, Block1), /5/0/9 Delivery Method",
            firmware_push
        ),
        case!(
            "LightweightM2M-1.0-int-772",
            "Error Case 1: firmware installation without downloaded package",
            ["HLF-003", "HLF-006"],
            "ETS 1.0.1 int-772; registry 5.xml /5/0/2 in state Idle",
            firmware_update_without_package
        ),
        case!(
            "LightweightM2M-1.0-int-773",
            "Error Case 2: shortage of storage memory",
            ["HLF-003", "HLF-006"],
            "ETS 1.0.1 int-773; registry 5.xml Update Result 2",
            firmware_error_2
        ),
        case!(
            "LightweightM2M-1.0-int-774",
            "Error Case 3: out of memory",
            ["HLF-003", "HLF-006"],
            "ETS 1.0.1 int-774; registry 5.xml Update Result 3",
            firmware_error_3
        ),
        case!(
            "LightweightM2M-1.0-int-775",
            "Error Case 4: Connection lost during download (package URI)",
            ["HLF-003", "HLF-006"],
            "ETS 1.0.1 int-775; registry 5.xml Update Result 4",
            firmware_error_4
        ),
        case!(
            "LightweightM2M-1.0-int-776",
            "Error Case 5: Package Integrity check failure",
            ["HLF-003", "HLF-006"],
            "ETS 1.0.1 int-776; registry 5.xml Update Result 5",
            firmware_error_5
        ),
        case!(
            "LightweightM2M-1.0-int-777",
            "Error Case 6: unsupported package type",
            ["HLF-003", "HLF-006"],
            "ETS 1.0.1 int-777; registry 5.xml Update Result 6",
            firmware_error_6
        ),
        case!(
            "LightweightM2M-1.0-int-778",
            "Error Case 7: invalid URI (package URI)",
            ["HLF-003", "HLF-006"],
            "ETS 1.0.1 int-778; registry 5.xml Update Result 7",
            firmware_invalid_uri
        ),
        case!(
            "LightweightM2M-1.0-int-779",
            "Error Case 8: Unsuccessful Firmware Update",
            ["HLF-003", "HLF-004", "HLF-006"],
            "ETS 1.0.1 int-779; registry 5.xml Update Result 8",
            firmware_error_8
        ),
        case!(
            "LightweightM2M-1.0-int-780",
            "Error Case 9: Unsupported protocol",
            ["HLF-003", "HLF-006"],
            "ETS 1.0.1 int-780; registry 5.xml /5/0/8 Firmware Update Protocol Support, Update Result 9",
            firmware_unsupported_protocol
        ),
    ]
}

/// The Update Results the firmware error cases end with (int-773 to -777 and -779), each
/// given its package by the lab ([`Ctx::with_firmware_cases`]).
pub const FIRMWARE_ERROR_RESULTS: [u16; 6] = [2, 3, 4, 5, 6, 8];

// ---- helpers --------------------------------------------------------------------------------

fn is_1_1(ctx: &Ctx) -> Result<bool, Finding> {
    Ok(ctx.registration()?.version.trim() != "1.0")
}

fn require_1_1(ctx: &Ctx, what: &str) -> Result<(), Finding> {
    if is_1_1(ctx)? {
        Ok(())
    } else {
        Err(Finding::inconclusive(format!("{what} is LwM2M 1.1; the device registered as 1.0")))
    }
}

fn announced(ctx: &Ctx, code: u16) -> Result<bool, Finding> {
    Ok(ctx.registration()?.content_formats.contains(&code))
}

/// The Server object instance of this server (`/1/x`).
fn server_instance(ctx: &Ctx) -> Result<String, Finding> {
    Ok(format!("/1/{}", ctx.first_instance(1)?))
}

fn number(v: &Json) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A read of `path` in `format`: passes with the value; a 4.06 is inconclusive unless the
/// format is `mandatory` (or announced with `ct`), and any other refusal or an answer in
/// another format fails.
async fn read_in_format(ctx: &Ctx, path: &str, format: &str, code: u16, mandatory: bool) -> Outcome {
    let mandatory = mandatory || announced(ctx, code)?;
    let op = ctx.native_in(NativeOp::Read, path, None, Some(format)).await?;
    match op.state {
        OperationState::Succeeded => {
            let value = op.result.unwrap_or(Json::Null);
            if value.is_null() || value.as_object().is_some_and(|m| m.is_empty()) {
                return Err(Finding::fail(format!("Read {path} in {format} came back empty"), "the values", "nothing"));
            }
            Ok(format!("Read {path} answered in {format} ({code})"))
        }
        _ if protocol_code(&op) == Some("4.06") && !mandatory => Err(Finding::inconclusive(format!(
            "the device does not offer {format} ({code}) and did not announce it: 4.06 Not Acceptable"
        ))),
        // Some clients drop a request whose Accept they do not know instead of answering 4.06.
        _ if unanswered(&op) && !mandatory => Err(Finding::inconclusive(format!(
            "no answer to a Read in {format} ({code}), which the device did not announce: it does not offer \
             it (a conformant client answers 4.06 Not Acceptable)"
        ))),
        _ => Err(Finding::fail(format!("Read {path} in {format}"), format!("2.05 Content in {code}"), describe(&op))),
    }
}

/// The device never answered (the request timed out or the step's deadline passed).
fn unanswered(op: &unidm_models::Operation) -> bool {
    op.state == OperationState::Expired || op.error.as_ref().is_some_and(|e| e.kind == unidm_models::ErrorKind::Timeout)
}

/// A write of `value` to `path` in `format`, read back in the default format, then the old
/// value written back.
async fn write_in_format(ctx: &Ctx, path: &str, value: Json, format: &str, code: u16, mandatory: bool) -> Outcome {
    let mandatory = mandatory || announced(ctx, code)?;
    let before = read_optional(ctx, path).await?;
    ctx.restore_later(NativeOp::Write, path, Some(before));
    let op = ctx.native_in(NativeOp::Write, path, Some(value.clone()), Some(format)).await?;
    match op.state {
        OperationState::Succeeded => {}
        _ if protocol_code(&op) == Some("4.15") && !mandatory => {
            return Err(Finding::inconclusive(format!(
                "the device does not take {format} ({code}) and did not announce it: 4.15 Unsupported Content-Format"
            )))
        }
        _ => return Err(Finding::fail(format!("Write {path} in {format}"), "2.04 Changed", describe(&op))),
    }
    let after = ctx.read(path).await?;
    if number(&after) != number(&value) {
        return Err(Finding::fail(format!("{path} read back after the write"), value.to_string(), after.to_string()));
    }
    Ok(format!("Wrote {value} to {path} in {format} ({code}) and read it back"))
}

/// A resource's value, or inconclusive when the device does not have it.
async fn read_optional(ctx: &Ctx, path: &str) -> Result<Json, Finding> {
    let op = ctx.native(NativeOp::Read, path, None).await?;
    match op.state {
        OperationState::Succeeded => Ok(op.result.unwrap_or(Json::Null)),
        _ if protocol_code(&op) == Some("4.04") => {
            Err(Finding::inconclusive(format!("the device has no {path} (4.04 Not Found)")))
        }
        _ => Err(Finding::fail(format!("Read {path}"), "2.05 Content", describe(&op))),
    }
}

/// Firmware cases start from Idle; otherwise they are inconclusive (a download in progress is
/// not ours to disturb).
async fn firmware_idle(ctx: &Ctx) -> Result<(), Finding> {
    ctx.require_object(5)?;
    let state = ctx.read("/5/0/3").await?;
    if number(&state) != Some(0) {
        return Err(Finding::inconclusive(format!("the Firmware Update State /5/0/3 is {state}, not Idle (0)")));
    }
    Ok(())
}

fn reset_package_uri(ctx: &Ctx) {
    ctx.restore_later(NativeOp::Write, "/5/0/1", Some(json!("")));
}

/// Observation events of the device at `path` for `window`, with when each arrived.
async fn collect_notifications(
    events: &mut unidm_core::Subscription,
    ctx: &Ctx,
    path: &str,
    window: Duration,
) -> Vec<(Instant, Json)> {
    let deadline = tokio::time::Instant::now() + window;
    let mut seen = Vec::new();
    while let Ok(Some(received)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let Received::Event(Event::Observation { device, path: p, value, .. }) = received {
            if &device == ctx.device_id() && p == path {
                seen.push((Instant::now(), value));
            }
        }
    }
    seen
}

// ---- bootstrap ------------------------------------------------------------------------------

/// How long int-0 waits for a device to bootstrap on its own (the lab restarts it).
pub const CLIENT_BOOTSTRAP_WAIT: Duration = Duration::from_secs(30);

/// Inconclusive unless unidm runs the bootstrap server and holds a configuration for the
/// device.
async fn require_bootstrap_server(ctx: &Ctx) -> Result<(), Finding> {
    let adapter = ctx.lwm2m().ok_or_else(|| Finding::error("no LwM2M server in this run"))?;
    if adapter.bootstrap_addr().is_none() {
        return Err(Finding::inconclusive(
            "unidm runs no bootstrap server here (use --api with a running unidm serve)",
        ));
    }
    let endpoint = ctx.device_id().native().to_owned();
    if adapter.bootstrap_config(&endpoint).await.is_none() {
        return Err(Finding::inconclusive(format!(
            "unidm has no bootstrap configuration for {endpoint} (PUT /api/v1/lwm2m/bootstrap/{endpoint})"
        )));
    }
    Ok(())
}

fn from_device(prefix: &'static str) -> impl Fn(&unidm_core::WireRecord) -> bool {
    move |m: &unidm_core::WireRecord| m.direction == Direction::FromDevice && m.summary.starts_with(prefix)
}

/// One bootstrap of the device, started by the Bootstrap-Request Trigger `/1/x/9`, through
/// unidm's bootstrap server: the messages from the Execute on, once the device registered
/// again; inconclusive when unidm cannot be the device's bootstrap server.
async fn bootstrap_session(ctx: &Ctx) -> Result<Vec<unidm_core::WireRecord>, Finding> {
    require_1_1(ctx, "the Bootstrap-Request Trigger /1/x/9")?;
    require_bootstrap_server(ctx).await?;
    let server = server_instance(ctx)?;
    let mark = ctx.messages().len();
    let op = ctx.native(NativeOp::Execute, &format!("{server}/9"), None).await?;
    match op.state {
        OperationState::Succeeded => {}
        _ if matches!(protocol_code(&op), Some("4.04" | "4.05")) => {
            return Err(Finding::inconclusive(format!(
                "the device has no Bootstrap-Request Trigger: {}",
                describe(&op)
            )))
        }
        _ => return Err(Finding::fail(format!("Execute {server}/9"), "2.04 Changed", describe(&op))),
    }
    if ctx.wait_message(mark, ctx.step_timeout(), from_device("Bootstrap-Request")).await.is_none() {
        return Err(Finding::inconclusive(
            "no Bootstrap-Request reached unidm's bootstrap server: the device's bootstrap account points elsewhere",
        ));
    }
    bootstrap_finished(ctx, mark).await
}

/// The rest of a bootstrap session whose Bootstrap-Request came after message `mark`: its
/// Bootstrap-Finish acknowledged, then a Register; the messages from `mark` on.
async fn bootstrap_finished(ctx: &Ctx, mark: usize) -> Result<Vec<unidm_core::WireRecord>, Finding> {
    let finished = ctx.wait_message(mark, ctx.step_timeout(), |m| {
        m.summary.starts_with("bootstrap finished") || m.summary.starts_with("bootstrap failed")
    });
    match finished.await {
        Some(m) if m.summary.starts_with("bootstrap failed") => {
            return Err(Finding::fail("the bootstrap session", "Bootstrap-Finish acknowledged", m.summary))
        }
        Some(_) => {}
        None => {
            return Err(Finding::fail("the bootstrap session", "Bootstrap-Finish acknowledged", "no Bootstrap-Finish"))
        }
    }
    ctx.wait_message(mark, ctx.step_timeout(), from_device("Register")).await.ok_or_else(|| {
        Finding::fail("a Register after Bootstrap-Finish", "Register with the account written", "none")
    })?;
    Ok(ctx.messages().split_off(mark))
}

fn summaries(records: &[unidm_core::WireRecord]) -> Vec<&str> {
    records.iter().map(|m| m.summary.as_str()).collect()
}

/// The device bootstraps on its own (the lab restarts it during the case, or it was told to
/// bootstrap at start-up): a Bootstrap-Request nobody triggered, then the session and a Register.
async fn client_initiated_bootstrap(ctx: &Ctx) -> Outcome {
    require_bootstrap_server(ctx).await?;
    let mark = ctx.messages().len();
    if ctx.wait_message(mark, CLIENT_BOOTSTRAP_WAIT, from_device("Bootstrap-Request")).await.is_none() {
        return Err(Finding::inconclusive(format!(
            "the device sent no Bootstrap-Request in {} s (restart it during this case so that it bootstraps)",
            CLIENT_BOOTSTRAP_WAIT.as_secs()
        )));
    }
    let session = bootstrap_finished(ctx, mark).await?;
    let seen = summaries(&session);
    let request = seen.iter().find(|s| s.starts_with("Bootstrap-Request")).copied().unwrap_or_default();
    let register = seen.iter().find(|s| s.starts_with("Register")).copied().unwrap_or_default();
    Ok(format!("`{request}` of the device's own, Bootstrap-Finish acknowledged, then `{register}`"))
}

async fn server_initiated_bootstrap(ctx: &Ctx) -> Outcome {
    let session = bootstrap_session(ctx).await?;
    let seen = summaries(&session);
    let request = seen.iter().find(|s| s.starts_with("Bootstrap-Request")).copied().unwrap_or_default();
    let register = seen.iter().find(|s| s.starts_with("Register")).copied().unwrap_or_default();
    Ok(format!("`{request}`, Bootstrap-Finish acknowledged, then `{register}`"))
}

/// The security of a full bootstrap case: the device bootstraps over DTLS with it and is
/// written an account of the same kind for the LwM2M server, then registers with that.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Full {
    Psk,
    Certificate,
}

async fn bootstrap_full_psk(ctx: &Ctx) -> Outcome {
    bootstrap_full(ctx, Full::Psk).await
}

async fn bootstrap_full_cert(ctx: &Ctx) -> Outcome {
    bootstrap_full(ctx, Full::Certificate).await
}

async fn bootstrap_full(ctx: &Ctx, full: Full) -> Outcome {
    use unidm_lwm2m::bootstrap::SecurityMode;
    let (mode, over) = match full {
        Full::Psk => ("PSK", "over DTLS (PSK identity"),
        Full::Certificate => ("certificate", "over DTLS (certificate"),
    };
    let endpoint = ctx.device_id().native().to_owned();
    let adapter = ctx.lwm2m().ok_or_else(|| Finding::error("no LwM2M server in this run"))?;
    // What the Register must show: the PSK identity written, or any certificate (its CN is the
    // endpoint's, or the gate refuses it).
    let mut expected = None;
    if let Some(config) = adapter.bootstrap_config(&endpoint).await {
        expected = config.servers.iter().find_map(|a| match (&a.security, full) {
            (SecurityMode::Psk { identity, .. }, Full::Psk) => Some(format!("{over} `{identity}`)")),
            (SecurityMode::X509 { .. }, Full::Certificate) => Some(over.to_owned()),
            _ => None,
        });
        if expected.is_none() {
            return Err(Finding::inconclusive(format!(
                "the bootstrap configuration of {endpoint} writes no {mode} account for the LwM2M server"
            )));
        }
    }
    let session = bootstrap_session(ctx).await?;
    let seen = summaries(&session);
    let request = seen.iter().find(|s| s.starts_with("Bootstrap-Request")).copied().unwrap_or_default();
    if !request.contains(over) {
        return Err(Finding::inconclusive(format!("the device's bootstrap account is not {mode}: `{request}`")));
    }
    let register = seen.iter().find(|s| s.starts_with("Register")).copied().unwrap_or_default();
    let expected = expected.unwrap_or_else(|| over.to_owned());
    if !register.contains(&expected) {
        return Err(Finding::fail(
            format!("the Register after a {mode} bootstrap"),
            format!("a Register {expected}…"),
            register.to_owned(),
        ));
    }
    Ok(format!("bootstrapped {}, then registered {}", transport_of(request), transport_of(register)))
}

/// The `over DTLS (…)` / `in clear text` end of a tapped summary.
fn transport_of(summary: &str) -> &str {
    summary.find(" over DTLS").or_else(|| summary.find(" in clear text")).map_or("", |i| summary[i + 1..].trim())
}

async fn bootstrap_delete(ctx: &Ctx) -> Outcome {
    let session = bootstrap_session(ctx).await?;
    let seen = summaries(&session);
    for object in ["/0", "/1"] {
        let request = format!("Bootstrap-Delete {object}");
        let answer = seen.iter().find(|s| s.ends_with(&format!(" to {request}"))).copied();
        match answer {
            Some(a) if a.starts_with("2.02") => {}
            Some(a) => return Err(Finding::fail(format!("the answer to {request}"), "2.02 Deleted", a.to_owned())),
            None => return Err(Finding::fail(format!("the answer to {request}"), "2.02 Deleted", format!("{seen:?}"))),
        }
    }
    Ok("Bootstrap-Delete of /0 and /1 answered 2.02 Deleted; the client registered with what it was written".into())
}

async fn bootstrap_sequence(ctx: &Ctx) -> Outcome {
    let session = bootstrap_session(ctx).await?;
    // The bootstrap server's requests in order, each with the client's answer.
    let steps: Vec<&str> = session
        .iter()
        .filter(|m| m.direction == Direction::FromDevice)
        .filter_map(|m| m.summary.split_once(" to Bootstrap-").map(|(code, _)| (code, m.summary.as_str())))
        .map(|(code, summary)| if code.starts_with("2.") { summary } else { "" })
        .collect();
    if let Some(bad) = session.iter().find(|m| m.summary.contains(" to Bootstrap-") && !m.summary.starts_with("2.")) {
        return Err(Finding::fail("an answer in the bootstrap sequence", "2.xx", bad.summary.clone()));
    }
    let kind = |s: &str| {
        s.split(" to Bootstrap-").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_default().to_owned()
    };
    let order: Vec<String> = steps.iter().map(|s| kind(s)).collect();
    let rank = |k: &str| match k {
        "Delete" => 0,
        "Discover" => 1,
        "Write" => 2,
        "Finish" => 3,
        _ => 4,
    };
    let sorted = order.windows(2).all(|w| rank(&w[0]) <= rank(&w[1]));
    if !sorted || order.last().map(String::as_str) != Some("Finish") || !order.iter().any(|k| k == "Write") {
        return Err(Finding::fail(
            "the bootstrap sequence",
            "Delete, Discover, Write, Finish, each answered 2.xx",
            format!("{order:?}"),
        ));
    }
    Ok(format!("{} bootstrap requests answered in sequence ({}), then Register", order.len(), order.join(", ")))
}

// ---- registration ---------------------------------------------------------------------------

async fn initial_registration(ctx: &Ctx) -> Outcome {
    let reg = ctx.registration()?;
    if reg.endpoint != ctx.device_id().native() {
        return Err(Finding::fail("the registration's endpoint name", ctx.device_id().native(), reg.endpoint.clone()));
    }
    if reg.binding.is_empty() || !reg.binding.chars().all(|c| "UTSNQ".contains(c)) {
        return Err(Finding::fail("the binding mode", "U, T, S or N (with Q)", reg.binding.clone()));
    }
    for object in [1, 3] {
        ctx.require_object(object).map_err(|_| {
            Finding::fail(
                format!("the mandatory object /{object} in the registration"),
                format!("</{object}/0>"),
                "absent",
            )
        })?;
    }
    if is_1_1(ctx)? && ctx.require_object(0).is_ok() {
        return Err(Finding::fail(
            "the Security object in a 1.1 registration (TS Core 1.1 §6.2.1: it MUST NOT be listed)",
            "no </0/x>",
            "listed",
        ));
    }
    Ok(format!(
        "registered as {} with lt={} lwm2m={} b={}, {} objects and instances",
        reg.endpoint,
        reg.lifetime_s,
        reg.version,
        reg.binding,
        reg.objects.len()
    ))
}

async fn registration_update(ctx: &Ctx) -> Outcome {
    let lifetime_path = format!("{}/1", server_instance(ctx)?);
    let before = read_optional(ctx, &lifetime_path).await?;
    let Some(old) = number(&before) else {
        return Err(Finding::fail("the Lifetime", "an integer", before.to_string()));
    };
    let new = if old > 60 { old - 30 } else { old + 30 };
    let mark = ctx.messages().len();
    ctx.write_restoring(&lifetime_path, json!(new)).await?;
    let updated = ctx
        .wait_message(mark, ctx.step_timeout(), |m| {
            m.direction == Direction::FromDevice
                && m.summary.starts_with("Update")
                && m.summary.contains(&format!("lt={new}"))
        })
        .await;
    match updated {
        Some(m) => Ok(format!("the Lifetime written to {new}; the device sent `{}`", m.summary)),
        None => Err(Finding::fail(
            format!("an Update after the Lifetime was written to {new} (TS Core 1.1 §6.2.2)"),
            format!("Update with lt={new}"),
            "no Update",
        )),
    }
}

async fn deregistration(ctx: &Ctx) -> Outcome {
    let server = server_instance(ctx)?;
    let timeout_path = format!("{server}/5");
    ctx.write_restoring(&timeout_path, json!(5)).await.map_err(|f| match f.verdict {
        crate::Verdict::Fail => {
            Finding::inconclusive(format!("the Disable Timeout {timeout_path} cannot be set: {}", f.reason))
        }
        _ => f,
    })?;
    let mark = ctx.messages().len();
    let op = ctx.native(NativeOp::Execute, &format!("{server}/4"), None).await?;
    ctx.succeeded(&op, &format!("Execute {server}/4 (Disable)"))?;
    let gone = ctx
        .wait_message(mark, ctx.step_timeout(), |m| {
            m.direction == Direction::FromDevice && m.summary.starts_with("De-register")
        })
        .await
        .ok_or_else(|| Finding::fail("a De-register after Disable", "De-register", "none"))?;
    let back = ctx
        .wait_message(mark, Duration::from_secs(30) + ctx.step_timeout(), |m| {
            m.direction == Direction::FromDevice && m.summary.starts_with("Register")
        })
        .await
        .ok_or_else(|| Finding::fail("a new Register after the Disable Timeout (5 s)", "Register", "none"))?;
    Ok(format!("Disable: `{}`, then `{}` after the Disable Timeout", gone.summary, back.summary))
}

async fn update_trigger(ctx: &Ctx) -> Outcome {
    let server = server_instance(ctx)?;
    let mark = ctx.messages().len();
    let op = ctx.native(NativeOp::Execute, &format!("{server}/8"), None).await?;
    ctx.succeeded(&op, &format!("Execute {server}/8"))?;
    let update = ctx
        .wait_message(mark, ctx.step_timeout(), |m| {
            m.direction == Direction::FromDevice && m.summary.starts_with("Update")
        })
        .await
        .ok_or_else(|| Finding::fail("an Update after the Registration Update Trigger", "Update", "none"))?;
    Ok(format!("Execute {server}/8 answered 2.04; the device sent `{}`", update.summary))
}

async fn queue_mode(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "queue mode (Q)")?;
    let reg = ctx.registration()?;
    if !reg.queue_mode {
        return Err(Finding::inconclusive("the device did not register in queue mode (Q)"));
    }
    let op = ctx.native(NativeOp::Read, "/3/0/0", None).await?;
    ctx.succeeded(&op, "Read /3/0/0 of a queue-mode device")?;
    Ok("registered with Q; a request reached it while it was awake".into())
}

// ---- reads ----------------------------------------------------------------------------------

async fn read_text(ctx: &Ctx) -> Outcome {
    read_in_format(ctx, "/3/0/0", "text", 0, true).await
}

async fn read_tlv(ctx: &Ctx) -> Outcome {
    let mandatory = !is_1_1(ctx)?;
    read_in_format(ctx, "/3/0", "tlv", 11542, mandatory).await
}

async fn read_json(ctx: &Ctx) -> Outcome {
    read_in_format(ctx, "/3/0", "json", 11543, false).await
}

async fn read_cbor(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "CBOR")?;
    read_in_format(ctx, "/3/0/0", "cbor", 60, false).await
}

async fn read_senml_json(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "SenML JSON")?;
    read_in_format(ctx, "/3/0", "senml+json", 110, false).await
}

async fn read_senml_cbor(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "SenML CBOR")?;
    read_in_format(ctx, "/3/0", "senml+cbor", 112, false).await
}

async fn security_refused(ctx: &Ctx) -> Outcome {
    let op = ctx.native(NativeOp::Read, "/0", None).await?;
    match protocol_code(&op) {
        Some("4.01") => Ok("Read /0 refused with 4.01 Unauthorized".into()),
        _ => Err(Finding::fail("Read /0 by a Device Management server", "4.01 Unauthorized", describe(&op))),
    }
}

async fn read_object(ctx: &Ctx) -> Outcome {
    let value = ctx.read("/3").await?;
    if value.get("/3/0/0").is_none() {
        return Err(Finding::fail("Read /3", "the values of /3/0 (/3/0/0 among them)", value.to_string()));
    }
    Ok(format!("Read /3 gave {} values", value.as_object().map_or(0, |m| m.len())))
}

async fn read_instance(ctx: &Ctx) -> Outcome {
    let value = ctx.read("/3/0").await?;
    let keys: Vec<&String> = value.as_object().map(|m| m.keys().collect()).unwrap_or_default();
    if keys.is_empty() || !keys.iter().all(|k| k.starts_with("/3/0/")) {
        return Err(Finding::fail("Read /3/0", "values under /3/0 only", value.to_string()));
    }
    Ok(format!("Read /3/0 gave {} values", keys.len()))
}

async fn read_resource(ctx: &Ctx) -> Outcome {
    let value = ctx.read("/3/0/0").await?;
    match value.as_str() {
        Some(s) => Ok(format!("Read /3/0/0 (Manufacturer) gave {s:?}")),
        None => Err(Finding::fail("Read /3/0/0 (Manufacturer, a string)", "a string", value.to_string())),
    }
}

async fn read_resource_instance(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "a Read of a resource instance")?;
    let sources = read_optional(ctx, "/3/0/6").await?;
    let Some(first) = sources.as_object().and_then(|m| m.keys().next().cloned()) else {
        return Err(Finding::inconclusive("/3/0/6 has no instance"));
    };
    let path = format!("/3/0/6/{first}");
    let value = ctx.read(&path).await?;
    if value != sources[&first] {
        return Err(Finding::fail(format!("Read {path}"), sources[&first].to_string(), value.to_string()));
    }
    Ok(format!("Read {path} gave {value}"))
}

// ---- writes ---------------------------------------------------------------------------------

async fn default_max_period(ctx: &Ctx) -> Result<(String, i64), Finding> {
    let path = format!("{}/3", server_instance(ctx)?);
    let before = read_optional(ctx, &path).await?;
    let new = match number(&before) {
        Some(61) => 62,
        _ => 61,
    };
    Ok((path, new))
}

async fn write_text(ctx: &Ctx) -> Outcome {
    let (path, new) = default_max_period(ctx).await?;
    write_in_format(ctx, &path, json!(new), "text", 0, true).await
}

async fn write_tlv(ctx: &Ctx) -> Outcome {
    let (path, new) = default_max_period(ctx).await?;
    let instance = path.rsplit_once('/').map(|(i, _)| i.to_owned()).unwrap_or_default();
    let mandatory = !is_1_1(ctx)?;
    let before = ctx.read(&path).await?;
    ctx.restore_later(NativeOp::Write, &path, Some(before));
    let op = ctx.native_in(NativeOp::Write, &instance, Some(json!({"3": new})), Some("tlv")).await?;
    match op.state {
        OperationState::Succeeded => {}
        _ if protocol_code(&op) == Some("4.15") && !mandatory && !announced(ctx, 11542)? => {
            return Err(Finding::inconclusive("the device does not take TLV (4.15) and did not announce it"))
        }
        _ => {
            return Err(Finding::fail(
                format!("Write (partial update) of {instance} in TLV"),
                "2.04 Changed",
                describe(&op),
            ))
        }
    }
    let after = ctx.read(&path).await?;
    if number(&after) != Some(new) {
        return Err(Finding::fail(format!("{path} after the partial update"), new.to_string(), after.to_string()));
    }
    Ok(format!("partial update of {instance} in TLV set {path} to {new}"))
}

async fn write_senml_cbor(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "SenML CBOR")?;
    let (path, new) = default_max_period(ctx).await?;
    write_in_format(ctx, &path, json!(new), "senml+cbor", 112, false).await
}

async fn write_senml_json(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "SenML JSON")?;
    let (path, new) = default_max_period(ctx).await?;
    write_in_format(ctx, &path, json!(new), "senml+json", 110, false).await
}

async fn write_failure(ctx: &Ctx) -> Outcome {
    let path = format!("{}/0", server_instance(ctx)?);
    let before = ctx.read(&path).await?;
    let op = ctx.native(NativeOp::Write, &path, Some(json!(number(&before).unwrap_or(1) + 1))).await?;
    match op.state {
        OperationState::Succeeded => {
            ctx.restore_later(NativeOp::Write, &path, Some(before));
            Err(Finding::fail(
                format!("Write to the read-only {path} (Short Server ID)"),
                "4.05 Method Not Allowed",
                "2.04 Changed",
            ))
        }
        _ if protocol_code(&op) == Some("4.05") => Ok(format!("Write to {path} refused with 4.05 Method Not Allowed")),
        _ => Err(Finding::fail(format!("Write to the read-only {path}"), "4.05 Method Not Allowed", describe(&op))),
    }
}

// ---- discover, attributes, create, delete ---------------------------------------------------

fn link_paths(result: &Json) -> Vec<String> {
    result
        .as_array()
        .map(|links| links.iter().filter_map(|l| l["path"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn discover(ctx: &Ctx) -> Outcome {
    let op = ctx.native(NativeOp::Discover, "/3", None).await?;
    let result = ctx.succeeded(&op, "Discover /3")?.unwrap_or(Json::Null);
    let paths = link_paths(&result);
    if !paths.iter().any(|p| p.ends_with("/3/0")) {
        return Err(Finding::fail("Discover /3", "a link to the instance </3/0>", format!("{paths:?}")));
    }
    let op = ctx.native(NativeOp::Discover, "/3/0", None).await?;
    let result = ctx.succeeded(&op, "Discover /3/0")?.unwrap_or(Json::Null);
    let resources = link_paths(&result);
    if !resources.iter().any(|p| p.ends_with("/3/0/0")) {
        return Err(Finding::fail("Discover /3/0", "a link to </3/0/0>", format!("{resources:?}")));
    }
    Ok(format!("Discover /3 listed {} links, /3/0 {}", paths.len(), resources.len()))
}

async fn write_attributes(ctx: &Ctx) -> Outcome {
    let op = ctx.native(NativeOp::Discover, "/3/0", None).await?;
    let links = link_paths(&ctx.succeeded(&op, "Discover /3/0")?.unwrap_or(Json::Null));
    let target =
        ["/3/0/7", "/3/0/6", "/3/0/11"].into_iter().find(|t| links.iter().any(|l| l.ends_with(t))).ok_or_else(
            || Finding::inconclusive("the device has none of the multiple resources /3/0/7, /3/0/6, /3/0/11"),
        )?;
    ctx.restore_later(NativeOp::WriteAttributes, target, Some(json!({"pmin": null})));
    let op = ctx.native(NativeOp::WriteAttributes, target, Some(json!({"pmin": 17}))).await?;
    ctx.succeeded(&op, &format!("Write-Attributes {target}?pmin=17"))?;
    let op = ctx.native(NativeOp::Discover, target, None).await?;
    let result = ctx.succeeded(&op, &format!("Discover {target}"))?.unwrap_or(Json::Null);
    let shown = result
        .as_array()
        .and_then(|l| l.iter().find(|x| x["path"].as_str().is_some_and(|p| p.ends_with(target))))
        .map(|l| l["attributes"]["pmin"].clone())
        .unwrap_or(Json::Null);
    if number(&shown) != Some(17) {
        return Err(Finding::fail(
            format!("pmin of {target} in Discover after Write-Attributes"),
            "17",
            shown.to_string(),
        ));
    }
    Ok(format!("Write-Attributes {target}?pmin=17, and Discover shows it"))
}

/// An object the device has that a server may create instances of (not /0 to /3, not /5).
fn creatable_object(ctx: &Ctx) -> Result<u16, Finding> {
    for object in [9, 20, 16, 6, 4] {
        if ctx.require_object(object).is_ok() {
            return Ok(object);
        }
    }
    Err(Finding::inconclusive("the device lists no object a server creates instances of (/9, /20, /16, /6, /4)"))
}

async fn create(ctx: &Ctx) -> Result<String, Finding> {
    let object = creatable_object(ctx)?;
    let op = ctx.native(NativeOp::Create, &format!("/{object}"), None).await?;
    match op.state {
        OperationState::Succeeded => {}
        _ if protocol_code(&op) == Some("4.05") => {
            return Err(Finding::inconclusive(format!(
                "the device does not let servers create instances of /{object} (4.05)"
            )))
        }
        _ => return Err(Finding::fail(format!("Create on /{object}"), "2.01 Created", describe(&op))),
    }
    let created = op.result.as_ref().and_then(|r| r["path"].as_str()).unwrap_or_default().to_owned();
    if !created.starts_with(&format!("/{object}/")) {
        return Err(Finding::fail(
            format!("the instance Create on /{object} made"),
            format!("/{object}/<id>"),
            created,
        ));
    }
    Ok(created)
}

async fn create_instance(ctx: &Ctx) -> Outcome {
    let created = create(ctx).await?;
    ctx.restore_later(NativeOp::Delete, &created, None);
    let op = ctx.native(NativeOp::Discover, &created, None).await?;
    ctx.succeeded(&op, &format!("Discover of the created {created}"))?;
    Ok(format!("created {created} (deleted again after the case)"))
}

async fn delete_instance(ctx: &Ctx) -> Outcome {
    let created = create(ctx).await?;
    let op = ctx.native(NativeOp::Delete, &created, None).await?;
    ctx.succeeded(&op, &format!("Delete {created}"))?;
    let op = ctx.native(NativeOp::Read, &created, None).await?;
    match protocol_code(&op) {
        Some("4.04") => Ok(format!("created then deleted {created}; reading it answers 4.04")),
        _ => Err(Finding::fail(format!("Read of the deleted {created}"), "4.04 Not Found", describe(&op))),
    }
}

// ---- composite ------------------------------------------------------------------------------

async fn read_composite(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "Read-Composite")?;
    let lifetime = format!("{}/1", server_instance(ctx)?);
    let op = ctx.native(NativeOp::ReadComposite, "/", Some(json!(["/3/0/0", lifetime]))).await?;
    let result = ctx.succeeded(&op, "Read-Composite")?.unwrap_or(Json::Null);
    if result.get("/3/0/0").is_none() || result.get(&lifetime).is_none() {
        return Err(Finding::fail(
            "Read-Composite of /3/0/0 and the Lifetime",
            format!("both /3/0/0 and {lifetime}"),
            result.to_string(),
        ));
    }
    Ok(format!("Read-Composite returned /3/0/0 and {lifetime}"))
}

async fn write_composite(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "Write-Composite")?;
    let server = server_instance(ctx)?;
    let (pmin, pmax) = (format!("{server}/2"), format!("{server}/3"));
    let before_min = read_optional(ctx, &pmin).await?;
    let before_max = read_optional(ctx, &pmax).await?;
    for (path, before) in [(&pmin, before_min), (&pmax, before_max)] {
        ctx.restore_later(NativeOp::Write, path, Some(before));
    }
    let op = ctx.native(NativeOp::WriteComposite, "/", Some(json!({ &pmin: 3, &pmax: 63 }))).await?;
    ctx.succeeded(&op, "Write-Composite")?;
    let (a, b) = (ctx.read(&pmin).await?, ctx.read(&pmax).await?);
    if number(&a) != Some(3) || number(&b) != Some(63) {
        return Err(Finding::fail(
            "the values after Write-Composite",
            format!("{pmin}=3, {pmax}=63"),
            format!("{a}, {b}"),
        ));
    }
    Ok(format!("Write-Composite set {pmin}=3 and {pmax}=63 in one request"))
}

async fn read_composite_root(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "Read-Composite")?;
    let op = ctx.native(NativeOp::ReadComposite, "/", Some(json!(["/"]))).await?;
    let result = ctx.succeeded(&op, "Read-Composite of /")?.unwrap_or(Json::Null);
    if result.get("/3/0/0").is_none() {
        return Err(Finding::fail(
            "Read-Composite of the root path",
            "every readable value, /3/0/0 among them",
            result.to_string(),
        ));
    }
    Ok(format!("Read-Composite of / returned {} values", result.as_object().map_or(0, |m| m.len())))
}

async fn read_composite_partial(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "Read-Composite")?;
    let op = ctx.native(NativeOp::ReadComposite, "/", Some(json!(["/3/0/0", "/3/0/31999"]))).await?;
    let result = ctx.succeeded(&op, "Read-Composite with an absent path")?.unwrap_or(Json::Null);
    let keys: Vec<&String> = result.as_object().map(|m| m.keys().collect()).unwrap_or_default();
    if keys != ["/3/0/0"] {
        return Err(Finding::fail(
            "Read-Composite of /3/0/0 and the absent /3/0/31999",
            "only /3/0/0",
            result.to_string(),
        ));
    }
    Ok("Read-Composite returned the present path only".into())
}

// ---- execute --------------------------------------------------------------------------------

async fn reboot(ctx: &Ctx) -> Outcome {
    let op = ctx.operation(Action::Reboot).await?;
    ctx.succeeded(&op, "Execute /3/0/4 (Reboot)")?;
    let back = ctx.wait_until(ctx.step_timeout() * 2, |c| c.registration().is_ok()).await;
    if !back {
        return Err(Finding::fail("the device after a Reboot", "registered again", "not registered"));
    }
    Ok("Execute /3/0/4 answered 2.04 and the device is registered".into())
}

// ---- information reporting ------------------------------------------------------------------

async fn observe_pmin_pmax(ctx: &Ctx) -> Outcome {
    let path = "/3/0/9";
    read_optional(ctx, path).await?;
    ctx.restore_later(NativeOp::CancelObserve, path, None);
    ctx.restore_later(NativeOp::WriteAttributes, path, Some(json!({"pmin": null, "pmax": null})));
    let (pmin, pmax) = (1u64, 2u64);
    let op = ctx.native(NativeOp::WriteAttributes, path, Some(json!({"pmin": pmin, "pmax": pmax}))).await?;
    ctx.succeeded(&op, &format!("Write-Attributes {path}?pmin={pmin}&pmax={pmax}"))?;
    let mut events = ctx.subscribe();
    let op = ctx.native(NativeOp::Observe, path, None).await?;
    ctx.succeeded(&op, &format!("Observe {path}"))?;
    let observed_at = Instant::now();
    let seen = collect_notifications(&mut events, ctx, path, Duration::from_secs(3 * pmax + 1)).await;
    let mut times: Vec<Instant> = vec![observed_at];
    times.extend(seen.iter().map(|(t, _)| *t));
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1].duration_since(w[0]).as_secs_f64()).collect();
    let shown = gaps.iter().map(|g| format!("{g:.1} s")).collect::<Vec<_>>().join(", ");
    if seen.len() < 2 {
        return Err(Finding::fail(
            format!("notifications of {path} within {} s with pmax={pmax}", 3 * pmax + 1),
            "at least 2 (one per pmax)",
            format!("{} ({shown})", seen.len()),
        ));
    }
    // Timing within ±1 s, as public ETS harnesses allow.
    if gaps.iter().any(|g| *g > pmax as f64 + 1.0 || *g < pmin as f64 - 1.0) {
        return Err(Finding::fail(
            format!("intervals between notifications of {path}"),
            format!("between pmin={pmin} s and pmax={pmax} s (±1 s)"),
            shown,
        ));
    }
    Ok(format!("{} notifications of {path}, intervals {shown} (pmin {pmin} s, pmax {pmax} s)", seen.len()))
}

async fn cancel_observe(ctx: &Ctx) -> Outcome {
    let path = "/3/0/9";
    read_optional(ctx, path).await?;
    ctx.restore_later(NativeOp::WriteAttributes, path, Some(json!({"pmax": null})));
    let op = ctx.native(NativeOp::WriteAttributes, path, Some(json!({"pmax": 1}))).await?;
    ctx.succeeded(&op, &format!("Write-Attributes {path}?pmax=1"))?;
    let mut events = ctx.subscribe();
    let op = ctx.native(NativeOp::Observe, path, None).await?;
    ctx.succeeded(&op, &format!("Observe {path}"))?;
    let before = collect_notifications(&mut events, ctx, path, Duration::from_millis(2500)).await;
    if before.is_empty() {
        return Err(Finding::inconclusive(format!(
            "no notification of {path} came with pmax=1, so a cancel shows nothing"
        )));
    }
    let op = ctx.native(NativeOp::CancelObserve, path, None).await?;
    ctx.succeeded(&op, &format!("Observe {path} with Observe: 1 (cancel)"))?;
    let after = collect_notifications(&mut events, ctx, path, Duration::from_secs(3)).await;
    if !after.is_empty() {
        return Err(Finding::fail(
            format!("notifications of {path} after the cancel"),
            "none",
            after.len().to_string(),
        ));
    }
    Ok(format!("{} notifications before the cancel, none in 3 s after", before.len()))
}

async fn observe_composite(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "Observe-Composite")?;
    let paths = json!(["/3/0/0", "/3/0/9"]);
    ctx.restore_later(NativeOp::CancelObserveComposite, "/", Some(paths.clone()));
    let op = ctx.native(NativeOp::ObserveComposite, "/", Some(paths)).await?;
    let result = ctx.succeeded(&op, "Observe-Composite")?.unwrap_or(Json::Null);
    if result.get("/3/0/0").is_none() {
        return Err(Finding::fail(
            "the first answer of Observe-Composite",
            "the values of /3/0/0 and /3/0/9",
            result.to_string(),
        ));
    }
    Ok(format!("Observe-Composite answered with {} values; cancelled after", result.as_object().map_or(0, |m| m.len())))
}

async fn send_operation(ctx: &Ctx) -> Outcome {
    require_1_1(ctx, "Send")?;
    let mark = ctx.messages().len();
    let sent = ctx
        .wait_message(mark, Duration::from_secs(15), |m| {
            m.direction == Direction::FromDevice && m.summary.starts_with("Send")
        })
        .await;
    match sent {
        Some(m) if m.body.trim().is_empty() => Err(Finding::fail("the Send's payload", "SenML values", "empty")),
        Some(m) => Ok(format!("the device sent `{}`", m.summary)),
        None => Err(Finding::inconclusive(
            "the device sent nothing in 15 s (trigger a Send on the device during this case)",
        )),
    }
}

// ---- firmware -------------------------------------------------------------------------------

async fn firmware_version(ctx: &Ctx) -> Outcome {
    let value = read_optional(ctx, "/3/0/3").await?;
    match value.as_str() {
        Some(v) => Ok(format!("Firmware Version /3/0/3 is {v:?}")),
        None => Err(Finding::fail("/3/0/3 (Firmware Version, a string)", "a string", value.to_string())),
    }
}

async fn firmware_readable(ctx: &Ctx) -> Outcome {
    ctx.require_object(5)?;
    let value = ctx.read("/5/0").await?;
    let state = number(&value["/5/0/3"]);
    let result = number(&value["/5/0/5"]);
    match (state, result) {
        (Some(s @ 0..=3), Some(r @ 0..=11)) => Ok(format!("/5/0 read: State {s}, Update Result {r}")),
        _ => Err(Finding::fail(
            "State /5/0/3 and Update Result /5/0/5 in a Read of /5/0",
            "State 0..3 and Update Result 0..11",
            value.to_string(),
        )),
    }
}

async fn wait_firmware_state(ctx: &Ctx, wanted: &[i64]) -> Result<i64, Finding> {
    let deadline = tokio::time::Instant::now() + ctx.step_timeout();
    loop {
        let state = number(&ctx.read("/5/0/3").await?).unwrap_or(-1);
        if wanted.contains(&state) || tokio::time::Instant::now() >= deadline {
            return Ok(state);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn firmware_package_uri(ctx: &Ctx) -> Outcome {
    firmware_idle(ctx).await?;
    let uri = ctx.firmware_uri()?.to_owned();
    reset_package_uri(ctx);
    let op = ctx.native(NativeOp::Write, "/5/0/1", Some(json!(uri))).await?;
    ctx.succeeded(&op, "Write /5/0/1 (Package URI)")?;
    let state = wait_firmware_state(ctx, &[1, 2]).await?;
    if !matches!(state, 1 | 2) {
        let result = ctx.read("/5/0/5").await.unwrap_or(Json::Null);
        return Err(Finding::fail(
            "the State after the Package URI was written",
            "Downloading (1) or Downloaded (2)",
            format!("State {state}, Update Result {result}"),
        ));
    }
    Ok(format!("Package URI written; State went to {state}; reset to Idle after the case"))
}

async fn firmware_success(ctx: &Ctx) -> Outcome {
    firmware_idle(ctx).await?;
    let uri = ctx.firmware_uri()?.to_owned();
    // A failed update may leave the package Downloaded: the empty URI afterwards resets it.
    reset_package_uri(ctx);
    let op = ctx.operation(Action::Firmware(FirmwareUpdate { uri, version: None, name: None })).await?;
    ctx.succeeded(&op, "the firmware update (Package URI, Downloaded, Execute Update)")?;
    let result = ctx.read("/5/0/5").await?;
    if number(&result) != Some(1) {
        return Err(Finding::fail("Update Result /5/0/5 after the update", "1 (success)", result.to_string()));
    }
    Ok("firmware updated: State back to Idle, Update Result 1".into())
}

async fn firmware_update_without_package(ctx: &Ctx) -> Outcome {
    firmware_idle(ctx).await?;
    let op = ctx.native(NativeOp::Execute, "/5/0/2", None).await?;
    match op.state {
        OperationState::Succeeded => Err(Finding::fail(
            "Execute /5/0/2 (Update) in state Idle",
            "4.05 Method Not Allowed (nothing to install)",
            "2.04 Changed",
        )),
        _ if matches!(protocol_code(&op), Some("4.05" | "4.00")) => {
            Ok(format!("Execute Update without a package refused: {}", describe(&op)))
        }
        _ => Err(Finding::fail("Execute /5/0/2 in state Idle", "4.05 Method Not Allowed", describe(&op))),
    }
}

/// A firmware update with the package the lab prepared to make the device end with Update
/// Result `result`: the update must fail with exactly that result.
async fn firmware_error(ctx: &Ctx, result: u16) -> Outcome {
    firmware_idle(ctx).await?;
    let uri = ctx.firmware_case_uri(result)?.to_owned();
    reset_package_uri(ctx);
    let op = ctx.operation(Action::Firmware(FirmwareUpdate { uri, version: None, name: None })).await?;
    let expected = format!("the update failed with Update Result {result}");
    match (op.state, protocol_code(&op)) {
        (OperationState::Failed, Some(code)) if code == result.to_string() => {
            Ok(format!("the update failed with Update Result {result}: {}", describe(&op)))
        }
        (OperationState::Succeeded, _) => {
            Err(Finding::fail("the update with the prepared package", expected, "succeeded"))
        }
        _ => Err(Finding::fail("the update with the prepared package", expected, describe(&op))),
    }
}

async fn firmware_error_2(ctx: &Ctx) -> Outcome {
    firmware_error(ctx, 2).await
}

async fn firmware_error_3(ctx: &Ctx) -> Outcome {
    firmware_error(ctx, 3).await
}

async fn firmware_error_4(ctx: &Ctx) -> Outcome {
    firmware_error(ctx, 4).await
}

async fn firmware_error_5(ctx: &Ctx) -> Outcome {
    firmware_error(ctx, 5).await
}

async fn firmware_error_6(ctx: &Ctx) -> Outcome {
    firmware_error(ctx, 6).await
}

async fn firmware_error_8(ctx: &Ctx) -> Outcome {
    firmware_error(ctx, 8).await
}

/// The integers of a multiple resource as read (`{"0": 0, "1": 2}`, `[0, 2]` or one value).
fn integers(v: &Json) -> Vec<i64> {
    match v {
        Json::Object(m) => m.values().filter_map(number).collect(),
        Json::Array(a) => a.iter().filter_map(number).collect(),
        other => number(other).into_iter().collect(),
    }
}

async fn firmware_unsupported_protocol(ctx: &Ctx) -> Outcome {
    firmware_idle(ctx).await?;
    let method = ctx.native(NativeOp::Read, "/5/0/9", None).await?;
    if method.state == OperationState::Succeeded && number(&method.result.clone().unwrap_or(Json::Null)) == Some(1) {
        return Err(Finding::inconclusive("the device takes no Package URI (Delivery Method /5/0/9 is 1, push only)"));
    }
    let op = ctx.native(NativeOp::Read, "/5/0/8", None).await?;
    if op.state != OperationState::Succeeded {
        return Err(Finding::inconclusive(format!(
            "the device does not list the protocols it downloads with (/5/0/8): {}",
            describe(&op)
        )));
    }
    let listed = integers(&ctx.succeeded(&op, "Read /5/0/8")?.unwrap_or(Json::Null));
    let schemes = [(0, "coap"), (1, "coaps"), (2, "http"), (3, "https"), (4, "coap+tcp"), (5, "coaps+tcp")];
    let Some((code, scheme)) = schemes.into_iter().find(|(c, _)| !listed.contains(c)) else {
        return Err(Finding::inconclusive("the device lists every download protocol in /5/0/8"));
    };
    reset_package_uri(ctx);
    let uri = format!("{scheme}://conformance.unidm.invalid/fw.bin");
    let op = ctx.native(NativeOp::Write, "/5/0/1", Some(json!(uri))).await?;
    if protocol_code(&op) == Some("4.00") {
        return Ok(format!(
            "a Package URI of {scheme} (protocol {code}, not in /5/0/8 {listed:?}) was refused with 4.00"
        ));
    }
    ctx.succeeded(
        &op,
        &format!("Write of a {scheme}:// Package URI (refused with 4.00, or failed with Update Result 9)"),
    )?;
    let deadline = tokio::time::Instant::now() + ctx.step_timeout();
    loop {
        let result = number(&ctx.read("/5/0/5").await?);
        if result == Some(9) {
            return Ok(format!("a Package URI of {scheme} (not in /5/0/8 {listed:?}) ended with Update Result 9"));
        }
        if tokio::time::Instant::now() >= deadline || matches!(result, Some(r) if r != 0) {
            return Err(Finding::fail(
                format!("the outcome of a {scheme}:// Package URI (/5/0/8 lists {listed:?})"),
                "4.00 Bad Request, or Update Result 9 (Unsupported protocol)",
                format!("Update Result {}", result.map_or("?".into(), |r| r.to_string())),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The firmware update with the image written to `/5/0/0` (Block1) instead of fetched by the
/// device: unidm pushes when the Delivery Method `/5/0/9` is push only (1), or both (2) with a
/// URI whose scheme the device does not list in `/5/0/8`.
async fn firmware_push(ctx: &Ctx) -> Outcome {
    firmware_idle(ctx).await?;
    let uri = ctx.firmware_uri()?.to_owned();
    let method = ctx.native(NativeOp::Read, "/5/0/9", None).await?;
    let method = match method.state {
        OperationState::Succeeded => number(&ctx.succeeded(&method, "Read /5/0/9")?.unwrap_or(Json::Null)),
        _ => None,
    };
    let supported = match ctx.native(NativeOp::Read, "/5/0/8", None).await? {
        op if op.state == OperationState::Succeeded => Some(integers(&op.result.unwrap_or(Json::Null))),
        _ => None,
    };
    match unidm_lwm2m::adapter::firmware::delivery(method, supported.as_deref(), &uri) {
        Ok(unidm_lwm2m::adapter::firmware::Delivery::Push) => {}
        _ => {
            return Err(Finding::inconclusive(format!(
                "the device fetches {uri} itself (Delivery Method /5/0/9 {}, /5/0/8 {:?}): give a --firmware-uri of \
                 a scheme it does not list to have the image pushed",
                method.map_or("absent".into(), |m| m.to_string()),
                supported.unwrap_or_default()
            )))
        }
    }
    let mark = ctx.messages().len();
    let op = ctx.operation(Action::Firmware(FirmwareUpdate { uri, version: None, name: None })).await?;
    ctx.succeeded(&op, "the firmware update with the image pushed to /5/0/0")?;
    let pushed = ctx.messages().into_iter().skip(mark).any(|m| {
        m.direction == Direction::ToDevice
            && (m.summary.starts_with("PUT /5/0/0") || m.summary.starts_with("POST /5/0/0"))
    });
    if !pushed {
        return Err(Finding::fail("how the image reached the device", "a write of /5/0/0", "no write of /5/0/0"));
    }
    let result = ctx.read("/5/0/5").await?;
    if number(&result) != Some(1) {
        return Err(Finding::fail("Update Result /5/0/5 after the update", "1 (success)", result.to_string()));
    }
    Ok("the image was written to /5/0/0 block-wise, the update executed, Update Result 1".into())
}

async fn firmware_invalid_uri(ctx: &Ctx) -> Outcome {
    firmware_idle(ctx).await?;
    reset_package_uri(ctx);
    let op = ctx.native(NativeOp::Write, "/5/0/1", Some(json!("unidm-invalid-uri"))).await?;
    if protocol_code(&op) == Some("4.00") {
        return Ok("the invalid Package URI was refused with 4.00 Bad Request".into());
    }
    ctx.succeeded(
        &op,
        "Write of an invalid Package URI (refused with 4.00, or taken and failed with Update Result 7)",
    )?;
    let deadline = tokio::time::Instant::now() + ctx.step_timeout();
    loop {
        let result = number(&ctx.read("/5/0/5").await?);
        if result == Some(7) {
            return Ok("the invalid Package URI ended with Update Result 7 (Invalid URI)".into());
        }
        if tokio::time::Instant::now() >= deadline || matches!(result, Some(r) if r != 0) {
            return Err(Finding::fail(
                "the outcome of an invalid Package URI",
                "4.00 Bad Request, or Update Result 7 (Invalid URI)",
                format!("Update Result {}", result.map_or("?".into(), |r| r.to_string())),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
