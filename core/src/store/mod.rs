//! Storage: the `Store` trait and its default SQLite implementation.
//!
//! Writes go through [`Store::submit`]: a batch of [`Write`]s committed atomically, in submission
//! order, after which the store calls the batch's completion from its writer. Submitting is
//! synchronous and cheap, so callers can order writes under their own locks and wait for the
//! commit outside them; the store groups concurrent batches into one transaction (group commit),
//! so durability does not cost throughput. Reads are async so that a networked store fits the
//! same trait: [`SqliteStore`] is the embedded default, [`PostgresStore`] the networked one
//! (several unidm nodes on one database). [`suite`] holds the behaviour every store must have,
//! run against both.

mod cluster;
mod postgres;
mod sqlite;
pub mod suite;

use async_trait::async_trait;
use tokio::sync::oneshot;
use unidm_models::{Device, DeviceId, Group, GroupOperation, Operation, OperationId, OperationState, Rule};

pub use cluster::{Cluster, Feed, FeedItem, Held, Member, NodeStatus, Reloaded};
pub use postgres::{check_node_id, is_postgres_url, PostgresOptions, PostgresStore, DEFAULT_NODE};
pub use sqlite::{SqliteOptions, SqliteStore};

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(String),
    /// A stored document could not be read back.
    #[error("corrupt record {0}")]
    Corrupt(String),
    /// The store's writer has stopped.
    #[error("the store is closed")]
    Closed,
    /// Another unidm writes this database.
    #[error("{0}")]
    InUse(String),
    /// The database cannot be reached (a networked store: PostgreSQL down or cut off); the
    /// write was not acknowledged, and may succeed once it answers again.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// One change to the store. Documents are serialized by the caller (off the writer thread).
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert or replace a device, keeping the adapter's record of it.
    PutDevice {
        /// The id.
        id: String,
        /// The JSON document.
        doc: String,
    },
    /// Insert or replace a device and set the adapter's record of it (`None` clears it).
    /// [`Write::PutDevice`] leaves the record as it is.
    PutDeviceWithRecord {
        /// The id.
        id: String,
        /// The JSON document.
        doc: String,
        /// The adapter's record, opaque to the store.
        record: Option<Vec<u8>>,
    },
    /// Delete a device (and its record).
    DeleteDevice(String),
    /// Insert or replace an operation.
    PutOperation {
        /// The id.
        id: u64,
        /// Its device.
        device: String,
        /// Its state.
        state: OperationState,
        /// Its group operation.
        group_operation: Option<u64>,
        /// The JSON document.
        doc: String,
        /// The adapter's own state of the operation, opaque to the store.
        adapter_state: Option<Vec<u8>>,
        /// The node that holds it from now on (a [`Cluster`] store; `None`: the writing node).
        /// Only the node holding an unfinished operation may write it: a write from another
        /// fails ([`Cluster`]).
        holder: Option<String>,
    },
    /// Insert or replace a group operation.
    PutGroupOperation {
        /// The id.
        id: u64,
        /// Its group.
        group: String,
        /// The JSON document.
        doc: String,
    },
    /// Insert or replace a group.
    PutGroup {
        /// The id.
        id: String,
        /// The JSON document.
        doc: String,
    },
    /// Delete a group.
    DeleteGroup(String),
    /// Insert or replace a rule.
    PutRule {
        /// The id.
        id: String,
        /// The JSON document.
        doc: String,
    },
    /// Delete a rule.
    DeleteRule(String),
    /// Set an adapter's state value.
    PutState {
        /// The adapter's namespace.
        namespace: String,
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove an adapter's state value.
    DeleteState {
        /// The adapter's namespace.
        namespace: String,
        /// The key.
        key: String,
    },
    /// An event (JSON) the other nodes publish once the transaction is committed (a
    /// [`Cluster`] store); a store of one node has no one to tell and ignores it.
    Event(String),
    /// Makes the writing node the device's owner (a [`Cluster`] store: the device's session is
    /// there); a store of one node ignores it.
    Own(String),
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serializing our own model types cannot fail: they hold no maps with non-string keys.
    serde_json::to_string(v).unwrap_or_default()
}

impl Write {
    /// Stores a device.
    pub fn device(d: &Device) -> Self {
        Write::PutDevice { id: d.id.to_string(), doc: to_json(d) }
    }

    /// Stores a device with the adapter's record of it (`None` clears the record).
    pub fn device_with_record(d: &Device, record: Option<Vec<u8>>) -> Self {
        Write::PutDeviceWithRecord { id: d.id.to_string(), doc: to_json(d), record }
    }

    /// Stores an operation.
    pub fn operation(op: &Operation) -> Self {
        Write::PutOperation {
            id: op.id.0,
            device: op.device.to_string(),
            state: op.state,
            group_operation: op.group_operation.map(|g| g.0),
            doc: to_json(op),
            adapter_state: op.adapter_state.clone(),
            holder: None,
        }
    }

    /// Stores an operation and hands it to the node `holder` ([`Cluster`]).
    pub fn operation_to(op: &Operation, holder: &str) -> Self {
        let mut w = Write::operation(op);
        if let Write::PutOperation { holder: h, .. } = &mut w {
            *h = Some(holder.to_owned());
        }
        w
    }

    /// Stores a group operation.
    pub fn group_operation(g: &GroupOperation) -> Self {
        Write::PutGroupOperation { id: g.id.0, group: g.group.clone(), doc: to_json(g) }
    }

    /// Stores a group.
    pub fn group(g: &Group) -> Self {
        Write::PutGroup { id: g.id.clone(), doc: to_json(g) }
    }

    /// Stores a rule.
    pub fn rule(r: &Rule) -> Self {
        Write::PutRule { id: r.id.clone(), doc: to_json(r) }
    }
}

/// Called by the store once a batch is committed (or has failed), in submission order.
pub type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A batch and its completion, queued for a store's writer.
struct Job {
    writes: Vec<Write>,
    done: Completion,
}

/// The sending end of a writer's queue; `None` once the store is closed.
type Queue = std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<Job>>>;

/// Queues a batch for the writer, or completes it at once with [`StoreError::Closed`].
fn enqueue(queue: &Queue, writes: Vec<Write>, done: Completion) {
    let job = Job { writes, done };
    let sent = match queue.lock() {
        Ok(tx) => match tx.as_ref() {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        },
        Err(_) => Err(job),
    };
    if let Err(job) = sent {
        (job.done)(Err(StoreError::Closed));
    }
}

/// Which operations to list.
#[derive(Debug, Clone, Default)]
pub struct OperationQuery {
    /// Only this device's.
    pub device: Option<DeviceId>,
    /// Only in this state.
    pub state: Option<OperationState>,
    /// Only members of this group operation.
    pub group_operation: Option<OperationId>,
    /// Skip this many (newest first).
    pub offset: usize,
    /// At most this many.
    pub limit: usize,
}

/// One page of a listing, with the total count.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// How many match in all.
    pub total: usize,
}

/// What a store's writer has done since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed.
    pub commits: u64,
    /// Writes (rows put or deleted) committed.
    pub writes: u64,
    /// Time spent committing, in microseconds.
    pub commit_micros: u64,
}

/// Durable storage for the engine.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Queues `batch` to be committed atomically after every batch submitted before it, then
    /// calls `done` with the outcome.
    fn submit(&self, batch: Vec<Write>, done: Completion);

    /// The writer's counters, for `/metrics`; `None` when the store keeps none.
    fn stats(&self) -> Option<StoreStats> {
        None
    }

    /// The store's cluster side when several unidm nodes may share it (PostgreSQL); `None` for
    /// a store of one node (SQLite).
    fn cluster(&self) -> Option<std::sync::Arc<dyn Cluster>> {
        None
    }

    /// Whether the database answers; `Ok` by default (an embedded store has no link to lose).
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether writes can be taken now, without a round trip: `Err` while a networked store
    /// knows its database is away, so that callers refuse a change before making it rather
    /// than make it in memory and fail to store it.
    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Every device.
    async fn load_devices(&self) -> Result<Vec<Device>, StoreError>;
    /// One operation.
    async fn get_operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError>;
    /// A page of operations, newest first.
    async fn list_operations(&self, q: OperationQuery) -> Result<Page<Operation>, StoreError>;
    /// Every operation not in a terminal state, with its adapter state
    /// ([`Operation::adapter_state`]).
    async fn unfinished_operations(&self) -> Result<Vec<Operation>, StoreError>;
    /// The highest operation or group operation id ever stored (0 when none).
    async fn max_operation_id(&self) -> Result<u64, StoreError>;
    /// Every group operation.
    async fn load_group_operations(&self) -> Result<Vec<GroupOperation>, StoreError>;
    /// One group operation.
    async fn get_group_operation(&self, id: OperationId) -> Result<Option<GroupOperation>, StoreError>;
    /// Every group.
    async fn load_groups(&self) -> Result<Vec<Group>, StoreError>;
    /// Every rule.
    async fn load_rules(&self) -> Result<Vec<Rule>, StoreError>;
    /// Every device record ([`Write::PutDeviceWithRecord`]) of the devices of `protocol`
    /// (ids `protocol:...`), by device id.
    async fn load_device_records(&self, protocol: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Every key and value an adapter stored under `namespace`.
    async fn load_state(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Commits what is queued and lets go of the database; later writes fail with
    /// [`StoreError::Closed`]. The engine calls it at the end of its shutdown, so that the
    /// same database can be opened again in the same process.
    fn close(&self) {}

    /// Waits until every batch submitted so far is committed.
    async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(
            Vec::new(),
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.await.unwrap_or(Err(StoreError::Closed))
    }
}

/// Submit-and-wait, for any store.
#[async_trait]
pub trait StoreExt: Store {
    /// Commits `batch` and waits for the outcome.
    async fn write(&self, batch: Vec<Write>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(
            batch,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.await.unwrap_or(Err(StoreError::Closed))
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
