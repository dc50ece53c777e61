//! unidm's engine: device registry, durable operations, groups, rules, events, storage and the
//! adapter SPI. No protocol and no HTTP live here.
//!
//! # Embedding
//!
//! A platform embeds unidm by building an [`Engine`] on a [`Store`] with the protocol adapters it
//! wants, subscribing to events and creating operations; no HTTP server is involved:
//!
//! ```no_run
//! use unidm_core::{CreateOptions, Engine, Received, SqliteStore};
//! use unidm_models::{Action, DeviceId};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder()
//!     .store(SqliteStore::open("unidm.db")?)
//!     // .adapter(my_lwm2m_adapter)
//!     .start()
//!     .await?;
//! let mut events = engine.subscribe();
//! let id = DeviceId::parse("lwm2m:urn:imei:490154203237518")?;
//! let op = engine.create_operation(&id, Action::Reboot, CreateOptions::default()).await?;
//! println!("operation {} is {}", op.id, op.state);
//! while let Some(Received::Event(e)) = events.recv().await {
//!     println!("{}", e.kind());
//! }
//! engine.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! `examples/embed.rs` is a runnable version with a small in-process adapter.
//!
//! # Guarantees
//! - An operation is committed to the store before `create_operation` returns, and so is every
//!   later state change; after a restart every unfinished operation is handed back to its
//!   adapter (states `pending -> dispatched -> waiting | running -> succeeded | failed |
//!   cancelled | expired`) with the adapter's own state of it ([`unidm_models::Operation::adapter_state`],
//!   stored by [`AdapterHandle::operation_progress_with_state`] /
//!   [`AdapterHandle::operation_waiting`]). The attempt a restart interrupted is resumed, not
//!   counted again.
//! - [`Engine::shutdown`] stops taking work before it closes the store: no operation is
//!   created or dispatched once it began, and every write queued before is committed.
//! - An adapter hears `cancel` only for its own devices.
//!
//! # Writing an adapter
//! An adapter implements [`Adapter`] and reports through its [`AdapterHandle`]. What carries
//! operations to devices is shared: [`Delivery`] holds per-device queues, requests sent and
//! not answered (an unanswered request is a failed attempt), durable waits keyed by a
//! [`Correlator`] (parked operations survive a restart without being sent twice), wake-ups of
//! one device when it becomes reachable, and no-progress limits per step. Timers measure the
//! engine's clock ([`AdapterHandle::monotonic`], [`AdapterHandle::sleep_until`]), so a
//! [`ManualClock`] drives them in tests. [`AdapterHandle::device_seen`] records a contact that
//! changed nothing but last-seen without a write or an event.
//! - Events are published once the change they describe is committed, in commit order; a slow
//!   subscriber receives [`Received::Lagged`] with the number of events it missed.
//! - A group operation never has more than its `concurrency` members dispatched or running.
//! - A device contact and the adapter's record of the device (an LwM2M registration;
//!   [`AdapterHandle::device_contact_with_record`]) are committed together, in the device's row.
//! - One [`SqliteStore`] writes a database file at a time (an advisory lock on
//!   `{file}.lock`; a second open fails with "in use by another unidm");
//!   [`SqliteStore::open_read_only`] reads beside it. [`Engine::shutdown`] closes the store.
//!
//! # Several nodes
//! Engines on one [`PostgresStore`] (each with its own [`PostgresOptions::node`]) form a
//! cluster ([`store::Cluster`]): each keeps every device, group and rule in memory, current
//! through the store's change feed, and publishes the other nodes' events to its subscribers.
//! A device belongs to the node that has its session (its contacts claim it); an operation
//! runs on its device's owner whichever node created it, and only its holder may write it (the
//! store refuses the others' writes). A node that stops heart-beating is dead after its lease;
//! the leader takes over its operations and group operations. [`Engine::cluster_status`] shows
//! the node's view; [`Engine::watch_app_state`] tells the application when another node
//! changed its stored values; [`Adapter::state_changed`] tells an adapter.
#![deny(missing_docs)]

/// What a name that appears in URLs and keys may hold (group, rule and node ids).
pub(crate) const NAME_RULE: &str = "1 to 64 characters of A-Z, a-z, 0-9, `-`, `_`, `.`";

/// Whether `id` follows [`NAME_RULE`].
pub(crate) fn is_safe_name(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub mod adapter;
mod clock;
pub mod delivery;
mod engine;
mod error;
mod events;
pub mod hex;
pub mod load;
pub mod secret;
pub mod store;
pub mod tap;
pub mod tls;

pub use adapter::{Adapter, AdapterError, AdapterHandle, Contact, Gone, Seen};
pub use clock::{Clock, ManualClock, Sleep, SystemClock};
pub use delivery::{Correlator, Delivery, DeliveryConfig, Stalled, Submitted, Wait, Woken};
pub use engine::{
    ClusterStatus, CreateOptions, DeviceQuery, Engine, EngineBuilder, EngineConfig, EngineStats, GroupOperationView,
    NewOperation, TopologyEdge, TopologyGraph,
};
pub use error::CoreError;
pub use events::{EventBus, Received, Subscription};
pub use store::{
    check_node_id, is_postgres_url, Completion, NodeStatus, OperationQuery, Page, PostgresOptions, PostgresStore,
    SqliteOptions, SqliteStore, Store, StoreError, StoreExt, StoreStats, Write,
};
pub use tap::{Direction, WireRecord, WireTap};

#[cfg(test)]
mod name_tests {
    #[test]
    fn names_are_1_to_64_safe_characters() {
        assert!(crate::is_safe_name("node-1.a_B"));
        assert!(crate::is_safe_name(&"n".repeat(64)));
        for bad in ["", "a b", "n/1", "é", &"n".repeat(65)] {
            assert!(!crate::is_safe_name(bad), "{bad:?}");
        }
        assert!(crate::check_node_id("n 1").unwrap_err().contains("invalid node id `n 1`"));
    }
}
