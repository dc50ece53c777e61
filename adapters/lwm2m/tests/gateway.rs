//! A LwM2M Gateway (object /25, LwM2M 1.1 GwCap; fact sheet §9.12) with end devices, over
//! loopback UDP with the simulated client: each end device becomes a device of its own
//! (`lwm2m:{gateway}/{device id}`), a child of the gateway, reached through `/{prefix}/…`.

mod common;

use common::Fixture;
use serde_json::json;
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::Path;
use unidm_models::{Action, DeviceId, NativeOp, NativeRequest, OperationState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_end_devices_become_children() {
    let f = Fixture::new().await;
    let config = SimConfig { version: "1.1".into(), gateway_children: 2, ..SimConfig::new("gw", f.addr()) };
    let sim = SimClient::start(config).await.unwrap();
    sim.register().await.unwrap();
    let child = f.wait_device("gw/child-1", |d| d.identity.serial.is_some()).await;
    assert_eq!(child.identity.serial.as_deref(), Some("SN-gw-1"));
    assert_eq!(child.identity.model.as_deref(), Some("end-device"));
    let gw = f.wait_device("gw", |d| d.topology.children.len() == 2).await;
    assert_eq!(gw.topology.children, [DeviceId::lwm2m("gw/child-0").unwrap(), DeviceId::lwm2m("gw/child-1").unwrap()]);
    assert_eq!(child.topology.parent, Some(DeviceId::lwm2m("gw").unwrap()));
    // Operations on an end device go to the gateway under its prefix.
    let write = NativeRequest { op: NativeOp::Write, path: "/1/0/1".into(), value: Some(json!(99)), args: None };
    let op = f.run("gw/child-0", Action::Native(write)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.end_device_get("dev0", Path::Resource(1, 0, 1)), Some(Value::Integer(99)));
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(300)), "the gateway's own /1 is untouched");
    let read = NativeRequest { op: NativeOp::Read, path: "/3/0/2".into(), value: None, args: None };
    let op = f.run("gw/child-0", Action::Native(read)).await;
    assert_eq!(op.result, Some(json!("SN-gw-0")));
}
