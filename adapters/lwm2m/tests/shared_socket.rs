//! Simulated clients sharing one UDP socket (`sim::SharedSocket`): each registers under an
//! alternate root path of its own, and the server's requests, the ACKs and the responses reach
//! the right client, whose objects and state are its own.

mod common;

use std::sync::Arc;

use common::{native, Fixture};
use serde_json::json;
use unidm_lwm2m::sim::{Share, SharedSocket, SimClient, SimConfig};
use unidm_models::{Action, FirmwareUpdate, NativeOp, OperationState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_one_socket_are_managed_one_by_one() {
    let f = Fixture::new().await;
    let socket = SharedSocket::bind("127.0.0.1:0".parse().unwrap(), 4000).await.unwrap();
    let share = Share(Arc::clone(&socket));
    let mut sims = Vec::new();
    for i in 0..5 {
        let config = SimConfig {
            serial: format!("SN-shared-{i}"),
            shared_socket: Some(share.clone()),
            ..SimConfig::new(&format!("shared-{i}"), f.addr())
        };
        sims.push(f.online(config).await);
    }
    for (i, sim) in sims.iter().enumerate() {
        assert_eq!(sim.local_addr(), socket.local_addr().unwrap(), "one address for all");
        let d = f.device(&format!("shared-{i}")).unwrap();
        assert_eq!(d.identity.serial.as_deref(), Some(format!("SN-shared-{i}").as_str()), "read from its own /3/0");
    }

    // A write reaches its client only.
    let op = f.run("shared-3", native(NativeOp::Write, "/1/0/1", Some(json!(1234)))).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    for (i, sim) in sims.iter().enumerate() {
        let lifetime = sim.get(unidm_lwm2m::path::Path::Resource(1, 0, 1));
        let want = if i == 3 { 1234 } else { 300 };
        assert_eq!(lifetime, Some(unidm_lwm2m::codec::Value::Integer(want)), "client {i}");
    }

    // A firmware update of one client: its state machine runs, the others' stay idle.
    let fw = Action::Firmware(FirmwareUpdate {
        uri: "http://127.0.0.1/fw-2.0.bin".into(),
        version: Some("2.0".into()),
        name: None,
    });
    let op = f.run("shared-1", fw).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    f.wait_device("shared-1", |d| d.identity.fw_version.as_deref() == Some("2.0")).await;
    assert_eq!((sims[1].package_uri_writes(), sims[1].update_executes()), (1, 1));
    for i in [0, 2, 3, 4] {
        assert_eq!((sims[i].package_uri_writes(), sims[i].update_executes()), (0, 0), "client {i}");
        assert_eq!(f.device(&format!("shared-{i}")).unwrap().identity.fw_version.as_deref(), Some("1.0"));
    }

    // Updates and de-registrations are answered to their senders.
    for sim in &sims {
        sim.update().await.unwrap();
    }
    sims[4].deregister().await.unwrap();
    f.wait_device("shared-4", |d| d.presence.state == unidm_models::PresenceState::Offline).await;
    assert_eq!(f.device("shared-0").unwrap().presence.state, unidm_models::PresenceState::Online);
}

#[tokio::test]
async fn dtls_needs_a_socket_of_its_own() {
    let socket = SharedSocket::bind("127.0.0.1:0".parse().unwrap(), 1).await.unwrap();
    let config = SimConfig {
        shared_socket: Some(Share(socket)),
        psk: Some((b"id".to_vec(), b"key".to_vec())),
        ..SimConfig::new("x", "127.0.0.1:5683".parse().unwrap())
    };
    let err = SimClient::start(config).await.unwrap_err();
    assert!(err.to_string().contains("socket of the client's own"), "{err}");
}
