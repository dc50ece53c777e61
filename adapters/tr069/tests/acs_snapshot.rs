//! The device snapshot of a CWMP device after its first Inform and after a boot (field fault:
//! it stayed empty, while an LwM2M device gets device info, firmware, memory and connectivity
//! at registration).

mod acs;

use std::time::Duration;

use acs::*;
use unidm_models::{Device, DeviceId, FirmwareState};
use unidm_tr069::sim::ParameterTree;

/// The device once its snapshot was read.
async fn read_snapshot(f: &Fixture, id: &DeviceId) -> Device {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let d = f.engine.device(id).unwrap();
        if d.snapshot.refreshed_at.is_some() {
            return d;
        }
        assert!(tokio::time::Instant::now() < deadline, "snapshot never read: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_tr181_device_gets_identity_memory_connectivity_and_firmware() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("snap-181"))).await;
    let d = read_snapshot(&f, &id).await;
    // ModelName is not in the Inform: it comes from the snapshot read.
    assert_eq!(d.identity.model.as_deref(), Some("SimGateway"));
    assert_eq!(d.identity.hw_version.as_deref(), Some("1.0"));
    let mem = d.snapshot.memory.expect("memory");
    assert_eq!((mem.total, mem.available), (65536 * 1024, 32768 * 1024));
    assert_eq!(d.snapshot.connectivity.expect("connectivity").ip_addresses, ["192.0.2.10"]);
    let fw = d.snapshot.firmware.expect("firmware");
    assert_eq!((fw.state, fw.version.as_deref()), (FirmwareState::Idle, Some("1.0.0")));

    // A periodic Inform reads nothing again.
    assert!(cpe.wait_for(WAIT, |_| cpe.is_idle()).await);
    let (sessions, rpcs) = (cpe.stats().sessions, cpe.stats().rpcs.len());
    cpe.inform_now();
    assert!(cpe.wait_for(WAIT, |s| s.sessions > sessions).await);
    assert_eq!(cpe.stats().rpcs.len(), rpcs, "{:?}", cpe.stats().rpcs);
    cpe.stop();
}

#[tokio::test]
async fn a_tr098_device_without_memory_status_falls_back_to_the_required_names_once() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(ParameterTree::bm632w())).await;
    let d = read_snapshot(&f, &id).await;
    assert_eq!(d.identity.model.as_deref(), Some("BM632w"));
    assert_eq!(d.identity.manufacturer.as_deref(), Some("Huawei Technologies Co., Ltd."));
    assert_eq!(d.snapshot.memory, None, "the BM632w has no MemoryStatus");
    let fw = d.snapshot.firmware.expect("firmware");
    assert_eq!((fw.state, fw.version.as_deref()), (FirmwareState::Idle, Some("V100R001IRQC56B017")));
    assert!(cpe.wait_for(WAIT, |_| cpe.is_idle()).await);
    // The wide read faulted (9005), the narrowed one answered: two reads of values, no more.
    let s = cpe.stats();
    let reads = s.rpcs.iter().filter(|r| *r == "GetParameterValues").count();
    // + the topology (ManageableDevice) and LAN hosts reads.
    assert_eq!(reads, 4, "{:?}", s.rpcs);
    cpe.stop();
}

#[tokio::test]
async fn a_boot_reads_the_snapshot_again() {
    let f = fixture().await;
    let mut config = f.sim_config(tr181("snap-boot"));
    config.firmware_version = Some("2.0.0".into());
    let (cpe, id) = f.sim(config).await;
    let first = read_snapshot(&f, &id).await.snapshot.refreshed_at;
    assert!(cpe.set_local("Device.DeviceInfo.MemoryStatus.Free", "1024"));
    let op = f.run(&id, unidm_models::Action::Reboot).await;
    assert_eq!(op.state, unidm_models::OperationState::Succeeded, "{op:?}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let d = f.engine.device(&id).unwrap();
        if d.snapshot.memory.as_ref().is_some_and(|m| m.available == 1024 * 1024) {
            assert!(d.snapshot.refreshed_at >= first);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "snapshot not read after the boot: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cpe.stop();
}
