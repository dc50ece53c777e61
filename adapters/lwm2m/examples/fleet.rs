//! Embeds the LwM2M adapter in an engine, lets a fleet of simulated clients register over
//! loopback UDP, and updates their firmware: `cargo run -p unidm-lwm2m --example fleet -- 50`.

use std::sync::Arc;
use std::time::Duration;

use unidm_core::{CreateOptions, Engine, SqliteStore};
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::{Lwm2mAdapter, Lwm2mConfig};
use unidm_models::{Action, DeviceId, FirmwareUpdate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir()?;
    let mut config = Lwm2mConfig::new("127.0.0.1:0".parse()?);
    // Every simulated client registers from 127.0.0.1: lift the per-address rate limit.
    config.server.registration.max_registers_per_source = u32::MAX;
    let adapter = Arc::new(Lwm2mAdapter::new(config));
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("unidm.db"))?)
        .adapter_arc(adapter.clone())
        .start()
        .await?;
    let server = adapter.local_addr().ok_or("adapter not started")?;
    println!("LwM2M server on udp/{server}; registering {n} clients");
    let fleet = SimClient::fleet(&SimConfig::new("sim", server), n).await?;
    let update = Action::Firmware(FirmwareUpdate {
        uri: "http://example.com/fw-2.0.bin".into(),
        version: Some("2.0".into()),
        name: None,
    });
    let mut ops = Vec::new();
    for client in &fleet {
        let id = DeviceId::lwm2m(client.endpoint())?;
        // The registration reaches the engine's registry a moment after the client's 2.01.
        while engine.device(&id).is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ops.push(engine.create_operation(&id, update.clone(), CreateOptions::default()).await?.id);
    }
    for id in ops {
        loop {
            let op = engine.operation(id).await?;
            if op.state.is_terminal() {
                println!("operation {id}: {} {}", op.state, op.error.map(|e| e.message).unwrap_or_default());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    engine.shutdown().await;
    Ok(())
}
