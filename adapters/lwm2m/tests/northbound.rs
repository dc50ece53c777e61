//! unidm as an LwM2M gateway toward a distant server (`unidm_lwm2m::northbound`), with a second
//! unidm engine as that server: observations of an end device are notified when the
//! gateway's model changes, and the gateway registers again when the distant server restarts
//! without its registration.

mod common;

use std::time::Duration;

use common::{config, native, Fixture};
use unidm_core::Received;
use unidm_lwm2m::northbound::{Northbound, NorthboundConfig};
use unidm_lwm2m::sim::SimConfig;
use unidm_lwm2m::Lwm2mConfig;
use unidm_models::{Action, DeviceId, Event, FirmwareUpdate, NativeOp, OperationState, PresenceState};
use unidm_testkit::{eventually, operation_end};

fn northbound(server: std::net::SocketAddr, endpoint: &str, lifetime: Duration) -> NorthboundConfig {
    let mut c = NorthboundConfig::new(server, endpoint);
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.lifetime = lifetime;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observation_through_the_gateway_follows_the_model() {
    let gw = Fixture::new().await;
    let _lamp = gw.online(SimConfig::new("lamp-1", gw.addr())).await;
    let distant = Fixture::new().await;
    let nb = Northbound::start(gw.engine.clone(), northbound(distant.addr(), "gw-o", Duration::from_secs(60)))
        .await
        .unwrap();
    let end = "gw-o/lwm2m:lamp-1";
    distant.wait_device(end, |d| d.presence.state == PresenceState::Online).await;

    // The distant server observes the end device's firmware version.
    let mut events = distant.engine.subscribe();
    let op = distant.run(end, native(NativeOp::Observe, "/3/0/3", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);

    // The gateway's unidm updates the lamp's firmware itself: the version changes in its model.
    let lamp: DeviceId = "lwm2m:lamp-1".parse().unwrap();
    let fw = FirmwareUpdate { uri: "http://127.0.0.1:9/lamp-2.bin".into(), version: Some("2.0".into()), name: None };
    let op = gw.engine.create_operation(&lamp, Action::Firmware(fw), Default::default()).await.unwrap();
    assert_eq!(operation_end(&gw.engine, op.id).await.state, OperationState::Succeeded);
    let new_version = gw.engine.device(&lamp).unwrap().identity.fw_version.unwrap();

    let end_id: DeviceId = format!("lwm2m:{end}").parse().unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Received::Event(Event::Observation { device, path, value, .. })) = events.recv().await {
                if device == end_id && path == "/3/0/3" && value == serde_json::json!(new_version) {
                    return value;
                }
            }
        }
    })
    .await
    .expect("a notification of the end device's /3/0/3 with the new version");
    assert_eq!(seen, serde_json::json!(new_version));
    assert!(nb.status().requests >= 1);
    nb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_registers_again_when_the_distant_server_forgot_it() {
    let gw = Fixture::new().await;
    let _lamp = gw.online(SimConfig::new("lamp-2", gw.addr())).await;
    let distant = Fixture::new().await;
    let addr = distant.addr();
    // A short lifetime: an Update every 3 s.
    let nb = Northbound::start(gw.engine.clone(), northbound(addr, "gw-r", Duration::from_secs(4))).await.unwrap();
    distant.wait_device("gw-r/lwm2m:lamp-2", |d| d.presence.state == PresenceState::Online).await;
    eventually("one registration", || async { (nb.status().registrations == 1).then_some(()) }).await;

    // The distant server restarts on the same address with an empty database.
    let _ = distant.stop().await;
    let restarted = Fixture::with(Lwm2mConfig { listen: addr, ..config() }).await;
    // The next Update gets 4.04; the gateway registers again, with its end device.
    restarted.wait_device("gw-r/lwm2m:lamp-2", |d| d.presence.state == PresenceState::Online).await;
    let status = nb.status();
    assert_eq!(status.registrations, 2, "{status:?}");
    assert!(status.registered);
    nb.stop().await;
}

/// Proxy mode: requests for an LwM2M end device go to the device itself through the gateway's
/// LwM2M server (resources the model does not hold, writes, executes), and an observation
/// follows the device's own notifications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_an_lwm2m_end_device_are_forwarded_to_it() {
    let gw = Fixture::new().await;
    let lamp = gw.online(SimConfig::new("lamp-p", gw.addr())).await;
    let distant = Fixture::new().await;
    let config = northbound(distant.addr(), "gw-p", Duration::from_secs(60));
    let nb = Northbound::start_with(gw.engine.clone(), config, Some(gw.adapter.clone())).await.unwrap();
    let end = "gw-p/lwm2m:lamp-p";
    distant.wait_device(end, |d| d.presence.state == PresenceState::Online).await;

    // Battery level: the device's own value (the model does not translate /3/0/9).
    let op = distant.run(end, native(NativeOp::Read, "/3/0/9", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(op.result, Some(serde_json::json!(87)));
    // A write and an execute reach the device.
    let op = distant.run(end, native(NativeOp::Write, "/3/0/14", Some(serde_json::json!("+05:00")))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(
        lamp.get(unidm_lwm2m::path::Path::Resource(3, 0, 14)),
        Some(unidm_lwm2m::codec::Value::String("+05:00".into()))
    );
    let op = distant.run(end, native(NativeOp::Execute, "/3/0/4", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    eventually("the lamp to reboot", || async { (lamp.reboots() == 1).then_some(()) }).await;
    // A resource the device does not have: its own 4.04.
    let op = distant.run(end, native(NativeOp::Read, "/3/0/99", None)).await;
    assert_eq!(op.state, OperationState::Failed);

    // Observed through the gateway: the device's notification reaches the distant server.
    let mut events = distant.engine.subscribe();
    let op = distant.run(end, native(NativeOp::Observe, "/3/0/9", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    lamp.set(unidm_lwm2m::path::Path::Resource(3, 0, 9), unidm_lwm2m::codec::Value::Integer(42));
    let end_id: DeviceId = format!("lwm2m:{end}").parse().unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Received::Event(Event::Observation { device, path, value, .. })) = events.recv().await {
                if device == end_id && path == "/3/0/9" && value == serde_json::json!(42) {
                    return;
                }
            }
        }
    })
    .await
    .expect("the device's notification of /3/0/9 = 42 through the gateway");

    // Switched to the model by its label: the time zone /3/0/14 is not in the model; /3/0/0 is.
    let lamp_id: DeviceId = "lwm2m:lamp-p".parse().unwrap();
    let labels = |mode: &str| [("northbound".to_owned(), mode.to_owned())].into();
    gw.engine.set_labels(&lamp_id, labels("model")).await.unwrap();
    eventually("the model to answer", || async {
        let op = distant.run(end, native(NativeOp::Read, "/3/0/14", None)).await;
        (op.state == OperationState::Failed).then_some(())
    })
    .await;
    let op = distant.run(end, native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.result, Some(serde_json::json!(lamp_manufacturer(&gw))));
    // Hidden: no longer an end device.
    gw.engine.set_labels(&lamp_id, labels("hidden")).await.unwrap();
    distant.wait_device(end, |d| d.presence.state == PresenceState::Offline).await;
    assert_eq!(nb.status().end_devices, 0);
    nb.stop().await;
}

fn lamp_manufacturer(gw: &Fixture) -> String {
    gw.device("lamp-p").and_then(|d| d.identity.manufacturer).unwrap()
}

/// A unidm group shown to the distant server as an end device (DG-001/002): its firmware
/// update fans out to every member through a group operation (FORA-001), and one Update Result
/// reports them all (FORA-002).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firmware_update_of_a_group_fans_out_to_its_members() {
    let gw = Fixture::new().await;
    let a = gw.online(SimConfig::new("lamp-ga", gw.addr())).await;
    let b = gw.online(SimConfig::new("lamp-gb", gw.addr())).await;
    let members = ["lwm2m:lamp-ga", "lwm2m:lamp-gb"].iter().map(|m| m.parse().unwrap()).collect();
    let group = unidm_models::Group {
        id: "lamps".into(),
        description: None,
        members,
        selector: None,
        created_at: unidm_models::Timestamp::from_system(std::time::SystemTime::now()),
    };
    gw.engine.put_group(group).await.unwrap();
    let distant = Fixture::new().await;
    let nb = Northbound::start(gw.engine.clone(), northbound(distant.addr(), "gw-g", Duration::from_secs(60)))
        .await
        .unwrap();
    let as_device = "gw-g/group:lamps";
    distant.wait_device(as_device, |d| d.presence.state == PresenceState::Online).await;
    distant.wait_device("gw-g/lwm2m:lamp-ga", |d| d.presence.state == PresenceState::Online).await;

    let fw = FirmwareUpdate { uri: "http://127.0.0.1:9/lamps-3.bin".into(), version: None, name: None };
    let id: DeviceId = format!("lwm2m:{as_device}").parse().unwrap();
    let op = distant.engine.create_operation(&id, Action::Firmware(fw), Default::default()).await.unwrap();
    let op = operation_end(&distant.engine, op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!((a.update_executes(), b.update_executes()), (1, 1), "each member updated once");
    let ops = gw.engine.group_operations(Some("lamps")).await.unwrap();
    assert_eq!(ops.len(), 1, "one group operation on the gateway's unidm");
    let op = distant.run(as_device, native(NativeOp::Read, "/5/0/5", None)).await;
    assert_eq!(op.result, Some(serde_json::json!(1)), "Update Result for the whole group");
    nb.stop().await;
}

/// A distant bootstrap server gives the gateway its server account (DB-001, TMode-001): the
/// gateway asks to be bootstrapped, takes the account and lifetime written, registers with
/// that server and lists its end devices there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_is_bootstrapped_by_a_distant_bootstrap_server() {
    use unidm_lwm2m::bootstrap::{SecurityMode, ServerAccount};
    let gw = Fixture::new().await;
    let _lamp = gw.online(SimConfig::new("lamp-b", gw.addr())).await;
    let distant = Fixture::new().await;
    let bs = distant.adapter.bootstrap_addr().expect("bootstrap server");
    let account = ServerAccount {
        short_server_id: 7,
        uri: format!("coap://{}", distant.addr()),
        security: SecurityMode::NoSec {},
        lifetime: 45,
        binding: "U".into(),
        default_min_period: None,
        default_max_period: None,
        notification_storing: false,
    };
    distant
        .adapter
        .put_bootstrap_config("gw-b", unidm_lwm2m::BootstrapConfig { servers: vec![account] })
        .await
        .unwrap();
    // The server given here is not where it registers: the bootstrap server decides.
    let mut config = northbound(([127, 0, 0, 1], 9).into(), "gw-b", Duration::from_secs(300));
    config.bootstrap = Some(bs);
    let nb = Northbound::start(gw.engine.clone(), config).await.unwrap();
    let registered = distant.wait_device("gw-b", |d| d.presence.state == PresenceState::Online).await;
    assert_eq!(registered.identity.manufacturer.as_deref(), Some("unidm"));
    distant.wait_device("gw-b/lwm2m:lamp-b", |d| d.presence.state == PresenceState::Online).await;
    let status = nb.status();
    assert!(status.registered, "{status:?}");
    let reg = distant.adapter.registration("gw-b").expect("registered");
    assert_eq!(reg.lifetime_s, 45, "the lifetime the bootstrap server wrote");
    assert!(reg.objects.iter().all(|l| !l.path.starts_with("/0")), "no Security object listed: {:?}", reg.objects);
    nb.stop().await;
}

/// DTLS toward the distant server: with a PSK the gateway registers over `coaps`, is read over
/// its session, and its end device through it; the distant server takes the registration only
/// from the identity bound to the endpoint (a wrong key never registers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_registers_over_dtls_with_a_psk() {
    use unidm_lwm2m::northbound::Psk;
    use unidm_lwm2m::DtlsSettings;
    const KEY: &[u8] = b"gateway-psk-0001";
    let gw = Fixture::new().await;
    let _lamp = gw.online(SimConfig::new("lamp-s", gw.addr())).await;
    let mut dtls = config();
    dtls.dtls = Some(DtlsSettings { listen: ([127, 0, 0, 1], 0).into(), ..Default::default() });
    let distant = Fixture::with(dtls).await;
    distant.adapter.set_psk(b"id-gw-s", Some("gw-s"), KEY).await.unwrap();
    let coaps = distant.adapter.dtls_addr().expect("DTLS listening");

    let mut config = northbound(coaps, "gw-s", Duration::from_secs(60));
    config.psk = Some(Psk { identity: b"id-gw-s".to_vec(), key: KEY.to_vec() });
    assert!(!format!("{config:?}").contains("gateway-psk"), "the key is never printed");
    let nb = Northbound::start(gw.engine.clone(), config).await.unwrap();
    distant.wait_device("gw-s/lwm2m:lamp-s", |d| d.presence.state == PresenceState::Online).await;
    let op = distant.run("gw-s/lwm2m:lamp-s", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    nb.stop().await;

    // Another key: the handshake fails, nothing registers.
    let mut config = northbound(coaps, "gw-s2", Duration::from_secs(60));
    distant.adapter.set_psk(b"id-gw-s2", Some("gw-s2"), KEY).await.unwrap();
    config.psk = Some(Psk { identity: b"id-gw-s2".to_vec(), key: b"not-the-right-k!".to_vec() });
    let wrong = Northbound::start(gw.engine.clone(), config).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!wrong.status().registered);
    assert!(distant.device("gw-s2").is_none());
    wrong.stop().await;
}

/// Transparent mode (MOO-001..004, TMode-002): an LwM2M device labelled `transparent` gets the
/// distant server's account first in its bootstrap configuration and a Bootstrap-Request
/// Trigger; it bootstraps again, registers with the distant server itself and leaves `/25`.
/// Labelled otherwise, the account leaves its configuration again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transparent_device_is_pointed_at_the_distant_server() {
    use unidm_lwm2m::bootstrap::{SecurityMode, ServerAccount};
    use unidm_lwm2m::sim::SimClient;
    let gw = Fixture::new().await;
    let bs = gw.adapter.bootstrap_addr().expect("bootstrap server");
    let own = ServerAccount {
        short_server_id: 1,
        uri: format!("coap://{}", gw.addr()),
        security: SecurityMode::NoSec {},
        lifetime: 60,
        binding: "U".into(),
        default_min_period: None,
        default_max_period: None,
        notification_storing: false,
    };
    gw.adapter.put_bootstrap_config("lamp-t", unidm_lwm2m::BootstrapConfig { servers: vec![own] }).await.unwrap();
    let sim = SimClient::start(SimConfig::new("lamp-t", ([127, 0, 0, 1], 9).into())).await.unwrap();
    sim.bootstrap(bs).await.unwrap();
    sim.register().await.unwrap();
    gw.wait_device("lamp-t", |d| d.identity.manufacturer.is_some()).await;
    let distant = Fixture::new().await;
    let config = northbound(distant.addr(), "gw-t", Duration::from_secs(60));
    let nb = Northbound::start_with(gw.engine.clone(), config, Some(gw.adapter.clone())).await.unwrap();
    distant.wait_device("gw-t/lwm2m:lamp-t", |d| d.presence.state == PresenceState::Online).await;

    let id: DeviceId = "lwm2m:lamp-t".parse().unwrap();
    let label = |mode: &str| [("northbound".to_owned(), mode.to_owned())].into();
    gw.engine.set_labels(&id, label("transparent")).await.unwrap();
    // Registered with the distant server itself, and no longer behind the gateway.
    distant.wait_device("lamp-t", |d| d.presence.state == PresenceState::Online).await;
    distant.wait_device("gw-t/lwm2m:lamp-t", |d| d.presence.state == PresenceState::Offline).await;
    assert_eq!(sim.server(), distant.addr());
    let servers = gw.adapter.bootstrap_config("lamp-t").await.unwrap().servers;
    assert_eq!(servers.len(), 2, "unidm's own account stays: {servers:?}");
    assert_eq!(servers[0].uri, format!("coap://{}", distant.addr()));
    let op = distant.run("lamp-t", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "managed directly: {:?}", op.error);

    // Labelled otherwise: the distant account leaves the configuration (the device comes back
    // at its next bootstrap).
    gw.engine.set_labels(&id, label("proxy")).await.unwrap();
    eventually("the distant account to leave", || async {
        let servers = gw.adapter.bootstrap_config("lamp-t").await?.servers;
        (servers.len() == 1 && servers[0].uri == format!("coap://{}", gw.addr())).then_some(())
    })
    .await;
    nb.stop().await;
}

/// Proxy mode with a queue-mode device: a request for it waits until it wakes (its next
/// update), the distant server getting an empty ACK at once and the answer later as a separate
/// response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_a_sleeping_device_is_answered_when_it_wakes() {
    use unidm_lwm2m::sim::SimClient;
    let mut c = config();
    c.server.awake_window = Duration::from_secs(1);
    let gw = Fixture::with(c).await;
    let sim =
        SimClient::start(SimConfig { binding: "UQ".into(), ..SimConfig::new("lamp-q", gw.addr()) }).await.unwrap();
    sim.register().await.unwrap();
    gw.wait_device("lamp-q", |d| d.identity.manufacturer.is_some()).await;
    gw.wait_device("lamp-q", |d| d.presence.state == PresenceState::Sleeping).await;
    let distant = Fixture::new().await;
    let config = northbound(distant.addr(), "gw-q", Duration::from_secs(60));
    let nb = Northbound::start_with(gw.engine.clone(), config, Some(gw.adapter.clone())).await.unwrap();
    let end = "gw-q/lwm2m:lamp-q";
    distant.wait_device(end, |d| d.presence.state == PresenceState::Online).await;

    let id: DeviceId = format!("lwm2m:{end}").parse().unwrap();
    let read = native(NativeOp::Read, "/3/0/9", None);
    let op = distant.engine.create_operation(&id, read, Default::default()).await.unwrap();
    // Held while the device sleeps, well past the gateway's 500 ms before its empty ACK.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(!distant.engine.operation(op.id).await.unwrap().state.is_terminal(), "held while asleep");
    sim.update().await.unwrap();
    let op = operation_end(&distant.engine, op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(op.result, Some(serde_json::json!(87)));
    nb.stop().await;
}
