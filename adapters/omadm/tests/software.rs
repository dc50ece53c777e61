//! Software management through SCOMO and capabilities from the device's management objects,
//! through the engine with the simulated client over loopback HTTP.

use unidm_core::CoreError;
use unidm_models::{Action, DeviceId, ErrorKind, Function, OperationState, SoftwareAction};
use unidm_omadm::sim::{SimConfig, SimDevice};
use unidm_testkit::device_where;

mod engine;

use engine::{once, run_op_on, Fixture};

const DEV: &str = "IMEI:356938035643809";

fn sim_config(f: &Fixture) -> SimConfig {
    SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret")
}

fn id() -> DeviceId {
    DeviceId::omadm(DEV).unwrap()
}

fn install(name: &str) -> Action {
    Action::Software(SoftwareAction::Install {
        uri: format!("http://files.example/{name}.pkg"),
        name: Some(name.into()),
        version: None,
        activate: None,
    })
}

/// Creates an operation while the device is away, lets the device run its sessions, and
/// returns the operation once ended.
async fn run_op(f: &Fixture, device: &SimDevice, action: Action) -> unidm_models::Operation {
    run_op_on(f, &id(), device, action).await
}

fn modules(f: &Fixture) -> Vec<unidm_models::SoftwareModule> {
    f.engine.device(&id()).unwrap().snapshot.software
}

#[tokio::test]
async fn install_through_scomo_lists_the_module_in_the_snapshot() {
    let f = engine::fixture(engine::config()).await;
    let device = SimDevice::new(sim_config(&f));
    device.run().await.unwrap();
    let d = f.engine.device(&id()).unwrap();
    assert!(d.supports(Function::Software) && d.supports(Function::Firmware), "{:?}", d.capabilities);
    assert!(d.snapshot.software.is_empty());

    let op = run_op(&f, &device, install("app")).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert!(device.sessions() >= 3, "the result came in a session of its own");
    let x = format!("unidm{}", op.id);
    assert_eq!(device.node(&format!("./SCOMO/Inventory/Deployed/{x}/State")).as_deref(), Some("20"));
    assert_eq!(device.node(&format!("./SCOMO/Download/{x}/PkgURL")), None, "the download node is gone");
    let m = device_where(&f.engine, &id(), |d| !d.snapshot.software.is_empty()).await.snapshot.software;
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!((m[0].id.as_str(), m[0].name.as_str(), m[0].version.as_deref()), (x.as_str(), "app", Some("1.0")));
    assert!(m[0].installed && m[0].active);
    f.engine.shutdown().await;
}

/// `activate: false` installs with `DownloadInstallInactive`: the module is listed, inactive.
#[tokio::test]
async fn an_inactive_install_leaves_the_module_inactive() {
    let f = engine::fixture(engine::config()).await;
    let device = SimDevice::new(sim_config(&f));
    device.run().await.unwrap();
    let inactive = Action::Software(SoftwareAction::Install {
        uri: "http://files.example/svc.pkg".into(),
        name: Some("svc".into()),
        version: None,
        activate: Some(false),
    });
    let op = run_op(&f, &device, inactive).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let x = format!("unidm{}", op.id);
    assert_eq!(device.node(&format!("./SCOMO/Inventory/Deployed/{x}/State")).as_deref(), Some("10"));
    let m = device_where(&f.engine, &id(), |d| !d.snapshot.software.is_empty()).await.snapshot.software;
    assert!(m[0].installed && !m[0].active, "{m:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn an_install_fails_with_the_scomo_result_code() {
    let f = engine::fixture(engine::config()).await;
    let mut c = sim_config(&f);
    c.scomo_result = 1405;
    let device = SimDevice::new(c);
    device.run().await.unwrap();
    let op = run_op(&f, &device, install("app")).await;
    assert_eq!(op.state, OperationState::Failed);
    let e = op.error.unwrap();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("1405")), "{e:?}");
    assert_eq!(e.message, "install failed");
    assert!(modules(&f).is_empty());
    // The device kept the Download node of the failed install; the server deleted the node
    // it had created, in the session that brought the result.
    let node = format!("./SCOMO/Download/unidm{}", op.id);
    assert_eq!(device.node(&format!("{node}/PkgURL")), None, "the server deleted {node}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn uninstall_activate_and_deactivate_change_the_inventory() {
    let f = engine::fixture(engine::config()).await;
    let device = SimDevice::new(sim_config(&f));
    device.run().await.unwrap();
    assert_eq!(run_op(&f, &device, install("app")).await.state, OperationState::Succeeded);
    let module =
        device_where(&f.engine, &id(), |d| !d.snapshot.software.is_empty()).await.snapshot.software[0].id.clone();
    let state = format!("./SCOMO/Inventory/Deployed/{module}/State");

    let op = run_op(&f, &device, Action::Software(SoftwareAction::Deactivate { module: module.clone() })).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(device.node(&state).as_deref(), Some("10"));
    let m = device_where(&f.engine, &id(), |d| d.snapshot.software.first().is_some_and(|m| !m.active)).await;
    assert!(m.snapshot.software[0].installed);

    // The whole node URI names the module too.
    let whole = format!("./SCOMO/Inventory/Deployed/{module}");
    let op = run_op(&f, &device, Action::Software(SoftwareAction::Activate { module: whole })).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(device.node(&state).as_deref(), Some("20"));
    device_where(&f.engine, &id(), |d| d.snapshot.software.first().is_some_and(|m| m.active)).await;

    let op = run_op(&f, &device, Action::Software(SoftwareAction::Uninstall { module: module.clone() })).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(device.node(&state), None);
    device_where(&f.engine, &id(), |d| d.snapshot.software.is_empty()).await;

    // A module the device does not have: its 404; a name that is no node: bad input.
    let op = run_op(&f, &device, Action::Software(SoftwareAction::Uninstall { module: module.clone() })).await;
    let e = op.error.unwrap();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::NotFound, Some("404")), "{e:?}");
    let op = run_op(&f, &device, Action::Software(SoftwareAction::Activate { module: "a/../b".into() })).await;
    let e = op.error.unwrap();
    assert_eq!(e.kind, ErrorKind::BadInput, "{e:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_device_without_scomo_or_fumo_refuses_software_and_firmware_and_keeps_that_across_a_restart() {
    let f = engine::fixture(engine::config()).await;
    let mut c = sim_config(&f);
    (c.scomo, c.fumo) = (false, false);
    let device = SimDevice::new(c);
    device.run().await.unwrap();
    let d = f.engine.device(&id()).unwrap();
    assert!(d.supports(Function::FactoryReset) && d.supports(Function::Native), "{:?}", d.capabilities);
    assert!(!d.supports(Function::Software) && !d.supports(Function::Firmware), "{:?}", d.capabilities);
    for action in [
        install("app"),
        Action::Firmware(unidm_models::FirmwareUpdate { uri: "http://f.example/fw".into(), version: None, name: None }),
    ] {
        let e = f.engine.create_operation(&id(), action, once()).await.unwrap_err();
        assert!(matches!(e, CoreError::NotSupported { .. }), "{e:?}");
    }
    // A second session does not ask again.
    let report = device.run().await.unwrap();
    assert!(report.commands.is_empty(), "{report:?}");

    f.engine.shutdown().await;
    let Fixture { engine, dir, .. } = f;
    drop(engine);
    let f = engine::fixture_in(dir, engine::config()).await;
    let device = device.with_server_url(f.adapter.server_url().unwrap());
    let report = device.run().await.unwrap();
    assert!(report.commands.is_empty(), "the MO list came from the device record: {report:?}");
    let d = f.engine.device(&id()).unwrap();
    assert!(d.supports(Function::FactoryReset) && !d.supports(Function::Software), "{:?}", d.capabilities);

    // New DevInfo (another model): the objects are asked again.
    device.set_node("./DevInfo/Mod", "SimDM-2");
    let report = device.run().await.unwrap();
    assert!(report.commands.iter().any(|c| c == "Get"), "{report:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_refresh_reads_the_identity_and_asks_for_the_management_objects_again() {
    let f = engine::fixture(engine::config()).await;
    let device = SimDevice::new(sim_config(&f));
    device.run().await.unwrap();
    let d = f.engine.device(&id()).unwrap();
    assert!(d.supports(Function::Software) && d.identity.fw_version.is_none(), "{d:?}");
    // The device drops SCOMO (a new build, say); a refresh finds out.
    assert!(device.remove_node("./SCOMO"));
    device.set_node("./DevDetail/FwV", "1.1");
    let op = run_op(&f, &device, Action::RefreshDeviceInfo).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(op.result.unwrap()["values"]["./DevDetail/FwV"], "1.1");
    let d = f.engine.device(&id()).unwrap();
    assert_eq!((d.identity.fw_version.as_deref(), d.identity.device_type.as_deref()), (Some("1.1"), Some("simulator")));
    assert!(d.snapshot.refreshed_at.is_some());
    assert!(!d.supports(Function::Software) && d.supports(Function::Firmware), "{:?}", d.capabilities);
    let e = f.engine.create_operation(&id(), install("app"), once()).await.unwrap_err();
    assert!(matches!(e, CoreError::NotSupported { .. }), "{e:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_firmware_update_makes_the_next_session_ask_for_the_management_objects_again() {
    let f = engine::fixture(engine::config()).await;
    let device = SimDevice::new(sim_config(&f));
    device.run().await.unwrap();
    let fw =
        Action::Firmware(unidm_models::FirmwareUpdate { uri: "http://f.example/fw".into(), version: None, name: None });
    assert_eq!(run_op(&f, &device, fw).await.state, OperationState::Succeeded);
    // The new firmware has no LAWMO.
    device.remove_node("./LAWMO");
    let report = device.run().await.unwrap();
    assert!(report.commands.iter().any(|c| c == "Get"), "{report:?}");
    let d = f.engine.device(&id()).unwrap();
    assert!(!d.supports(Function::FactoryReset) && d.supports(Function::Firmware), "{:?}", d.capabilities);
    // And the session after that does not ask again.
    assert!(device.run().await.unwrap().commands.is_empty());
    f.engine.shutdown().await;
}
