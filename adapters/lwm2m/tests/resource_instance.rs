//! One instance of a multiple resource (`/o/i/r/ri`) read and written through the engine against
//! the simulated client, named after the OMA ETS cases they cover (OMA-ETS-LightweightM2M-V1_1):
//! LightweightM2M-1.1-int-225 Read on Resource Instance, -228 Write on Resource Instance.

mod common;

use common::{native, Fixture};
use serde_json::json;
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::sim::SimConfig;
use unidm_lwm2m::Path;
use unidm_models::{ErrorKind, NativeOp, OperationState};

/// LightweightM2M-1.1-int-225 Read on Resource Instance: Power Source Voltage `/3/0/7/1` and
/// Available Power Sources `/3/0/6/0` read alone, in SenML JSON (1.1) and in plain text (a
/// 1.0 client); an absent instance is 4.04.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_225_read_on_resource_instance() {
    let f = Fixture::new().await;
    let _v11 = f.online(SimConfig { version: "1.1".into(), ..SimConfig::new("ri225", f.addr()) }).await;
    let _v10 = f.online(SimConfig::new("ri225old", f.addr())).await;
    for ep in ["ri225", "ri225old"] {
        let op = f.run(ep, native(NativeOp::Read, "/3/0/7/1", None)).await;
        assert_eq!(op.state, OperationState::Succeeded, "{ep}: {:?}", op.error);
        assert_eq!(op.result, Some(json!(5000)), "{ep}");
        let op = f.run(ep, native(NativeOp::Read, "/3/0/6/0", None)).await;
        assert_eq!(op.result, Some(json!(1)), "{ep}: {:?}", op.error);
        let op = f.run(ep, native(NativeOp::Read, "/3/0/7", None)).await;
        assert_eq!(op.result, Some(json!({"0": 3800, "1": 5000})), "{ep}: {:?}", op.error);
        let op = f.run(ep, native(NativeOp::Read, "/3/0/7/9", None)).await;
        assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::NotFound), "{ep}");
    }
}

/// LightweightM2M-1.1-int-228 Write on Resource Instance: in a Portfolio instance `/16/0`
/// created with two identities, writing `/16/0/0/1` (PUT) replaces that instance only; a
/// read-only resource instance (`/3/0/7/1`) is refused with 4.05 and keeps its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_228_write_on_resource_instance() {
    let f = Fixture::new().await;
    let sim = f.online(SimConfig { version: "1.1".into(), ..SimConfig::new("ri228", f.addr()) }).await;
    let op = f.run("ri228", native(NativeOp::Create, "/16", Some(json!({"0": {"0": "a", "1": "b"}})))).await;
    assert_eq!(op.result, Some(json!({"path": "/16/0"})), "{:?}", op.error);
    let op = f.run("ri228", native(NativeOp::Write, "/16/0/0/1", Some(json!("x")))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.get(Path::ResourceInstance(16, 0, 0, 1)), Some(Value::String("x".into())));
    assert_eq!(sim.get(Path::ResourceInstance(16, 0, 0, 0)), Some(Value::String("a".into())));
    let op = f.run("ri228", native(NativeOp::Read, "/16/0/0/1", None)).await;
    assert_eq!(op.result, Some(json!("x")), "{:?}", op.error);
    let op = f.run("ri228", native(NativeOp::Read, "/16/0/0", None)).await;
    assert_eq!(op.result, Some(json!({"0": "a", "1": "x"})), "{:?}", op.error);

    let op = f.run("ri228", native(NativeOp::Write, "/3/0/7/1", Some(json!(4200)))).await;
    let e = op.error.expect("refused");
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("4.05")));
    assert_eq!(sim.get(Path::ResourceInstance(3, 0, 7, 1)), Some(Value::Integer(5000)));
}
