//! `native` `execute` with `args` naming an ACS RPC (GetRPCMethods, GetParameterAttributes,
//! ScheduleInform, ScheduleDownload, CancelTransfer, Upload) against the simulated CPE,
//! through the engine (SQLite) and the ACS over real HTTP.

mod acs;

use std::time::Duration;

use acs::*;
use serde_json::json;
use unidm_models::{Action, ErrorKind, NativeOp, NativeRequest, OperationState};
use unidm_tr069::FileServerConfig;

fn exec(args: &str, path: &str, value: Option<serde_json::Value>) -> Action {
    Action::Native(NativeRequest {
        op: NativeOp::Execute,
        path: path.into(),
        value,
        args: Some(args.into()),
        format: None,
    })
}

#[tokio::test]
async fn get_rpc_methods_and_get_parameter_attributes() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("rpcm-1"))).await;
    let op = f.run(&id, exec("GetRPCMethods", "Device.", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let methods = op.result.unwrap();
    for m in ["GetParameterValues", "Upload", "ScheduleDownload", "CancelTransfer"] {
        assert!(methods.as_array().unwrap().contains(&json!(m)), "{m} in {methods}");
    }

    let op = f.run(&id, exec("GetParameterAttributes", "DeviceInfo.MemoryStatus.", None)).await;
    assert_eq!(
        op.result,
        Some(json!([
            {"name": "Device.DeviceInfo.MemoryStatus.Free", "notification": 0, "accessList": []},
            {"name": "Device.DeviceInfo.MemoryStatus.Total", "notification": 0, "accessList": []}
        ]))
    );
    let op = f.run(&id, exec("GetParameterAttributes", "Device.Nope.", None)).await;
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("9005"));

    let op = f.run(&id, exec("SetVouchers", "Device.", None)).await;
    assert_eq!(op.error.unwrap().kind, ErrorKind::BadInput);
    cpe.stop();
}

#[tokio::test]
async fn schedule_inform_succeeds_with_the_scheduled_inform() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("sched-1"))).await;
    let op = f.run(&id, exec("ScheduleInform", "Device.", Some(json!({"delaySeconds": 1})))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let events = cpe.stats().last_events;
    assert!(events.contains(&"3 SCHEDULED".to_owned()), "{events:?}");
    assert!(events.contains(&"M ScheduleInform".to_owned()), "{events:?}");

    let op =
        f.run(&id, exec("ScheduleInform", "Device.", Some(json!({"delaySeconds": 1, "commandKey": "nightly"})))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");

    for bad in [json!({"delaySeconds": 0}), json!({"delaySeconds": -3}), json!({"commandKey": "x"})] {
        let op = f.run(&id, exec("ScheduleInform", "Device.", Some(bad.clone()))).await;
        assert_eq!(op.error.unwrap().kind, ErrorKind::BadInput, "{bad}");
    }
    cpe.stop();
}

/// Waits until the operation is parked on its wait for TransferComplete.
async fn wait_transfer(f: &Fixture, op: unidm_models::OperationId) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let shown = f.engine.operation(op).await.unwrap();
        if shown.state == OperationState::Waiting {
            assert_eq!(shown.waiting_for.as_deref(), Some("waiting for TransferComplete"));
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "operation {op} waiting, still {}", shown.state);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn schedule_download_completes_and_cancel_transfer_stops_one() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("sdl-1"))).await;
    let config = |start: u32| {
        json!({
            "url": "http://files.example/config.xml",
            "fileType": "3 Vendor Configuration File",
            "timeWindows": [{"windowStart": start, "windowEnd": start + 3600, "windowMode": "1 At Any Time"}]
        })
    };
    let op = f.run(&id, exec("ScheduleDownload", "Device.", Some(config(0)))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert!(cpe.stats().last_events.contains(&"M ScheduleDownload".to_owned()));

    // A window an hour away: the transfer waits, CancelTransfer ends it.
    let later = f
        .engine
        .create_operation(&id, exec("ScheduleDownload", "Device.", Some(config(3600))), Default::default())
        .await
        .unwrap();
    wait_transfer(&f, later.id).await;
    let op = f.run(&id, exec("CancelTransfer", "Device.", Some(json!({"commandKey": later.id.0.to_string()})))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let cancelled = f.wait_op(later.id).await;
    assert_eq!(cancelled.state, OperationState::Failed);
    assert_eq!(cancelled.error.unwrap().protocol_code.as_deref(), Some("cancelled"));

    // Nothing to cancel any more: fault 9021.
    let op = f.run(&id, exec("CancelTransfer", "Device.", Some(json!({"commandKey": later.id.0})))).await;
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("9021"));

    let no_windows = json!({"url": "http://x/y", "fileType": "1 Firmware Upgrade Image", "timeWindows": []});
    let op = f.run(&id, exec("ScheduleDownload", "Device.", Some(no_windows))).await;
    assert_eq!(op.error.unwrap().kind, ErrorKind::BadInput);
    cpe.stop();
}

#[tokio::test]
async fn upload_goes_to_the_acs_file_server_by_default() {
    let files = tempfile::tempdir().unwrap();
    let files_config = FileServerConfig { dir: files.path().to_owned(), accept_uploads: true, max_upload: 1 << 20 };
    let f = fixture_with(unidm_tr069::Tr069Config { files: Some(files_config), ..local_config() }).await;
    let (cpe, id) = f.sim(f.sim_config(tr181("upl-1"))).await;

    let op = f.run(&id, exec("Upload", "Device.", Some(json!({"fileType": "2 Vendor Log File"})))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let url = f.adapter.file_url(&format!("upload-{}", op.id.0)).unwrap();
    assert_eq!(op.result, Some(json!({ "url": url })));
    let stored = std::fs::read(files.path().join(format!("upload-{}", op.id.0))).unwrap();
    assert!(String::from_utf8_lossy(&stored).contains("link up"));
    assert!(cpe.stats().last_events.contains(&"M Upload".to_owned()));

    // Unreachable server: the CPE's TransferComplete fault 9015.
    let unreachable = json!({"fileType": "1 Vendor Configuration File", "url": "http://127.0.0.1:9/cfg"});
    let op = f.run(&id, exec("Upload", "Device.", Some(unreachable))).await;
    let e = op.error.unwrap();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("9015")));

    let op = f.run(&id, exec("Upload", "Device.", Some(json!({"fileType": "4 Tone File"})))).await;
    assert_eq!(op.error.unwrap().kind, ErrorKind::BadInput);
    cpe.stop();
}

#[tokio::test]
async fn upload_without_url_needs_the_file_server() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("upl-2"))).await;
    let op = f.run(&id, exec("Upload", "Device.", Some(json!({"fileType": "2 Vendor Log File"})))).await;
    assert_eq!(op.error.unwrap().kind, ErrorKind::BadInput);
    assert!(!cpe.stats().rpcs.contains(&"Upload".to_owned()));
    cpe.stop();
}
