//! The engine on a SQLite file with the OMA DM adapter on loopback, and the helpers the tests
//! that drive simulated clients through it share.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use unidm_core::{CreateOptions, Engine, SqliteStore};
use unidm_models::{Action, DeviceId, OperationState, RetryPolicy};
use unidm_omadm::server::{OmadmAdapter, OmadmConfig};
use unidm_omadm::session::Credentials;
use unidm_omadm::sim::SimDevice;
use unidm_testkit::{operation_end, operation_where};

pub struct Fixture {
    pub engine: Engine,
    pub adapter: Arc<OmadmAdapter>,
    pub dir: tempfile::TempDir,
}

/// Client credentials `dev` / `client-secret`, server password `server-secret`, fast push retries.
pub fn config() -> OmadmConfig {
    OmadmConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        client_credentials: Some(Credentials::new("dev", "client-secret")),
        server_password: Some("server-secret".into()),
        push_backoff: Duration::from_millis(200),
        ..OmadmConfig::default()
    }
}

pub async fn fixture(config: OmadmConfig) -> Fixture {
    fixture_in(tempfile::tempdir().unwrap(), config).await
}

/// An engine on the database in `dir` (a restart when it exists).
pub async fn fixture_in(dir: tempfile::TempDir, config: OmadmConfig) -> Fixture {
    let adapter = Arc::new(OmadmAdapter::new(config));
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("unidm.db")).unwrap())
        .adapter_arc(adapter.clone())
        .start()
        .await
        .unwrap();
    Fixture { engine, adapter, dir }
}

/// One attempt.
pub fn once() -> CreateOptions {
    CreateOptions {
        retry: Some(RetryPolicy { max_attempts: 1, backoff_ms: 100, max_backoff_ms: 100 }),
        ..Default::default()
    }
}

/// Creates an operation for `id` while the device is away, lets the device run a session (and
/// the sessions it opens itself), and returns the operation once ended.
pub async fn run_op_on(f: &Fixture, id: &DeviceId, device: &SimDevice, action: Action) -> unidm_models::Operation {
    let op = f.engine.create_operation(id, action, once()).await.unwrap();
    operation_where(&f.engine, op.id, |o| o.state == OperationState::Waiting).await;
    device.run().await.unwrap();
    operation_end(&f.engine, op.id).await
}
