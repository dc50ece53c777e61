//! Durable waits and quiet Informs on the engine's delivery layer: an operation parked on a
//! later CPE message (`M Reboot`, TransferComplete) survives a restart of the engine and the
//! ACS on the same database, shows as `waiting` throughout, is not sent a second time, and ends
//! with that message; a periodic Inform that tells nothing new writes nothing and emits no event.

mod acs;

use std::time::Duration;

use acs::*;
use unidm_core::{CreateOptions, Received, SqliteStore, Store};
use unidm_models::{Action, DeviceId, Event, FirmwareUpdate, Operation, OperationId, OperationState};
use unidm_testkit::{device_where, eventually, operation_end, operation_where, until};
use unidm_tr069::sim::SimCpe;

/// Long enough that the simulated CPE never comes back on its own: the test lets it come back
/// with [`SimCpe::hurry`].
const FOREVER: Duration = Duration::from_secs(3600);

fn rpcs(cpe: &SimCpe, name: &str) -> usize {
    cpe.stats().rpcs.iter().filter(|r| *r == name).count()
}

async fn waiting(f: &Fixture, id: OperationId, waiting_for: &str) -> Operation {
    let op = operation_where(&f.engine, id, |o| o.state == OperationState::Waiting).await;
    assert_eq!(op.waiting_for.as_deref(), Some(waiting_for), "{op:?}");
    let json = serde_json::to_value(&op).unwrap();
    assert_eq!((json["state"].as_str(), json["waitingFor"].as_str()), (Some("waiting"), Some(waiting_for)));
    op
}

/// Stops the engine and the ACS and starts both again on the same database and port.
async fn restart(f: Fixture) -> Fixture {
    let addr = f.adapter.local_addr().unwrap();
    f.engine.shutdown().await;
    let Fixture { engine, adapter, dir } = f;
    drop((engine, adapter));
    reopen(dir, unidm_tr069::Tr069Config { listen: addr, ..local_config() }).await
}

#[tokio::test]
async fn a_reboot_waiting_for_m_reboot_survives_a_restart_and_is_not_sent_again() {
    let f = fixture().await;
    let mut config = f.sim_config(tr181("reboot-restart"));
    config.reboot_delay = FOREVER;
    let (cpe, id) = f.sim(config).await;
    let op = f.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    let before = waiting(&f, op.id, "waiting for the CPE to reboot (1 BOOT + M Reboot)").await;
    assert_eq!(rpcs(&cpe, "Reboot"), 1);

    let f = restart(f).await;
    // Handed back by the engine and parked again: waiting, same attempt, nothing sent.
    let after = waiting(&f, op.id, "waiting for the CPE to reboot (1 BOOT + M Reboot)").await;
    assert_eq!(after.attempts, before.attempts, "a restart is not an attempt");

    cpe.hurry();
    let done = operation_end(&f.engine, op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    assert!(cpe.stats().last_events.iter().any(|e| e == "M Reboot"), "{:?}", cpe.stats().last_events);
    assert_eq!(rpcs(&cpe, "Reboot"), 1, "the Reboot was sent again after the restart");
    assert_eq!(cpe.stats().reboots, 1);
    cpe.stop();
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_download_waiting_for_transfer_complete_survives_a_restart_and_is_not_sent_again() {
    let f = fixture().await;
    let mut config = f.sim_config(tr181("download-restart"));
    config.download_delay = FOREVER;
    config.firmware_version = Some("3.1.0".into());
    let (cpe, id) = f.sim(config).await;
    let action =
        Action::Firmware(FirmwareUpdate { uri: "http://files.example/fw.bin".into(), version: None, name: None });
    let op = f.engine.create_operation(&id, action, CreateOptions::default()).await.unwrap();
    waiting(&f, op.id, "waiting for TransferComplete").await;
    assert_eq!(rpcs(&cpe, "Download"), 1);

    let f = restart(f).await;
    let after = waiting(&f, op.id, "waiting for TransferComplete").await;
    assert_eq!(after.attempts, 1);

    cpe.hurry();
    let done = operation_end(&f.engine, op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    assert_eq!(rpcs(&cpe, "Download"), 1, "the Download was sent again after the restart");
    let d = device_where(&f.engine, &id, |d| d.identity.fw_version.as_deref() == Some("3.1.0")).await;
    assert_eq!(d.id, id);
    cpe.stop();
    f.engine.shutdown().await;
}

/// The device as stored, read beside the running engine.
async fn stored(f: &Fixture, id: &DeviceId) -> unidm_models::Device {
    let store = SqliteStore::open_read_only(f.dir.path().join("unidm.db")).unwrap();
    store.load_devices().await.unwrap().into_iter().find(|d| d.id == *id).expect("device stored")
}

#[tokio::test]
async fn periodic_informs_that_tell_nothing_new_write_nothing_and_emit_no_event() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("quiet-1"))).await;
    // The first contact's upkeep (credentials, snapshot, functions, topology) is over.
    until("the CPE to be idle", || cpe.is_idle()).await;
    let stored_before = stored(&f, &id).await;
    let seen_before = f.engine.device(&id).unwrap().presence.last_seen;
    let mut events = f.engine.subscribe();

    const N: u64 = 5;
    let sessions = cpe.stats().sessions;
    for n in 1..=N {
        // Last-seen has millisecond precision: let the clock move between Informs.
        tokio::time::sleep(Duration::from_millis(5)).await;
        cpe.inform_now();
        until("the periodic session to end", || cpe.stats().sessions >= sessions + n && cpe.is_idle()).await;
    }

    let d = f.engine.device(&id).unwrap();
    assert_eq!(d.presence.state, unidm_models::PresenceState::Online);
    assert!(d.presence.last_seen > seen_before, "last-seen moved: {:?} -> {:?}", seen_before, d.presence.last_seen);
    assert_eq!(stored(&f, &id).await, stored_before, "a periodic Inform rewrote the device");
    while let Ok(Some(received)) = tokio::time::timeout(Duration::from_millis(1), events.recv()).await {
        if let Received::Event(Event::DeviceUpdated { device }) = &received {
            assert_ne!(device.id, id, "a periodic Inform emitted DeviceUpdated");
        }
    }

    // A change still takes the full path: a new software version is stored and announced.
    cpe.set_local("Device.DeviceInfo.SoftwareVersion", "9.9.9");
    cpe.inform_now();
    device_where(&f.engine, &id, |d| d.identity.fw_version.as_deref() == Some("9.9.9")).await;
    // The registry is updated before its commit is durable: poll the store.
    let (f, id) = (&f, &id);
    eventually("the new version to be stored", || async move {
        (stored(f, id).await.identity.fw_version.as_deref() == Some("9.9.9")).then_some(())
    })
    .await;
    cpe.stop();
    f.engine.shutdown().await;
}
