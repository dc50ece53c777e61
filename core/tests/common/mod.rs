//! The test kit of the engine's integration tests: an in-process test adapter, a fixture on a
//! manual clock, restarts on the same database.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use unidm_core::{
    Adapter, AdapterError, AdapterHandle, Contact, CoreError, Engine, ManualClock, Received, SqliteStore, Subscription,
};
use unidm_models::{DeviceId, Event, Function, OperationError, Protocol, Timestamp};

/// What the test adapter does with what it is given.
#[derive(Clone, Copy)]
pub enum Mode {
    /// Records operations; the test completes them.
    Record,
    /// Completes each after a short delay, tracking how many are in flight at once.
    AutoComplete,
}

pub struct TestAdapter {
    pub mode: Mode,
    pub protocol: Protocol,
    pub handle: OnceLock<AdapterHandle>,
    pub submitted: mpsc::UnboundedSender<unidm_models::Operation>,
    pub cancelled: Mutex<Vec<unidm_models::OperationId>>,
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: AtomicUsize,
    /// Every operation given, in order (an id twice if given twice).
    pub given: Mutex<Vec<unidm_models::OperationId>>,
}

impl TestAdapter {
    pub fn new(mode: Mode) -> (Arc<Self>, mpsc::UnboundedReceiver<unidm_models::Operation>) {
        Self::for_protocol(mode, Protocol::Lwm2m)
    }

    /// An adapter of `protocol`'s devices.
    pub fn for_protocol(
        mode: Mode,
        protocol: Protocol,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<unidm_models::Operation>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let a = TestAdapter {
            mode,
            protocol,
            handle: OnceLock::new(),
            submitted: tx,
            cancelled: Mutex::new(Vec::new()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: AtomicUsize::new(0),
            given: Mutex::new(Vec::new()),
        };
        (Arc::new(a), rx)
    }

    pub fn handle(&self) -> &AdapterHandle {
        self.handle.get().expect("started")
    }

    /// Every operation given so far, in order.
    pub fn submitted_ids(&self) -> Vec<unidm_models::OperationId> {
        self.given.lock().unwrap().clone()
    }
}

#[async_trait]
impl Adapter for TestAdapter {
    fn protocol(&self) -> Protocol {
        self.protocol
    }

    async fn start(&self, handle: AdapterHandle) -> Result<(), AdapterError> {
        self.handle.set(handle).map_err(|_| AdapterError("started twice".into()))
    }

    async fn submit(&self, op: unidm_models::Operation) -> Result<(), OperationError> {
        self.given.lock().unwrap().push(op.id);
        let _ = self.submitted.send(op.clone());
        if let Mode::AutoComplete = self.mode {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let handle = self.handle().clone();
            let in_flight = self.in_flight.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(3)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                // A stopped engine refuses late outcomes (the operation resumes at the next start).
                if let Err(e) = handle.operation_succeeded(op.id, Some(serde_json::json!({"ok": true}))).await {
                    assert!(matches!(e, CoreError::Shutdown | CoreError::Storage(_)), "{e:?}");
                }
            });
        }
        Ok(())
    }

    async fn cancel(&self, op: unidm_models::OperationId, _device: &DeviceId) {
        self.cancelled.lock().unwrap().push(op);
    }
}

pub struct Fixture {
    pub engine: Engine,
    pub adapter: Arc<TestAdapter>,
    pub submitted: mpsc::UnboundedReceiver<unidm_models::Operation>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<SqliteStore>,
    pub _dir: tempfile::TempDir,
    pub path: std::path::PathBuf,
}

pub async fn fixture(mode: Mode) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unidm.db");
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let (adapter, submitted) = TestAdapter::new(mode);
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let engine = Engine::builder()
        .store_arc(store.clone())
        .adapter_arc(adapter.clone())
        .clock(clock.clone())
        .manual_ticks()
        .start()
        .await
        .unwrap();
    Fixture { engine, adapter, submitted, clock, store, _dir: dir, path }
}

/// An engine and a recording test adapter started again on the database at `path`.
pub async fn restart(
    path: &std::path::Path,
) -> (Engine, Arc<TestAdapter>, mpsc::UnboundedReceiver<unidm_models::Operation>) {
    let (adapter, submitted) = TestAdapter::new(Mode::Record);
    let engine = Engine::builder()
        .store(SqliteStore::open(path).unwrap())
        .adapter_arc(adapter.clone())
        .manual_ticks()
        .start()
        .await
        .unwrap();
    (engine, adapter, submitted)
}

pub fn dev(n: &str) -> DeviceId {
    DeviceId::lwm2m(n).unwrap()
}

pub async fn online(f: &Fixture, n: &str, caps: Option<&[Function]>) -> DeviceId {
    let id = dev(n);
    f.adapter
        .handle()
        .device_contact(&id, Contact { lifetime_s: Some(60), ..Contact::online() }, |d| {
            d.identity.manufacturer = Some("Acme".into());
            d.capabilities = caps.and_then(AdapterHandle::functions);
        })
        .await
        .unwrap();
    id
}

pub async fn next_op_event(sub: &mut Subscription) -> unidm_models::Operation {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("event in time") {
            Some(Received::Event(Event::OperationChanged { operation })) => return *operation,
            Some(_) => continue,
            None => panic!("bus closed"),
        }
    }
}
