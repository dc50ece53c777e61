//! The engine: device registry, durable operations, groups, rules and events, wired to a store
//! and to protocol adapters.
//!
//! State lives in memory for speed (the registry, unfinished operations, groups, rules) and in
//! the store for durability. Every change is queued to the store under the lock that ordered it
//! and its events are published from the store's writer once committed, so the store and the
//! event stream see changes in the same order and never see what a crash could take back.

mod cluster;
mod groups;
mod ops;
mod registry;
mod rules;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use unidm_models::{Device, DeviceId, Event, Group, PresenceState, Protocol, RetryPolicy, Rule, Timestamp};

use crate::adapter::{Adapter, AdapterHandle};
use crate::clock::{Clock, SystemClock};
use crate::events::{EventBus, Subscription};
use crate::store::{Store, StoreError, StoreExt as _, Write};
use crate::CoreError;

pub use cluster::ClusterStatus;
pub use groups::GroupOperationView;
pub use ops::{CreateOptions, NewOperation};
pub(crate) use registry::RecordChange;
pub use registry::{DeviceQuery, TopologyEdge, TopologyGraph};

use ops::OpsState;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Events kept for slow consumers before they are told they lagged.
    pub event_capacity: usize,
    /// How often deadlines, retries and device lifetimes are checked.
    pub tick: Duration,
    /// Deadline of an operation created without one (`None`: operations wait forever).
    pub default_deadline: Option<Duration>,
    /// Retry policy of an operation created without one.
    pub default_retry: RetryPolicy,
    /// Slack after a device's lifetime before it is marked offline.
    pub expiry_grace: Duration,
    /// Concurrency of a group operation started without one.
    pub default_group_concurrency: u32,
    /// Most members a group operation may fan out to.
    pub max_group_members: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            event_capacity: 4096,
            tick: Duration::from_secs(1),
            default_deadline: Some(Duration::from_secs(24 * 3600)),
            default_retry: RetryPolicy::default(),
            expiry_grace: Duration::from_secs(15),
            default_group_concurrency: 50,
            max_group_members: 1_000_000,
        }
    }
}

/// Counters for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Devices in the registry.
    pub devices: usize,
    /// Devices per presence state name.
    pub devices_by_presence: BTreeMap<String, usize>,
    /// Unfinished operations per state name.
    pub active_operations: BTreeMap<String, usize>,
    /// Operations created since start.
    pub operations_created: u64,
    /// Operations finished since start, per terminal state name.
    pub operations_finished: BTreeMap<String, u64>,
    /// The store's writer, when it counts.
    pub store: Option<crate::store::StoreStats>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) events: EventBus,
    pub(crate) config: EngineConfig,
    pub(crate) adapters: HashMap<Protocol, Arc<dyn Adapter>>,
    /// Application namespaces another node changed ([`Engine::watch_app_state`]).
    pub(crate) state_changes: tokio::sync::broadcast::Sender<String>,
    devices: RwLock<BTreeMap<DeviceId, Box<Device>>>,
    ops: Mutex<OpsState>,
    groups: RwLock<BTreeMap<String, Group>>,
    rules: RwLock<BTreeMap<String, Rule>>,
    next_id: AtomicU64,
    created: AtomicU64,
    finished: Mutex<BTreeMap<String, u64>>,
    stopping: AtomicBool,
    stop: Notify,
    /// Devices whose last-seen moved in memory only ([`AdapterHandle::device_seen`]), with the
    /// last-seen their stored document holds.
    unstored_seen: Mutex<HashMap<DeviceId, Timestamp>>,
    /// Messages of tapped devices ([`crate::WireTap`]).
    pub(crate) tap: crate::WireTap,
    /// The other nodes on the same store, when there can be any.
    pub(crate) cluster: Option<cluster::ClusterState>,
}

/// A store commit in flight; its events are published when it lands.
pub(crate) struct Commit(oneshot::Receiver<Result<(), StoreError>>);

impl Commit {
    /// A commit with nothing to write: already done.
    pub(crate) fn done() -> Commit {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(()));
        Commit(rx)
    }

    pub(crate) async fn wait(self) -> Result<(), CoreError> {
        Ok(self.0.await.unwrap_or(Err(StoreError::Closed))?)
    }
}

impl Inner {
    /// Queues `writes`; once committed, publishes `events`. Call it under the lock that ordered
    /// the change, await the commit outside it.
    pub(crate) fn persist(&self, mut writes: Vec<Write>, events: Vec<Event>) -> Commit {
        if self.cluster.as_ref().is_some_and(|c| c.has_peers()) {
            // The other nodes publish them too, once committed.
            writes.extend(events.iter().filter_map(|e| serde_json::to_string(e).ok()).map(Write::Event));
        }
        let (tx, rx) = oneshot::channel();
        let bus = self.events.clone();
        self.store.submit(
            writes,
            Box::new(move |r| {
                if r.is_ok() {
                    for e in events {
                        bus.publish(e);
                    }
                }
                let _ = tx.send(r);
            }),
        );
        Commit(rx)
    }

    pub(crate) fn cluster_status(&self) -> Option<ClusterStatus> {
        self.cluster.as_ref().map(|c| c.status())
    }

    pub(crate) fn adapter(&self, p: Protocol) -> Option<Arc<dyn Adapter>> {
        self.adapters.get(&p).cloned()
    }

    /// Checks deadlines, due retries and device lifetimes.
    pub(crate) async fn tick(self: &Arc<Self>) {
        let now = self.clock.now();
        self.expire_devices(now).await;
        self.tick_operations(now).await;
    }
}

/// The running engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
    ticker: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// The cluster's feed and ticker.
    cluster_tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("adapters", &self.inner.adapters.keys().collect::<Vec<_>>()).finish()
    }
}

/// Builds an [`Engine`]: a store, the adapters wanted, optionally a clock and settings.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use unidm_core::{Engine, SqliteStore};
/// let engine = Engine::builder().store(SqliteStore::open("unidm.db")?).start().await?;
/// let mut events = engine.subscribe();
/// // ... engine.create_operation(...), events.recv().await ...
/// engine.shutdown().await;
/// # Ok(()) }
/// ```
pub struct EngineBuilder {
    store: Option<Arc<dyn Store>>,
    adapters: Vec<Arc<dyn Adapter>>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    background_ticks: bool,
}

impl EngineBuilder {
    /// The store to use (required).
    pub fn store(self, store: impl Store) -> Self {
        self.store_arc(Arc::new(store))
    }

    /// The store, already shared.
    pub fn store_arc(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Adds a protocol adapter (one per protocol; a later one replaces an earlier one).
    pub fn adapter(self, adapter: impl Adapter) -> Self {
        self.adapter_arc(Arc::new(adapter))
    }

    /// Adds a shared protocol adapter.
    pub fn adapter_arc(mut self, adapter: Arc<dyn Adapter>) -> Self {
        self.adapters.push(adapter);
        self
    }

    /// Uses another clock (tests use [`crate::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Settings.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs no background ticker: the caller drives time with [`Engine::tick`] (for tests on a
    /// manual clock).
    pub fn manual_ticks(mut self) -> Self {
        self.background_ticks = false;
        self
    }

    /// Loads the store, starts the adapters, hands every unfinished operation back to its
    /// adapter, and starts the ticker.
    pub async fn start(self) -> Result<Engine, CoreError> {
        let store = self.store.ok_or_else(|| CoreError::bad_input("store", "an engine needs a store"))?;
        let cluster = store.cluster().map(cluster::ClusterState::new);
        let devices = store.load_devices().await?;
        let groups = store.load_groups().await?;
        let rules = store.load_rules().await?;
        let (max_id, unfinished, held) = match &cluster {
            // Ids come from the store's sequence; this node takes back what it holds.
            Some(c) => {
                // Alive before taking anything, so that no leader takes it meanwhile.
                c.beat().await?;
                c.set_owners(c.api.owners().await?);
                (0, Vec::new(), Some(c.api.held().await?))
            }
            None => (store.max_operation_id().await?, store.unfinished_operations().await?, None),
        };

        let inner = Arc::new(Inner {
            events: EventBus::new(self.config.event_capacity),
            config: self.config,
            clock: self.clock,
            adapters: self.adapters.iter().map(|a| (a.protocol(), a.clone())).collect(),
            devices: RwLock::new(devices.into_iter().map(|d| (d.id.clone(), Box::new(d))).collect()),
            ops: Mutex::new(OpsState::default()),
            groups: RwLock::new(groups.into_iter().map(|g| (g.id.clone(), g)).collect()),
            rules: RwLock::new(rules.into_iter().map(|r| (r.id.clone(), r)).collect()),
            next_id: AtomicU64::new(max_id + 1),
            created: AtomicU64::new(0),
            finished: Mutex::new(BTreeMap::new()),
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
            unstored_seen: Mutex::new(HashMap::new()),
            tap: crate::WireTap::default(),
            cluster,
            state_changes: tokio::sync::broadcast::channel(64).0,
            store,
        });

        for (protocol, adapter) in &inner.adapters {
            let handle = AdapterHandle { inner: inner.clone(), protocol: *protocol };
            adapter.start(handle).await.map_err(|e| CoreError::Conflict(format!("{protocol} adapter: {e}")))?;
        }
        let recovered = unfinished.len() + held.as_ref().map_or(0, |h| h.operations.len());
        match held {
            Some(held) => inner.take_over(held),
            None => inner.recover(unfinished).await?,
        }
        if recovered > 0 {
            tracing::info!(operations = recovered, "resumed unfinished operations");
        }
        // The first heartbeat and leadership before the engine is handed out.
        inner.cluster_tick().await;
        if let Some(c) = inner.cluster_status() {
            tracing::info!(node = %c.node, leader = c.leader, nodes = c.nodes.len(), "joined the cluster");
        }
        let cluster_tasks = inner.start_cluster();

        let ticker = if self.background_ticks {
            let inner = inner.clone();
            Some(tokio::spawn(async move {
                let mut interval = tokio::time::interval(inner.config.tick);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = interval.tick() => inner.tick().await,
                        _ = inner.stop.notified() => break,
                    }
                }
            }))
        } else {
            None
        };
        Ok(Engine { inner, ticker: Arc::new(Mutex::new(ticker)), cluster_tasks: Arc::new(Mutex::new(cluster_tasks)) })
    }
}

impl Engine {
    /// A builder with the system clock and default settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            store: None,
            adapters: Vec::new(),
            clock: Arc::new(SystemClock),
            config: EngineConfig::default(),
            background_ticks: true,
        }
    }

    /// Stores values of the application around the engine (API tokens, the audit log) under
    /// `namespace`, durably, in one commit. Protocol namespaces belong to their adapters and
    /// are refused.
    pub async fn put_app_state(&self, namespace: &str, values: Vec<(String, Vec<u8>)>) -> Result<(), CoreError> {
        check_app_namespace(namespace)?;
        let writes = values
            .into_iter()
            .map(|(key, value)| Write::PutState { namespace: namespace.to_owned(), key, value })
            .collect();
        Ok(self.inner.store.write(writes).await?)
    }

    /// Removes stored values of the application.
    pub async fn delete_app_state(&self, namespace: &str, keys: Vec<String>) -> Result<(), CoreError> {
        check_app_namespace(namespace)?;
        let writes = keys.into_iter().map(|key| Write::DeleteState { namespace: namespace.to_owned(), key }).collect();
        Ok(self.inner.store.write(writes).await?)
    }

    /// The application namespaces ([`Engine::put_app_state`]) another node sharing the store
    /// changes, as they change: what the application keeps in memory of them is to be read
    /// again. Nothing arrives on a store of one node.
    pub fn watch_app_state(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.inner.state_changes.subscribe()
    }

    /// Every stored value of the application under `namespace`.
    pub async fn load_app_state(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, CoreError> {
        check_app_namespace(namespace)?;
        Ok(self.inner.store.load_state(namespace).await?)
    }

    /// Subscribes to the event stream.
    pub fn subscribe(&self) -> Subscription {
        self.inner.events.subscribe()
    }

    /// The engine's current time.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The protocols that have an adapter.
    pub fn protocols(&self) -> Vec<Protocol> {
        let mut p: Vec<_> = self.inner.adapters.keys().copied().collect();
        p.sort();
        p
    }

    /// Publishes an event of the embedding application's own (a conformance run's progress)
    /// to every subscriber, after whatever it describes was stored.
    pub fn publish(&self, event: unidm_models::Event) {
        self.inner.events.publish(event);
    }

    /// The messages exchanged with the devices someone taps (a conformance run's exchanges).
    pub fn wire_tap(&self) -> &crate::WireTap {
        &self.inner.tap
    }

    /// A handle for code that reports devices of `protocol` itself, as an adapter would.
    pub fn handle(&self, protocol: Protocol) -> AdapterHandle {
        AdapterHandle { inner: self.inner.clone(), protocol }
    }

    /// Checks deadlines, due retries and device lifetimes now (the ticker does it every
    /// `EngineConfig::tick`).
    pub async fn tick(&self) {
        self.inner.tick().await;
    }

    /// Whether the store answers (`/healthz`): always for the embedded SQLite file; a round
    /// trip for a networked store.
    pub async fn store_health(&self) -> Result<(), crate::StoreError> {
        self.inner.store.check().await
    }

    /// Whether the store takes writes now ([`Store::writable`]): the API refuses changes with
    /// 503 while it does not.
    pub fn store_writable(&self) -> Result<(), crate::StoreError> {
        self.inner.store.writable()
    }

    /// This node's view of the cluster, when its store is shared by several nodes.
    pub fn cluster_status(&self) -> Option<ClusterStatus> {
        self.inner.cluster_status()
    }

    /// Counters for metrics.
    pub fn stats(&self) -> EngineStats {
        let mut s = EngineStats::default();
        if let Ok(devs) = self.inner.devices.read() {
            s.devices = devs.len();
            for d in devs.values() {
                let name = match d.presence.state {
                    PresenceState::Online => "online",
                    PresenceState::Sleeping => "sleeping",
                    PresenceState::Offline => "offline",
                };
                *s.devices_by_presence.entry(name.to_owned()).or_insert(0) += 1;
            }
        }
        if let Ok(ops) = self.inner.ops.lock() {
            for op in ops.active.values() {
                *s.active_operations.entry(op.state.as_str().to_owned()).or_insert(0) += 1;
            }
        }
        s.operations_created = self.inner.created.load(Ordering::Relaxed);
        if let Ok(f) = self.inner.finished.lock() {
            s.operations_finished = f.clone();
        }
        s.store = self.inner.store.stats();
        s
    }

    /// Stops taking work (no operation is created or dispatched any more), stops the ticker and
    /// the adapters, waits for every queued write to commit, then closes the store. Unfinished
    /// operations stay stored and resume at the next start.
    pub async fn shutdown(&self) {
        if self.inner.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // Stop taking work first: once `stopping` is seen under the operations lock, no dispatch
        // queues a write any more, so every write queued before this point is flushed below and
        // none arrives after the store is closed.
        drop(self.inner.ops.lock());
        self.inner.stop.notify_waiters();
        let ticker = self.ticker.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = ticker {
            t.abort();
            let _ = t.await;
        }
        let cluster_tasks = self.cluster_tasks.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
        for t in cluster_tasks {
            t.abort();
            let _ = t.await;
        }
        for adapter in self.inner.adapters.values() {
            adapter.shutdown().await;
        }
        if let Err(e) = self.inner.store.flush().await {
            tracing::warn!(error = %e, "store flush at shutdown failed");
        }
        if let Some(c) = &self.inner.cluster {
            // The others need not wait for this node's lease to lapse to take its work.
            if let Err(e) = c.api.leave().await {
                tracing::debug!(error = %e, "leaving the cluster failed");
            }
        }
        let store = self.inner.store.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || store.close()).await {
            tracing::warn!(error = %e, "closing the store at shutdown failed");
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

/// Application namespaces may not be a protocol's (its adapter's state).
fn check_app_namespace(namespace: &str) -> Result<(), CoreError> {
    let taken = [Protocol::Lwm2m, Protocol::Tr069, Protocol::Omadm].iter().any(|p| p.as_str() == namespace);
    if taken || namespace.is_empty() {
        return Err(CoreError::bad_input("namespace", format!("`{namespace}` is not an application namespace")));
    }
    Ok(())
}
