//! The `native` operations discover, writeAttributes, create and delete against the simulated
//! CPE, through the engine (SQLite) and the ACS over real HTTP.

mod acs;

use acs::*;
use serde_json::json;
use unidm_core::Received;
use unidm_models::{Action, ErrorKind, Event, NativeOp, NativeRequest, OperationState};
use unidm_tr069::sim::ParameterTree;

fn native(op: NativeOp, path: &str, value: Option<serde_json::Value>) -> Action {
    Action::Native(NativeRequest { op, path: path.into(), value, args: None, format: None })
}

#[tokio::test]
async fn discover_lists_the_next_level_with_writable_flags() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("disc-1"))).await;

    let op = f.run(&id, native(NativeOp::Discover, "Device.DeviceInfo.", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let list = op.result.unwrap();
    let list = list.as_array().unwrap();
    let entry = |name: &str| list.iter().find(|e| e["name"] == name).cloned();
    assert_eq!(
        entry("Device.DeviceInfo.ProvisioningCode"),
        Some(json!({"name": "Device.DeviceInfo.ProvisioningCode", "writable": true}))
    );
    assert_eq!(
        entry("Device.DeviceInfo.ModelName"),
        Some(json!({"name": "Device.DeviceInfo.ModelName", "writable": false}))
    );
    // Next level only: the object is listed, not its parameters.
    assert!(entry("Device.DeviceInfo.MemoryStatus.").is_some());
    assert!(entry("Device.DeviceInfo.MemoryStatus.Total").is_none());

    // A relative path gets the root.
    let op = f.run(&id, native(NativeOp::Discover, "DeviceInfo.MemoryStatus.", None)).await;
    let names: Vec<_> = op.result.unwrap().as_array().unwrap().iter().map(|e| e["name"].clone()).collect();
    assert_eq!(names, [json!("Device.DeviceInfo.MemoryStatus.Free"), json!("Device.DeviceInfo.MemoryStatus.Total")]);

    let op = f.run(&id, native(NativeOp::Discover, "Device.Nope.", None)).await;
    assert_eq!(op.state, OperationState::Failed);
    let e = op.error.unwrap();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("9005")));
    cpe.stop();
}

#[tokio::test]
async fn write_attributes_sets_notification_and_value_changes_become_observations() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(tr181("attr-1"))).await;
    let path = "Device.DeviceInfo.ProvisioningCode";

    let op = f.run(&id, native(NativeOp::WriteAttributes, path, Some(json!({"notification": 2})))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let exec = Action::Native(NativeRequest {
        op: NativeOp::Execute,
        path: path.into(),
        value: None,
        args: Some("GetParameterAttributes".into()),
        format: None,
    });
    let op = f.run(&id, exec.clone()).await;
    assert_eq!(op.result, Some(json!([{"name": path, "notification": 2, "accessList": []}])));

    let mut events = f.engine.subscribe();
    assert!(cpe.set_local(path, "changed-here"));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("observation in time");
        if let Some(Received::Event(Event::Observation { device, path: p, value, .. })) = ev {
            assert_eq!((device, p.as_str(), value), (id.clone(), path, json!("changed-here")));
            break;
        }
    }

    // Notification 0 stops the observations (and the CPE's notification).
    let op =
        f.run(&id, native(NativeOp::WriteAttributes, path, Some(json!({"notification": 0, "accessList": []})))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let op = f.run(&id, exec).await;
    assert_eq!(op.result.unwrap()[0]["notification"], json!(0));

    // Bad values never reach the CPE.
    for bad in [json!({"notification": 7}), json!({"notification": "2"}), json!({"accessList": [1]}), json!({})] {
        let op = f.run(&id, native(NativeOp::WriteAttributes, path, Some(bad.clone()))).await;
        assert_eq!(op.state, OperationState::Failed, "{bad}");
        assert_eq!(op.error.unwrap().kind, ErrorKind::BadInput, "{bad}");
    }
    let op = f.run(&id, native(NativeOp::WriteAttributes, "Device.Nope", Some(json!({"notification": 1})))).await;
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("9005"));
    assert!(!cpe.stats().rpcs.is_empty());
    cpe.stop();
}

#[tokio::test]
async fn create_returns_the_instance_and_delete_removes_it() {
    let f = fixture().await;
    let (cpe, id) = f.sim(f.sim_config(ParameterTree::bm632w())).await;
    let obj = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.";

    let op = f.run(&id, native(NativeOp::Create, obj, None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let r = op.result.unwrap();
    assert_eq!(r["status"], json!(0));
    let n = r["instanceNumber"].as_u64().unwrap();
    let instance = format!("{obj}{n}.");
    assert!(cpe.get(&format!("{instance}SSID")).is_some(), "new instance has the template's parameters");
    assert_eq!(cpe.get("InternetGatewayDevice.ManagementServer.ParameterKey"), Some(op.id.0.to_string()));

    let op = f.run(&id, native(NativeOp::Discover, &instance, None)).await;
    assert!(op.result.unwrap().as_array().unwrap().iter().any(|e| e["name"] == format!("{instance}SSID")));

    let op = f.run(&id, native(NativeOp::Delete, &instance, None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(op.result, Some(json!({"status": 0})));
    assert!(cpe.get(&format!("{instance}SSID")).is_none());

    // Deleting it again, creating under a non-object: CPE faults. No trailing dot: bad input.
    let op = f.run(&id, native(NativeOp::Delete, &instance, None)).await;
    let e = op.error.unwrap();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("9005")));
    let op = f.run(&id, native(NativeOp::Create, "InternetGatewayDevice.Nope.", None)).await;
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("9005"));
    let op = f.run(&id, native(NativeOp::Create, "InternetGatewayDevice.LANDevice", None)).await;
    assert_eq!(op.error.unwrap().kind, ErrorKind::BadInput);
    cpe.stop();
}
