//! unidm as an LwM2M gateway toward a distant LwM2M server (issue 16; GwCap, LeG-001): a second
//! unidm plays the distant server. The gateway unidm manages a simulated TR-069 CPE; the distant
//! server sees the gateway register, finds the CPE as an end device through /25, reads its /3
//! translated from the gateway's model, updates its firmware through /5 (Write Package URI +
//! Execute Update on its prefix: a CWMP Download on the CPE), sees it leave when the gateway no
//! longer manages it, and sees it de-register when stopped.

mod common;

use std::time::Duration;

use common::Stack;
use unidm_core::CreateOptions;
use unidm_lwm2m::northbound::{Northbound, NorthboundConfig};
use unidm_models::{Action, DeviceId, FirmwareUpdate, NativeOp, NativeRequest, OperationState};
use unidm_testkit::{eventually, operation_end};

fn read(path: &str) -> Action {
    Action::Native(NativeRequest { op: NativeOp::Read, path: path.into(), value: None, args: None, format: None })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distant_lwm2m_server_manages_a_tr069_cpe_through_the_gateway() {
    let distant = Stack::start().await;
    let gw = Stack::start().await;
    let tree = unidm_tr069::sim::ParameterTree::tr181("00259E", "HGW", "GW1");
    let cpe = unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig::new(gw.acs.acs_url().unwrap(), tree))
        .await
        .unwrap();
    let cpe_id: DeviceId = "tr069:00259E-HGW-GW1".parse().unwrap();
    let known = gw.device_when(cpe_id.as_str(), |d| d["presence"]["state"] == "online").await;

    let mut config = NorthboundConfig::new(distant.lwm2m_addr(), "unidm-gw");
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.lifetime = Duration::from_secs(60);
    let nb = Northbound::start(gw.engine.clone(), config).await.unwrap();

    // The gateway registers and lists the CPE in /25.
    distant.device_when("lwm2m:unidm-gw", |d| d["presence"]["state"] == "online").await;
    let end = "lwm2m:unidm-gw/tr069:00259E-HGW-GW1";
    let seen = distant.device_when(end, |d| d["presence"]["state"] == "online").await;
    assert_eq!(seen["topology"]["parent"], "lwm2m:unidm-gw", "{seen}");
    let status = nb.status();
    assert!(status.registered && status.end_devices == 1, "{status:?}");

    // Its /3 is the CPE's identity as the gateway knows it.
    let end_id: DeviceId = end.parse().unwrap();
    let op = distant.engine.create_operation(&end_id, read("/3/0/0"), CreateOptions::default()).await.unwrap();
    let op = operation_end(&distant.engine, op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(op.result.as_ref(), Some(&known["identity"]["manufacturer"]), "{op:?}");
    let op = distant.engine.create_operation(&end_id, read("/3/0/2"), CreateOptions::default()).await.unwrap();
    assert_eq!(operation_end(&distant.engine, op.id).await.result.unwrap(), "GW1");
    // Connectivity /4 from the CPE's snapshot (read after its first Inform): its IP address.
    let read_in =
        gw.device_when(cpe_id.as_str(), |d| d["snapshot"]["connectivity"]["ipAddresses"][0].is_string()).await;
    let ip = read_in["snapshot"]["connectivity"]["ipAddresses"][0].clone();
    let op = distant.engine.create_operation(&end_id, read("/4/0/4/0"), CreateOptions::default()).await.unwrap();
    assert_eq!(operation_end(&distant.engine, op.id).await.result, Some(ip));
    // A write the model cannot carry to the CPE is refused (4.05), not kept.
    let write = Action::Native(NativeRequest {
        op: NativeOp::Write,
        path: "/3/0/14".into(),
        value: Some(serde_json::json!("+01:00")),
        args: None,
        format: None,
    });
    let op = distant.engine.create_operation(&end_id, write, CreateOptions::default()).await.unwrap();
    assert_eq!(operation_end(&distant.engine, op.id).await.state, OperationState::Failed);
    // A prefix the gateway does not have: 4.04, the operation fails as not found.
    let gw_id: DeviceId = "lwm2m:unidm-gw".parse().unwrap();
    let op = distant.engine.create_operation(&gw_id, read("/d77/3/0/0"), CreateOptions::default()).await.unwrap();
    assert_eq!(operation_end(&distant.engine, op.id).await.state, OperationState::Failed);

    // Firmware through /5 on the prefix: a CWMP Download on the CPE, the result back in /5.
    let fw = Action::Firmware(FirmwareUpdate {
        uri: "http://127.0.0.1:9/hgw-2.0.bin".into(),
        version: Some("2.0".into()),
        name: None,
    });
    let op = distant.engine.create_operation(&end_id, fw, CreateOptions::default()).await.unwrap();
    let op = operation_end(&distant.engine, op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(cpe.stats().rpcs.iter().filter(|r| *r == "Download").count(), 1, "the CPE ran one Download");
    let on_gw = gw.device_when(cpe_id.as_str(), |d| d["snapshot"]["firmware"]["state"] == "succeeded").await;
    assert_eq!(on_gw["snapshot"]["firmware"]["url"], "http://127.0.0.1:9/hgw-2.0.bin", "{on_gw}");
    let op = distant.engine.create_operation(&end_id, read("/5/0/5"), CreateOptions::default()).await.unwrap();
    assert_eq!(operation_end(&distant.engine, op.id).await.result.unwrap(), 1, "Update Result: success");

    // The CPE is no longer managed by the gateway: it leaves /25, and the end device goes offline.
    cpe.stop();
    gw.engine.delete_device(&cpe_id).await.unwrap();
    distant.device_when(end, |d| d["presence"]["state"] == "offline").await;
    eventually("the gateway to list no end device", || async { (nb.status().end_devices == 0).then_some(()) }).await;

    // Stopped, the gateway de-registers.
    nb.stop().await;
    distant.device_when("lwm2m:unidm-gw", |d| d["presence"]["state"] == "offline").await;
    assert!(!nb.status().registered);
}
