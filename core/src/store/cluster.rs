//! The cluster side of a store several unidm nodes share ([`super::PostgresStore`]).
//!
//! The engine stays memory-first on every node; this is what keeps the nodes' memories and
//! their work apart and in step:
//! - **A change feed.** Every transaction a node commits also records which rows it wrote
//!   (`d:<device>`, `o:<operation>`, `go:<group operation>`, `g:<group>`, `r:<rule>`,
//!   `s:<namespace>`) and the events it published; the other nodes receive them in commit
//!   order ([`FeedItem::Change`]), read those rows again and publish those events to their own
//!   subscribers.
//! - **Owners and holders.** A device's live session (an LwM2M registration, a CWMP or OMA DM
//!   session) is on one node, its *owner*, recorded in the store. Every unfinished operation
//!   is *held* by one node at a time, the only one that runs it and writes it: a write of an
//!   operation another node holds fails (the store fences it). The holder hands an operation
//!   to its device's owner ([`super::Write::operation_to`]); a node that gets a device's
//!   session owns the device ([`super::Write::Own`]) and claims its operations
//!   ([`Cluster::claim_operations`]).
//! - **Leases.** Nodes renew a heartbeat ([`Cluster::heartbeat`]); a node whose heartbeat is
//!   older than the lease is dead, and the leader ([`Cluster::lead`], one node at a time)
//!   takes over what it held ([`Cluster::take_orphans`]).

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use unidm_models::{Device, Group, GroupOperation, Operation, OperationId, OperationState, Rule};

use super::StoreError;

/// One node as the store sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// The node's id (`unidm serve --node-id`).
    pub id: String,
    /// Whether its heartbeat is within the lease.
    pub alive: bool,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: u64,
}

/// What the feed delivers to a node, in the order the other nodes committed it.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    /// Another node committed a transaction.
    Change {
        /// The node that committed it.
        node: String,
        /// The rows it wrote (`d:`, `o:`, `go:`, `g:`, `r:`, `s:` and the key).
        keys: Vec<String>,
        /// The events it published (JSON).
        events: Vec<String>,
    },
    /// Another node asks this one to cancel an operation it holds.
    Cancel(OperationId),
    /// The feed broke and was opened again: changes may have been missed, read everything
    /// again.
    Resync,
}

/// The receiving end of the feed.
pub type Feed = mpsc::UnboundedReceiver<FeedItem>;

/// A device's document and owner, as stored.
pub type OwnedDevice = (Device, Option<String>);

/// The rows a change named, as they are now.
#[derive(Debug, Clone, Default)]
pub struct Reloaded {
    /// Each device named with its document and owner, or `None` once deleted.
    pub devices: Vec<(String, Option<OwnedDevice>)>,
    /// Each operation named (with its adapter state) and the node holding it.
    pub operations: Vec<(Operation, Option<String>)>,
    /// Each group operation named.
    pub group_operations: Vec<GroupOperation>,
    /// Each group named, or `None` once deleted.
    pub groups: Vec<(String, Option<Group>)>,
    /// Each rule named, or `None` once deleted.
    pub rules: Vec<(String, Option<Rule>)>,
}

/// A member of a group operation, for rebuilding its run.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The member operation.
    pub id: OperationId,
    /// Its state.
    pub state: OperationState,
    /// The node holding it.
    pub holder: Option<String>,
}

/// Operations and group operations a node holds (or has just taken over).
#[derive(Debug, Clone, Default)]
pub struct Held {
    /// Unfinished operations, with their adapter state.
    pub operations: Vec<Operation>,
    /// Unfinished group operations with every member.
    pub group_operations: Vec<(GroupOperation, Vec<Member>)>,
}

/// The cluster side of a store ([`super::Store::cluster`]).
#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// This node's id.
    fn node(&self) -> &str;

    /// How long a node stays alive without a heartbeat.
    fn lease(&self) -> Duration;

    /// The change feed; `None` after the first call.
    fn take_feed(&self) -> Option<Feed>;

    /// `n` operation ids no node has used or will use.
    async fn allocate_ids(&self, n: usize) -> Result<Vec<u64>, StoreError>;

    /// Renews this node's lease; answers every node known, this one included.
    async fn heartbeat(&self) -> Result<Vec<NodeStatus>, StoreError>;

    /// Whether this node leads now (it takes the leader's lock when no one holds it).
    async fn lead(&self) -> Result<bool, StoreError>;

    /// Every device with an owner, and the owner.
    async fn owners(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// The rows `keys` name ([`FeedItem::Change`]), as they are now.
    async fn reload(&self, keys: &[String]) -> Result<Reloaded, StoreError>;

    /// Makes this node the holder of the unfinished operations of `devices` (it has their
    /// sessions), except group members still waiting for their group's slot; answers every
    /// unfinished operation of theirs it now holds (taken from other nodes, or handed here
    /// already).
    async fn claim_operations(&self, devices: &[String]) -> Result<Vec<Operation>, StoreError>;

    /// Takes an unfinished operation no live node holds; `None` when it has ended or a live
    /// node holds it.
    async fn claim_operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError>;

    /// The node holding an unfinished operation, and whether it is alive.
    async fn holder(&self, id: OperationId) -> Result<Option<(String, bool)>, StoreError>;

    /// What this node holds, at its start (operations no node holds, written before the
    /// store knew of nodes, become this node's).
    async fn held(&self) -> Result<Held, StoreError>;

    /// Takes over what dead nodes held (the leader calls it).
    async fn take_orphans(&self) -> Result<Held, StoreError>;

    /// Asks the node `holder` to cancel an operation ([`FeedItem::Cancel`]).
    async fn send_cancel(&self, holder: &str, id: OperationId) -> Result<(), StoreError>;

    /// Deletes feed entries older than `age` (the leader calls it).
    async fn prune(&self, age: Duration) -> Result<u64, StoreError>;

    /// Marks this node gone at once (a clean shutdown), so that the others need not wait for
    /// its lease to lapse.
    async fn leave(&self) -> Result<(), StoreError>;
}
