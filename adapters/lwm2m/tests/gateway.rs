//! A LwM2M Gateway (object /25, LwM2M 1.1 GwCap; LwM2M Gateway TS §6) with end devices, over
//! loopback UDP with the simulated client: each end device becomes a device of its own
//! (`lwm2m:{gateway}/{device id}`), a child of the gateway, reached through `/{prefix}/…`.

mod common;

use std::time::Duration;

use common::Fixture;
use serde_json::{json, Value as Json};
use unidm_core::{Received, Subscription};
use unidm_lwm2m::codec::Value;
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::Path;
use unidm_models::{
    Action, Device, DeviceId, Event, FirmwareState, NativeOp, NativeRequest, OperationState, PresenceState,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_end_devices_become_children() {
    let f = Fixture::new().await;
    let config = SimConfig { version: "1.1".into(), gateway_children: 2, ..SimConfig::new("gw", f.addr()) };
    let sim = SimClient::start(config).await.unwrap();
    sim.register().await.unwrap();
    // Read by the adapter, as for a registering client: identity (/3) and firmware state (/5).
    let child = f.wait_device("gw/child-1", |d| d.identity.serial.is_some() && d.snapshot.firmware.is_some()).await;
    assert_eq!(child.identity.serial.as_deref(), Some("SN-gw-1"));
    assert_eq!(child.snapshot.firmware.as_ref().map(|f| f.state), Some(FirmwareState::Idle));
    assert_eq!(child.identity.model.as_deref(), Some("end-device"));
    let gw = f.wait_device("gw", |d| d.topology.children.len() == 2).await;
    assert_eq!(gw.topology.children, [DeviceId::lwm2m("gw/child-0").unwrap(), DeviceId::lwm2m("gw/child-1").unwrap()]);
    assert_eq!(child.topology.parent, Some(DeviceId::lwm2m("gw").unwrap()));
    // Operations on an end device go to the gateway under its prefix.
    let write =
        NativeRequest { op: NativeOp::Write, path: "/1/0/1".into(), value: Some(json!(99)), args: None, format: None };
    let op = f.run("gw/child-0", Action::Native(write)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.end_device_get("dev0", Path::Resource(1, 0, 1)), Some(Value::Integer(99)));
    assert_eq!(sim.get(Path::Resource(1, 0, 1)), Some(Value::Integer(300)), "the gateway's own /1 is untouched");
    let read = NativeRequest { op: NativeOp::Read, path: "/3/0/2".into(), value: None, args: None, format: None };
    let op = f.run("gw/child-0", Action::Native(read)).await;
    assert_eq!(op.result, Some(json!("SN-gw-0")));
}

async fn gateway(f: &Fixture, endpoint: &str, children: usize) -> SimClient {
    let config = SimConfig { version: "1.1".into(), gateway_children: children, ..SimConfig::new(endpoint, f.addr()) };
    let sim = SimClient::start(config).await.unwrap();
    sim.register().await.unwrap();
    for i in 0..children {
        f.wait_device(&format!("{endpoint}/child-{i}"), |d| d.identity.serial.is_some()).await;
    }
    f.wait_device(endpoint, |d| d.topology.children.len() == children).await;
    sim
}

fn online(d: &Device) -> bool {
    d.presence.state == PresenceState::Online
}

fn ids(names: &[&str]) -> Vec<DeviceId> {
    names.iter().map(|n| DeviceId::lwm2m(n).unwrap()).collect()
}

fn native(op: NativeOp, path: &str) -> Action {
    Action::Native(NativeRequest { op, path: path.into(), value: None, args: None, format: None })
}

/// The next observation event of `device` at `path`, within `within`.
async fn observation(events: &mut Subscription, device: &str, path: &str, within: Duration) -> Option<Json> {
    tokio::time::timeout(within, async {
        loop {
            if let Some(Received::Event(Event::Observation { device: d, path: p, value, .. })) = events.recv().await {
                if d.native() == device && p == path {
                    return value;
                }
            }
        }
    })
    .await
    .ok()
}

/// Sets `/3/0/9` of the end device under `prefix` again and again until `device` reports it:
/// its observation is made again by a task of the adapter the test cannot wait on.
async fn notified_again(events: &mut Subscription, sim: &SimClient, prefix: &str, device: &str) {
    for level in 1..=25 {
        sim.end_device_set(prefix, Path::Resource(3, 0, 9), Value::Integer(level));
        if observation(events, device, "/3/0/9", Duration::from_millis(200)).await == Some(json!(level)) {
            return;
        }
    }
    panic!("{device} is not observed again");
}

/// A gateway that de-registers takes its end devices offline with it; when it registers
/// again they come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_deregistration_takes_end_devices_offline() {
    let f = Fixture::new().await;
    let sim = gateway(&f, "gwd", 2).await;
    let mut events = f.engine.subscribe();
    sim.deregister().await.unwrap();
    for child in ["gwd/child-0", "gwd/child-1"] {
        f.wait_device(child, |d| !online(d)).await;
    }
    assert!(!online(&f.device("gwd").unwrap()));
    let mut deregistered = Vec::new();
    while deregistered.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("events") {
            Some(Received::Event(Event::DeviceDeregistered { device })) => deregistered.push(device),
            Some(_) => {}
            None => panic!("subscription ended"),
        }
    }
    deregistered.sort();
    assert_eq!(deregistered, ids(&["gwd", "gwd/child-0", "gwd/child-1"]), "the gateway's reason for each");
    // The end devices are still the gateway's, offline until it lists them again.
    assert_eq!(f.device("gwd").unwrap().topology.children, ids(&["gwd/child-0", "gwd/child-1"]));
    sim.register().await.unwrap();
    for child in ["gwd/child-0", "gwd/child-1"] {
        f.wait_device(child, online).await;
    }
    let op = f.run("gwd/child-1", native(NativeOp::Read, "/3/0/2")).await;
    assert_eq!(op.result, Some(json!("SN-gwd-1")), "{:?}", op.error);
}

/// An Update whose object list adds a /25 instance brings a new end device; one whose list
/// drops an instance takes that end device offline and out of the gateway's children.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_devices_follow_the_gateway_object_list() {
    let f = Fixture::new().await;
    let sim = gateway(&f, "gwu", 2).await;
    assert_eq!(sim.add_end_device().as_deref(), Some("dev2"));
    sim.update_objects().await.unwrap();
    let gw = f.wait_device("gwu", |d| d.topology.children.len() == 3).await;
    assert_eq!(gw.topology.children, ids(&["gwu/child-0", "gwu/child-1", "gwu/child-2"]));
    let added = f.wait_device("gwu/child-2", |d| d.identity.serial.is_some()).await;
    assert!(online(&added));
    assert_eq!(added.identity.serial.as_deref(), Some("SN-gwu-2"));
    assert_eq!(added.topology.parent, Some(DeviceId::lwm2m("gwu").unwrap()));

    assert!(sim.remove_end_device("dev1"));
    sim.update_objects().await.unwrap();
    let gone = f.wait_device("gwu/child-1", |d| !online(d)).await;
    assert_eq!(gone.topology.parent, None);
    let gw = f.wait_device("gwu", |d| d.topology.children.len() == 2).await;
    assert_eq!(gw.topology.children, ids(&["gwu/child-0", "gwu/child-2"]));
    assert!(online(&f.device("gwu/child-0").unwrap()) && online(&f.device("gwu/child-2").unwrap()));
    let op = f.run("gwu/child-2", native(NativeOp::Read, "/3/0/2")).await;
    assert_eq!(op.result, Some(json!("SN-gwu-2")), "{:?}", op.error);
}

/// The same path observed on the gateway and on its end device: two observations, each
/// notification reported on its own device with the unprefixed path; cancelling the end
/// device's leaves the gateway's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_device_observations_are_apart_from_the_gateways() {
    let f = Fixture::new().await;
    let sim = gateway(&f, "gwo", 2).await;
    let op = f.run("gwo", native(NativeOp::Observe, "/3/0/9")).await;
    assert_eq!(op.result, Some(json!(87)), "{:?}", op.error);
    let op = f.run("gwo/child-1", native(NativeOp::Observe, "/3/0/9")).await;
    assert_eq!(op.result, Some(json!(87)), "{:?}", op.error);
    let second = Duration::from_secs(5);

    let mut events = f.engine.subscribe();
    sim.end_device_set("dev1", Path::Resource(3, 0, 9), Value::Integer(33));
    assert_eq!(observation(&mut events, "gwo/child-1", "/3/0/9", second).await, Some(json!(33)));
    sim.set(Path::Resource(3, 0, 9), Value::Integer(50));
    assert_eq!(observation(&mut events, "gwo", "/3/0/9", second).await, Some(json!(50)));
    // The other end device is not observed.
    let mut events = f.engine.subscribe();
    sim.end_device_set("dev0", Path::Resource(3, 0, 9), Value::Integer(20));
    assert_eq!(observation(&mut events, "gwo/child-0", "/3/0/9", Duration::from_millis(300)).await, None);

    let op = f.run("gwo/child-1", native(NativeOp::CancelObserve, "/3/0/9")).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    let mut events = f.engine.subscribe();
    sim.end_device_set("dev1", Path::Resource(3, 0, 9), Value::Integer(34));
    sim.set(Path::Resource(3, 0, 9), Value::Integer(51));
    assert_eq!(observation(&mut events, "gwo", "/3/0/9", second).await, Some(json!(51)));
    let mut events = f.engine.subscribe();
    sim.end_device_set("dev1", Path::Resource(3, 0, 9), Value::Integer(35));
    assert_eq!(observation(&mut events, "gwo/child-1", "/3/0/9", Duration::from_millis(300)).await, None);
}

/// An end device's observation is persisted under its own name and made again after the
/// gateway registers anew and after an adapter restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_device_observations_survive_reregistration_and_restart() {
    let f = Fixture::new().await;
    let sim = gateway(&f, "gwk", 2).await;
    let op = f.run("gwk/child-0", native(NativeOp::Observe, "/3/0/9")).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    sim.register().await.unwrap();
    let mut events = f.engine.subscribe();
    notified_again(&mut events, &sim, "dev0", "gwk/child-0").await;

    let mut config = common::config();
    config.listen = f.addr();
    let dir = f.stop().await;
    let f = Fixture::on(dir, config).await;
    let mut events = f.engine.subscribe();
    sim.update().await.unwrap();
    notified_again(&mut events, &sim, "dev0", "gwk/child-0").await;
    assert!(online(&f.wait_device("gwk/child-1", |d| d.identity.serial.is_some()).await));
}
