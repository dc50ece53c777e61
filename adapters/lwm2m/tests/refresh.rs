//! What the adapter reads by itself (`ops::refresh_on_contact`): on Register, and on an Update
//! with a new object list, Firmware Update /5 becomes `snapshot.firmware` and Software
//! Management /9 `snapshot.software` without any operation.

mod common;

use common::Fixture;
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::Path;
use unidm_models::{FirmwareState, SoftwareModule};

/// An installed and active package in `/9/0` (registry `9.xml`: Update State 4 INSTALLED).
fn install_software(sim: &SimClient) {
    for (r, v) in [
        (0, Value::String("app".into())),
        (1, Value::String("2.1".into())),
        (7, Value::Integer(4)),
        (9, Value::Integer(3)),
        (12, Value::Boolean(true)),
    ] {
        sim.set(Path::Resource(9, 0, r), v);
    }
}

fn app() -> SoftwareModule {
    SoftwareModule { id: "0".into(), name: "app".into(), version: Some("2.1".into()), installed: true, active: true }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_reads_firmware_and_software() {
    let f = Fixture::new().await;
    let sim = SimClient::start(SimConfig::new("rf1", f.addr())).await.unwrap();
    sim.set(Path::Resource(5, 0, 6), Value::String("sim-firmware".into()));
    sim.set(Path::Resource(5, 0, 7), Value::String("1.0".into()));
    install_software(&sim);
    sim.register().await.unwrap();
    let d = f.wait_device("rf1", |d| d.snapshot.firmware.is_some() && !d.snapshot.software.is_empty()).await;
    let fw = d.snapshot.firmware.unwrap();
    assert_eq!(
        (fw.state, fw.name.as_deref(), fw.version.as_deref()),
        (FirmwareState::Idle, Some("sim-firmware"), Some("1.0"))
    );
    assert_eq!(d.snapshot.software, [app()]);
}

/// Without Package Name / Version the firmware state is known all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_reads_firmware_state_without_package_names() {
    let f = Fixture::new().await;
    let sim = SimClient::start(SimConfig::new("rf2", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    let d = f.wait_device("rf2", |d| d.snapshot.firmware.is_some()).await;
    let fw = d.snapshot.firmware.unwrap();
    assert_eq!((fw.state, fw.name, fw.version, fw.failure), (FirmwareState::Idle, None, None, None));
    assert!(d.snapshot.software.is_empty(), "no /9 registered");
}

/// An Update whose object list now has /9 makes the adapter read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_with_new_objects_reads_software() {
    let f = Fixture::new().await;
    let sim = SimClient::start(SimConfig::new("rf3", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    let d = f.wait_device("rf3", |d| d.snapshot.firmware.is_some() && d.identity.serial.is_some()).await;
    assert!(d.snapshot.software.is_empty());
    install_software(&sim);
    // An Update without the object list reads nothing.
    sim.update().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(f.device("rf3").unwrap().snapshot.software.is_empty());
    sim.update_objects().await.unwrap();
    let d = f.wait_device("rf3", |d| !d.snapshot.software.is_empty()).await;
    assert_eq!(d.snapshot.software, [app()]);
}
