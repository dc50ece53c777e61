//! The OMA DM adapter through the engine, with the simulated client over loopback HTTP:
//! devices, native commands, FUMO, LAWMO, Package #0, authentication, unanswered requests.

use std::time::Duration;

use unidm_core::{CreateOptions, SqliteStore, Store as _};
use unidm_models::{
    Action, DeviceId, ErrorKind, FirmwareState, FirmwareUpdate, NativeOp, NativeRequest, OperationState, RetryPolicy,
};
use unidm_omadm::codec::Encoding;
use unidm_omadm::package0::Notification;
use unidm_omadm::server::OmadmConfig;
use unidm_omadm::session::Credentials;
use unidm_omadm::sim::{SimAuth, SimConfig, SimDevice, SimError};
use unidm_testkit::{device_where, eventually, operation_end, operation_where, until};

mod engine;

use engine::{config, fixture, fixture_in, once, run_op_on, Fixture};

const DEV: &str = "IMEI:490154203237518";

fn sim(f: &Fixture, encoding: Encoding) -> SimDevice {
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.encoding = encoding;
    c.server_password = "server-secret".into();
    c.manufacturer = "Acme".into();
    c.model = "Phone-9".into();
    SimDevice::new(c)
}

fn id() -> DeviceId {
    DeviceId::omadm(DEV).unwrap()
}

fn native(op: NativeOp, path: &str, value: Option<&str>) -> Action {
    Action::Native(NativeRequest {
        op,
        path: path.into(),
        value: value.map(|v| serde_json::Value::String(v.into())),
        args: None,
        format: None,
    })
}

/// Creates an operation while the device is away, then lets the device run a session (and
/// the later one its Generic Alert needs); returns the operation once ended.
async fn run_op(f: &Fixture, device: &SimDevice, action: Action) -> unidm_models::Operation {
    run_op_on(f, &id(), device, action).await
}

#[tokio::test]
async fn a_device_appears_with_its_identity_after_its_first_session() {
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let f = fixture(config()).await;
        let device = sim(&f, encoding);
        device.run().await.unwrap();
        let d = device_where(&f.engine, &id(), |d| d.identity.manufacturer.is_some()).await;
        assert_eq!(d.identity.manufacturer.as_deref(), Some("Acme"));
        assert_eq!(d.identity.model.as_deref(), Some("Phone-9"));
        assert_eq!(d.identity.serial.as_deref(), Some(DEV));
        assert!(d.supports(unidm_models::Function::Firmware) && d.supports(unidm_models::Function::FactoryReset));
        assert!(!d.supports(unidm_models::Function::Reboot), "reboot only when configured");
        until("the session to close", || f.adapter.open_sessions() == 0).await;
        // A second session (md5 over the nonce the first one left) is still accepted.
        device.run().await.unwrap();
        assert_eq!(device.sessions(), 2);
        f.engine.shutdown().await;
    }
}

#[tokio::test]
async fn native_get_replace_exec_round_trip() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();

    let read = run_op(&f, &device, native(NativeOp::Read, "./DevInfo/Mod", None)).await;
    assert_eq!(read.state, OperationState::Succeeded, "{read:?}");
    assert_eq!(read.result.as_ref().unwrap()["value"], "Phone-9");

    let write = run_op(&f, &device, native(NativeOp::Write, "./Vendor/Color", Some("blue"))).await;
    assert_eq!(write.state, OperationState::Succeeded, "{write:?}");
    assert_eq!(device.node("./Vendor/Color").as_deref(), Some("blue"));

    let exec = run_op(&f, &device, native(NativeOp::Execute, "./Reboot", None)).await;
    assert_eq!(exec.state, OperationState::Succeeded, "{exec:?}");

    let missing = run_op(&f, &device, native(NativeOp::Read, "./Nope", None)).await;
    assert_eq!(missing.state, OperationState::Failed);
    let e = missing.error.unwrap();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::NotFound, Some("404")));

    let deleted = run_op(&f, &device, native(NativeOp::Delete, "./Vendor/Color", None)).await;
    assert_eq!(deleted.state, OperationState::Succeeded);
    assert_eq!(device.node("./Vendor/Color"), None);
    f.engine.shutdown().await;
}

fn firmware() -> Action {
    Action::Firmware(FirmwareUpdate {
        uri: "http://files.example/fw-2.0.bin".into(),
        version: Some("2.0".into()),
        name: None,
    })
}

#[tokio::test]
async fn firmware_through_fumo_succeeds_after_the_generic_alert_of_a_later_session() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Wbxml);
    device.run().await.unwrap();
    let op = run_op(&f, &device, firmware()).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(device.node("./FUMO/DownloadAndUpdate/PkgURL").as_deref(), Some("http://files.example/fw-2.0.bin"));
    assert!(device.sessions() >= 3, "the result came in a session of its own");
    let d = f.engine.device(&id()).unwrap();
    let fw = d.snapshot.firmware.unwrap();
    assert_eq!((fw.state, fw.version.as_deref()), (FirmwareState::Succeeded, Some("2.0")));
    f.engine.shutdown().await;
}

#[tokio::test]
async fn firmware_fails_with_the_fumo_result_code() {
    let f = fixture(config()).await;
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.fumo_result = 402;
    let device = SimDevice::new(c);
    device.run().await.unwrap();
    let op = run_op(&f, &device, firmware()).await;
    assert_eq!(op.state, OperationState::Failed);
    let e = op.error.unwrap();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::BadInput, Some("402")));
    let fw = f.engine.device(&id()).unwrap().snapshot.firmware.unwrap();
    assert_eq!(fw.state, FirmwareState::Failed);
    f.engine.shutdown().await;
}

#[tokio::test]
async fn factory_reset_through_lawmo() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    let op = run_op(&f, &device, Action::FactoryReset).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");

    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.lawmo_result = 1405;
    let refusing = SimDevice::new(c);
    let op = run_op(&f, &refusing, Action::FactoryReset).await;
    assert_eq!(op.state, OperationState::Failed);
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("1405"));

    let reboot = f.engine.create_operation(&id(), Action::Reboot, once()).await;
    if let Ok(op) = reboot {
        let op = operation_end(&f.engine, op.id).await;
        assert_eq!(op.error.unwrap().kind, ErrorKind::NotSupported);
    }
    f.engine.shutdown().await;
}

#[tokio::test]
async fn an_operation_for_an_absent_device_sends_package0_and_the_device_opens_a_session() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    let (push, _listener) = device.listen_package0("127.0.0.1:0".parse().unwrap()).await.unwrap();
    f.adapter.set_push_address(DEV, push).await;

    let op = f.engine.create_operation(&id(), native(NativeOp::Read, "./DevDetail/FwV", None), once()).await.unwrap();
    let op = operation_end(&f.engine, op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(op.result.unwrap()["value"], "1.0");
    assert!(device.notifications() >= 1);
    assert_eq!(device.rejected_notifications(), 0, "the digest verified");
    assert!(f.adapter.package0(DEV).is_some_and(|b| b.len() > 24));
    f.engine.shutdown().await;
}

/// A Package #0 the device answered is not sent again (config: attempts 3, backoff 200 ms,
/// doubling); an operation queued after that session gets a fresh one at once.
#[tokio::test]
async fn a_package0_the_device_answered_is_not_sent_again() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    let (push, _listener) = device.listen_package0("127.0.0.1:0".parse().unwrap()).await.unwrap();
    f.adapter.set_push_address(DEV, push).await;
    let read = || native(NativeOp::Read, "./DevDetail/FwV", None);

    let op = f.engine.create_operation(&id(), read(), once()).await.unwrap();
    assert_eq!(operation_end(&f.engine, op.id).await.state, OperationState::Succeeded);
    until("the session to end", || f.adapter.open_sessions() == 0).await;
    let op = f.engine.create_operation(&id(), read(), once()).await.unwrap();
    assert_eq!(operation_end(&f.engine, op.id).await.state, OperationState::Succeeded);
    until("the session to end", || f.adapter.open_sessions() == 0).await;
    // Past every backoff (200 + 400 + 800 ms): one Package #0 per operation, no more.
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    assert_eq!(device.notifications(), 2);
    assert_eq!(device.sessions(), 3, "the first session, then one per Package #0");
    f.engine.shutdown().await;
}

/// A Package #0 nobody answers is sent `push_attempts` times, then the operation waits for
/// the device's own next session.
#[tokio::test]
async fn an_unanswered_package0_is_sent_a_bounded_number_of_times() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    // A client that knows another server password: it rejects every notification.
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.server_password = "not-the-server's".into();
    let deaf = SimDevice::new(c);
    let (push, _listener) = deaf.listen_package0("127.0.0.1:0".parse().unwrap()).await.unwrap();
    f.adapter.set_push_address(DEV, push).await;
    let op = f.engine.create_operation(&id(), native(NativeOp::Read, "./DevInfo/Man", None), once()).await.unwrap();
    until("three attempts", || deaf.rejected_notifications() == 3).await;
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    assert_eq!(deaf.rejected_notifications(), 3, "no fourth attempt");
    assert_eq!(f.engine.operation(op.id).await.unwrap().state, OperationState::Waiting);
    // The device's own session takes the operation.
    device.run().await.unwrap();
    assert_eq!(operation_end(&f.engine, op.id).await.state, OperationState::Succeeded);
    f.engine.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_get_401_and_no_device() {
    let f = fixture(config()).await;
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "wrong");
    c.auth = SimAuth::Md5;
    let device = SimDevice::new(c);
    let e = device.run().await.unwrap_err();
    assert!(matches!(e, SimError::Unauthorized(401)), "{e:?}");
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "wrong");
    c.auth = SimAuth::Basic;
    let e = SimDevice::new(c).run().await.unwrap_err();
    assert!(matches!(e, SimError::Unauthorized(_)), "{e:?}");
    assert!(f.engine.device(&id()).is_err(), "no device for a client that never authenticated");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_request_left_unanswered_is_a_failed_attempt() {
    let f = fixture(OmadmConfig { session_timeout: Duration::from_millis(500), ..config() }).await;
    sim(&f, Encoding::Xml).run().await.unwrap();
    let op = f.engine.create_operation(&id(), native(NativeOp::Read, "./DevInfo/Man", None), once()).await.unwrap();
    operation_where(&f.engine, op.id, |o| o.state == OperationState::Waiting).await;
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.silent = true;
    SimDevice::new(c).run().await.unwrap();
    let op = operation_end(&f.engine, op.id).await;
    assert_eq!(op.state, OperationState::Failed);
    assert_eq!(op.error.unwrap().kind, ErrorKind::Timeout);
    until("the session to end", || f.adapter.open_sessions() == 0).await;
    f.engine.shutdown().await;
}

#[tokio::test]
async fn what_is_not_syncml_gets_http_errors() {
    let f = fixture(OmadmConfig { max_message: 4096, ..config() }).await;
    let url = f.adapter.server_url().unwrap();
    let http = reqwest::Client::new();
    let r = http.post(&url).header("content-type", "text/plain").body("hi").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let r = http
        .post(&url)
        .header("content-type", "application/vnd.syncml.dm+xml")
        .body(vec![b' '; 8192])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let r =
        http.post(&url).header("content-type", "application/vnd.syncml.dm+xml").body("<nope/>").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(f.adapter.open_sessions(), 0);
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_fumo_wait_and_the_device_nonces_survive_a_restart() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    let op = f.engine.create_operation(&id(), firmware(), once()).await.unwrap();
    operation_where(&f.engine, op.id, |o| o.state == OperationState::Waiting).await;
    // One session: the Exec is accepted (202); the result is not reported yet.
    device.session(1201, None).await.unwrap();
    let parked = operation_where(&f.engine, op.id, |o| {
        o.waiting_for.as_deref().is_some_and(|w| w.contains("Generic Alert 1226"))
    })
    .await;
    assert_eq!(parked.state, OperationState::Waiting);
    assert!(device.has_pending_alerts());

    f.engine.shutdown().await;
    let Fixture { engine, dir, .. } = f;
    drop(engine);
    let f = fixture_in(dir, config()).await;
    let device = device.with_server_url(f.adapter.server_url().unwrap());
    // The client nonce the first server left is in the device record: md5 works at once.
    let report = device.run().await.unwrap();
    assert_eq!(report.messages, 1, "Package 1 accepted at once, no 401 round trip: {report:?}");
    let op = operation_end(&f.engine, op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(op.attempts, 1, "neither the restart nor the wait was an attempt");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_fumo_wait_without_progress_fails_after_its_limit() {
    let f = fixture(OmadmConfig { stall_after: Some(Duration::from_millis(300)), ..config() }).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    let op = f.engine.create_operation(&id(), firmware(), once()).await.unwrap();
    operation_where(&f.engine, op.id, |o| o.state == OperationState::Waiting).await;
    device.session(1201, None).await.unwrap();
    let op = operation_end(&f.engine, op.id).await;
    assert_eq!(op.state, OperationState::Failed);
    let e = op.error.unwrap();
    assert_eq!(e.kind, ErrorKind::Stalled, "{e:?}");
    assert!(e.message.contains("FUMO"), "{}", e.message);
    // The snapshot says the update failed, and why.
    let fw = device_where(&f.engine, &id(), |d| {
        d.snapshot.firmware.as_ref().is_some_and(|s| s.state == unidm_models::FirmwareState::Failed)
    })
    .await
    .snapshot
    .firmware
    .unwrap();
    assert_eq!(fw.failure.as_deref(), Some(e.message.as_str()));
    f.engine.shutdown().await;
}

#[tokio::test]
async fn sessions_beyond_the_limit_get_503() {
    let f = fixture(OmadmConfig { max_sessions: 1, ..config() }).await;
    sim(&f, Encoding::Xml).run().await.unwrap();
    let op = f.engine.create_operation(&id(), native(NativeOp::Read, "./DevInfo/Man", None), once()).await.unwrap();
    operation_where(&f.engine, op.id, |o| o.state == OperationState::Waiting).await;
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.silent = true;
    // Handed a Get, then silent: its session stays open until the timeout.
    SimDevice::new(c).run().await.unwrap();
    assert_eq!(f.adapter.open_sessions(), 1);
    let other = SimConfig::new(f.adapter.server_url().unwrap(), "IMEI:2", "dev", "client-secret");
    let e = SimDevice::new(other).run().await.unwrap_err();
    assert!(matches!(&e, SimError::Http(m) if m.contains("503")), "{e:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_new_session_ends_the_old_one_and_its_request_is_a_failed_attempt() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    let twice = CreateOptions {
        retry: Some(RetryPolicy { max_attempts: 2, backoff_ms: 10, max_backoff_ms: 10 }),
        ..Default::default()
    };
    let op = f.engine.create_operation(&id(), native(NativeOp::Read, "./DevInfo/Man", None), twice).await.unwrap();
    operation_where(&f.engine, op.id, |o| o.state == OperationState::Waiting).await;
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.silent = true;
    SimDevice::new(c).run().await.unwrap();
    assert_eq!(f.adapter.open_sessions(), 1, "the silent session holds the Get");
    // The device comes back (a reboot, say) with a new session: the old one ends, the Get
    // it held is a failed attempt, and the retry goes out in a later session.
    let done = eventually("the retried read to succeed", || {
        let (device, engine) = (device.clone(), &f.engine);
        async move {
            device.run().await.unwrap();
            engine.operation(op.id).await.ok().filter(|o| o.state.is_terminal())
        }
    })
    .await;
    assert_eq!((done.state, done.attempts), (OperationState::Succeeded, 2), "{done:?}");
    assert_eq!(done.result.unwrap()["value"], "Acme");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn without_unknown_devices_only_listed_ones_enrol() {
    let mut listed = std::collections::BTreeMap::new();
    listed.insert(DEV.to_owned(), Credentials::new("own", "own-secret"));
    let f = fixture(OmadmConfig { accept_unknown_devices: false, device_credentials: listed, ..config() }).await;
    let url = f.adapter.server_url().unwrap();
    let stranger = SimDevice::new(SimConfig::new(url.clone(), "IMEI:999", "dev", "client-secret"));
    assert!(matches!(stranger.run().await.unwrap_err(), SimError::Unauthorized(401)));
    assert!(f.engine.device(&DeviceId::omadm("IMEI:999").unwrap()).is_err());
    SimDevice::new(SimConfig::new(url, DEV, "own", "own-secret")).run().await.unwrap();
    device_where(&f.engine, &id(), |_| true).await;
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_package1_answering_package0_must_carry_its_session_id() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    // The test receives the notification in the device's place.
    let inbox = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    f.adapter.set_push_address(DEV, inbox.local_addr().unwrap()).await;
    let op = f.engine.create_operation(&id(), native(NativeOp::Read, "./DevInfo/Mod", None), once()).await.unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(20), inbox.recv(&mut buf)).await.unwrap().unwrap();
    assert!(Notification::verify(&buf[..n], "server-secret", b""), "signed with the server password");
    let (note, _) = Notification::decode(&buf[..n]).unwrap();
    assert_eq!(note.server_id, "unidm");

    let wrong = format!("{:X}", note.session_id.wrapping_add(1).max(1));
    let e = device.session(1200, Some(wrong)).await.unwrap_err();
    assert!(matches!(&e, SimError::Http(m) if m.contains("400")), "{e:?}");
    device.session(1200, Some(note.session_id_text())).await.unwrap();
    let op = operation_end(&f.engine, op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn reboot_is_an_exec_of_the_configured_node() {
    let f = fixture(OmadmConfig { reboot_node: Some("./Reboot".into()), ..config() }).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    assert!(f.engine.device(&id()).unwrap().supports(unidm_models::Function::Reboot));
    let op = run_op(&f, &device, Action::Reboot).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_device_without_a_push_address_is_notified_through_the_webhook() {
    let (tx, mut hooked) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
                "queued"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let f = fixture(OmadmConfig { push_webhook: Some(hook), ..config() }).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    let op = f.engine.create_operation(&id(), native(NativeOp::Read, "./DevInfo/Mod", None), once()).await.unwrap();
    let v = tokio::time::timeout(Duration::from_secs(20), hooked.recv()).await.unwrap().unwrap();
    assert_eq!((v["devId"].as_str(), v["device"].as_str()), (Some(DEV), Some(id().to_string().as_str())));
    assert_eq!(v["contentType"], "application/vnd.syncml.notification");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(v["package0"].as_str().unwrap()).unwrap();
    let (note, _) = Notification::decode(&bytes).unwrap();
    device.session(1200, Some(note.session_id_text())).await.unwrap();
    let op = operation_end(&f.engine, op.id).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    f.engine.shutdown().await;
}

/// Credentials given to one device (the API's `PUT .../credentials`) enrol it where unknown
/// devices are refused, replace the default account for it, and survive a restart.
#[tokio::test]
async fn per_device_credentials_set_at_run_time_survive_a_restart() {
    let closed = || OmadmConfig { accept_unknown_devices: false, ..config() };
    let f = fixture(closed()).await;
    assert!(matches!(f.adapter.client(DEV), Err(unidm_omadm::server::ClientError::UnknownDevice(_))));
    f.engine.provision_device(id(), Default::default()).await.unwrap();
    let e = sim(&f, Encoding::Xml).run().await.unwrap_err();
    assert!(matches!(e, SimError::Unauthorized(_)), "not enrolled yet: {e:?}");
    let settings = f.adapter.set_credentials(DEV, Some(Credentials::new("own", "own-secret"))).await.unwrap();
    assert_eq!((settings.credentials, settings.username.as_deref()), ("device", Some("own")));
    let bad = f.adapter.set_push(DEV, Some("not an address")).await.unwrap_err();
    assert!(matches!(bad, unidm_omadm::server::ClientError::Invalid { field: "address", .. }), "{bad:?}");

    f.engine.shutdown().await;
    let Fixture { dir, .. } = f;
    let f = fixture_in(dir, closed()).await;
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "own", "own-secret");
    c.server_password = "server-secret".into();
    SimDevice::new(c).run().await.unwrap();
    let e = sim(&f, Encoding::Xml).run().await.unwrap_err();
    assert!(matches!(e, SimError::Unauthorized(_)), "the default account no longer applies: {e:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn native_copy_copies_a_node_and_a_missing_source_is_not_found() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Wbxml);
    device.run().await.unwrap();
    let copy = |source: &str| native(NativeOp::Copy, "./Vendor/ModelCopy", Some(source));
    let op = run_op(&f, &device, copy("./DevInfo/Mod")).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(device.node("./Vendor/ModelCopy").as_deref(), Some("Phone-9"));
    let op = run_op(&f, &device, copy("./DevInfo/Nothing")).await;
    assert_eq!((op.state, op.error.map(|e| e.kind)), (OperationState::Failed, Some(ErrorKind::NotFound)));
    f.engine.shutdown().await;
}

/// Composite reads are a Sequence of Gets (absent nodes left out), composite writes an Atomic
/// of Replaces, and a node's properties are Gets with `?prop=`.
#[tokio::test]
async fn native_composites_and_properties() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Wbxml);
    device.run().await.unwrap();
    let composite = |op, value: serde_json::Value| {
        Action::Native(NativeRequest { op, path: "/".into(), value: Some(value), args: None, format: None })
    };
    let read = composite(NativeOp::ReadComposite, serde_json::json!(["./DevInfo/Man", "./DevInfo/Mod", "./Nothing"]));
    let op = run_op(&f, &device, read).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let v = &op.result.unwrap()["value"];
    assert_eq!(*v, serde_json::json!({"./DevInfo/Man": "Acme", "./DevInfo/Mod": "Phone-9"}));

    let write = composite(NativeOp::WriteComposite, serde_json::json!({"./Vendor/A": "1", "./Vendor/B": 2}));
    let op = run_op(&f, &device, write).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!((device.node("./Vendor/A").as_deref(), device.node("./Vendor/B").as_deref()), (Some("1"), Some("2")));

    let op = run_op(&f, &device, native(NativeOp::Read, "./DevInfo/Man?prop=Format", None)).await;
    assert_eq!(op.result.unwrap()["value"], "chr");
    let op = run_op(&f, &device, native(NativeOp::Read, "./DevInfo?prop=Format", None)).await;
    assert_eq!(op.result.unwrap()["value"], "node");
    let op = run_op(&f, &device, native(NativeOp::Read, "./DevInfo/Man?prop=Title", None)).await;
    assert_eq!(op.error.map(|e| e.kind), Some(ErrorKind::NotSupported), "406");
    // Too many nodes: refused before anything is sent.
    let many: Vec<String> = (0..300).map(|i| format!("./N/{i}")).collect();
    let read = composite(NativeOp::ReadComposite, serde_json::json!(many));
    let op = f.engine.create_operation(&id(), read, once()).await.unwrap();
    let op = operation_end(&f.engine, op.id).await;
    let e = op.error.unwrap();
    assert_eq!(e.kind, ErrorKind::BadInput, "failed at submit, no session needed: {e:?}");
    assert!(e.message.contains("at most 256"), "{e:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn native_discover_is_a_get_of_the_structure() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    let discover = |args: Option<&str>| {
        Action::Native(NativeRequest {
            op: NativeOp::Discover,
            path: "./DevInfo".into(),
            value: None,
            args: args.map(str::to_owned),
            format: None,
        })
    };
    let op = run_op(&f, &device, discover(None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let nodes = op.result.unwrap()["value"].clone();
    assert_eq!(nodes["./DevInfo/Man"], "", "Struct: names only: {nodes}");
    assert!(nodes.get("./DevInfo").is_some() && nodes.get("./DevDetail/FwV").is_none(), "{nodes}");
    let op = run_op(&f, &device, discover(Some("data"))).await;
    let nodes = op.result.unwrap()["value"].clone();
    assert_eq!((nodes["./DevInfo/Man"].as_str(), nodes["./DevInfo/Mod"].as_str()), (Some("Acme"), Some("Phone-9")));
    f.engine.shutdown().await;
}

/// `syncml:auth-MAC`: a client that signs every message (`x-syncml-hmac`) and sends no `Cred`
/// gets in, is read through the engine, and one with a wrong password is refused.
#[tokio::test]
async fn hmac_clients_sign_every_message() {
    let f = fixture(OmadmConfig { client_auth: unidm_omadm::session::ClientAuth::Hmac, ..config() }).await;
    let signed = |password: &str| {
        let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", password);
        c.auth = SimAuth::Hmac;
        c.model = "Phone-9".into();
        c.encoding = Encoding::Wbxml;
        SimDevice::new(c)
    };
    let e = signed("wrong").run().await.unwrap_err();
    assert!(matches!(e, SimError::Unauthorized(_)), "{e:?}");
    let device = signed("client-secret");
    device.run().await.unwrap();
    let op = run_op(&f, &device, native(NativeOp::Read, "./DevInfo/Mod", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(op.result.unwrap()["value"], "Phone-9");
    f.engine.shutdown().await;
}

/// Reboot nodes per manufacturer: a device whose `Man` has one (and has the node) can be
/// rebooted by an Exec of it; a device of another manufacturer has no reboot and is refused.
#[tokio::test]
async fn reboot_nodes_by_manufacturer() {
    let rule = unidm_omadm::server::RebootNode { manufacturer: "acme".into(), model: None, node: "./Reboot".into() };
    let f = fixture(OmadmConfig { reboot_nodes: vec![rule], ..config() }).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    device_where(&f.engine, &id(), |d| d.supports(unidm_models::Function::Reboot)).await;
    let op = run_op(&f, &device, Action::Reboot).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");

    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), "IMEI:77", "dev", "client-secret");
    c.manufacturer = "Other".into();
    SimDevice::new(c).run().await.unwrap();
    let other = DeviceId::omadm("IMEI:77").unwrap();
    device_where(&f.engine, &other, |d| d.supports(unidm_models::Function::FactoryReset)).await;
    assert!(!f.engine.device(&other).unwrap().supports(unidm_models::Function::Reboot));
    let refused = f.engine.create_operation(&other, Action::Reboot, once()).await;
    assert!(refused.is_err(), "{refused:?}");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_session_that_tells_nothing_new_emits_no_device_event_and_a_change_does() {
    let f = fixture(config()).await;
    let device = sim(&f, Encoding::Xml);
    device.run().await.unwrap();
    device_where(&f.engine, &id(), |d| d.identity.model.as_deref() == Some("Phone-9")).await;
    let seen_before = f.engine.device(&id()).unwrap().presence.last_seen;
    let mut events = f.engine.subscribe();
    for _ in 0..3 {
        // Last-seen has millisecond precision: let the clock move between sessions.
        tokio::time::sleep(Duration::from_millis(5)).await;
        device.run().await.unwrap();
    }
    let d = f.engine.device(&id()).unwrap();
    assert!(d.presence.last_seen > seen_before, "last-seen moved: {seen_before:?} -> {:?}", d.presence.last_seen);
    while let Ok(Some(received)) = tokio::time::timeout(Duration::from_millis(1), events.recv()).await {
        if let unidm_core::Received::Event(unidm_models::Event::DeviceUpdated { device }) = &received {
            assert_ne!(device.id, id(), "an unchanged DM session emitted DeviceUpdated");
        }
    }
    // A new fact still takes the full contact path.
    device.set_node("./DevInfo/Mod", "Phone-10");
    device.run().await.unwrap();
    device_where(&f.engine, &id(), |d| d.identity.model.as_deref() == Some("Phone-10")).await;
    f.engine.shutdown().await;
}

#[tokio::test]
async fn without_nonces_an_unchanged_session_writes_nothing() {
    let config = OmadmConfig { client_auth: unidm_omadm::session::ClientAuth::None, ..config() };
    let f = fixture(config).await;
    let device = sim(&f, Encoding::Wbxml);
    device.run().await.unwrap();
    device_where(&f.engine, &id(), |d| d.identity.model.as_deref() == Some("Phone-9")).await;
    let stored = || async {
        let store = SqliteStore::open_read_only(f.dir.path().join("unidm.db")).unwrap();
        store.load_devices().await.unwrap().into_iter().find(|d| d.id == id()).expect("device stored")
    };
    let before = stored().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        device.run().await.unwrap();
    }
    assert!(f.engine.device(&id()).unwrap().presence.last_seen > before.presence.last_seen, "last-seen moved");
    assert_eq!(stored().await, before, "an unchanged session without a nonce rewrote the device");
    f.engine.shutdown().await;
}

/// `discover` with `args: "tnds"` is a Get `?list=TNDS`: the client answers with a TNDS
/// `MgmtTree` in the Result's `Data` (markup, WBXML code page 2 in WBXML), read back into the
/// node URIs with their values, in both encodings.
#[tokio::test]
async fn native_discover_as_tnds_in_both_encodings() {
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let f = fixture(config()).await;
        let device = sim(&f, encoding);
        device.run().await.unwrap();
        let tnds = Action::Native(NativeRequest {
            op: NativeOp::Discover,
            path: "./DevInfo".into(),
            value: None,
            args: Some("tnds".into()),
            format: None,
        });
        let op = run_op(&f, &device, tnds).await;
        assert_eq!(op.state, OperationState::Succeeded, "{encoding:?}: {op:?}");
        let nodes = op.result.unwrap()["value"].clone();
        assert_eq!(nodes["./DevInfo/Man"], "Acme", "{encoding:?}: {nodes}");
        assert_eq!(nodes["./DevInfo/Mod"], "Phone-9");
        assert_eq!(nodes["./DevInfo"], "", "the interior node has no value");
        f.engine.shutdown().await;
    }
}

/// A native `create` whose value maps node URIs to values is an Add of a TNDS tree: the client
/// creates every node (interior where the value is null), in both encodings.
#[tokio::test]
async fn native_create_of_a_tnds_tree_in_both_encodings() {
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let f = fixture(config()).await;
        let device = sim(&f, encoding);
        device.run().await.unwrap();
        let value = serde_json::json!({
            "./Vendor/App/Port": 8080,
            "./Vendor/App": null,
            "./Vendor/App/Url": "http://x.example/a",
        });
        let create = Action::Native(NativeRequest {
            op: NativeOp::Create,
            path: ".".into(),
            value: Some(value),
            args: None,
            format: None,
        });
        let op = run_op(&f, &device, create).await;
        assert_eq!(op.state, OperationState::Succeeded, "{encoding:?}: {op:?}");
        assert_eq!(device.node("./Vendor/App/Url").as_deref(), Some("http://x.example/a"), "{encoding:?}");
        assert_eq!(device.node("./Vendor/App/Port").as_deref(), Some("8080"));
        f.engine.shutdown().await;
    }
}

/// A native `alert` asks the device's user (Alert 1100 - 1104): the answer comes back in the
/// result; a rejected confirmation (304) fails the operation.
#[tokio::test]
async fn user_interaction_alerts_carry_the_users_answer() {
    let f = fixture(config()).await;
    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.ui_answer = Some("4711".into());
    let device = SimDevice::new(c);
    device.run().await.unwrap();
    let alert = |code: &str, items: serde_json::Value| {
        Action::Native(NativeRequest {
            op: NativeOp::Alert,
            path: code.into(),
            value: Some(items),
            args: None,
            format: None,
        })
    };
    let op = run_op(&f, &device, alert("1102", serde_json::json!(["MINDT=30&MAXLEN=4", "PIN?"]))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(op.result.unwrap()["answer"], serde_json::json!(["4711"]));

    let mut c = SimConfig::new(f.adapter.server_url().unwrap(), DEV, "dev", "client-secret");
    c.ui_answer = Some("no".into());
    let refusing = SimDevice::new(c);
    let op = run_op(&f, &refusing, alert("1101", serde_json::json!(["MINDT=10", "Reboot now?"]))).await;
    assert_eq!(op.state, OperationState::Failed, "{op:?}");
    assert_eq!(op.error.unwrap().protocol_code.as_deref(), Some("304"));
    f.engine.shutdown().await;
}
