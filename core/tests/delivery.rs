//! The adapter runtime through the public API: the `Delivery` layer (queues, unanswered
//! requests as attempts, durable waits across restarts, per-device wake-ups, stall limits) and
//! the SPI additions (waiting state, adapter state, restarts that are not attempts, the cheap
//! `seen` path, cancel to the owning adapter only, clean shutdown).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use unidm_core::{
    Adapter, AdapterError, AdapterHandle, Clock, Contact, CoreError, Correlator, CreateOptions, Delivery,
    DeliveryConfig, Engine, ManualClock, Received, Seen, SqliteStore, Submitted, Wait,
};
use unidm_models::{
    Action, DeviceId, ErrorKind, Event, OperationError, OperationId, OperationState, Progress, Protocol, RetryPolicy,
    Timestamp,
};
use unidm_testkit::{operation_end, until};

fn retry(max_attempts: u32) -> CreateOptions {
    CreateOptions {
        retry: Some(RetryPolicy { max_attempts, backoff_ms: 1_000, max_backoff_ms: 1_000 }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_restart_is_not_an_attempt() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "sleepy", None).await;
    let op = f.engine.create_operation(&id, Action::Reboot, retry(3)).await.unwrap();
    assert_eq!(f.submitted.recv().await.unwrap().attempts, 1);
    f.engine.shutdown().await;
    drop(f.engine);
    // Four restarts while the device never answers: the one attempt goes on.
    for _ in 0..4 {
        let (engine, _adapter, mut submitted) = restart(&f.path).await;
        let again = submitted.recv().await.unwrap();
        assert_eq!((again.id, again.attempts), (op.id, 1), "a restart counted as an attempt");
        assert_eq!(engine.operation(op.id).await.unwrap().attempts, 1);
        engine.shutdown().await;
    }
}

#[tokio::test]
async fn waiting_is_a_state_of_its_own_and_the_adapter_state_comes_back_after_a_restart() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "w", None).await;
    let op = f.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    f.submitted.recv().await.unwrap();
    let h = f.adapter.handle().clone();
    h.operation_waiting(op.id, "waiting for the device to register", Some(b"step-2".to_vec())).await.unwrap();
    let shown = f.engine.operation(op.id).await.unwrap();
    assert_eq!(shown.state, OperationState::Waiting);
    assert_eq!(shown.waiting_for.as_deref(), Some("waiting for the device to register"));
    let json = serde_json::to_value(&shown).unwrap();
    assert_eq!(json["state"], "waiting");
    assert_eq!(json["waitingFor"], "waiting for the device to register");
    assert!(json.get("adapterState").is_none(), "the adapter's state is not part of the API: {json}");

    // Progress leaves the wait behind; the adapter state stays unless replaced.
    h.operation_progress(op.id, Progress { percent: Some(10), message: None }).await.unwrap();
    let running = f.engine.operation(op.id).await.unwrap();
    assert_eq!((running.state, running.waiting_for), (OperationState::Running, None));
    h.operation_progress_with_state(op.id, Progress { percent: Some(50), message: None }, b"step-3".to_vec())
        .await
        .unwrap();

    f.engine.shutdown().await;
    drop(f.engine);
    let (engine, _adapter, mut submitted) = restart(&f.path).await;
    let back = submitted.recv().await.unwrap();
    assert_eq!(back.id, op.id);
    assert_eq!(back.adapter_state.as_deref(), Some(&b"step-3"[..]), "handed back with the adapter's state");
    assert_eq!(back.attempts, 1);
    engine.shutdown().await;
}

/// A recording adapter for another protocol, to see who hears `cancel`.
struct OtherAdapter {
    cancelled: std::sync::Mutex<Vec<(OperationId, DeviceId)>>,
}

#[async_trait::async_trait]
impl Adapter for OtherAdapter {
    fn protocol(&self) -> Protocol {
        Protocol::Tr069
    }
    async fn start(&self, _handle: AdapterHandle) -> Result<(), AdapterError> {
        Ok(())
    }
    async fn submit(&self, _op: unidm_models::Operation) -> Result<(), OperationError> {
        Ok(())
    }
    async fn cancel(&self, op: OperationId, device: &DeviceId) {
        self.cancelled.lock().unwrap().push((op, device.clone()));
    }
}

#[tokio::test]
async fn cancel_goes_to_the_owning_adapter_only_with_the_device_named() {
    let dir = tempfile::tempdir().unwrap();
    let (lwm2m, mut submitted) = TestAdapter::new(Mode::Record);
    let tr069 = Arc::new(OtherAdapter { cancelled: Default::default() });
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("u.db")).unwrap())
        .adapter_arc(lwm2m.clone())
        .adapter_arc(tr069.clone())
        .manual_ticks()
        .start()
        .await
        .unwrap();
    let cpe = DeviceId::tr069("00D09E", Some("Box"), "S1").unwrap();
    engine.handle(Protocol::Tr069).device_contact(&cpe, Contact::online(), |_| {}).await.unwrap();
    let op = engine.create_operation(&cpe, Action::Reboot, CreateOptions::default()).await.unwrap();
    engine.cancel_operation(op.id).await.unwrap();
    until("the TR-069 adapter to hear the cancel", || !tr069.cancelled.lock().unwrap().is_empty()).await;
    assert_eq!(*tr069.cancelled.lock().unwrap(), [(op.id, cpe)]);
    assert!(lwm2m.cancelled.lock().unwrap().is_empty(), "another protocol's adapter heard the cancel");
    assert!(submitted.try_recv().is_err());
    engine.shutdown().await;
}

#[tokio::test]
async fn a_stopping_engine_takes_no_work_and_loses_none() {
    let mut f = fixture(Mode::Record).await;
    let id = online(&f, "s", None).await;
    let op = f.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap();
    f.submitted.recv().await.unwrap();
    f.engine.shutdown().await;
    let refused = f.engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await.unwrap_err();
    assert!(matches!(refused, CoreError::Shutdown), "{refused:?}");
    drop(f.engine);
    let (engine, _a, mut submitted) = restart(&f.path).await;
    assert_eq!(submitted.recv().await.unwrap().id, op.id);
    engine.shutdown().await;
}

#[tokio::test]
async fn seen_moves_last_seen_without_a_write_or_an_event_until_it_grows_old() {
    let f = fixture(Mode::Record).await;
    let id = online(&f, "p", None).await; // lifetime 60 s
    let h = f.adapter.handle().clone();
    let mut sub = f.engine.subscribe();
    let contact = Contact { lifetime_s: Some(60), ..Contact::online() };

    f.clock.advance(Duration::from_secs(10));
    assert_eq!(h.device_seen(&id, contact.clone()).await.unwrap(), Seen::InMemory);
    assert_eq!(f.engine.device(&id).unwrap().presence.last_seen, Some(f.clock.now()), "the registry knows");
    f.clock.advance(Duration::from_secs(25));
    assert_eq!(h.device_seen(&id, contact.clone()).await.unwrap(), Seen::Stored, "older than half the lifetime");
    let stored_at = f.clock.now();
    f.clock.advance(Duration::from_secs(5));
    assert_eq!(h.device_seen(&id, contact.clone()).await.unwrap(), Seen::InMemory);
    // A change of address is a real contact.
    let moved = Contact { address: Some("10.0.0.9:5683".into()), ..contact.clone() };
    assert_eq!(h.device_seen(&id, moved).await.unwrap(), Seen::Contact);
    match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.unwrap() {
        Some(Received::Event(Event::DeviceUpdated { device })) => {
            assert_eq!(device.presence.address.as_deref(), Some("10.0.0.9:5683"))
        }
        other => panic!("the only event is the real contact's, got {other:?}"),
    }

    // What a restart sees: the last stored last-seen, never older than half a lifetime.
    f.clock.advance(Duration::from_secs(5));
    assert_eq!(h.device_seen(&id, Contact { address: None, ..contact }).await.unwrap(), Seen::InMemory);
    let stored = stored_last_seen(&f.path, &id).await;
    assert!(stored >= stored_at, "stored {stored:?} < {stored_at:?}");
    f.engine.shutdown().await;
}

/// The last-seen of `id` as stored, read beside the running engine.
async fn stored_last_seen(path: &std::path::Path, id: &DeviceId) -> Timestamp {
    use unidm_core::Store;
    let store = SqliteStore::open_read_only(path).unwrap();
    let devices = store.load_devices().await.unwrap();
    devices.into_iter().find(|d| d.id == *id).and_then(|d| d.presence.last_seen).unwrap()
}

/// An adapter built on `Delivery`, as a protocol adapter would be: the test plays the device.
struct QueueAdapter {
    handle: std::sync::OnceLock<AdapterHandle>,
    delivery: std::sync::OnceLock<Arc<Delivery>>,
    resumed: std::sync::Mutex<Vec<Correlator>>,
}

impl QueueAdapter {
    fn new() -> Arc<Self> {
        Arc::new(QueueAdapter { handle: Default::default(), delivery: Default::default(), resumed: Default::default() })
    }
    fn delivery(&self) -> &Arc<Delivery> {
        self.delivery.get().unwrap()
    }
}

#[async_trait::async_trait]
impl Adapter for QueueAdapter {
    fn protocol(&self) -> Protocol {
        Protocol::Omadm
    }
    async fn start(&self, handle: AdapterHandle) -> Result<(), AdapterError> {
        let delivery = Arc::new(Delivery::new(handle.clone(), DeliveryConfig { max_queued_per_device: 2 }));
        let _ = self.delivery.set(delivery);
        self.handle.set(handle).map_err(|_| AdapterError("twice".into()))
    }
    async fn submit(&self, op: unidm_models::Operation) -> Result<(), OperationError> {
        if let Submitted::Resumed(c) = self.delivery().submit(op).await? {
            self.resumed.lock().unwrap().push(c);
        }
        Ok(())
    }
    async fn cancel(&self, op: OperationId, device: &DeviceId) {
        self.delivery().forget_on(op, device);
    }
}

struct QueueFixture {
    engine: Engine,
    adapter: Arc<QueueAdapter>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
}

async fn queue_fixture(dir: Option<tempfile::TempDir>) -> QueueFixture {
    let dir = dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let adapter = QueueAdapter::new();
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("q.db")).unwrap())
        .adapter_arc(adapter.clone())
        .clock(clock.clone())
        .manual_ticks()
        .start()
        .await
        .unwrap();
    QueueFixture { engine, adapter, clock, dir }
}

fn dm(n: &str) -> DeviceId {
    DeviceId::parse(&format!("omadm:{n}")).unwrap()
}

async fn op_state(e: &Engine, id: OperationId) -> OperationState {
    e.operation(id).await.unwrap().state
}

#[tokio::test]
async fn an_unanswered_request_is_a_failed_attempt_and_the_queue_moves_on() {
    let f = queue_fixture(None).await;
    let d = dm("blocked");
    f.engine.handle(Protocol::Omadm).device_contact(&d, Contact::online(), |_| {}).await.unwrap();
    let stuck = f.engine.create_operation(&d, Action::Reboot, retry(2)).await.unwrap();
    let after = f.engine.create_operation(&d, Action::FactoryReset, retry(1)).await.unwrap();
    let delivery = f.adapter.delivery().clone();
    until("both queued", || delivery.queued(&d) == 2).await;

    // Session 1: the device drops the connection on the first request.
    let sent = delivery.next(&d).unwrap();
    assert_eq!(sent.id, stuck.id);
    delivery.unanswered(sent.id, OperationError::new(ErrorKind::Transport, "the device closed the session")).await;
    let o = f.engine.operation(stuck.id).await.unwrap();
    assert_eq!((o.state, o.attempts), (OperationState::Pending, 1), "a failed attempt, to be retried");
    assert_eq!(o.error.unwrap().message, "the device closed the session");

    // The next operation is not held back by it.
    let second = delivery.next(&d).unwrap();
    assert_eq!(second.id, after.id);
    delivery.answered(second.id);
    f.engine.handle(Protocol::Omadm).operation_succeeded(second.id, None).await.unwrap();

    // The retry comes back through submit; dropped again, its attempts are spent: failed.
    f.clock.advance(Duration::from_secs(2));
    f.engine.tick().await;
    until("the retry queued", || delivery.has_queued(&d)).await;
    let retried = delivery.next(&d).unwrap();
    assert_eq!((retried.id, retried.attempts), (stuck.id, 2));
    delivery.unanswered(retried.id, OperationError::new(ErrorKind::Timeout, "no answer")).await;
    assert_eq!(op_state(&f.engine, stuck.id).await, OperationState::Failed);
    assert!(!delivery.holds(stuck.id));
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_parked_operation_survives_a_restart_without_being_sent_again() {
    let f = queue_fixture(None).await;
    let d = dm("fumo");
    f.engine.handle(Protocol::Omadm).device_contact(&d, Contact::online(), |_| {}).await.unwrap();
    let op = f.engine.create_operation(&d, Action::Reboot, CreateOptions::default()).await.unwrap();
    let delivery = f.adapter.delivery().clone();
    until("queued", || delivery.has_queued(&d)).await;
    let sent = delivery.next(&d).unwrap();
    let wait = Wait::new(Correlator::new("corr-7"), "waiting for the Generic Alert").with_step(b"exec sent".to_vec());
    delivery.park(sent, wait.clone()).await.unwrap();
    let shown = f.engine.operation(op.id).await.unwrap();
    assert_eq!(
        (shown.state, shown.waiting_for.as_deref()),
        (OperationState::Waiting, Some("waiting for the Generic Alert"))
    );
    // The same id submitted again (the engine's resubmission) is a duplicate.
    assert_eq!(delivery.submit(shown.clone()).await.unwrap(), Submitted::Duplicate);

    f.engine.shutdown().await;
    let QueueFixture { engine, dir, .. } = f;
    drop(engine);
    let f = queue_fixture(Some(dir)).await;
    let delivery = f.adapter.delivery().clone();
    until("parked again", || delivery.holds(op.id)).await;
    assert_eq!(*f.adapter.resumed.lock().unwrap(), [Correlator::new("corr-7")]);
    assert!(!delivery.has_queued(&d), "a parked operation is not sent again after a restart");
    let o = f.engine.operation(op.id).await.unwrap();
    assert_eq!(o.attempts, 1, "the restart is not an attempt");

    assert!(delivery.wake(&d, &Correlator::new("other")).is_none());
    assert!(delivery.wake(&dm("someone-else"), &Correlator::new("corr-7")).is_none(), "correlators are per device");
    let woken = delivery.wake(&d, &Correlator::new("corr-7")).unwrap();
    assert_eq!((woken.op.id, woken.wait), (op.id, wait));
    assert!(delivery.wake(&d, &Correlator::new("corr-7")).is_none(), "a duplicate answer wakes nothing");
    f.engine.handle(Protocol::Omadm).operation_succeeded(op.id, None).await.unwrap();
    f.engine.shutdown().await;
}

/// `wake_all` takes the matching waits of the one device named: not another device's, not
/// one whose id merely starts the same, not the device's other waits.
#[tokio::test]
async fn wake_all_takes_the_matching_waits_of_one_device() {
    let f = queue_fixture(None).await;
    let delivery = f.adapter.delivery().clone();
    let mut parked = Vec::new();
    for (device, correlator) in [("a", "x-1"), ("a", "x-2"), ("a", "y-1"), ("a2", "x-3"), ("b", "x-4")] {
        let d = dm(device);
        f.engine.handle(Protocol::Omadm).device_contact(&d, Contact::online(), |_| {}).await.unwrap();
        let op = f.engine.create_operation(&d, Action::Reboot, CreateOptions::default()).await.unwrap();
        until("queued", || delivery.has_queued(&d)).await;
        let sent = delivery.next(&d).unwrap();
        delivery.park(sent, Wait::new(Correlator::new(correlator), "waiting")).await.unwrap();
        parked.push((correlator, op.id));
    }
    let id = |c: &str| parked.iter().find(|(k, _)| *k == c).unwrap().1;
    let mut woken: Vec<OperationId> =
        delivery.wake_all(&dm("a"), |w| w.correlator.0.starts_with("x-")).into_iter().map(|w| w.op.id).collect();
    woken.sort();
    assert_eq!(woken, [id("x-1"), id("x-2")]);
    assert!(!delivery.holds(id("x-1")) && !delivery.holds(id("x-2")));
    for other in ["y-1", "x-3", "x-4"] {
        assert!(delivery.holds(id(other)), "{other} was woken");
    }
    assert!(delivery.wake_all(&dm("a"), |w| w.correlator.0.starts_with("x-")).is_empty(), "woken once");
    assert_eq!(delivery.wake(&dm("a2"), &Correlator::new("x-3")).map(|w| w.op.id), Some(id("x-3")));
    f.engine.shutdown().await;
}

#[tokio::test]
async fn a_step_without_progress_fails_after_its_limit_with_what_the_device_last_said() {
    let f = queue_fixture(None).await;
    let d = dm("stuck");
    f.engine.handle(Protocol::Omadm).device_contact(&d, Contact::online(), |_| {}).await.unwrap();
    let op = f.engine.create_operation(&d, Action::Reboot, retry(3)).await.unwrap();
    let delivery = f.adapter.delivery().clone();
    until("queued", || delivery.has_queued(&d)).await;
    let sent = delivery.next(&d).unwrap();
    let c = Correlator::new("fw");
    delivery.park(sent, Wait::new(c.clone(), "downloading").stall_after(Duration::from_secs(600))).await.unwrap();

    f.clock.advance(Duration::from_secs(300));
    delivery.progressed(&d, &c, "State 1 (Downloading), 40 %");
    f.clock.advance(Duration::from_secs(599));
    assert!(delivery.check_stalls().await.is_empty(), "progress restarted the limit");
    f.clock.advance(Duration::from_secs(1));
    let stalled = delivery.check_stalls().await;
    assert_eq!(stalled.iter().map(|s| s.op.id).collect::<Vec<_>>(), vec![op.id]);
    let o = f.engine.operation(op.id).await.unwrap();
    assert_eq!(o.state, OperationState::Failed, "a stall is not retried");
    let e = o.error.unwrap();
    assert_eq!(e.kind, ErrorKind::Stalled);
    assert_eq!(e.message, "no progress for 10 min while downloading; last reported: State 1 (Downloading), 40 %");
    f.engine.shutdown().await;
}

#[tokio::test]
async fn reachable_wakes_the_waiters_of_that_device_only_and_queues_are_bounded() {
    let f = queue_fixture(None).await;
    let (a, b) = (dm("a"), dm("b"));
    let delivery = f.adapter.delivery().clone();
    let (da, db) = (delivery.clone(), delivery.clone());
    let (a2, b2) = (a.clone(), b.clone());
    let wa = tokio::spawn(async move { da.until_reachable(&a2).await });
    let wb = tokio::spawn(async move { db.until_reachable(&b2).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    delivery.reachable(&a);
    tokio::time::timeout(Duration::from_secs(5), wa).await.expect("a woken").unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!wb.is_finished(), "b was woken by a's registration");
    wb.abort();

    // Two per device at most (this delivery's limit): the third is refused as a failed attempt.
    f.engine.handle(Protocol::Omadm).device_contact(&a, Contact::online(), |_| {}).await.unwrap();
    for _ in 0..2 {
        f.engine.create_operation(&a, Action::Reboot, CreateOptions::default()).await.unwrap();
    }
    until("two queued", || delivery.queued(&a) == 2).await;
    let third = f.engine.create_operation(&a, Action::Reboot, retry(1)).await.unwrap();
    let refused = operation_end(&f.engine, third.id).await;
    assert_eq!(refused.state, OperationState::Failed);
    let e = refused.error.unwrap();
    assert!(e.message.contains("2 operations already wait"), "{}", e.message);
    f.engine.shutdown().await;
}

/// A cancelled queued operation leaves its device's queue (the adapter names the device, so
/// only that queue is looked through); another device's queue keeps its own, and forgetting
/// on the wrong device drops nothing.
#[tokio::test]
async fn a_cancel_takes_the_operation_out_of_its_devices_queue_only() {
    let f = queue_fixture(None).await;
    let (a, b) = (dm("qa"), dm("qb"));
    let delivery = f.adapter.delivery().clone();
    let mut on = Vec::new();
    for d in [&a, &b] {
        f.engine.handle(Protocol::Omadm).device_contact(d, Contact::online(), |_| {}).await.unwrap();
        for _ in 0..2 {
            on.push(f.engine.create_operation(d, Action::Reboot, CreateOptions::default()).await.unwrap().id);
        }
    }
    until("two queued on each", || delivery.queued(&a) == 2 && delivery.queued(&b) == 2).await;
    assert!(!delivery.forget_on(on[0], &b), "forgotten from the wrong device's queue");
    assert!(delivery.holds(on[0]));
    f.engine.cancel_operation(on[0]).await.unwrap();
    until("a's first out of its queue", || delivery.queued(&a) == 1).await;
    assert!(!delivery.holds(on[0]));
    assert_eq!(delivery.queued(&b), 2);
    f.engine.delete_device(&a).await.unwrap();
    until("a's queue gone", || delivery.queued(&a) == 0).await;
    assert_eq!((op_state(&f.engine, on[1]).await, delivery.queued(&b)), (OperationState::Cancelled, 2));
    f.engine.shutdown().await;
}

/// SIGTERM while a group operation fans out: members finish and free slots all the time, so
/// dispatches race the shutdown. A clean stop stops dispatching before the store closes: no
/// "could not store dispatch ... the store is closed" (it logged one per racing dispatch).
#[tokio::test]
async fn shutdown_while_a_group_fans_out_logs_no_errors() {
    let (log, _guard) = unidm_testkit::logs::capture(tracing::Level::WARN);

    let f = fixture(Mode::AutoComplete).await;
    let mut members = std::collections::BTreeSet::new();
    for i in 0..400 {
        members.insert(online(&f, &format!("g{i:03}"), None).await);
    }
    let group = unidm_models::Group {
        id: "all".into(),
        description: None,
        members,
        selector: None,
        created_at: f.engine.now(),
    };
    f.engine.put_group(group).await.unwrap();
    let mut sub = f.engine.subscribe();
    let gop = f.engine.start_group_operation("all", Action::Reboot, Some(8), CreateOptions::default()).await.unwrap();
    // Stop in the middle of the fan-out.
    let mut finished = 0;
    while finished < 40 {
        if let Some(Received::Event(Event::OperationChanged { operation })) = sub.recv().await {
            finished += usize::from(operation.state == OperationState::Succeeded);
        }
    }
    f.engine.shutdown().await;
    // Let whatever the adapter still completes run into the stopped engine.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = log.text();
    assert!(!text.contains("ERROR"), "a clean stop logged errors:\n{text}");

    let (engine, _adapter, _submitted) = restart(&f.path).await;
    let view = engine.group_operation(gop.id).await.unwrap();
    assert_eq!(view.aggregate.total, 400);
    assert!(!view.aggregate.done, "stopped in the middle: {:?}", view.aggregate.counts);
    engine.shutdown().await;
}
