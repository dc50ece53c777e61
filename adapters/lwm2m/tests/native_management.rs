//! Discover, Write-Attributes, Create and Delete over loopback UDP with the simulated client, named
//! after the OMA ETS cases they cover (OMA-ETS-LightweightM2M 1.0.1 / 1.1: 1.0-int-260 Discover,
//! 1.1-int-261 Write-Attribute on a multiple resource, 1.0-int-270 Create, 1.0-int-290 Delete).

mod common;

use common::{native, wait, Fixture};
use serde_json::json;
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::sim::SimConfig;
use unidm_lwm2m::Path;
use unidm_models::{ErrorKind, NativeOp, OperationState};

/// LightweightM2M-1.0-int-260 Discover Command: object, instance and resource levels, with
/// `dim` on a multiple resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_260_discover() {
    let f = Fixture::new().await;
    let _sim = f.online(SimConfig::new("d260", f.addr())).await;
    let op = f.run("d260", native(NativeOp::Discover, "/3", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    let list = op.result.unwrap();
    let paths: Vec<&str> = list.as_array().unwrap().iter().map(|l| l["path"].as_str().unwrap()).collect();
    assert_eq!(&paths[..3], ["/3", "/3/0", "/3/0/0"]);
    let errors = list.as_array().unwrap().iter().find(|l| l["path"] == "/3/0/11").unwrap();
    assert_eq!(errors["attributes"], json!({"dim": 1}));
    let op = f.run("d260", native(NativeOp::Discover, "/3/0/9", None)).await;
    assert_eq!(op.result, Some(json!([{"path": "/3/0/9", "attributes": {}}])));
    let op = f.run("d260", native(NativeOp::Discover, "/42", None)).await;
    assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::NotFound));
    let op = f.run("d260", native(NativeOp::Discover, "/3/0/11/0", None)).await;
    assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::BadInput));
}

/// LightweightM2M-1.1-int-261 Write-Attribute Operation on a multiple resource, then Discover
/// shows them; invalid sets are refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_261_write_attributes() {
    let f = Fixture::new().await;
    let config = SimConfig { version: "1.1".into(), ..SimConfig::new("a261", f.addr()) };
    let _sim = f.online(config).await;
    let attrs = json!({"pmin": 5, "pmax": 60, "gt": 2, "lt": 0.5});
    let op = f.run("a261", native(NativeOp::WriteAttributes, "/3/0/11", Some(attrs))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    let op = f.run("a261", native(NativeOp::Discover, "/3/0/11", None)).await;
    assert_eq!(
        op.result,
        Some(json!([{"path": "/3/0/11", "attributes": {"dim": 1, "gt": 2, "lt": 0.5, "pmax": 60, "pmin": 5}}]))
    );
    let op = f.run("a261", native(NativeOp::WriteAttributes, "/3/0/11", Some(json!({"gt": null})))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    let op = f.run("a261", native(NativeOp::Discover, "/3/0/11", None)).await;
    assert_eq!(op.result.unwrap()[0]["attributes"].get("gt"), None);
    for bad in [json!({"dim": 3}), json!({"pmin": 10, "pmax": 5}), json!({"gt": 1, "lt": 2})] {
        let op = f.run("a261", native(NativeOp::WriteAttributes, "/3/0/11", Some(bad))).await;
        assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::BadInput));
    }
}

/// LightweightM2M-1.0-int-270 Create Object Instance (TLV, 1.0) and -290 Delete Object
/// Instance; the client's Update with its new object list reaches the registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_270_create_and_290_delete() {
    let f = Fixture::new().await;
    let sim = f.online(SimConfig::new("c270", f.addr())).await;
    let op = f.run("c270", native(NativeOp::Create, "/9", Some(json!({"0": "app", "1": "1.2.3"})))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(op.result, Some(json!({"path": "/9/0"})));
    assert_eq!(sim.get(Path::Resource(9, 0, 1)), Some(Value::String("1.2.3".into())));
    wait(|| async { f.adapter.registration("c270").filter(|r| r.has_object(9)) }).await;
    let op = f.run("c270", native(NativeOp::Create, "/9/0", Some(json!({"0": "again"})))).await;
    assert_eq!(op.error.and_then(|e| e.protocol_code), Some("4.00".into()));
    let op = f.run("c270", native(NativeOp::Delete, "/9/0", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.get(Path::Resource(9, 0, 0)), None);
    wait(|| async { f.adapter.registration("c270").filter(|r| !r.has_object(9)) }).await;
    let op = f.run("c270", native(NativeOp::Delete, "/9/0", None)).await;
    assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::NotFound));
    let op = f.run("c270", native(NativeOp::Delete, "/3/0", None)).await;
    assert_eq!(op.error.and_then(|e| e.protocol_code), Some("4.05".into()));
    let op = f.run("c270", native(NativeOp::Delete, "/9", None)).await;
    assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::BadInput));
}

/// Create in SenML JSON (LwM2M 1.1), into an instance id the server chose, and an empty
/// instance in TLV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_create_senml_and_empty_tlv_instance() {
    let f = Fixture::new().await;
    let config = SimConfig { version: "1.1".into(), ..SimConfig::new("c11", f.addr()) };
    let sim = f.online(config).await;
    let op = f.run("c11", native(NativeOp::Create, "/9/7", Some(json!({"0": "pkg"})))).await;
    assert_eq!(op.result, Some(json!({"path": "/9/7"})), "{:?}", op.error);
    assert_eq!(sim.get(Path::Resource(9, 7, 0)), Some(Value::String("pkg".into())));
    let f10 = Fixture::new().await;
    let _sim10 = f10.online(SimConfig::new("c10", f10.addr())).await;
    let op = f10.run("c10", native(NativeOp::Create, "/6", None)).await;
    assert_eq!(op.result, Some(json!({"path": "/6/0"})), "{:?}", op.error);
}
