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
use std::time::Duration;

use async_trait::async_trait;
use unidm_models::{
    Device, DeviceId, Event, Operation, OperationError, OperationId, OperationState, PresenceState, Progress, Protocol,
    Timestamp,
};

use crate::clock::Clock;
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

    /// Drops an operation of `device` that was cancelled or expired; best effort. Only the
    /// adapter of the device's protocol is told.
    async fn cancel(&self, op: OperationId, device: &DeviceId);

    /// Another node sharing the store changed this adapter's state ([`AdapterHandle::put_state`]
    /// and the like: credentials, bootstrap configurations): read again what it keeps in
    /// memory. Only called on a cluster ([`crate::store::Cluster`]).
    async fn state_changed(&self) {}

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

/// What [`AdapterHandle::device_seen`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Last-seen moved in memory only.
    InMemory,
    /// Last-seen was stored (it had grown old), without an event.
    Stored,
    /// Something else changed: the full contact path ran (stored, with its event and rules).
    Contact,
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
    /// Where the adapter records the messages of tapped devices; [`crate::WireTap::record`]
    /// costs nothing for the others.
    pub fn wire_tap(&self) -> &crate::WireTap {
        &self.inner.tap
    }

    /// The engine's current time (the adapter's I/O shell passes it on to its state machines).
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The engine's clock: a [`crate::ManualClock`] in tests drives adapter timers too.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// The engine clock's monotonic reading ([`Clock::monotonic`]), what adapter timers measure.
    pub fn monotonic(&self) -> Duration {
        self.inner.clock.monotonic()
    }

    /// Waits until the engine clock's monotonic reading reaches `at`.
    pub async fn sleep_until(&self, at: Duration) {
        self.inner.clock.sleep_until(at).await
    }

    /// Waits for `d` on the engine's clock.
    pub async fn sleep(&self, d: Duration) {
        let at = self.monotonic() + d;
        self.sleep_until(at).await
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

    /// A device was heard from and nothing else changed (a periodic Inform, an LwM2M Update
    /// without new parameters): the cheap path of [`AdapterHandle::device_contact`]. When the
    /// device is known and `contact` changes nothing but last-seen (same presence, lifetime and
    /// address, no boot), last-seen moves in memory only, with no event; it is stored once the
    /// stored value is older than half the device's lifetime (five minutes without one), so
    /// that expiry after a restart stays right: a device that keeps its lifetime is always
    /// heard from again before its stored last-seen plus lifetime. Otherwise this is
    /// [`AdapterHandle::device_contact`] without an update. Answers whether it wrote.
    pub async fn device_seen(&self, id: &DeviceId, contact: Contact) -> Result<Seen, CoreError> {
        self.check_protocol(id)?;
        self.inner.device_seen(id, contact).await
    }

    /// Stores the adapter's record of a device (or clears it with `None`) without a contact,
    /// no event: the one place an adapter keeps what it knows of a device
    /// ([`AdapterHandle::device_records`] gives it back after a restart).
    pub async fn set_device_record(&self, id: &DeviceId, record: Option<Vec<u8>>) -> Result<(), CoreError> {
        self.check_protocol(id)?;
        self.inner.set_device_record(id, record).await
    }

    /// Updates what is known of a device without a presence change (a snapshot refresh). When
    /// `update` changes nothing, nothing is stored and no event is published.
    pub async fn update_device(&self, id: &DeviceId, update: impl FnOnce(&mut Device)) -> Result<Device, CoreError> {
        self.check_protocol(id)?;
        self.inner.update_device(id, update).await
    }

    /// [`AdapterHandle::update_device`] for a change that knows whether it changed anything:
    /// `change` answers true when it did (then the device is stored and a `DeviceUpdated`
    /// published), false when it left the device as it was. Nothing is copied to find out,
    /// which a change repeated on every step of a long procedure (a firmware state) saves.
    pub async fn change_device(
        &self,
        id: &DeviceId,
        change: impl FnOnce(&mut Device) -> bool,
    ) -> Result<(), CoreError> {
        self.check_protocol(id)?;
        self.inner.change_device(id, change).await
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

    /// [`AdapterHandle::operation_progress`] that also stores `state`, the adapter's own state of
    /// the operation (its procedure's step), in the same commit: after a restart the engine
    /// hands the operation back with it in [`Operation::adapter_state`].
    pub async fn operation_progress_with_state(
        &self,
        op: OperationId,
        progress: Progress,
        state: Vec<u8>,
    ) -> Result<(), CoreError> {
        self.inner.operation_step(op, OperationState::Running, Some(progress), None, Some(state)).await
    }

    /// The operation waits for the device (to register, for its next session, for a download to
    /// end): state `waiting`, with `waiting_for` in words. `state`, when given, is stored as
    /// with [`AdapterHandle::operation_progress_with_state`].
    pub async fn operation_waiting(
        &self,
        op: OperationId,
        waiting_for: impl Into<String>,
        state: Option<Vec<u8>>,
    ) -> Result<(), CoreError> {
        self.inner.operation_step(op, OperationState::Waiting, None, Some(waiting_for.into()), state).await
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

    /// The device's presence state, without copying the device.
    pub fn presence(&self, id: &DeviceId) -> Option<unidm_models::PresenceState> {
        self.inner.presence(id)
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
