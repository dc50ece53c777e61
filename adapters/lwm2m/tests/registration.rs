//! Registration interface over loopback UDP with the simulated client (ETS LightweightM2M-1.0
//! int-101..103) and restart persistence.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Fixture;
use unidm_core::{Completion, Engine, OperationQuery, Page, Received, SqliteStore, Store, StoreError, StoreExt, Write};
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::Lwm2mAdapter;
use unidm_models::{Device, Event, Function, Group, GroupOperation, Operation, OperationId, PresenceState, Rule};

/// LightweightM2M-1.0-int-101 Initial Registration: the device appears online with its
/// capabilities, and with identity read from /3/0 without a manual read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_101_initial_registration() {
    let f = Fixture::new().await;
    let sim = SimClient::start(SimConfig::new("int101", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    let d = f.wait_device("int101", |d| d.identity.manufacturer.is_some()).await;
    assert_eq!(d.presence.state, PresenceState::Online);
    assert_eq!(d.presence.lifetime_s, Some(300));
    assert_eq!(d.presence.address, Some(sim.local_addr().to_string()));
    let caps = d.capabilities.unwrap();
    for fun in [
        Function::DeviceInfo,
        Function::Reboot,
        Function::FactoryReset,
        Function::Firmware,
        Function::Native,
        Function::Observe,
    ] {
        assert!(caps.contains(&fun), "{fun:?}");
    }
    assert!(!caps.contains(&Function::Software));
    assert_eq!(d.identity.manufacturer.as_deref(), Some("unidm sim"));
    assert_eq!(d.identity.serial.as_deref(), Some("SN-int101"));
    assert_eq!(d.identity.fw_version.as_deref(), Some("1.0"));
    assert_eq!(d.snapshot.memory.as_ref().map(|m| m.total), Some(2_048_000));
    assert_eq!(d.snapshot.battery.as_ref().map(|b| (b.level, b.status)), Some((87, 1)));
    assert!(f.adapter.registration("int101").is_some());
}

/// LightweightM2M-1.0-int-102 Registration Update and -103 Deregistration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweightm2m_1_0_int_102_update_and_103_deregistration() {
    let f = Fixture::new().await;
    let mut events = f.engine.subscribe();
    let sim = SimClient::start(SimConfig::new("int102", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    f.wait_device("int102", |d| d.presence.state == PresenceState::Online).await;
    sim.update().await.unwrap();
    sim.deregister().await.unwrap();
    let d = f.wait_device("int102", |d| d.presence.state == PresenceState::Offline).await;
    assert_eq!(d.presence.state, PresenceState::Offline);
    assert!(f.adapter.registration("int102").is_none());
    let mut seen = Vec::new();
    while let Ok(Some(Received::Event(e))) =
        tokio::time::timeout(std::time::Duration::from_millis(200), events.recv()).await
    {
        seen.push(e.kind());
    }
    assert!(seen.contains(&"deviceRegistered"), "{seen:?}");
    assert!(seen.contains(&"deviceDeregistered"), "{seen:?}");
    // An Update after De-register is refused with 4.04 (ETS 1.1-int-105 Discarded Register Update).
    assert!(sim.update().await.is_err());
}

/// A restart of engine and adapter on the same database keeps the registration: the client's
/// next Update is accepted (2.04, not 4.04) and operations reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_survives_a_restart() {
    let f = Fixture::new().await;
    let sim = SimClient::start(SimConfig::new("persist", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    f.wait_device("persist", |d| d.identity.manufacturer.is_some()).await;
    let mut config = common::config();
    config.listen = f.addr();
    let dir = f.stop().await;
    let f = Fixture::on(dir, config).await;
    let reg = f.adapter.registration("persist").expect("registration reloaded");
    assert_eq!(reg.address, sim.local_addr());
    assert_eq!(f.device("persist").unwrap().presence.state, PresenceState::Online);
    sim.update().await.expect("update accepted after restart");
    let op = f.run("persist", unidm_models::Action::Reboot).await;
    assert_eq!(op.state, unidm_models::OperationState::Succeeded, "{:?}", op.error);
    assert_eq!(sim.reboots(), 1);
}

/// A registration stored the way builds before device records stored it (adapter state
/// `reg/{endpoint}`) is restored at start and moved into the device's record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_stored_by_an_older_build_is_restored_and_moved() {
    let f = Fixture::new().await;
    let sim = f.online(SimConfig::new("legacy", f.addr())).await;
    let mut config = common::config();
    config.listen = f.addr();
    let dir = f.stop().await;
    {
        // The old layout: the registration under a state key, no record on the device row.
        let store = SqliteStore::open(dir.path().join("unidm.db")).unwrap();
        let records = store.load_device_records("lwm2m").await.unwrap();
        let [(id, record)] = records.as_slice() else { panic!("one record expected: {records:?}") };
        let device = store.load_devices().await.unwrap().into_iter().find(|d| d.id.to_string() == *id).unwrap();
        let key = "reg/legacy".to_owned();
        store
            .write(vec![
                Write::device_with_record(&device, None),
                Write::PutState { namespace: "lwm2m".into(), key, value: record.clone() },
            ])
            .await
            .unwrap();
        assert!(store.load_device_records("lwm2m").await.unwrap().is_empty());
    }
    let f = Fixture::on(dir, config).await;
    let reg = f.adapter.registration("legacy").expect("registration restored from the old key");
    assert_eq!(reg.address, sim.local_addr());
    sim.update().await.expect("update accepted: the registration is the one the client has");
    let dir = f.stop().await;
    let store = SqliteStore::open(dir.path().join("unidm.db")).unwrap();
    let states = store.load_state("lwm2m").await.unwrap();
    assert!(states.iter().all(|(k, _)| !k.starts_with("reg/")), "the old key is deleted: {states:?}");
    let records = store.load_device_records("lwm2m").await.unwrap();
    assert_eq!(records.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["lwm2m:legacy"]);
}

/// A store whose commits take 100 ms, in order: what is on disk lags what is in memory.
struct SlowStore {
    inner: Arc<SqliteStore>,
    queue: std::sync::Mutex<std::sync::mpsc::Sender<(Vec<Write>, Completion)>>,
}

impl SlowStore {
    fn open(path: &std::path::Path) -> SlowStore {
        let inner = Arc::new(SqliteStore::open(path).unwrap());
        let (tx, rx) = std::sync::mpsc::channel::<(Vec<Write>, Completion)>();
        let store = inner.clone();
        std::thread::spawn(move || {
            for (batch, done) in rx {
                std::thread::sleep(Duration::from_millis(100));
                store.submit(batch, done);
            }
        });
        SlowStore { inner, queue: std::sync::Mutex::new(tx) }
    }
}

#[async_trait::async_trait]
impl Store for SlowStore {
    fn submit(&self, batch: Vec<Write>, done: Completion) {
        let _ = self.queue.lock().unwrap().send((batch, done));
    }
    async fn load_devices(&self) -> Result<Vec<Device>, StoreError> {
        self.inner.load_devices().await
    }
    async fn get_operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError> {
        self.inner.get_operation(id).await
    }
    async fn list_operations(&self, q: OperationQuery) -> Result<Page<Operation>, StoreError> {
        self.inner.list_operations(q).await
    }
    async fn unfinished_operations(&self) -> Result<Vec<Operation>, StoreError> {
        self.inner.unfinished_operations().await
    }
    async fn max_operation_id(&self) -> Result<u64, StoreError> {
        self.inner.max_operation_id().await
    }
    async fn load_group_operations(&self) -> Result<Vec<GroupOperation>, StoreError> {
        self.inner.load_group_operations().await
    }
    async fn get_group_operation(&self, id: OperationId) -> Result<Option<GroupOperation>, StoreError> {
        self.inner.get_group_operation(id).await
    }
    async fn load_groups(&self) -> Result<Vec<Group>, StoreError> {
        self.inner.load_groups().await
    }
    async fn load_rules(&self) -> Result<Vec<Rule>, StoreError> {
        self.inner.load_rules().await
    }
    async fn load_device_records(&self, protocol: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.load_device_records(protocol).await
    }
    async fn load_state(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.load_state(namespace).await
    }
}

/// A client told 2.01 is on disk already: the registration and its device are stored in one
/// commit before the reply goes out, so a crash right after the reply loses nothing. The store
/// is slowed down so that a reply sent before the commit would be caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reply_to_register_waits_for_the_registration_to_be_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unidm.db");
    let adapter = Arc::new(Lwm2mAdapter::new(common::config()));
    let engine = Engine::builder().store(SlowStore::open(&db)).adapter_arc(adapter.clone()).start().await.unwrap();
    let sims = SimClient::fleet(&SimConfig::new("durable", adapter.local_addr().unwrap()), 3).await.unwrap();
    // A second connection to the database reads what is committed, without waiting for anything.
    let disk = SqliteStore::open_read_only(&db).unwrap();
    for (i, sim) in sims.iter().enumerate() {
        sim.register().await.unwrap();
        let ep = format!("durable-{i}");
        let records = disk.load_device_records("lwm2m").await.unwrap();
        assert!(records.iter().any(|(id, _)| *id == format!("lwm2m:{ep}")), "registration of {ep} not stored");
        let devices = disk.load_devices().await.unwrap();
        let d = devices.iter().find(|d| d.id.to_string() == format!("lwm2m:{ep}")).expect("device stored");
        assert_eq!(d.presence.state, PresenceState::Online);
    }
    engine.shutdown().await;
    unidm_core::Adapter::shutdown(&*adapter).await;
}

/// A replaced registration (same endpoint registers again) keeps one device and fires boot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_again_replaces_the_registration() {
    let f = Fixture::new().await;
    let sim = SimClient::start(SimConfig::new("again", f.addr())).await.unwrap();
    sim.register().await.unwrap();
    let first = f.adapter.registration("again").unwrap().id.clone();
    sim.register().await.unwrap();
    let second = f.adapter.registration("again").unwrap().id.clone();
    assert_ne!(first, second);
    f.wait_device("again", |d| d.presence.state == PresenceState::Online).await;
}

/// Many clients at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_registers() {
    let f = Fixture::new().await;
    let fleet = SimClient::fleet(&SimConfig::new("fleet", f.addr()), 25).await.unwrap();
    for c in &fleet {
        f.wait_device(c.endpoint(), |d| d.identity.model.is_some()).await;
    }
}

/// A client that stops updating expires at the end of its lifetime: offline, with a
/// `deviceExpired` event, and its stored registration removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifetime_expiry_marks_the_device_offline() {
    let f = Fixture::new().await;
    let mut events = f.engine.subscribe();
    let sim = SimClient::start(SimConfig { lifetime_s: 1, ..SimConfig::new("short", f.addr()) }).await.unwrap();
    sim.register().await.unwrap();
    f.wait_device("short", |d| d.presence.state == PresenceState::Online).await;
    let expired = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let Some(Received::Event(Event::DeviceExpired { device })) = events.recv().await {
                return device;
            }
        }
    })
    .await
    .expect("expired event");
    assert_eq!(expired.native(), "short");
    assert!(f.adapter.registration("short").is_none());
    f.wait_device("short", |d| d.presence.state == PresenceState::Offline).await;
    assert!(sim.update().await.is_err(), "an expired registration is unknown (4.04)");
}

/// Connectivity Monitoring /4 and Location /6 land in the snapshot after registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectivity_and_location_are_read_at_registration() {
    let f = Fixture::new().await;
    let config = SimConfig { connectivity_and_location: true, ..SimConfig::new("conn", f.addr()) };
    let sim = SimClient::start(config).await.unwrap();
    sim.register().await.unwrap();
    let d = f.wait_device("conn", |d| d.snapshot.location.is_some()).await;
    let caps = d.capabilities.clone().unwrap();
    assert!(caps.contains(&Function::Connectivity) && caps.contains(&Function::Location));
    let c = d.snapshot.connectivity.expect("connectivity");
    assert_eq!((c.bearer, c.signal_strength_dbm, c.cell_id), (Some(6), Some(-87), Some(4711)));
    assert_eq!(c.ip_addresses, vec!["10.0.0.7".to_string()]);
    assert_eq!(d.snapshot.location.unwrap().longitude, 2.2945);
}
