//! Software Management /9 over loopback UDP with the simulated client (registry `9.xml`, fact
//! sheet §9.10): install into the INITIAL instance, install again into a created instance,
//! activate / deactivate / uninstall, and failures mapped from Update Result.

mod common;

use common::Fixture;
use unidm_lwm2m::sim::{SimConfig, SoftwareBehaviour};
use unidm_models::{Action, ErrorKind, OperationState, SoftwareAction};

fn install(uri: &str) -> Action {
    Action::Software(SoftwareAction::Install { uri: uri.into(), name: None, version: None, activate: None })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn software_install_activate_deactivate_uninstall() {
    let f = Fixture::new().await;
    let config = SimConfig { software_management: true, ..SimConfig::new("sw1", f.addr()) };
    let _sim = f.online(config).await;
    let op = f.run("sw1", install("http://repo/app-2.1.pkg")).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(op.result.unwrap()["module"], "0");
    let d = f.device("sw1").unwrap();
    let m = &d.snapshot.software[0];
    assert_eq!(
        (m.id.as_str(), m.name.as_str(), m.version.as_deref(), m.installed, m.active),
        ("0", "app", Some("2.1"), true, false)
    );
    // /9/0 is busy now: the next package goes into a created instance.
    let op = f.run("sw1", install("http://repo/tool-1.0.pkg")).await;
    assert_eq!(op.result.as_ref().map(|r| r["module"].clone()), Some("1".into()), "{:?}", op.error);
    let op = f.run("sw1", Action::Software(SoftwareAction::Activate { module: "0".into() })).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert!(f.device("sw1").unwrap().snapshot.software[0].active);
    let op = f.run("sw1", Action::Software(SoftwareAction::Deactivate { module: "0".into() })).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert!(!f.device("sw1").unwrap().snapshot.software[0].active);
    let op = f.run("sw1", Action::Software(SoftwareAction::Uninstall { module: "1".into() })).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    let d = f.device("sw1").unwrap();
    assert!(d.snapshot.software.iter().any(|m| m.id == "1" && !m.installed));
    // Activate is refused outside INSTALLED (4.05).
    let op = f.run("sw1", Action::Software(SoftwareAction::Activate { module: "1".into() })).await;
    assert_eq!(op.error.and_then(|e| e.protocol_code), Some("4.05".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn software_failures_map_update_result() {
    let f = Fixture::new().await;
    let software = SoftwareBehaviour { download_result: 53, ..Default::default() };
    let config = SimConfig { software_management: true, software, ..SimConfig::new("sw2", f.addr()) };
    let _sim = f.online(config).await;
    let op = f.run("sw2", install("http://repo/bad.pkg")).await;
    let e = op.error.expect("failed");
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::BadInput, Some("53")));
    assert_eq!(e.message, "package integrity check failure");
    let software = SoftwareBehaviour { install_result: 58, ..Default::default() };
    let config = SimConfig { software_management: true, software, ..SimConfig::new("sw3", f.addr()) };
    let _sim = f.online(config).await;
    let op = f.run("sw3", install("http://repo/app.pkg")).await;
    assert_eq!(op.error.and_then(|e| e.protocol_code), Some("58".into()));
}

/// `activate: true` executes Activate `/9/x/10` once the package is installed: the module is
/// listed active; by default it stays inactive (above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_that_activates() {
    let f = Fixture::new().await;
    let config = SimConfig { software_management: true, ..SimConfig::new("sw-act", f.addr()) };
    let _sim = f.online(config).await;
    let action = Action::Software(SoftwareAction::Install {
        uri: "http://repo/svc-1.0.pkg".into(),
        name: None,
        version: None,
        activate: Some(true),
    });
    let op = f.run("sw-act", action).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(op.result.unwrap()["active"], true);
    let d = f.wait_device("sw-act", |d| d.snapshot.software.first().is_some_and(|m| m.active)).await;
    assert!(d.snapshot.software[0].installed);
}
