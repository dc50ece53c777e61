//! Firmware update by pull over loopback UDP (ETS LightweightM2M-1.0 int-771 and error cases 775-780).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Fixture;
use unidm_core::{CreateOptions, ManualClock};
use unidm_lwm2m::sim::{FirmwareBehaviour, SimClient, SimConfig};
use unidm_models::{
    Action, DeviceId, ErrorKind, FirmwareState, FirmwareUpdate, OperationState, RetryPolicy, Timestamp,
};

fn fw() -> Action {
    Action::Firmware(FirmwareUpdate {
        uri: "http://127.0.0.1/fw-2.0.bin".into(),
        version: Some("2.0".into()),
        name: None,
    })
}

async fn sim(f: &Fixture, ep: &str, firmware: FirmwareBehaviour) -> SimClient {
    let sim = SimClient::start(SimConfig { firmware, ..SimConfig::new(ep, f.addr()) }).await.unwrap();
    sim.register().await.unwrap();
    f.wait_device(ep, |d| d.identity.manufacturer.is_some()).await;
    sim
}

/// LightweightM2M-1.0-int-771 Successful Firmware update (via alternative mechanism, i.e.
/// Package URI): the operation succeeds and the device reports the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_771_successful_firmware_update() {
    let f = Fixture::new().await;
    let _sim = sim(&f, "fw771", FirmwareBehaviour::default()).await;
    let id = DeviceId::lwm2m("fw771").unwrap();
    f.engine.wire_tap().start(&id);
    let op = f.run("fw771", fw()).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    // The update starts with one read of the instance /5/0, not one per resource.
    let reads: Vec<String> =
        f.engine.wire_tap().stop(&id).into_iter().map(|r| r.summary).filter(|s| s.starts_with("GET /5")).collect();
    assert_eq!(reads.first().and_then(|r| r.split(' ').nth(1)), Some("/5/0"), "{reads:?}");
    assert!(!reads.iter().any(|r| r.starts_with("GET /5/0/8") || r.starts_with("GET /5/0/9")), "{reads:?}");
    let d = f.wait_device("fw771", |d| d.identity.fw_version.as_deref() == Some("2.0")).await;
    let status = d.snapshot.firmware.expect("firmware snapshot");
    assert_eq!(status.state, FirmwareState::Succeeded);
    assert_eq!(status.url.as_deref(), Some("http://127.0.0.1/fw-2.0.bin"));
}

/// LightweightM2M-1.0-int-778 Error Case 7: invalid URI; the download fails with Update
/// Result 7.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_778_invalid_uri() {
    let f = Fixture::new().await;
    let _sim = sim(&f, "fw778", FirmwareBehaviour { download_result: 7, ..Default::default() }).await;
    let op = f.run("fw778", fw()).await;
    let e = op.error.expect("failed");
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::BadInput, Some("7")));
    assert!(e.message.contains("invalid URI"));
    let d = f.device("fw778").unwrap();
    let status = d.snapshot.firmware.unwrap();
    assert_eq!(status.state, FirmwareState::Failed);
    assert_eq!(status.protocol_result.as_deref(), Some("7"));
}

/// LightweightM2M-1.0-int-779 Error Case 8: Unsuccessful Firmware Update (after download).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_779_unsuccessful_update() {
    let f = Fixture::new().await;
    let _sim = sim(&f, "fw779", FirmwareBehaviour { update_result: 8, ..Default::default() }).await;
    let op = f.run("fw779", fw()).await;
    let e = op.error.expect("failed");
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("8")));
    assert_eq!(f.device("fw779").unwrap().identity.fw_version.as_deref(), Some("1.0"));
}

/// LightweightM2M-1.0-int-775 Error Case 4: connection lost during download: retryable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_775_connection_lost() {
    let f = Fixture::new().await;
    let _sim = sim(&f, "fw775", FirmwareBehaviour { download_result: 4, ..Default::default() }).await;
    let op = f.run("fw775", fw()).await;
    let e = op.error.expect("failed");
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::Transport, Some("4")));
}

/// LightweightM2M-1.0-int-780 Error Case 9: Unsupported protocol: the server does not send a
/// URI whose scheme the client did not list in /5/0/8. A device that also takes push gets
/// the image pushed instead, which unidm fetches over http:// or https:// only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_780_unsupported_protocol_is_not_sent() {
    let f = Fixture::new().await;
    let uri = "coaps+tcp://127.0.0.1/fw";
    let action = || Action::Firmware(FirmwareUpdate { uri: uri.into(), version: None, name: None });
    let empty = Some(unidm_lwm2m::codec::Value::String(String::new()));
    let pull_only = sim(&f, "fw780", FirmwareBehaviour { delivery_method: 0, ..Default::default() }).await;
    let e = f.run("fw780", action()).await.error.expect("refused");
    assert_eq!(e.kind, ErrorKind::NotSupported);
    assert!(e.message.contains("/5/0/8") && e.message.contains("takes no push"), "{}", e.message);
    assert_eq!(pull_only.get(unidm_lwm2m::Path::Resource(5, 0, 1)), empty);

    let both = sim(&f, "fw780b", FirmwareBehaviour::default()).await;
    let e = f.run("fw780b", action()).await.error.expect("refused");
    assert_eq!(e.kind, ErrorKind::NotSupported);
    assert!(e.message.contains("http:// or https:// only"), "pushed instead: {}", e.message);
    assert_eq!(both.get(unidm_lwm2m::Path::Resource(5, 0, 1)), empty);
}

/// A firmware object left in Downloaded by an earlier failed update is reset (empty Package
/// URI) before the next update, which then succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_firmware_object_is_reset_first() {
    use unidm_lwm2m::codec::Value;
    use unidm_lwm2m::Path;
    let f = Fixture::new().await;
    let sim = sim(&f, "fwreset", FirmwareBehaviour::default()).await;
    sim.set(Path::Resource(5, 0, 5), Value::Integer(8));
    sim.set(Path::Resource(5, 0, 3), Value::Integer(2));
    let op = f.run("fwreset", fw()).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.get(Path::Resource(3, 0, 3)), Some(Value::String("2.0".into())));
}

/// A client that reboots to apply the image registers again and loses its observation: the
/// adapter reads the state after the new registration and finds the update done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_update_across_a_reboot_and_new_registration() {
    let mut config = common::config();
    config.firmware_poll = std::time::Duration::from_secs(60);
    let f = Fixture::with(config).await;
    let sim = sim(&f, "fwboot", FirmwareBehaviour { reboot_on_update: true, ..Default::default() }).await;
    let op =
        tokio::time::timeout(std::time::Duration::from_secs(10), f.run("fwboot", fw())).await.expect("no poll wait");
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.reboots(), 1);
    f.wait_device("fwboot", |d| d.identity.fw_version.as_deref() == Some("2.0")).await;
}

/// A pull whose client never leaves Downloading fails after the no-progress limit
/// (`firmware_stall`) with the step and what the device reports, not at the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_without_progress_fails_after_the_stall_limit() {
    let mut config = common::config();
    config.firmware_stall = std::time::Duration::from_secs(1);
    let f = Fixture::with(config).await;
    let config = SimConfig { firmware_stuck_downloading: true, ..SimConfig::new("fwstall", f.addr()) };
    let _sim = f.online(config).await;
    let op = f.run("fwstall", fw()).await;
    let e = op.error.expect("failed");
    assert_eq!((op.state, e.kind), (OperationState::Failed, ErrorKind::Timeout));
    assert!(e.message.starts_with("no progress for 1 s while downloading: /5/0/3 State still 1"), "{}", e.message);
    let status = f.device("fwstall").and_then(|d| d.snapshot.firmware).expect("firmware snapshot");
    assert_eq!(status.state, FirmwareState::Failed);
}

/// The no-progress limit runs on the engine's clock (`AdapterHandle::sleep`), so a
/// `ManualClock` drives it: real time passing does not fail the step, the clock moving past the
/// limit does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stall_limit_runs_on_the_engine_clock() {
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let mut config = common::config();
    config.firmware_stall = Duration::from_secs(600);
    // No polls meanwhile: the limit is the only timer.
    config.firmware_poll = Duration::from_secs(3600);
    let f = Fixture::with_clock(config, clock.clone()).await;
    let config = SimConfig { firmware_stuck_downloading: true, ..SimConfig::new("fwclock", f.addr()) };
    let _sim = f.online(config).await;
    let opts =
        CreateOptions { retry: Some(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }), ..Default::default() };
    let id = f.engine.create_operation(&DeviceId::lwm2m("fwclock").unwrap(), fw(), opts).await.unwrap().id;
    common::wait(|| async {
        let op = f.engine.operation(id).await.ok()?;
        op.progress.and_then(|p| p.message).filter(|m| m == "downloading")
    })
    .await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    clock.advance(Duration::from_secs(599));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.state(id).await, OperationState::Running, "599 s on the engine clock is within the limit");

    clock.advance(Duration::from_secs(2));
    let op = f.finish(id).await;
    let e = op.error.expect("failed");
    assert_eq!((op.state, e.kind), (OperationState::Failed, ErrorKind::Timeout));
    assert!(e.message.starts_with("no progress for 10 min while downloading"), "{}", e.message);
}
