//! The ACS adapter end to end: engine + SQLite + ACS on 127.0.0.1:0 + simulated CPEs over
//! real HTTP.

mod acs;

use std::time::Duration;

use acs::*;
use serde_json::json;
use unidm_core::Received;
use unidm_models::{
    Action, ErrorKind, Event, FirmwareState, FirmwareUpdate, Function, NativeOp, NativeRequest, OperationState,
    PingRequest,
};
use unidm_tr069::sim::ParameterTree;

fn native(op: NativeOp, path: &str, value: Option<serde_json::Value>) -> Action {
    Action::Native(NativeRequest { op, path: path.into(), value, args: None, format: None })
}

#[tokio::test]
async fn tr098_cpe_appears_with_identity_and_gets_credentials() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(ParameterTree::bm632w())).await;
    assert_eq!(id.as_str(), "tr069:202BC1-BM632w-8KA8WA1151100043");
    let d = f.wait_device(&id).await;
    assert_eq!(d.identity.manufacturer.as_deref(), Some("Huawei Technologies Co., Ltd."));
    assert_eq!(d.identity.oui.as_deref(), Some("202BC1"));
    assert_eq!(d.identity.product_class.as_deref(), Some("BM632w"));
    assert_eq!(d.identity.serial.as_deref(), Some("8KA8WA1151100043"));
    assert_eq!(d.identity.sw_version.as_deref(), Some("V100R001IRQC56B017"));
    assert_eq!(d.identity.hw_version.as_deref(), Some("40501"));
    assert_eq!(d.presence.lifetime_s, Some(300));
    let caps = d.capabilities.expect("capabilities");
    for func in [Function::DeviceInfo, Function::Reboot, Function::Firmware, Function::Ping, Function::Observe] {
        assert!(caps.contains(&func), "{func:?}");
    }
    assert!(cpe.stats().last_events.contains(&"0 BOOTSTRAP".to_owned()));
    let user = cpe.get("InternetGatewayDevice.ManagementServer.ConnectionRequestUsername").unwrap();
    assert!(user.starts_with("unidm-"), "credentials provisioned on bootstrap, got {user}");
    cpe.stop();
}

#[tokio::test]
async fn native_read_write_and_faults() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("rw-1"))).await;

    let op = f.run(&id, native(NativeOp::Read, "Device.DeviceInfo.SoftwareVersion", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(op.result, Some(json!({"Device.DeviceInfo.SoftwareVersion": "1.0.0"})));

    let op = f.run(&id, native(NativeOp::Read, "DeviceInfo.MemoryStatus.", None)).await;
    assert_eq!(
        op.result,
        Some(json!({"Device.DeviceInfo.MemoryStatus.Free": 32768, "Device.DeviceInfo.MemoryStatus.Total": 65536}))
    );

    let op = f.run(&id, native(NativeOp::Write, "Device.DeviceInfo.ProvisioningCode", Some(json!("abc")))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(cpe.get("Device.DeviceInfo.ProvisioningCode").as_deref(), Some("abc"));
    assert_eq!(cpe.get("Device.ManagementServer.ParameterKey"), Some(op.id.0.to_string()));

    // The CPE reported PeriodicInformInterval as unsignedInt: a JSON number is sent with that type.
    let op =
        f.run(&id, native(NativeOp::Write, "Device.ManagementServer.PeriodicInformInterval", Some(json!(600)))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");

    let op = f.run(&id, native(NativeOp::Write, "Device.DeviceInfo.ModelName", Some(json!("x")))).await;
    assert_eq!(op.state, OperationState::Failed);
    let e = op.error.unwrap();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("9008")));

    let op = f.run(&id, native(NativeOp::Read, "Device.Nope.", None)).await;
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("9005"));
    cpe.stop();
}

#[tokio::test]
async fn connection_request_with_digest_reaches_an_idle_cpe() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("cr-1"))).await;
    assert!(cpe.wait_for(WAIT, |_| cpe.is_idle()).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.adapter.open_sessions(), 0);
    let before = cpe.stats();
    let op = f.run(&id, Action::RefreshDeviceInfo).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let after = cpe.stats();
    assert_eq!(after.connection_requests, before.connection_requests + 1);
    assert!(after.last_events.contains(&"6 CONNECTION REQUEST".to_owned()), "{after:?}");
    let d = f.engine.device(&id).unwrap();
    let mem = d.snapshot.memory.expect("memory");
    assert_eq!((mem.total, mem.available), (65536 * 1024, 32768 * 1024));
    assert!(d.snapshot.refreshed_at.is_some());
    cpe.stop();
}

#[tokio::test]
async fn reboot_succeeds_when_the_cpe_boots_with_m_reboot() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(ParameterTree::bm632w())).await;
    let op = f.run(&id, Action::Reboot).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let s = cpe.stats();
    assert_eq!(s.reboots, 1);
    assert!(s.last_events.contains(&"M Reboot".to_owned()), "{s:?}");
    let op = f.run(&id, Action::FactoryReset).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    cpe.stop();
}

#[tokio::test]
async fn firmware_success_and_failure() {
    let f = fixture().await;
    let mut good = f.sim_config(tr181("fw-ok"));
    good.firmware_version = Some("2.0.0".into());
    let (cpe_ok, ok_id) = f.sim(good).await;
    let mut bad = f.sim_config(tr181("fw-bad"));
    bad.download_fault = Some((9010, "image rejected".into()));
    let (cpe_bad, bad_id) = f.sim(bad).await;

    let fw = |v: &str| {
        Action::Firmware(FirmwareUpdate {
            uri: "http://files.example/fw-2.0.0.bin".into(),
            version: Some(v.into()),
            name: None,
        })
    };
    let op = f.run(&ok_id, fw("2.0.0")).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    // The new version arrives with the boot Inform that carries TransferComplete.
    let d = f.engine.device(&ok_id).unwrap();
    assert_eq!(d.snapshot.firmware.as_ref().map(|s| s.state), Some(FirmwareState::Succeeded));
    assert_eq!(d.identity.fw_version.as_deref(), Some("2.0.0"));

    let op = f.run(&bad_id, fw("2.0.0")).await;
    assert_eq!(op.state, OperationState::Failed);
    let e = op.error.unwrap();
    assert_eq!(
        (e.kind, e.protocol_code.as_deref(), e.message.as_str()),
        (ErrorKind::DeviceRefused, Some("9010"), "image rejected")
    );
    let fw = f.engine.device(&bad_id).unwrap().snapshot.firmware.unwrap();
    assert_eq!((fw.state, fw.protocol_result.as_deref()), (FirmwareState::Failed, Some("9010")));
    cpe_ok.stop();
    cpe_bad.stop();
}

#[tokio::test]
async fn ping_runs_ip_ping_diagnostics() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(ParameterTree::bm632w())).await;
    let op = f
        .run(&id, Action::Ping(PingRequest { host: "example.com".into(), count: Some(3), timeout_ms: Some(500) }))
        .await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let r = op.result.unwrap();
    assert_eq!(r["successCount"], json!(3));
    assert_eq!(r["failureCount"], json!(0));
    assert_eq!(r["averageResponseTime"], json!(12));
    let op =
        f.run(&id, Action::Ping(PingRequest { host: "nowhere.invalid".into(), count: None, timeout_ms: None })).await;
    assert_eq!(op.state, OperationState::Failed);
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("Error_CannotResolveHostName"));
    cpe.stop();
}

#[tokio::test]
async fn observe_reports_value_changes() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("obs-1"))).await;
    let path = "Device.DeviceInfo.ProvisioningCode";
    let op = f.run(&id, native(NativeOp::Observe, path, None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let mut events = f.engine.subscribe();
    assert!(cpe.set_local(path, "changed-on-device"));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("observation in time");
        if let Some(Received::Event(Event::Observation { device, path: p, value, .. })) = ev {
            assert_eq!((device, p.as_str(), value), (id.clone(), path, json!("changed-on-device")));
            break;
        }
    }
    assert!(cpe.stats().last_events.contains(&"4 VALUE CHANGE".to_owned()));
    cpe.stop();
}

#[tokio::test]
async fn execute_adds_and_deletes_objects() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(ParameterTree::bm632w())).await;
    let obj = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.";
    let exec = |path: &str, args: &str| {
        Action::Native(NativeRequest {
            op: NativeOp::Execute,
            path: path.into(),
            value: None,
            args: Some(args.into()),
            format: None,
        })
    };
    let op = f.run(&id, exec(obj, "AddObject")).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let n = op.result.unwrap()["instanceNumber"].as_u64().unwrap();
    let op = f.run(&id, exec(&format!("{obj}{n}."), "DeleteObject")).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let op = f.run(&id, exec("InternetGatewayDevice.", "GetParameterNames")).await;
    assert!(op.result.unwrap().as_array().unwrap().iter().any(|p| p["name"] == "InternetGatewayDevice.DeviceInfo."));
    cpe.stop();
}

#[tokio::test]
async fn a_waiting_download_survives_an_acs_restart() {
    let f = fixture().await;
    let addr = f.adapter.local_addr().unwrap();
    let mut config = f.sim_config(tr181("restart-1"));
    config.download_delay = Duration::from_millis(1500);
    config.firmware_version = Some("3.0.0".into());
    let (cpe, id) = f.sim(config).await;
    let action =
        Action::Firmware(FirmwareUpdate { uri: "http://files.example/fw.bin".into(), version: None, name: None });
    let op = f.engine.create_operation(&id, action, unidm_core::CreateOptions::default()).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while f.engine.operation(op.id).await.unwrap().state != OperationState::Waiting {
        assert!(tokio::time::Instant::now() < deadline, "download accepted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f.engine.shutdown().await;
    let acs::Fixture { engine, adapter, dir } = f;
    drop((engine, adapter));

    // Same database, same port: the engine hands the operation back; the adapter knows it is
    // waiting for TransferComplete and does not send a second Download.
    let f = acs::reopen(dir, local_config_at(addr)).await;
    let op = f.wait_op(op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(cpe.stats().rpcs.iter().filter(|r| *r == "Download").count(), 1);
    assert_eq!(f.engine.device(&id).unwrap().identity.fw_version.as_deref(), Some("3.0.0"));
    // The connection-request credentials set before the restart were kept: an idle CPE is
    // still reachable.
    assert!(cpe.wait_for(WAIT, |_| cpe.is_idle()).await);
    let before = cpe.stats().connection_requests;
    let op = f.run(&id, native(NativeOp::Read, "Device.DeviceInfo.SoftwareVersion", None)).await;
    assert_eq!(op.result, Some(json!({"Device.DeviceInfo.SoftwareVersion": "3.0.0"})));
    assert_eq!(cpe.stats().connection_requests, before + 1);
    cpe.stop();
}

fn local_config_at(addr: std::net::SocketAddr) -> unidm_tr069::Tr069Config {
    unidm_tr069::Tr069Config { listen: addr, ..local_config() }
}

#[tokio::test]
async fn gateway_children_come_from_manageable_devices() {
    let f = fixture().await;
    let mut config = f.sim_config(tr181("gw-1"));
    config.manageable_devices =
        vec![("00D09E".into(), "STB".into(), "stb-1".into()), ("00D09E".into(), "".into(), "phone-7".into())];
    let (cpe, id) = f.sim(config).await;
    let d = f.engine.device(&id).unwrap();
    let kids: Vec<&str> = d.topology.children.iter().map(|c| c.as_str()).collect();
    assert_eq!(kids, ["tr069:00D09E-STB-stb%2D1", "tr069:00D09E-phone%2D7"]);
    let child = f.engine.device(&d.topology.children[0]).unwrap();
    assert_eq!(child.topology.parent.as_ref(), Some(&id));
    cpe.stop();
}

#[tokio::test]
async fn lan_hosts_become_children_with_presence() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(unidm_tr069::sim::ParameterTree::bm632w())).await;
    let d = f.engine.device(&id).unwrap();
    let phone = unidm_models::DeviceId::parse(&format!("{id}/host/40:b0:fa:9c:4a:50")).unwrap();
    assert!(d.topology.children.contains(&phone), "{:?}", d.topology.children);
    let host = f.engine.device(&phone).unwrap();
    assert_eq!(host.topology.parent.as_ref(), Some(&id));
    assert_eq!(host.presence.state, unidm_models::PresenceState::Online);
    assert_eq!(host.presence.address.as_deref(), Some("192.168.1.2"));
    assert_eq!(host.snapshot.device_info.as_ref().unwrap().device_name.as_deref(), Some("android-d87bf88d22e66acf"));
    assert!(!host.supports(Function::Reboot), "a LAN host is not managed over CWMP");
    cpe.stop();
}

#[tokio::test]
async fn software_modules_install_activate_uninstall() {
    use unidm_models::SoftwareAction;
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("sw-1"))).await;
    let d = f.engine.device(&id).unwrap();
    assert!(d.supports(Function::Software), "SoftwareModules. discovered: {:?}", d.capabilities);

    let install = SoftwareAction::Install {
        uri: "http://files.example/app.ipk".into(),
        name: Some("app".into()),
        version: None,
        activate: None,
    };
    let op = f.run(&id, Action::Software(install)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let result = op.result.unwrap();
    assert_eq!(result[0]["currentState"], "Installed");
    let uuid = result[0]["uuid"].as_str().unwrap().to_owned();
    let modules = f.engine.device(&id).unwrap().snapshot.software;
    assert_eq!((modules.len(), modules[0].id.as_str(), modules[0].name.as_str()), (1, uuid.as_str(), "app"));

    let op = f.run(&id, Action::Software(SoftwareAction::Activate { module: "1".into() })).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(cpe.get("Device.SoftwareModules.ExecutionUnit.1.RequestedState").as_deref(), Some("Active"));

    let op = f.run(&id, Action::Software(SoftwareAction::Uninstall { module: uuid.clone() })).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert!(f.engine.device(&id).unwrap().snapshot.software.is_empty());
    let op = f.run(&id, Action::Software(SoftwareAction::Uninstall { module: uuid })).await;
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("9028"));
    cpe.stop();
}

#[tokio::test]
async fn udp_connection_request_when_http_cannot_reach_the_cpe() {
    let f = fixture().await;
    let mut config = f.sim_config(tr181("udp-1"));
    config.udp_connection_requests = true;
    // As behind a NAT: the reported HTTP URL does not reach the CPE.
    config.connection_request_url = Some("http://127.0.0.1:9/".into());
    let (cpe, id) = f.sim(config).await;
    assert!(cpe.wait_for(WAIT, |_| cpe.is_idle()).await);
    let before = cpe.stats().connection_requests;
    let op = f.run(&id, native(NativeOp::Read, "Device.DeviceInfo.UpTime", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let s = cpe.stats();
    assert_eq!(s.connection_requests, before + 1, "three datagrams, one connection request");
    assert!(s.last_events.contains(&"6 CONNECTION REQUEST".to_owned()));
    cpe.stop();
}

#[tokio::test]
async fn traceroute_runs_trace_route_diagnostics() {
    use unidm_models::TracerouteRequest;
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("trace-1"))).await;
    assert!(f.engine.device(&id).unwrap().supports(Function::Traceroute));
    let op = f.run(&id, Action::Traceroute(TracerouteRequest { host: "example.com".into(), max_hops: Some(8) })).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let r = op.result.unwrap();
    assert_eq!(r["responseTime"], json!(25));
    assert_eq!(
        r["hops"][1],
        json!({"host": "example.com", "address": "203.0.113.7", "errorCode": 0, "rtTimes": "20,25,24"})
    );
    assert_eq!(cpe.get("Device.IP.Diagnostics.TraceRoute.MaxHopCount").as_deref(), Some("8"));
    cpe.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_cpes_at_once() {
    let f = fixture().await;
    let mut cpes = Vec::new();
    for i in 0..20 {
        let mut c = f.sim_config(tr181(&format!("fleet-{i}")));
        c.reboot_delay = Duration::from_millis(20);
        cpes.push(unidm_tr069::sim::SimCpe::start(c).await.unwrap());
    }
    let ids: Vec<_> = cpes.iter().map(acs::id_of).collect();
    for (cpe, id) in cpes.iter().zip(&ids) {
        f.wait_device(id).await;
        assert!(cpe.wait_for(WAIT, |s| s.sessions >= 1).await);
    }
    let mut ops = Vec::new();
    for id in &ids {
        ops.push(f.engine.create_operation(id, Action::Reboot, unidm_core::CreateOptions::default()).await.unwrap().id);
        let read = native(NativeOp::Read, "Device.DeviceInfo.SerialNumber", None);
        ops.push(f.engine.create_operation(id, read, unidm_core::CreateOptions::default()).await.unwrap().id);
    }
    for op in ops {
        let op = f.wait_op(op).await;
        assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    }
    for cpe in &cpes {
        assert_eq!(cpe.stats().reboots, 1);
        cpe.stop();
    }
}
