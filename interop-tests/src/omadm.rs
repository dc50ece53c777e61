//! The OMA DM catalogue: a DM 1.2 / 1.3 client's sessions and commands, against unidm's DM
//! server, with ids of our own (`OMADM-<part>-<what>`) citing OMA DM Protocol 1.2.1, its
//! Representation Protocol and the FUMO / SCOMO enablers (the OMA ETS DM case ids are not
//! public).
//!
//! Node URIs are the standard ones (`./DevInfo`, FUMO at `./FUMO`, unidm's default
//! `fumo_root`). A command the client answers with 406 (optional feature not supported) makes
//! its case inconclusive; values a case replaces are put back after it.

use std::time::Duration;

use serde_json::{json, Value as Json};
use unidm_core::Direction;
use unidm_models::{Action, FirmwareUpdate, NativeOp, OperationState, SoftwareAction};

use crate::case::{Case, Finding, Outcome};
use crate::ctx::{describe, protocol_code, Ctx};

/// A node every client has (DevInfo, OMA DM Protocol 1.2.1 Package 1).
const DEV_ID: &str = "./DevInfo/DevId";
/// A writable node of the FUMO object at unidm's default root (OMA FUMO 1.0 §5).
const PKG_URL: &str = "./FUMO/DownloadAndUpdate/PkgURL";

/// Every case, in the order they run.
pub fn catalogue() -> Vec<Case> {
    vec![
        case!(
            "OMADM-Pkg1-DevInfo",
            "Package 1 identifies the device (DevInfo DevId, Man, Mod)",
            ["MGR-003", "MGR-004"],
            "OMA DM Protocol 1.2.1, Package 1 (client initialization with DevInfo); DevInfo MO",
            package1_devinfo
        ),
        case!(
            "OMADM-Get-Leaf",
            "Get of a leaf node: Status 200 and its value in Results",
            ["MGR-003"],
            "OMA DM Protocol 1.2.1, Get; Package 3 (Results for every successful Get)",
            get_leaf
        ),
        case!(
            "OMADM-Get-404",
            "Get of a node that does not exist: 404 Not Found",
            ["MGR-004"],
            "OMA DM Representation Protocol 1.2.1, Status codes (404)",
            get_not_found
        ),
        case!(
            "OMADM-Replace-ReadOnly",
            "Replace of a read-only node is refused (405 or 425)",
            ["MGR-004"],
            "OMA DM Tree and Description 1.2.1 (AccessType, ACL); Status codes 405, 425",
            replace_read_only
        ),
        case!(
            "OMADM-Replace-ReadBack",
            "Replace of a writable node, then Get gives the new value",
            ["MGR-006"],
            "OMA DM Protocol 1.2.1, Replace; OMA FUMO 1.0 (PkgURL)",
            replace_read_back
        ),
        case!(
            "OMADM-Get-ListStruct",
            "Get with ?list=Struct lists the nodes of a subtree",
            ["MGR-003"],
            "OMA DM Tree and Description 1.2.1 (?list=Struct); Status 406 when not supported",
            get_list_struct
        ),
        case!(
            "OMADM-Get-PropFormat",
            "Get of a node's Format property (?prop=Format)",
            ["MGR-003"],
            "OMA DM Tree and Description 1.2.1, Properties of nodes (Format)",
            get_property_format
        ),
        case!(
            "OMADM-Atomic-Rollback",
            "An Atomic whose second Replace fails leaves the first undone",
            ["MGR-006"],
            "OMA DM Protocol 1.2.1, Atomic; Status codes 216, 507",
            atomic_rollback
        ),
        case!(
            "OMADM-Pkg0-ServerInitiated",
            "Package #0 opens a session with Alert 1200",
            ["MGR-001"],
            "OMA DM Notification Initiated Session 1.2; OMA DM Protocol 1.2.1, Package 1 (Alert 1200)",
            server_initiated
        ),
        case!(
            "OMADM-FUMO-DownloadAndUpdate",
            "FUMO DownloadAndUpdate, then a Generic Alert 1226 with the result",
            ["MGR-001", "HLF-003", "HLF-004"],
            "OMA FUMO 1.0 (DownloadAndUpdate, result codes); OMA DM Protocol 1.2.1, Generic Alert",
            fumo_download_and_update
        ),
        case!(
            "OMADM-SCOMO-Install",
            "SCOMO DownloadInstall of a component, then its removal",
            ["MGR-008"],
            "OMA SCOMO 1.0 (Download, Inventory/Deployed, Operations)",
            scomo_install
        ),
    ]
}

/// A 406 (optional feature not supported) from `op` is inconclusive; any other failure a fail.
fn optional(ctx: &Ctx, op: &unidm_models::Operation, what: &str) -> Result<Option<Json>, Finding> {
    match protocol_code(op) {
        Some("406") => Err(Finding::inconclusive(format!("the client does not support {what} (406)"))),
        _ => ctx.succeeded(op, what),
    }
}

/// The value of a successful Get.
async fn get(ctx: &Ctx, uri: &str) -> Result<String, Finding> {
    let result = ctx.read(uri).await?;
    Ok(result["value"].as_str().unwrap_or_default().to_owned())
}

async fn package1_devinfo(ctx: &Ctx) -> Outcome {
    let device = ctx.device()?;
    let id = &device.identity;
    let missing: Vec<&str> = [("Man", id.manufacturer.as_deref()), ("Mod", id.model.as_deref())]
        .into_iter()
        .filter(|(_, v)| v.is_none_or(|s| s.trim().is_empty()))
        .map(|(n, _)| n)
        .collect();
    if !missing.is_empty() {
        return Err(Finding::fail("the DevInfo of Package 1", "DevId, Man and Mod", format!("missing {missing:?}")));
    }
    Ok(format!(
        "Package 1 identified {} ({} {})",
        ctx.device_id().native(),
        id.manufacturer.as_deref().unwrap_or_default(),
        id.model.as_deref().unwrap_or_default()
    ))
}

async fn get_leaf(ctx: &Ctx) -> Outcome {
    let dev_id = get(ctx, DEV_ID).await?;
    if dev_id != ctx.device_id().native() {
        return Err(Finding::fail(format!("Get {DEV_ID}"), ctx.device_id().native().to_owned(), dev_id));
    }
    let results = ctx
        .messages()
        .into_iter()
        .any(|m| m.direction == Direction::FromDevice && m.summary.contains(&format!("Results {DEV_ID}")));
    if !results {
        return Err(Finding::fail(
            format!("the client's answer to Get {DEV_ID}"),
            format!("Results with Source {DEV_ID}"),
            "no such Results",
        ));
    }
    Ok(format!("Get {DEV_ID} gave {dev_id} in Results"))
}

async fn get_not_found(ctx: &Ctx) -> Outcome {
    let uri = "./DevInfo/UnidmNoSuchNode";
    let op = ctx.native(NativeOp::Read, uri, None).await?;
    match (op.state, protocol_code(&op)) {
        (OperationState::Failed, Some("404")) => Ok(format!("Get {uri} answered 404")),
        _ => Err(Finding::fail(format!("Get {uri}"), "Status 404", describe(&op))),
    }
}

async fn replace_read_only(ctx: &Ctx) -> Outcome {
    let before = get(ctx, DEV_ID).await?;
    let op = ctx.native(NativeOp::Write, DEV_ID, Some(json!("unidm-conformance"))).await?;
    match (op.state, protocol_code(&op)) {
        (OperationState::Failed, Some(code @ ("405" | "425"))) => Ok(format!("Replace {DEV_ID} answered {code}")),
        (OperationState::Succeeded, _) => {
            ctx.restore_later(NativeOp::Write, DEV_ID, Some(Json::String(before)));
            Err(Finding::fail(format!("Replace of the read-only {DEV_ID}"), "Status 405 or 425", "200"))
        }
        _ => Err(Finding::fail(format!("Replace of the read-only {DEV_ID}"), "Status 405 or 425", describe(&op))),
    }
}

/// The current value of the FUMO PkgURL, or inconclusive when the client has no FUMO there.
async fn pkg_url(ctx: &Ctx) -> Result<String, Finding> {
    let op = ctx.native(NativeOp::Read, PKG_URL, None).await?;
    if protocol_code(&op) == Some("404") {
        return Err(Finding::inconclusive(format!("the client has no {PKG_URL} (FUMO elsewhere, or none)")));
    }
    let result = ctx.succeeded(&op, &format!("Get {PKG_URL}"))?.unwrap_or(Json::Null);
    Ok(result["value"].as_str().unwrap_or_default().to_owned())
}

async fn replace_read_back(ctx: &Ctx) -> Outcome {
    let before = pkg_url(ctx).await?;
    let new = if before == "http://conformance.unidm.invalid/a.bin" {
        "http://conformance.unidm.invalid/b.bin"
    } else {
        "http://conformance.unidm.invalid/a.bin"
    };
    ctx.restore_later(NativeOp::Write, PKG_URL, Some(Json::String(before)));
    let op = ctx.native(NativeOp::Write, PKG_URL, Some(json!(new))).await?;
    ctx.succeeded(&op, &format!("Replace {PKG_URL}"))?;
    let after = get(ctx, PKG_URL).await?;
    if after != new {
        return Err(Finding::fail(format!("Get {PKG_URL} after Replace"), new, after));
    }
    Ok(format!("{PKG_URL} replaced and read back"))
}

async fn get_list_struct(ctx: &Ctx) -> Outcome {
    let op = ctx.native(NativeOp::Discover, "./DevInfo", None).await?;
    let result = optional(ctx, &op, "Get ./DevInfo?list=Struct")?.unwrap_or(Json::Null);
    let value = &result["value"];
    let listed = |node: &str| match value {
        Json::Object(m) => m.keys().any(|k| k.trim_end_matches('/').ends_with(node)),
        Json::String(s) => s.contains(node),
        _ => false,
    };
    let missing: Vec<&str> = ["DevId", "Man", "Mod"].into_iter().filter(|n| !listed(n)).collect();
    if !missing.is_empty() {
        return Err(Finding::fail(
            "Get ./DevInfo?list=Struct",
            "the DevInfo nodes (DevId, Man, Mod among them)",
            format!("{value} (missing {missing:?})"),
        ));
    }
    Ok("Get ./DevInfo?list=Struct listed the DevInfo nodes".into())
}

async fn get_property_format(ctx: &Ctx) -> Outcome {
    let uri = format!("{DEV_ID}?prop=Format");
    let op = ctx.native(NativeOp::Read, &uri, None).await?;
    let result = optional(ctx, &op, &format!("Get {uri}"))?.unwrap_or(Json::Null);
    let format = result["value"].as_str().unwrap_or_default();
    if format != "chr" {
        return Err(Finding::fail(format!("Get {uri}"), "chr (DevId is a string)", format.to_owned()));
    }
    Ok(format!("{DEV_ID} has Format chr"))
}

async fn atomic_rollback(ctx: &Ctx) -> Outcome {
    let before = pkg_url(ctx).await?;
    let marker = "http://conformance.unidm.invalid/atomic.bin";
    let value = json!({ PKG_URL: marker, DEV_ID: "unidm-conformance" });
    let op = ctx.native(NativeOp::WriteComposite, ".", Some(value)).await?;
    if op.state == OperationState::Succeeded {
        ctx.restore_later(NativeOp::Write, PKG_URL, Some(Json::String(before)));
        return Err(Finding::fail("an Atomic with a Replace of the read-only DevId", "the Atomic failed", "200"));
    }
    if matches!(protocol_code(&op), Some("406" | "501")) {
        return Err(Finding::inconclusive(format!("the client does not support Atomic: {}", describe(&op))));
    }
    let after = get(ctx, PKG_URL).await?;
    if after != before {
        ctx.restore_later(NativeOp::Write, PKG_URL, Some(Json::String(before.clone())));
        return Err(Finding::fail(format!("{PKG_URL} after the failed Atomic"), before, after));
    }
    Ok(format!("the Atomic failed ({}) and {PKG_URL} kept its value", describe(&op)))
}

async fn server_initiated(ctx: &Ctx) -> Outcome {
    // Let a session still open end, so that the next operation needs a Package #0.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mark = ctx.messages().len();
    get(ctx, DEV_ID).await?;
    let first = ctx
        .wait_message(mark, Duration::from_secs(1), |m| {
            m.direction == Direction::FromDevice && m.summary.contains("Alert 12")
        })
        .await;
    match first {
        Some(m) if m.summary.contains("Alert 1200") => {
            Ok("the client answered the Package #0 with a session opened by Alert 1200".into())
        }
        // A session of the client's own (a periodic one, say) may come before the Package #0's.
        Some(m) => Err(Finding::inconclusive(format!(
            "a session the client opened by itself carried the Get before it answered a Package #0 ({})",
            m.summary
        ))),
        None => Err(Finding::inconclusive("the Get rode a session already open; no Package #0 was needed")),
    }
}

async fn fumo_download_and_update(ctx: &Ctx) -> Outcome {
    let uri = ctx.firmware_uri()?.to_owned();
    let op = ctx.operation(Action::Firmware(FirmwareUpdate { uri, version: None, name: None })).await?;
    ctx.succeeded(&op, "FUMO DownloadAndUpdate and its Generic Alert")?;
    // The alert's session may still be being recorded when the operation ends.
    let alert = ctx
        .wait_message(0, Duration::from_secs(2), |m| {
            m.direction == Direction::FromDevice && m.summary.contains("Alert 1226")
        })
        .await;
    match alert {
        Some(_) => Ok("DownloadAndUpdate accepted, then a Generic Alert 1226 reported success".into()),
        None => Err(Finding::fail("the end of the update", "a Generic Alert 1226", "none in the exchanges")),
    }
}

async fn scomo_install(ctx: &Ctx) -> Outcome {
    let uri = ctx.software_uri()?.to_owned();
    let modules = |ctx: &Ctx| -> Vec<String> {
        ctx.device().map(|d| d.snapshot.software.iter().map(|m| m.id.clone()).collect()).unwrap_or_default()
    };
    let before = modules(ctx);
    let op = ctx
        .operation(Action::Software(SoftwareAction::Install { uri, name: None, version: None, activate: None }))
        .await?;
    ctx.succeeded(&op, "SCOMO DownloadInstall and its Generic Alert")?;
    // The inventory is read after the install: the new component shows there.
    let mut new = None;
    ctx.wait_until(Duration::from_secs(10), |ctx| {
        new = modules(ctx).into_iter().find(|m| !before.contains(m) && !m.starts_with("Delivered/"));
        new.is_some()
    })
    .await;
    let Some(module) = new else {
        return Err(Finding::fail(
            "Inventory/Deployed after the install",
            "a new component",
            format!("{:?}", modules(ctx)),
        ));
    };
    let op = ctx.operation(Action::Software(SoftwareAction::Uninstall { module: module.clone() })).await?;
    ctx.succeeded(&op, &format!("SCOMO Remove of {module} (putting the client back)"))?;
    Ok(format!("installed component {module}, then removed it"))
}
