//! Operations that wait for their device are held by the engine's delivery
//! (`unidm_core::Delivery`): shown `waiting` until the endpoint registers, started by its
//! registration and only by its own, held once across an engine restart; a firmware update
//! resumes at its stored step after a restart.

mod common;

use std::time::Duration;

use common::{native, Fixture};
use unidm_core::CreateOptions;
use unidm_lwm2m::sim::{FirmwareBehaviour, SimClient, SimConfig};
use unidm_models::{Action, DeviceId, FirmwareUpdate, NativeOp, Operation, OperationId, OperationState, RetryPolicy};
use unidm_testkit::{operation_end, operation_where, until};

const WAITING_FOR: &str = "waiting for the device to register";

async fn create(f: &Fixture, ep: &str, action: Action) -> Operation {
    let opts = CreateOptions {
        retry: Some(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }),
        ..CreateOptions::default()
    };
    let id = DeviceId::lwm2m(ep).unwrap();
    if f.engine.device(&id).is_err() {
        // Provisioned ahead of its first registration.
        f.engine.provision_device(id.clone(), Default::default()).await.unwrap();
    }
    f.engine.create_operation(&id, action, opts).await.unwrap()
}

async fn waiting(f: &Fixture, id: OperationId) -> Operation {
    operation_where(&f.engine, id, |o| o.state == OperationState::Waiting).await
}

fn reboot() -> Action {
    Action::Reboot
}

/// An operation for an endpoint that never registered waits, in the engine, "for the device
/// to register" (its `waitingFor`), and runs once the client registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_for_an_unregistered_endpoint_waits_then_runs_on_register() {
    let f = Fixture::new().await;
    let op = create(&f, "late", native(NativeOp::Read, "/3/0/0", None)).await;
    let held = waiting(&f, op.id).await;
    assert_eq!(held.waiting_for.as_deref(), Some(WAITING_FOR));
    let _sim = f.online(SimConfig::new("late", f.addr())).await;
    let done = operation_end(&f.engine, op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{:?}", done.error);
    assert!(done.result.is_some());
}

/// Operations for two unregistered endpoints: registering one starts its operations only;
/// the other's stay waiting until it registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_one_endpoint_starts_only_its_operations() {
    let f = Fixture::new().await;
    let a1 = create(&f, "ep-a", reboot()).await;
    let a2 = create(&f, "ep-a", native(NativeOp::Read, "/3/0/1", None)).await;
    let b = create(&f, "ep-b", reboot()).await;
    for id in [a1.id, a2.id, b.id] {
        waiting(&f, id).await;
    }
    let sim_a = SimClient::start(SimConfig::new("ep-a", f.addr())).await.unwrap();
    sim_a.register().await.unwrap();
    for id in [a1.id, a2.id] {
        let done = operation_end(&f.engine, id).await;
        assert_eq!(done.state, OperationState::Succeeded, "{:?}", done.error);
    }
    assert_eq!(sim_a.reboots(), 1);
    let still = f.engine.operation(b.id).await.unwrap();
    assert_eq!(still.state, OperationState::Waiting, "ep-b has not registered");
    assert_eq!(still.waiting_for.as_deref(), Some(WAITING_FOR));
    let sim_b = SimClient::start(SimConfig::new("ep-b", f.addr())).await.unwrap();
    sim_b.register().await.unwrap();
    assert_eq!(operation_end(&f.engine, b.id).await.state, OperationState::Succeeded);
    assert_eq!((sim_a.reboots(), sim_b.reboots()), (1, 1));
}

/// A waiting operation that is cancelled leaves the delivery: the endpoint's registration
/// runs only what is still queued for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_waiting_operation_does_not_run_on_register() {
    let f = Fixture::new().await;
    let cancelled = create(&f, "calm", reboot()).await;
    waiting(&f, cancelled.id).await;
    f.engine.cancel_operation(cancelled.id).await.unwrap();
    let kept = create(&f, "calm", native(NativeOp::Read, "/3/0/0", None)).await;
    waiting(&f, kept.id).await;
    let sim = SimClient::start(SimConfig::new("calm", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    assert_eq!(operation_end(&f.engine, kept.id).await.state, OperationState::Succeeded);
    assert_eq!(f.engine.operation(cancelled.id).await.unwrap().state, OperationState::Cancelled);
    assert_eq!(sim.reboots(), 0, "the cancelled reboot was not sent");
}

/// An operation waiting across an engine restart is handed back by the engine; the delivery
/// holds it once, so the device gets its request once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_operation_runs_once_after_a_restart() {
    let f = Fixture::new().await;
    let op = create(&f, "again", reboot()).await;
    waiting(&f, op.id).await;
    let mut config = common::config();
    config.listen = f.addr();
    let dir = f.stop().await;
    let f = Fixture::on(dir, config).await;
    let held = waiting(&f, op.id).await;
    // The engine's hand-back and a second submission of the same id: one operation held.
    let adapter: &dyn unidm_core::Adapter = &*f.adapter;
    adapter.submit(held.clone()).await.unwrap();
    let sim = SimClient::start(SimConfig::new("again", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    let done = operation_end(&f.engine, op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{:?}", done.error);
    // A second copy would have started with the first; a later operation ends after it.
    let after = create(&f, "again", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(operation_end(&f.engine, after.id).await.state, OperationState::Succeeded);
    until("the reboot executed", || sim.reboots() >= 1).await;
    assert_eq!(sim.reboots(), 1, "the operation ran once");
}

/// A request whose CoAP retransmissions run out is a failed attempt: the operation fails
/// with a retryable `Timeout` naming the request, the engine submits it again per its retry
/// policy, and after its attempts it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_request_is_a_failed_attempt_and_is_retried() {
    let mut config = common::config();
    config.server.transmission.ack_timeout = Duration::from_millis(40);
    config.server.transmission.max_retransmit = 1;
    let f = Fixture::with(config).await;
    let sim = f.online(SimConfig::new("mute", f.addr())).await;
    drop(sim);
    let opts = CreateOptions {
        retry: Some(RetryPolicy { max_attempts: 2, backoff_ms: 10, max_backoff_ms: 10 }),
        ..CreateOptions::default()
    };
    let id = DeviceId::lwm2m("mute").unwrap();
    let action = native(NativeOp::Read, "/3/0/0", None);
    let op = f.engine.create_operation(&id, action, opts).await.unwrap();
    let done = operation_end(&f.engine, op.id).await;
    assert_eq!(done.state, OperationState::Failed);
    assert_eq!(done.attempts, 2, "retried once after the first unanswered request");
    let e = done.error.expect("an error");
    assert_eq!(e.kind, unidm_models::ErrorKind::Timeout);
    assert!(e.kind.is_retryable());
    assert!(e.message.contains("GET /3/0/0"), "{}", e.message);
}

/// The firmware procedure stores its step with the operation: after an engine and adapter
/// restart while the client downloads, it resumes there. The client sees one Package URI
/// write and one Update execute, and the operation succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firmware_update_resumes_at_its_step_after_a_restart() {
    let f = Fixture::new().await;
    let firmware = FirmwareBehaviour { download_delay: Duration::from_secs(24 * 3600), ..Default::default() };
    let sim = f.online(SimConfig { firmware, ..SimConfig::new("fw-resume", f.addr()) }).await;
    let action = Action::Firmware(FirmwareUpdate {
        uri: "http://127.0.0.1/fw-2.0.bin".into(),
        version: Some("2.0".into()),
        name: None,
    });
    let op = create(&f, "fw-resume", action).await;
    let stepped = operation_where(&f.engine, op.id, |o| o.adapter_state.is_some()).await;
    assert_eq!(sim.package_uri_writes(), 1);
    assert_eq!(stepped.state, OperationState::Running);
    let step: serde_json::Value = serde_json::from_slice(stepped.adapter_state.as_deref().unwrap()).unwrap();
    assert_eq!(step, serde_json::json!({"push": false, "executed": false}), "URI written, waiting for Downloaded");
    let mut config = common::config();
    config.listen = f.addr();
    let dir = f.stop().await;
    let f = Fixture::on(dir, config).await;
    // The restored registration lets the operation start at once; the client still downloads.
    operation_where(&f.engine, op.id, |o| o.progress.as_ref().and_then(|p| p.percent) >= Some(20)).await;
    sim.finish_download();
    let done = operation_end(&f.engine, op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{:?}", done.error);
    assert_eq!(sim.package_uri_writes(), 1, "one Package URI write");
    assert_eq!(sim.update_executes(), 1, "one Update execute");
}
