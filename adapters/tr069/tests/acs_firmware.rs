//! Firmware over CWMP through the model's state machine: the snapshot walks downloading ->
//! downloaded -> updating -> succeeded (or failed with the CWMP fault code), whether the CPE
//! completes in the DownloadResponse (Status 0) or later with TransferComplete.

mod acs;

use std::time::Duration;

use acs::*;
use unidm_models::{Action, FirmwareState, FirmwareStatus, FirmwareUpdate, OperationState};

fn firmware(uri: &str, version: Option<&str>) -> Action {
    Action::Firmware(FirmwareUpdate { uri: uri.into(), version: version.map(str::to_owned), name: None })
}

fn snapshot(f: &Fixture, id: &unidm_models::DeviceId) -> Option<FirmwareStatus> {
    f.engine.device(id).unwrap().snapshot.firmware.map(|b| *b)
}

#[tokio::test]
async fn download_response_status_0_completes_the_snapshot() {
    let f = fixture().await;
    let mut config = f.sim_config(tr181("fw-at-once"));
    config.download_at_once = true;
    let (cpe, id) = f.sim(config).await;
    let op = f.run(&id, firmware("http://files.example/fw-2.1.0.bin", Some("2.1.0"))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(cpe.get("Device.DeviceInfo.SoftwareVersion").as_deref(), Some("fw-2.1.0"));
    let fw = snapshot(&f, &id).expect("firmware snapshot after DownloadResponse Status 0");
    assert_eq!(
        (fw.state, fw.version.as_deref(), fw.url.as_deref(), fw.failure),
        (FirmwareState::Succeeded, Some("2.1.0"), Some("http://files.example/fw-2.1.0.bin"), None)
    );
    cpe.stop();
}

#[tokio::test]
async fn transfer_complete_walks_the_phases_and_takes_the_reported_version() {
    let f = fixture().await;
    let mut config = f.sim_config(tr181("fw-tc"));
    config.download_delay = Duration::from_millis(800);
    config.firmware_version = Some("3.0.0".into());
    let (cpe, id) = f.sim(config).await;
    let op = f
        .engine
        .create_operation(&id, firmware("http://files.example/fw.bin", None), unidm_core::CreateOptions::default())
        .await
        .unwrap();
    // While the CPE downloads, the snapshot says so.
    let deadline = tokio::time::Instant::now() + WAIT;
    while snapshot(&f, &id).map(|s| s.state) != Some(FirmwareState::Downloading) {
        assert!(tokio::time::Instant::now() < deadline, "snapshot never showed downloading");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let op = f.wait_op(op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let fw = snapshot(&f, &id).unwrap();
    // No version was asked for: the one the CPE reports after the update is the snapshot's.
    assert_eq!((fw.state, fw.version.as_deref()), (FirmwareState::Succeeded, Some("3.0.0")));
    assert_eq!(fw.protocol_result.as_deref(), Some("0"));

    // A second update starts again from the resting state.
    let op = f.run(&id, firmware("http://files.example/fw.bin", Some("3.0.1"))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(snapshot(&f, &id).unwrap().version.as_deref(), Some("3.0.1"));
    cpe.stop();
}

#[tokio::test]
async fn a_transfer_complete_fault_fails_the_snapshot_with_the_cwmp_code() {
    let f = fixture().await;
    let mut config = f.sim_config(tr181("fw-fault"));
    config.download_fault = Some((9010, "image rejected".into()));
    let (cpe, id) = f.sim(config).await;
    let op = f.run(&id, firmware("http://files.example/fw.bin", Some("9.9"))).await;
    assert_eq!(op.state, OperationState::Failed);
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("9010"));
    let fw = snapshot(&f, &id).unwrap();
    assert_eq!(
        (fw.state, fw.failure.as_deref(), fw.protocol_result.as_deref()),
        (FirmwareState::Failed, Some("image rejected"), Some("9010"))
    );
    cpe.stop();
}

#[tokio::test]
async fn an_unanswered_download_fails_the_attempt_and_the_snapshot() {
    let config = unidm_tr069::Tr069Config { session_timeout: Duration::from_secs(10), ..local_config() };
    let f = fixture_with(config).await;
    let mut sim = f.sim_config(tr181("fw-mute"));
    sim.unanswered_rpcs = vec!["Download".into()];
    sim.periodic_inform = Some(Duration::from_secs(1));
    let (cpe, id) = f.sim(sim).await;
    let retry = unidm_models::RetryPolicy { max_attempts: 1, backoff_ms: 0, max_backoff_ms: 0 };
    let options = unidm_core::CreateOptions { retry: Some(retry), ..Default::default() };
    let op = f.engine.create_operation(&id, firmware("http://files.example/fw.bin", Some("4.0")), options).await;
    let op = f.wait_op(op.unwrap().id).await;
    assert_eq!((op.state, op.attempts), (OperationState::Failed, 1), "{op:?}");
    assert_eq!(op.error.unwrap().kind, unidm_models::ErrorKind::Timeout);
    let fw = snapshot(&f, &id).unwrap();
    assert_eq!(fw.state, FirmwareState::Failed);
    assert!(fw.failure.as_deref().is_some_and(|w| w.contains("did not answer Download")), "{fw:?}");
    cpe.stop();
}

/// A CPE that accepts the Download (Status 1) and never sends its TransferComplete: with
/// `wait_stall` the operation fails as stalled, naming what it waited for, instead of waiting for
/// its deadline, and the firmware snapshot says it failed, and why.
#[tokio::test]
async fn a_transfer_complete_that_never_comes_fails_after_the_wait_stall_limit() {
    let f = fixture_with(unidm_tr069::Tr069Config { wait_stall: Some(Duration::from_secs(1)), ..local_config() }).await;
    let mut config = f.sim_config(tr181("fw-stall"));
    config.download_delay = Duration::from_secs(3600);
    let (cpe, id) = f.sim(config).await;
    let op = f.run(&id, firmware("http://files.example/fw.bin", Some("4.0"))).await;
    assert_eq!(op.state, OperationState::Failed, "{op:?}");
    let e = op.error.unwrap();
    assert_eq!(e.kind, unidm_models::ErrorKind::Stalled);
    assert_eq!(e.message, "no progress for 1 s while waiting for TransferComplete");
    let fw = snapshot(&f, &id).unwrap();
    assert_eq!(
        (fw.state, fw.failure.as_deref()),
        (FirmwareState::Failed, Some("no progress for 1 s while waiting for TransferComplete"))
    );
    cpe.stop();
}
