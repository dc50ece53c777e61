//! Shared fixture: an engine on SQLite in a temp dir with the TR-069 adapter on 127.0.0.1:0,
//! and simulated CPEs talking to it over real HTTP.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use unidm_core::{CreateOptions, Engine, SqliteStore};
use unidm_models::{Action, Device, DeviceId, Operation};
use unidm_tr069::sim::{ParameterTree, SimConfig, SimCpe};
use unidm_tr069::{Tr069Adapter, Tr069Config};

pub const WAIT: Duration = Duration::from_secs(15);

pub struct Fixture {
    pub engine: Engine,
    pub adapter: Arc<Tr069Adapter>,
    pub dir: tempfile::TempDir,
}

pub fn local_config() -> Tr069Config {
    Tr069Config { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..Tr069Config::default() }
}

pub async fn fixture_with(config: Tr069Config) -> Fixture {
    reopen(tempfile::tempdir().unwrap(), config).await
}

/// An engine and adapter on the database in `dir` (a restart when it was used before).
pub async fn reopen(dir: tempfile::TempDir, config: Tr069Config) -> Fixture {
    let adapter = Arc::new(Tr069Adapter::new(config));
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("unidm.db")).unwrap())
        .adapter_arc(adapter.clone())
        .start()
        .await
        .unwrap();
    Fixture { engine, adapter, dir }
}

pub async fn fixture() -> Fixture {
    fixture_with(local_config()).await
}

impl Fixture {
    pub fn url(&self) -> String {
        self.adapter.acs_url().expect("started")
    }

    pub fn sim_config(&self, tree: ParameterTree) -> SimConfig {
        SimConfig::new(self.url(), tree)
    }

    pub async fn sim(&self, config: SimConfig) -> (SimCpe, DeviceId) {
        let cpe = SimCpe::start(config).await.unwrap();
        let id = id_of(&cpe);
        self.wait_device(&id).await;
        // Let the bootstrap session (credentials) finish so that the CPE is idle.
        assert!(cpe.wait_for(WAIT, |s| s.sessions >= 1).await, "first session ended");
        (cpe, id)
    }

    pub async fn wait_device(&self, id: &DeviceId) -> Device {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(d) = self.engine.device(id) {
                return d;
            }
            assert!(tokio::time::Instant::now() < deadline, "device {id} did not appear");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Creates an operation and waits until it ends.
    pub async fn run(&self, id: &DeviceId, action: Action) -> Operation {
        let op = self.engine.create_operation(id, action, CreateOptions::default()).await.unwrap();
        self.wait_op(op.id).await
    }

    pub async fn wait_op(&self, id: unidm_models::OperationId) -> Operation {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let op = self.engine.operation(id).await.unwrap();
            if op.state.is_terminal() {
                return op;
            }
            assert!(tokio::time::Instant::now() < deadline, "operation {id} still {}", op.state);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn id_of(cpe: &SimCpe) -> DeviceId {
    let i = cpe.identity();
    DeviceId::tr069(&i.oui, Some(&i.product_class), &i.serial_number).unwrap()
}

pub fn tr181(serial: &str) -> ParameterTree {
    ParameterTree::tr181("00D09E", "SimGW", serial)
}
