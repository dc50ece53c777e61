//! The LwM2M 1.1 composite operations over loopback UDP with the simulated client, named after
//! the OMA ETS cases they cover (OMA-ETS-LightweightM2M-V1_1): 1.1-int-229 Read-Composite, -235 on
//! the root path, -236 partial presence, -230 / -257 Write-Composite, -304 Observe-Composite,
//! -305 Cancel Observation-Composite, -308 / -309 / -310 Observe-Composite with an instance
//! created, an instance deleted, a value written by the server.

mod common;

use std::time::Duration;

use common::Fixture;
use serde_json::{json, Value as Json};
use unidm_core::Received;
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::server::Observed;
use unidm_lwm2m::sim::SimConfig;
use unidm_lwm2m::Path;
use unidm_models::{Action, ErrorKind, Event, NativeOp, NativeRequest, Operation, OperationState};

fn composite(op: NativeOp, value: Json) -> Action {
    Action::Native(NativeRequest { op, path: "/".into(), value: Some(value), args: None, format: None })
}

fn native(op: NativeOp, path: &str, value: Option<Json>) -> Action {
    Action::Native(NativeRequest { op, path: path.into(), value, args: None, format: None })
}

/// The paths of `seen`, sorted.
fn paths(seen: &[(String, Json)]) -> Vec<&str> {
    let mut out: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    out.sort();
    out
}

fn v1_1(ep: &str, f: &Fixture) -> SimConfig {
    SimConfig { version: "1.1".into(), ..SimConfig::new(ep, f.addr()) }
}

fn succeeded(op: Operation) -> Option<Json> {
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    op.result
}

async fn next_observation(events: &mut unidm_core::Subscription, device: &str) -> (String, Json) {
    loop {
        if let Some(Received::Event(Event::Observation { device: d, path, value, .. })) = events.recv().await {
            if d.native() == device {
                return (path, value);
            }
        }
    }
}

/// The observation events for `device`, as `(path, value)`: the first `count` to arrive (5 s
/// at most), then any more within `quiet`.
async fn observations(
    events: &mut unidm_core::Subscription,
    device: &str,
    count: usize,
    quiet: Duration,
) -> Vec<(String, Json)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        match tokio::time::timeout(Duration::from_secs(5), next_observation(events, device)).await {
            Ok(one) => seen.push(one),
            Err(_) => panic!("{count} observation events expected, got {seen:?}"),
        }
    }
    while let Ok(one) = tokio::time::timeout(quiet, next_observation(events, device)).await {
        seen.push(one);
    }
    seen
}

/// Waits for the observation of `path` on `device` and returns its value.
async fn observation(events: &mut unidm_core::Subscription, device: &str, path: &str) -> Json {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Received::Event(Event::Observation { device: d, path: p, value, .. })) = events.recv().await {
                if d.native() == device && p == path {
                    return value;
                }
            }
        }
    })
    .await
    .expect("observation event")
}

/// LightweightM2M-1.1-int-229 Read-Composite Operation: resources of two objects and a
/// multiple resource in one FETCH, in SenML JSON, and in SenML CBOR for a client that
/// announced only `ct=112`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_229_read_composite() {
    let f = Fixture::new().await;
    let expected = json!({"/3/0/0": "unidm sim", "/1/0/1": 300, "/3/0/7/0": 3800, "/3/0/7/1": 5000});
    let _json = f.online(v1_1("rc229", &f)).await;
    let op = f.run("rc229", composite(NativeOp::ReadComposite, json!(["/3/0/0", "/1/0/1", "/3/0/7"]))).await;
    assert_eq!(succeeded(op), Some(expected.clone()));

    let cbor = SimConfig { content_formats: vec![112], ..v1_1("rc229c", &f) };
    let _cbor = f.online(cbor).await;
    assert_eq!(f.adapter.registration("rc229c").unwrap().content_formats, vec![112]);
    let op = f.run("rc229c", composite(NativeOp::ReadComposite, json!(["/3/0/7", "/1/0/1", "/3/0/0"]))).await;
    assert_eq!(succeeded(op), Some(expected));
}

/// LightweightM2M-1.1-int-235 Read-Composite Operation on root path: `/` brings every object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_235_read_composite_on_root_path() {
    let f = Fixture::new().await;
    let _sim = f.online(v1_1("rc235", &f)).await;
    let op = f.run("rc235", composite(NativeOp::ReadComposite, json!(["/"]))).await;
    let result = succeeded(op).unwrap();
    assert_eq!(result["/1/0/1"], json!(300));
    assert_eq!(result["/3/0/0"], json!("unidm sim"));
    assert_eq!(result["/3/0/6/1"], json!(5));
    assert_eq!(result["/5/0/3"], json!(0));
}

/// LightweightM2M-1.1-int-236 Read-Composite – Partial Presence: absent paths are left out;
/// when none is present the client answers 4.04.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_236_read_composite_partial_presence() {
    let f = Fixture::new().await;
    let _sim = f.online(v1_1("rc236", &f)).await;
    let op = f.run("rc236", composite(NativeOp::ReadComposite, json!(["/3/0/0", "/42/0/0", "/3/0/99", "/6"]))).await;
    assert_eq!(succeeded(op), Some(json!({"/3/0/0": "unidm sim"})));
    let op = f.run("rc236", composite(NativeOp::ReadComposite, json!(["/42/0/0"]))).await;
    assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::NotFound));
}

/// LightweightM2M-1.1-int-230 Write-Composite Operation: resources of /3 and /1 in one
/// iPATCH (SenML JSON) change on the device and read back; a set holding a read-only
/// resource is refused (4.05) and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_230_write_composite() {
    let f = Fixture::new().await;
    let sim = f.online(v1_1("wc230", &f)).await;
    let values = json!({"/3/0/14": "+02:00", "/3/0/15": "Europe/Paris", "/1/0/1": 120});
    let op = f.run("wc230", composite(NativeOp::WriteComposite, values.clone())).await;
    assert_eq!(succeeded(op), None);
    assert_eq!(sim.get(Path::Resource(3, 0, 14)), Some(Value::String("+02:00".into())));
    assert_eq!(sim.get(Path::Resource(3, 0, 15)), Some(Value::String("Europe/Paris".into())));
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(120)));
    let op = f.run("wc230", composite(NativeOp::ReadComposite, json!(["/3/0/14", "/3/0/15", "/1/0/1"]))).await;
    assert_eq!(succeeded(op), Some(values));

    let op = f.run("wc230", composite(NativeOp::WriteComposite, json!({"/1/0/1": 60, "/3/0/0": "x"}))).await;
    let e = op.error.expect("refused");
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("4.05")));
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(120)), "nothing written");
    let op = f.run("wc230", composite(NativeOp::WriteComposite, json!({"/1/0/1": "soon"}))).await;
    assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::BadInput));
}

/// LightweightM2M-1.1-int-257 Write-Composite Operation: an object instance's resources and
/// a single resource, in SenML CBOR for a client announcing only `ct=112`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_257_write_composite_cbor() {
    let f = Fixture::new().await;
    let config = SimConfig { content_formats: vec![112], ..v1_1("wc257", &f) };
    let sim = f.online(config).await;
    let values = json!({"/1/0": {"2": 5, "3": 60, "6": true}, "/3/0/14": "-05:00"});
    let op = f.run("wc257", composite(NativeOp::WriteComposite, values)).await;
    assert_eq!(succeeded(op), None);
    assert_eq!(sim.get(Path::Resource(1, 0, 2)), Some(Value::Integer(5)));
    assert_eq!(sim.get(Path::Resource(1, 0, 3)), Some(Value::Integer(60)));
    assert_eq!(sim.get(Path::Resource(1, 0, 6)), Some(Value::Boolean(true)));
    assert_eq!(sim.get(Path::Resource(3, 0, 14)), Some(Value::String("-05:00".into())));
}

/// A LwM2M 1.0 client has no composite operation: every one fails with NotSupported before
/// anything is sent, and the device keeps its values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_operations_need_lwm2m_1_1() {
    let f = Fixture::new().await;
    let sim = f.online(SimConfig::new("old", f.addr())).await;
    for action in [
        composite(NativeOp::ReadComposite, json!(["/3/0/0"])),
        composite(NativeOp::ObserveComposite, json!(["/3/0/9"])),
        composite(NativeOp::WriteComposite, json!({"/1/0/1": 60})),
    ] {
        let op = f.run("old", action).await;
        let e = op.error.expect("refused");
        assert_eq!(e.kind, ErrorKind::NotSupported, "{}", e.message);
    }
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(300)));
    // Malformed requests are refused at once, whatever the device.
    let op = f
        .run(
            "old",
            Action::Native(NativeRequest {
                op: NativeOp::ReadComposite,
                path: "/3/0".into(),
                value: Some(json!(["/3/0/0"])),
                args: None,
                format: None,
            }),
        )
        .await;
    assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::BadInput));
}

/// LightweightM2M-1.1-int-304 Observe-Composite Operation: the first answer carries both
/// paths; a change of one brings a notification of both, delivered as one observation event
/// per resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_304_observe_composite() {
    let f = Fixture::new().await;
    let sim = f.online(v1_1("oc304", &f)).await;
    let mut events = f.engine.subscribe();
    let op = f.run("oc304", composite(NativeOp::ObserveComposite, json!(["/3/0/9", "/3/0/20"]))).await;
    assert_eq!(succeeded(op), Some(json!({"/3/0/9": 87, "/3/0/20": 0})));
    let set = Observed::Composite(vec![Path::Resource(3, 0, 9), Path::Resource(3, 0, 20)]);
    assert_eq!(sim.observations().await, vec![set.clone()]);
    sim.set(Path::Resource(3, 0, 9), Value::Integer(42));
    let mut seen = observations(&mut events, "oc304", 2, Duration::from_millis(200)).await;
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen, vec![("/3/0/20".to_owned(), json!(0)), ("/3/0/9".to_owned(), json!(42))]);
    // A resource outside the set changes: no notification.
    sim.set(Path::Resource(3, 0, 10), Value::Integer(1));
    assert!(observations(&mut events, "oc304", 0, Duration::from_millis(300)).await.is_empty());
    // The observation outlives a new registration of the client (observed again).
    sim.register().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sim.observations().await, vec![set], "observed again, once");
    sim.set(Path::Resource(3, 0, 20), Value::Integer(2));
    assert_eq!(observation(&mut events, "oc304", "/3/0/20").await, json!(2));
}

/// LightweightM2M-1.1-int-305 Cancel Observation-Composite Operation: FETCH with Observe=1
/// listing the paths (here in another order); notifications stop, while an Observe of one
/// of the paths, a separate observation, goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_305_cancel_observe_composite() {
    let f = Fixture::new().await;
    let sim = f.online(v1_1("oc305", &f)).await;
    let single = Action::Native(NativeRequest {
        op: NativeOp::Observe,
        path: "/3/0/20".into(),
        value: None,
        args: None,
        format: None,
    });
    succeeded(f.run("oc305", single).await);
    let op = f.run("oc305", composite(NativeOp::ObserveComposite, json!(["/3/0/9", "/3/0/20"]))).await;
    succeeded(op);
    let mut events = f.engine.subscribe();
    sim.set(Path::Resource(3, 0, 9), Value::Integer(50));
    assert_eq!(observation(&mut events, "oc305", "/3/0/9").await, json!(50));

    let single = Observed::Path(Path::Resource(3, 0, 20));
    assert_eq!(sim.observations().await.len(), 2);
    let op = f.run("oc305", composite(NativeOp::CancelObserveComposite, json!(["/3/0/20", "/3/0/9"]))).await;
    succeeded(op);
    assert_eq!(sim.observations().await, vec![single], "the client dropped the composite observation");
    let mut events = f.engine.subscribe();
    sim.set(Path::Resource(3, 0, 9), Value::Integer(51));
    assert!(observations(&mut events, "oc305", 0, Duration::from_millis(300)).await.is_empty());
    sim.set(Path::Resource(3, 0, 20), Value::Integer(3));
    let seen = observations(&mut events, "oc305", 1, Duration::from_millis(300)).await;
    assert_eq!(seen, vec![("/3/0/20".to_owned(), json!(3))], "only the single Observe of /3/0/20 is left");
}

/// LightweightM2M-1.1-int-308 Observe-Composite and Creating Object Instance: an
/// Observe-Composite of an object without instances (/9) and a resource; the server creates an
/// instance, and the notification carries the new instance's resources with the resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_308_observe_composite_and_creating_object_instance() {
    let f = Fixture::new().await;
    let _sim = f.online(v1_1("oc308", &f)).await;
    let op = f.run("oc308", composite(NativeOp::ObserveComposite, json!(["/9", "/3/0/9"]))).await;
    assert_eq!(succeeded(op), Some(json!({"/3/0/9": 87})), "no /9 instance yet");
    let mut events = f.engine.subscribe();
    let create = native(NativeOp::Create, "/9", Some(json!({"0": "app", "1": "1.2.3"})));
    succeeded(f.run("oc308", create).await);
    let seen = observations(&mut events, "oc308", 3, Duration::from_millis(300)).await;
    for (path, value) in [("/3/0/9", json!(87)), ("/9/0/0", json!("app")), ("/9/0/1", json!("1.2.3"))] {
        assert!(seen.contains(&(path.to_owned(), value)), "{path} in {seen:?}");
    }
}

/// LightweightM2M-1.1-int-309 Observe-Composite and Deleting Object Instance: the
/// notification after the server deletes an observed object's instance no longer has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_309_observe_composite_and_deleting_object_instance() {
    let f = Fixture::new().await;
    let _sim = f.online(v1_1("oc309", &f)).await;
    let create = native(NativeOp::Create, "/9", Some(json!({"0": "app", "1": "1.2.3"})));
    succeeded(f.run("oc309", create).await);
    let op = f.run("oc309", composite(NativeOp::ObserveComposite, json!(["/9", "/3/0/9"]))).await;
    let first = succeeded(op).unwrap();
    assert_eq!((first["/9/0/0"].clone(), first["/3/0/9"].clone()), (json!("app"), json!(87)), "{first}");
    let mut events = f.engine.subscribe();
    succeeded(f.run("oc309", native(NativeOp::Delete, "/9/0", None)).await);
    let seen = observations(&mut events, "oc309", 1, Duration::from_millis(300)).await;
    assert_eq!(paths(&seen), ["/3/0/9"], "the deleted instance is gone from the notification");
}

/// LightweightM2M-1.1-int-310 Observe-Composite and modification of parameter values: a
/// value the server writes is notified with the rest of the observed set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_310_observe_composite_and_modification_of_parameter_values() {
    let f = Fixture::new().await;
    let sim = f.online(v1_1("oc310", &f)).await;
    let op = f.run("oc310", composite(NativeOp::ObserveComposite, json!(["/1/0/1", "/3/0/9"]))).await;
    let lifetime = succeeded(op).unwrap()["/1/0/1"].clone();
    assert!(lifetime.is_i64(), "{lifetime}");
    let mut events = f.engine.subscribe();
    succeeded(f.run("oc310", native(NativeOp::Write, "/1/0/1", Some(json!(120)))).await);
    let mut seen = observations(&mut events, "oc310", 2, Duration::from_millis(300)).await;
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen, [("/1/0/1".to_owned(), json!(120)), ("/3/0/9".to_owned(), json!(87))]);
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(120)));
    // A write outside the observed set: no notification.
    succeeded(f.run("oc310", native(NativeOp::Write, "/1/0/2", Some(json!(5)))).await);
    assert!(observations(&mut events, "oc310", 0, Duration::from_millis(300)).await.is_empty());
}
