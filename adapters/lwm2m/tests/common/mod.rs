//! Shared fixture: an engine on SQLite in a temp dir with the LwM2M adapter on 127.0.0.1:0.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use unidm_core::{Clock, CreateOptions, Engine, SqliteStore};
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::{Lwm2mAdapter, Lwm2mConfig};
use unidm_models::{Action, Device, DeviceId, NativeOp, NativeRequest, Operation, OperationState, RetryPolicy};

/// A native operation on `path`.
pub fn native(op: NativeOp, path: &str, value: Option<serde_json::Value>) -> Action {
    Action::Native(NativeRequest { op, path: path.into(), value, args: None, format: None })
}

pub struct Fixture {
    pub engine: Engine,
    pub adapter: Arc<Lwm2mAdapter>,
    pub dir: Arc<tempfile::TempDir>,
    pub db: PathBuf,
}

pub fn config() -> Lwm2mConfig {
    let mut c = Lwm2mConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    c.firmware_poll = Duration::from_secs(2);
    c
}

impl Fixture {
    pub async fn new() -> Fixture {
        Fixture::with(config()).await
    }

    pub async fn with(config: Lwm2mConfig) -> Fixture {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Fixture::on(dir, config).await
    }

    /// An engine and adapter on the database in `dir` (a restart when it exists).
    pub async fn on(dir: Arc<tempfile::TempDir>, config: Lwm2mConfig) -> Fixture {
        Fixture::on_clock(dir, config, None).await
    }

    /// An engine on `clock` (a `ManualClock` drives the procedures' timers).
    pub async fn with_clock(config: Lwm2mConfig, clock: Arc<dyn Clock>) -> Fixture {
        Fixture::on_clock(Arc::new(tempfile::tempdir().unwrap()), config, Some(clock)).await
    }

    async fn on_clock(dir: Arc<tempfile::TempDir>, config: Lwm2mConfig, clock: Option<Arc<dyn Clock>>) -> Fixture {
        let db = dir.path().join("unidm.db");
        let adapter = Arc::new(Lwm2mAdapter::new(config));
        let mut builder = Engine::builder().store(SqliteStore::open(&db).unwrap()).adapter_arc(adapter.clone());
        if let Some(clock) = clock {
            builder = builder.clock(clock);
        }
        let engine = builder.start().await.unwrap();
        Fixture { engine, adapter, dir, db }
    }

    /// Starts `config`'s simulated client, registers it and waits until its identity (read
    /// from /3/0 after registration) is on the device.
    pub async fn online(&self, config: SimConfig) -> SimClient {
        let ep = config.endpoint.clone();
        let sim = SimClient::start(config).await.unwrap();
        sim.register().await.unwrap();
        self.wait_device(&ep, |d| d.identity.manufacturer.is_some()).await;
        sim
    }

    pub fn addr(&self) -> SocketAddr {
        self.adapter.local_addr().expect("started")
    }

    pub async fn stop(self) -> Arc<tempfile::TempDir> {
        self.engine.shutdown().await;
        unidm_core::Adapter::shutdown(&*self.adapter).await;
        self.dir
    }

    pub fn device(&self, ep: &str) -> Option<Device> {
        self.engine.device(&DeviceId::lwm2m(ep).unwrap()).ok()
    }

    /// Waits until the device satisfies `f`.
    pub async fn wait_device(&self, ep: &str, f: impl Fn(&Device) -> bool) -> Device {
        wait(|| async { self.device(ep).filter(|d| f(d)) }).await
    }

    pub async fn run(&self, ep: &str, action: Action) -> Operation {
        let opts = CreateOptions {
            retry: Some(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }),
            ..CreateOptions::default()
        };
        let op = self.engine.create_operation(&DeviceId::lwm2m(ep).unwrap(), action, opts).await.unwrap();
        self.finish(op.id).await
    }

    pub async fn finish(&self, id: unidm_models::OperationId) -> Operation {
        wait(|| async { self.engine.operation(id).await.ok().filter(|o| o.state.is_terminal()) }).await
    }

    pub async fn state(&self, id: unidm_models::OperationId) -> OperationState {
        self.engine.operation(id).await.unwrap().state
    }
}

/// Polls `f` every 20 ms for up to 10 s.
pub async fn wait<T, F: Future<Output = Option<T>>>(f: impl Fn() -> F) -> T {
    for _ in 0..500 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not met within 10 s");
}
