//! The adapter SPI: how a protocol adapter plugs into the engine.
//!
//! An adapter owns its protocol's I/O and state machines. The engine hands it operations through
//! [`Adapter::submit`]; the adapter decides when they can run (at once for an online LwM2M
//! device, at the next update of a queue-mode device, in the next CWMP or OMA DM session) and
//! reports back through the [`AdapterHandle`] it received in [`Adapter::start`]: devices seen,
//! updated or gone, operation progress and outcome, observations and topology. Multi-step
//! procedures are the adapter's; the engine sees one operation.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use unidm_models::{
    Device, DeviceId, Event, Operation, OperationError, OperationId, PresenceState, Progress, Protocol, Timestamp,
};

use crate::engine::{Inner, RecordChange};
use crate::store::{StoreError, StoreExt, Write};
use crate::CoreError;

/// A protocol adapter.
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// The protocol whose devices this adapter manages.
    fn protocol(&self) -> Protocol;

    /// Starts the adapter's I/O. The handle stays valid until the engine shuts down.
    async fn start(&self, handle: AdapterHandle) -> Result<(), AdapterError>;

    /// Takes an operation for one of the adapter's devices. The adapter must eventually report
    /// its outcome through the handle (or the operation expires at its deadline). An `Err`
    /// fails the attempt at once (and is retried when its kind is retryable). The engine hands
    /// back unfinished operations after a restart, so `submit` may see an id twice.
    async fn submit(&self, op: Operation) -> Result<(), OperationError>;

    /// Drops an operation that was cancelled or expired; best effort.
    async fn cancel(&self, op: OperationId);

    /// Stops the adapter's I/O.
    async fn shutdown(&self) {}
}

/// An adapter could not start.
#[derive(Debug, thiserror::Error)]
#[error("adapter failed to start: {0}")]
pub struct AdapterError(pub String);

/// A device's contact with its adapter (registration, update, Inform, DM session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Online, or sleeping (queue mode).
    pub state: PresenceState,
    /// The lifetime or inform interval the device promised, seconds.
    pub lifetime_s: Option<u32>,
    /// Its transport address.
    pub address: Option<String>,
    /// The device reports that it (re)booted: boot rules fire.
    pub boot: bool,
}

impl Contact {
    /// An online contact without boot.
    pub fn online() -> Self {
        Contact { state: PresenceState::Online, lifetime_s: None, address: None, boot: false }
    }
}

/// Why a device went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// It said so (LwM2M De-register).
    Deregistered,
    /// Its lifetime ran out.
    Expired,
}

/// The adapter's way back into the engine. Cheap to clone.
#[derive(Clone)]
pub struct AdapterHandle {
    pub(crate) inner: Arc<Inner>,
    pub(crate) protocol: Protocol,
}

impl std::fmt::Debug for AdapterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterHandle").field("protocol", &self.protocol).finish()
    }
}

impl AdapterHandle {
    /// The engine's current time (the adapter's I/O shell passes it on to its state machines).
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// A device made contact; `update` records what the adapter learned (identity,
    /// capabilities, snapshot). Creates the device on first contact, fires provisioning rules,
    /// and returns the device as stored.
    pub async fn device_contact(
        &self,
        id: &DeviceId,
        contact: Contact,
        update: impl FnOnce(&mut Device),
    ) -> Result<Device, CoreError> {
        self.check_protocol(id)?;
        self.inner.device_contact(id, contact, RecordChange::Keep, update).await
    }

    /// [`AdapterHandle::device_contact`], storing `record` (the adapter's own record of the
    /// device, such as an LwM2M registration) in the device's row, in the same commit: the
    /// device and its record are stored together or not at all. [`AdapterHandle::device_records`]
    /// gives the records back after a restart.
    pub async fn device_contact_with_record(
        &self,
        id: &DeviceId,
        contact: Contact,
        record: Vec<u8>,
        update: impl FnOnce(&mut Device),
    ) -> Result<Device, CoreError> {
        self.check_protocol(id)?;
        self.inner.device_contact(id, contact, RecordChange::Set(record), update).await
    }

    /// Updates what is known of a device without a presence change (a snapshot refresh).
    pub async fn update_device(&self, id: &DeviceId, update: impl FnOnce(&mut Device)) -> Result<Device, CoreError> {
        self.check_protocol(id)?;
        self.inner.update_device(id, update).await
    }

    /// A device deregistered or expired.
    pub async fn device_gone(&self, id: &DeviceId, why: Gone) -> Result<(), CoreError> {
        self.check_protocol(id)?;
        self.inner.device_gone(id, why, RecordChange::Keep).await
    }

    /// [`AdapterHandle::device_gone`], clearing the adapter's record of the device in the same
    /// commit.
    pub async fn device_gone_clearing_record(&self, id: &DeviceId, why: Gone) -> Result<(), CoreError> {
        self.check_protocol(id)?;
        self.inner.device_gone(id, why, RecordChange::Clear).await
    }

    /// The adapter's records of its devices ([`AdapterHandle::device_contact_with_record`]).
    pub async fn device_records(&self) -> Result<Vec<(DeviceId, Vec<u8>)>, StoreError> {
        let rows = self.inner.store.load_device_records(self.protocol.as_str()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, record)| match id.parse::<DeviceId>() {
                Ok(id) => Some((id, record)),
                Err(e) => {
                    tracing::warn!(device = %id, error = %e, "skipping the record of an unreadable device id");
                    None
                }
            })
            .collect())
    }

    /// Sets a gateway's children (the devices behind it), creating unknown children as
    /// offline devices and pointing each child's `parent` at the gateway.
    pub async fn set_children(&self, gateway: &DeviceId, children: Vec<DeviceId>) -> Result<(), CoreError> {
        self.check_protocol(gateway)?;
        self.inner.set_children(gateway, children).await
    }

    /// An operation is being worked on by the device.
    pub async fn operation_progress(&self, op: OperationId, progress: Progress) -> Result<(), CoreError> {
        self.inner.operation_running(op, progress).await
    }

    /// An operation succeeded, with its result.
    pub async fn operation_succeeded(
        &self,
        op: OperationId,
        result: Option<serde_json::Value>,
    ) -> Result<(), CoreError> {
        self.inner.operation_succeeded(op, result).await
    }

    /// An operation failed. Retryable kinds are retried per the operation's policy.
    pub async fn operation_failed(&self, op: OperationId, error: OperationError) -> Result<(), CoreError> {
        self.inner.operation_failed(op, error).await
    }

    /// A device reported an observed value.
    pub fn observation(&self, device: &DeviceId, path: &str, value: serde_json::Value) {
        self.inner.events.publish(Event::Observation {
            device: device.clone(),
            path: path.to_owned(),
            value,
            at: self.now(),
        });
    }

    /// Stores a value of the adapter's own (registrations, bootstrap configurations,
    /// credentials), durably, under the adapter's namespace.
    pub async fn put_state(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let w = Write::PutState { namespace: self.protocol.as_str().to_owned(), key: key.to_owned(), value };
        self.inner.store.write(vec![w]).await
    }

    /// Removes a stored value.
    pub async fn delete_state(&self, key: &str) -> Result<(), StoreError> {
        let w = Write::DeleteState { namespace: self.protocol.as_str().to_owned(), key: key.to_owned() };
        self.inner.store.write(vec![w]).await
    }

    /// Every value the adapter stored.
    pub async fn load_state(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.store.load_state(self.protocol.as_str()).await
    }

    /// The device as the registry knows it.
    pub fn device(&self, id: &DeviceId) -> Option<Device> {
        self.inner.device(id)
    }

    /// Capabilities helper: the set of functions, for `Device::capabilities`.
    pub fn functions(list: &[unidm_models::Function]) -> Option<BTreeSet<unidm_models::Function>> {
        Some(list.iter().copied().collect())
    }

    fn check_protocol(&self, id: &DeviceId) -> Result<(), CoreError> {
        if id.protocol() == self.protocol {
            Ok(())
        } else {
            Err(CoreError::bad_input("device", format!("`{id}` is not a {} device", self.protocol)))
        }
    }
}
