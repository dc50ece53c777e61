//! Firmware push (fact sheet §1.4, §9.6): an image written to Package `/5/0/0` goes
//! block-wise (RFC 7959 §2.5, Block1, 1024-byte blocks) through the adapter to the simulated
//! client, which reports Downloaded; then Update is executed as for a pull (ETS 1.0-int-755
//! Setting the writable Resource Package).

mod common;

use base64::Engine as _;
use common::{native, Fixture};
use serde_json::json;
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::Path;
use unidm_models::{NativeOp, OperationState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_755_package_written_block_wise() {
    let f = Fixture::new().await;
    let sim = SimClient::start(SimConfig::new("push", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    f.wait_device("push", |d| d.identity.manufacturer.is_some()).await;
    let image: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&image);
    let op = f.run("push", native(NativeOp::Write, "/5/0/0", Some(json!(encoded)))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.get(Path::Resource(5, 0, 0)), Some(Value::Opaque(image)));
    assert_eq!(sim.get(Path::Resource(5, 0, 3)), Some(Value::Integer(2)));
    let op = f.run("push", native(NativeOp::Execute, "/5/0/2", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    common::wait(|| async { (sim.get(Path::Resource(5, 0, 5)) == Some(Value::Integer(1))).then_some(()) }).await;
    assert_eq!(sim.get(Path::Resource(3, 0, 3)), Some(Value::String("2.0".into())));
}
