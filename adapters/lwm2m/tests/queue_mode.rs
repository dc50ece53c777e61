//! Queue mode over loopback UDP (ETS LightweightM2M-1.1-int-108 Turn on Queue Mode, -109
//! Behavior in Queue Mode): requests wait for the client's next Update.

mod common;

use std::time::Duration;

use common::Fixture;
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_models::{Action, DeviceId, OperationState, PresenceState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_109_behavior_in_queue_mode() {
    let mut config = common::config();
    config.server.awake_window = Duration::from_secs(1);
    let f = Fixture::with(config).await;
    let sim = SimClient::start(SimConfig { binding: "UQ".into(), ..SimConfig::new("q109", f.addr()) }).await.unwrap();
    sim.register().await.unwrap();
    assert!(f.adapter.registration("q109").unwrap().queue_mode);
    f.wait_device("q109", |d| d.identity.manufacturer.is_some()).await;
    f.wait_device("q109", |d| d.presence.state == PresenceState::Sleeping).await;
    let id = DeviceId::lwm2m("q109").unwrap();
    let op = f.engine.create_operation(&id, Action::Reboot, Default::default()).await.unwrap();
    let waiting =
        common::wait(|| async { f.engine.operation(op.id).await.ok().filter(|o| o.waiting_for.is_some()) }).await;
    assert_eq!(waiting.state, OperationState::Waiting, "held while asleep, and shown so");
    assert_eq!(waiting.waiting_for.as_deref(), Some(unidm_lwm2m::WAITING_FOR_WAKE));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!f.state(op.id).await.is_terminal(), "held while asleep");
    assert_eq!(sim.reboots(), 0);
    sim.update().await.unwrap();
    assert_eq!(f.finish(op.id).await.state, OperationState::Succeeded);
    assert_eq!(sim.reboots(), 1);
    f.wait_device("q109", |d| d.presence.state == PresenceState::Sleeping).await;
}

/// A 1.1 client in queue mode sends `b=U&Q`: 1.1 has no `UQ` binding (TS Core 1.1 §6.2.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_1_int_108_turn_on_queue_mode_with_the_q_parameter() {
    let f = Fixture::with(common::config()).await;
    let config = SimConfig { binding: "UQ".into(), version: "1.1".into(), ..SimConfig::new("q108", f.addr()) };
    let sim = SimClient::start(config).await.unwrap();
    sim.register().await.unwrap();
    let registration = f.adapter.registration("q108").unwrap();
    assert!(registration.queue_mode);
    assert_eq!(registration.binding, "U");
}
