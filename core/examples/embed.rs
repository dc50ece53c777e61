//! A platform embedding unidm without the HTTP facade: it builds an engine on a SQLite file with
//! an adapter of its own, listens to events, and reboots a device.
//!
//! Run: `cargo run -p unidm-core --example embed`
//!
//! The adapter here is a stand-in for a protocol adapter (unidm-lwm2m, unidm-tr069, ...): it
//! reports one device and carries out reboots after a short delay.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use unidm_core::{Adapter, AdapterError, AdapterHandle, Contact, CreateOptions, Engine, Received, SqliteStore};
use unidm_models::{Action, DeviceId, Event, Function, Operation, OperationError, OperationId, Progress, Protocol};

#[derive(Default)]
struct DemoAdapter {
    handle: OnceLock<AdapterHandle>,
}

#[async_trait]
impl Adapter for DemoAdapter {
    fn protocol(&self) -> Protocol {
        Protocol::Lwm2m
    }

    async fn start(&self, handle: AdapterHandle) -> Result<(), AdapterError> {
        // A device registers as soon as the adapter is up.
        let id = DeviceId::lwm2m("urn:imei:490154203237518").map_err(|e| AdapterError(e.to_string()))?;
        handle
            .device_contact(&id, Contact { lifetime_s: Some(300), boot: true, ..Contact::online() }, |d| {
                d.identity.manufacturer = Some("Acme".into());
                d.identity.model = Some("Streetlight 2".into());
                d.capabilities = AdapterHandle::functions(&[Function::DeviceInfo, Function::Reboot]);
            })
            .await
            .map_err(|e| AdapterError(e.to_string()))?;
        self.handle.set(handle).map_err(|_| AdapterError("started twice".into()))
    }

    async fn submit(&self, op: Operation) -> Result<(), OperationError> {
        let handle = self.handle.get().cloned().expect("submit comes after start");
        tokio::spawn(async move {
            let _ =
                handle.operation_progress(op.id, Progress { percent: None, message: Some("rebooting".into()) }).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = handle.operation_succeeded(op.id, None).await;
        });
        Ok(())
    }

    async fn cancel(&self, _op: OperationId, _device: &DeviceId) {}
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("unidm-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.join("unidm.db"))?)
        .adapter(DemoAdapter::default())
        .start()
        .await?;
    let mut events = engine.subscribe();

    let device = DeviceId::lwm2m("urn:imei:490154203237518")?;
    println!("device: {:?}", engine.device(&device)?.identity);
    let op = engine.create_operation(&device, Action::Reboot, CreateOptions::default()).await?;
    println!("operation {} accepted ({})", op.id, op.state);

    while let Some(received) = events.recv().await {
        match received {
            Received::Event(Event::OperationChanged { operation }) if operation.id == op.id => {
                println!("operation {} is {}", operation.id, operation.state);
                if operation.state.is_terminal() {
                    break;
                }
            }
            Received::Event(other) => println!("event: {}", other.kind()),
            Received::Lagged(n) => println!("missed {n} events"),
        }
    }
    engine.shutdown().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
