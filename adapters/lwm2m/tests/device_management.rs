//! Device Management and Information Reporting over loopback UDP with the simulated client,
//! named after the OMA ETS cases they cover (OMA-ETS-LightweightM2M 1.0.1 / 1.1).

mod common;

use std::time::Duration;

use common::{native, Fixture};
use serde_json::json;
use unidm_core::Received;
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::Path;
use unidm_models::{Action, ErrorKind, Event, NativeOp, OperationState};

/// LightweightM2M-1.0-int-201 Querying basic information in Plain Text format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_201_query_plain_text() {
    let f = Fixture::new().await;
    let _sim = f.online(SimConfig::new("q201", f.addr())).await;
    let op = f.run("q201", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(op.result, Some(json!("unidm sim")));
}

/// LightweightM2M-1.0-int-203 Querying basic information in TLV format (a 1.0 client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_203_query_tlv() {
    let f = Fixture::new().await;
    let _sim = f.online(SimConfig::new("q203", f.addr())).await;
    let op = f.run("q203", native(NativeOp::Read, "/3/0", None)).await;
    let result = op.result.expect("result");
    assert_eq!(result["/3/0/1"], json!("sim-1"));
    assert_eq!(result["/3/0/9"], json!(87));
    assert_eq!(result["/3/0/11/0"], json!(0));
}

/// LightweightM2M-1.1-int-231 Querying basic information in SenML JSON format (a 1.1 client),
/// and -1.0-int-652 Querying the firmware version from the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_231_query_senml_json() {
    let f = Fixture::new().await;
    let config = SimConfig { version: "1.1".into(), ..SimConfig::new("q231", f.addr()) };
    let _sim = f.online(config).await;
    let op = f.run("q231", native(NativeOp::Read, "/3/0", None)).await;
    assert_eq!(op.result.unwrap()["/3/0/0"], json!("unidm sim"));
    let op = f.run("q231", native(NativeOp::Read, "/3/0/3", None)).await;
    assert_eq!(op.result, Some(json!("1.0")));
}

/// LightweightM2M-1.0-int-205 Setting basic information (text), -215 (TLV, partial update
/// on an instance), and 1.1-int-256 Write Operation Failure (read-only resource → 4.05).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_205_215_write_and_1_1_int_256_failure() {
    let f = Fixture::new().await;
    let sim = f.online(SimConfig::new("w205", f.addr())).await;
    let op = f.run("w205", native(NativeOp::Write, "/1/0/1", Some(json!(120)))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(120)));
    let op = f.run("w205", native(NativeOp::Write, "/1/0", Some(json!({"2": 5, "6": true})))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.get(Path::Resource(1, 0, 6)), Some(Value::Boolean(true)));
    let op = f.run("w205", native(NativeOp::Write, "/3/0/0", Some(json!("x")))).await;
    let e = op.error.expect("refused");
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("4.05")));
    let op = f.run("w205", native(NativeOp::Read, "/42/0", None)).await;
    assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::NotFound));
}

/// LightweightM2M-1.0-int-241 Rebooting the device, -655 Reboot and -656 Factory Reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_241_reboot_and_656_factory_reset() {
    let f = Fixture::new().await;
    let config = SimConfig { reregister_after_reboot: true, ..SimConfig::new("r241", f.addr()) };
    let sim = f.online(config).await;
    let first = f.adapter.registration("r241").unwrap().id.clone();
    let op = f.run("r241", Action::Reboot).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.reboots(), 1);
    common::wait(|| async { f.adapter.registration("r241").filter(|r| r.id != first) }).await;
    let op = f.run("r241", Action::FactoryReset).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.factory_resets(), 1);
    let op = f.run("r241", Action::RefreshDeviceInfo).await;
    assert_eq!(op.state, OperationState::Succeeded);
}

/// LightweightM2M-1.0-int-301 Observation and Notification of parameter values, and -303
/// Cancel observations using Observe with Cancel parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_301_observe_and_303_cancel() {
    let f = Fixture::new().await;
    let sim = f.online(SimConfig::new("o301", f.addr())).await;
    let mut events = f.engine.subscribe();
    let op = f.run("o301", native(NativeOp::Observe, "/3/0/9", None)).await;
    assert_eq!(op.result, Some(json!(87)));
    sim.set(Path::Resource(3, 0, 9), Value::Integer(42));
    let value = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Received::Event(Event::Observation { path, value, device, .. })) = events.recv().await {
                assert_eq!(device.native(), "o301");
                if path == "/3/0/9" {
                    return value;
                }
            }
        }
    })
    .await
    .expect("observation event");
    assert_eq!(value, json!(42));
    let op = f.run("o301", native(NativeOp::CancelObserve, "/3/0/9", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    sim.set(Path::Resource(3, 0, 9), Value::Integer(41));
    let more = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Some(Received::Event(Event::Observation { .. })) = events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(more.is_err(), "no notification after cancel");
}

/// A device that stops answering: the request times out after the retransmission schedule
/// and the operation fails with the retryable kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_device_times_out() {
    let mut config = common::config();
    config.server.transmission.ack_timeout = Duration::from_millis(40);
    config.server.transmission.max_retransmit = 2;
    let f = Fixture::with(config).await;
    let sim = f.online(SimConfig::new("silent", f.addr())).await;
    drop(sim);
    let op = f.run("silent", native(NativeOp::Read, "/3/0/0", None)).await;
    let e = op.error.expect("timed out");
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(e.kind.is_retryable());
}

/// Operations submitted while the device is not registered wait and run once it registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_wait_for_registration() {
    let f = Fixture::new().await;
    let id = unidm_models::DeviceId::lwm2m("later").unwrap();
    f.engine.provision_device(id.clone(), Default::default()).await.unwrap();
    let op = f.engine.create_operation(&id, Action::Reboot, Default::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!f.state(op.id).await.is_terminal());
    let sim = SimClient::start(SimConfig::new("later", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    assert_eq!(f.finish(op.id).await.state, OperationState::Succeeded);
    assert_eq!(sim.reboots(), 1);
}

async fn observation(events: &mut unidm_core::Subscription, path: &str) -> serde_json::Value {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Received::Event(Event::Observation { path: p, value, .. })) = events.recv().await {
                if p == path {
                    return value;
                }
            }
        }
    })
    .await
    .expect("observation event")
}

/// Observations a user asked for outlive a new registration of the client and a restart of
/// the adapter: they are observed again at the client's next Register or Update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observations_survive_reregistration_and_restart() {
    let f = Fixture::new().await;
    let sim = f.online(SimConfig::new("keep", f.addr())).await;
    let op = f.run("keep", native(NativeOp::Observe, "/3/0/9", None)).await;
    assert_eq!(op.state, OperationState::Succeeded);
    sim.register().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut events = f.engine.subscribe();
    sim.set(Path::Resource(3, 0, 9), Value::Integer(10));
    assert_eq!(observation(&mut events, "/3/0/9").await, json!(10));
    let mut config = common::config();
    config.listen = f.addr();
    let dir = f.stop().await;
    let f = Fixture::on(dir, config).await;
    let mut events = f.engine.subscribe();
    sim.update().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.set(Path::Resource(3, 0, 9), Value::Integer(11));
    assert_eq!(observation(&mut events, "/3/0/9").await, json!(11));
}

/// LightweightM2M-1.1-int-306 Send Operation: values a client pushes to /dp become observation
/// events; an unregistered address is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_306_send_operation() {
    let f = Fixture::new().await;
    let config = SimConfig { version: "1.1".into(), ..SimConfig::new("send306", f.addr()) };
    let sim = f.online(config).await;
    let mut events = f.engine.subscribe();
    sim.send(&[Path::Resource(3, 0, 9), Path::Resource(3, 0, 20)]).await.unwrap();
    assert_eq!(observation(&mut events, "/3/0/9").await, json!(87));
    let stranger = SimClient::start(SimConfig::new("stranger", f.addr())).await.unwrap();
    assert!(stranger.send(&[Path::Resource(3, 0, 9)]).await.is_err());
}
