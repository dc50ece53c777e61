//! Several nodes on one store ([`crate::store::Cluster`]): who owns which device, who holds
//! which operation, the feed that keeps every node's memory current, and the leader's work.
//!
//! - A node that gets a device's session (a contact) claims the device and its unfinished
//!   operations; the node that had them lets go when the feed tells it.
//! - An operation runs on its device's owner: a node that creates one (from the API, a rule,
//!   a group) for a device another live node owns hands it over when it would dispatch it.
//! - Group operations run on the node that holds them; it hands each member to its device's
//!   owner when a slot frees, and follows the members' states through the feed.
//! - Device expiry runs on each device's owner; the leader expires devices whose owner is
//!   dead or unknown, takes over what dead nodes held, and prunes the feed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use unidm_models::{DeviceId, Event, Operation, OperationId, OperationState};

use super::ops::GroupRun;
use super::Inner;
use crate::store::{Cluster, FeedItem, Held, NodeStatus, StoreError, Write};
use crate::CoreError;

/// Ids fetched from the store at a time.
const ID_BLOCK: usize = 256;
/// How long an operation that ended here is remembered ([`super::ops::OpsState::ended`]):
/// far longer than a change takes to be read back.
const ENDED_KEPT: Duration = Duration::from_secs(120);
/// Most devices claimed in one transaction.
const CLAIM_BATCH: usize = 2048;
/// How often the leader prunes the feed, and how old an entry it keeps.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const FEED_KEPT: Duration = Duration::from_secs(600);

/// A node's view of the cluster.
pub(crate) struct ClusterState {
    pub(crate) api: Arc<dyn Cluster>,
    pub(crate) node: String,
    owners: RwLock<HashMap<DeviceId, String>>,
    nodes: RwLock<Vec<NodeStatus>>,
    ids: Mutex<VecDeque<u64>>,
    leader: AtomicBool,
    /// A change could not be read back: everything is read again at the next tick.
    stale: AtomicBool,
    last_prune: Mutex<Option<Instant>>,
    /// Devices to claim in the store ([`Inner::claim`]); taken by the claiming task.
    claims: Mutex<Option<tokio::sync::mpsc::UnboundedSender<DeviceId>>>,
    claimed: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<DeviceId>>>,
}

/// The cluster as one node sees it (`/healthz`, `/metrics`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// This node.
    pub node: String,
    /// Whether this node leads (expiry of orphaned devices, taking over dead nodes' work).
    pub leader: bool,
    /// Devices whose live session is on this node.
    pub owned_devices: usize,
    /// Every node known, with its lease.
    pub nodes: Vec<NodeStatus>,
}

impl ClusterState {
    pub(crate) fn new(api: Arc<dyn Cluster>) -> Self {
        let (claims, claimed) = tokio::sync::mpsc::unbounded_channel();
        ClusterState {
            node: api.node().to_owned(),
            api,
            owners: RwLock::new(HashMap::new()),
            nodes: RwLock::new(Vec::new()),
            ids: Mutex::new(VecDeque::new()),
            leader: AtomicBool::new(false),
            stale: AtomicBool::new(false),
            last_prune: Mutex::new(None),
            claims: Mutex::new(Some(claims)),
            claimed: Mutex::new(Some(claimed)),
        }
    }

    fn alive(&self, node: &str) -> bool {
        node == self.node || self.nodes.read().is_ok_and(|n| n.iter().any(|n| n.id == node && n.alive))
    }

    /// Whether another node is alive (to tell of events: a node alone has no one to tell, and
    /// a node that joins loads the state, not past events).
    pub(crate) fn has_peers(&self) -> bool {
        self.nodes.read().is_ok_and(|n| n.iter().any(|n| n.alive && n.id != self.node))
    }

    pub(crate) fn owns(&self, device: &DeviceId) -> bool {
        self.owners.read().is_ok_and(|o| o.get(device) == Some(&self.node))
    }

    /// The device's owner when it is another live node.
    pub(crate) fn remote_owner(&self, device: &DeviceId) -> Option<String> {
        let owner = self.owners.read().ok()?.get(device).cloned()?;
        (owner != self.node && self.alive(&owner)).then_some(owner)
    }

    /// Whether this node expires `device`: its owner, or the leader when no live node owns it.
    pub(crate) fn expires(&self, device: &DeviceId) -> bool {
        match self.owners.read().ok().and_then(|o| o.get(device).cloned()) {
            Some(owner) if owner == self.node => true,
            Some(owner) if self.alive(&owner) => false,
            _ => self.leader.load(Ordering::Relaxed),
        }
    }

    /// Renews this node's lease and takes the other nodes' state.
    pub(crate) async fn beat(&self) -> Result<(), StoreError> {
        let nodes = self.api.heartbeat().await?;
        if let Ok(mut n) = self.nodes.write() {
            *n = nodes;
        }
        Ok(())
    }

    pub(crate) fn set_owners(&self, owners: Vec<(String, String)>) {
        if let Ok(mut map) = self.owners.write() {
            map.clear();
            map.extend(owners.into_iter().filter_map(|(d, n)| Some((DeviceId::parse(&d).ok()?, n))));
        }
    }

    pub(crate) fn status(&self) -> ClusterStatus {
        ClusterStatus {
            node: self.node.clone(),
            leader: self.leader.load(Ordering::Relaxed),
            owned_devices: self.owners.read().map_or(0, |o| o.values().filter(|n| **n == self.node).count()),
            nodes: self.nodes.read().map(|n| n.clone()).unwrap_or_default(),
        }
    }
}

impl GroupRun {
    /// The run of a group operation this node takes over: members pending with no other
    /// holder wait for a slot; the other unfinished ones are in flight.
    pub(crate) fn resume(op: unidm_models::GroupOperation, members: Vec<crate::store::Member>, node: &str) -> Self {
        let mut states = HashMap::new();
        let mut in_flight = HashSet::new();
        for m in members {
            let queued = m.state == OperationState::Pending && m.holder.as_deref().is_none_or(|h| h == node);
            if !m.state.is_terminal() && !queued {
                in_flight.insert(m.id);
            }
            states.insert(m.id, m.state);
        }
        let mut run = GroupRun::new(op, states);
        run.in_flight = in_flight;
        run
    }
}

impl Inner {
    /// `n` fresh operation ids: from the store's sequence on a cluster, else counted here.
    pub(crate) async fn allocate_ids(&self, n: usize) -> Result<Vec<OperationId>, CoreError> {
        let Some(c) = &self.cluster else {
            let first = self.next_id.fetch_add(n as u64, Ordering::SeqCst);
            return Ok((first..first + n as u64).map(OperationId).collect());
        };
        let mut out = Vec::with_capacity(n);
        if let Ok(mut pool) = c.ids.lock() {
            while out.len() < n {
                let Some(id) = pool.pop_front() else { break };
                out.push(OperationId(id));
            }
        }
        if out.len() < n {
            let missing = n - out.len();
            let fetched = c.api.allocate_ids(missing.max(ID_BLOCK)).await?;
            let (now, later) = fetched.split_at(missing.min(fetched.len()));
            out.extend(now.iter().copied().map(OperationId));
            if let Ok(mut pool) = c.ids.lock() {
                pool.extend(later);
            }
        }
        Ok(out)
    }

    /// Whether a contact of `device` must make this node its owner ([`Write::Own`], stored with
    /// the contact).
    pub(crate) fn must_own(&self, device: &DeviceId) -> bool {
        self.cluster.as_ref().is_some_and(|c| !c.owns(device))
    }

    /// After a contact stored with [`Write::Own`]: this node owns the device, and takes its
    /// unfinished operations from the other nodes soon after (batched: a burst of
    /// registrations costs one claim per batch, not one per device).
    pub(crate) fn owned(self: &Arc<Self>, device: &DeviceId) {
        let Some(c) = &self.cluster else { return };
        self.owned_without_claim(device);
        if let Ok(claims) = c.claims.lock() {
            if let Some(tx) = claims.as_ref() {
                let _ = tx.send(device.clone());
            }
        }
    }

    /// This node owns the device; there is nothing to claim.
    pub(crate) fn owned_without_claim(&self, device: &DeviceId) {
        if let Some(c) = &self.cluster {
            if let Ok(mut owners) = c.owners.write() {
                owners.insert(device.clone(), c.node.clone());
            }
        }
    }

    /// [`Inner::owned`] that takes the device's operations before it returns, so that a CWMP or
    /// OMA DM session that moved here carries them (an LwM2M registration's are claimed a
    /// moment later, in a batch, so that a registration storm costs one claim per batch).
    pub(crate) async fn owned_now(self: &Arc<Self>, device: &DeviceId) {
        let Some(c) = &self.cluster else { return };
        if let Ok(mut owners) = c.owners.write() {
            owners.insert(device.clone(), c.node.clone());
        }
        match c.api.claim_operations(&[device.to_string()]).await {
            Ok(ops) => {
                if !ops.is_empty() {
                    tracing::info!(device = %device, operations = ops.len(), "took over the device's operations");
                }
                // Handed to the adapter before the contact returns (those already taken in
                // here are being dispatched).
                let ids: Vec<OperationId> = ops.iter().map(|o| o.id).collect();
                self.take_in(ops);
                for id in ids {
                    self.dispatch_now(id).await;
                }
            }
            Err(e) => {
                tracing::warn!(device = %device, error = %e, "could not claim the device's operations");
                if let Ok(mut owners) = c.owners.write() {
                    owners.remove(device);
                }
            }
        }
    }

    /// Claims the operations of the devices [`Inner::owned`] queued, in batches.
    async fn run_claims(self: Arc<Self>, mut rx: tokio::sync::mpsc::UnboundedReceiver<DeviceId>) {
        let Some(c) = &self.cluster else { return };
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < CLAIM_BATCH {
                match rx.try_recv() {
                    Ok(d) => batch.push(d),
                    Err(_) => break,
                }
            }
            let ids: Vec<String> = batch.iter().map(|d| d.to_string()).collect();
            match c.api.claim_operations(&ids).await {
                Ok(ops) => {
                    if !ops.is_empty() {
                        tracing::info!(
                            devices = batch.len(),
                            operations = ops.len(),
                            "took over the devices' operations"
                        );
                    }
                    self.adopt(ops);
                }
                Err(e) => {
                    // The operations stay where they are: the nodes holding them hand them here
                    // at their next tick (the store names this node the owner), and the next
                    // contact of each device claims again.
                    tracing::warn!(devices = batch.len(), error = %e, "could not claim the devices' operations");
                    if let Ok(mut owners) = c.owners.write() {
                        for d in &batch {
                            if owners.get(d) == Some(&c.node) {
                                owners.remove(d);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Takes operations this node now holds into memory and dispatches them; one whose
    /// attempt was interrupted elsewhere resumes it.
    pub(crate) fn adopt(self: &Arc<Self>, ops: Vec<Operation>) {
        for id in self.take_in(ops) {
            self.dispatch(id);
        }
    }

    /// [`Inner::adopt`] without the dispatch: answers the operations to dispatch.
    fn take_in(&self, ops: Vec<Operation>) -> Vec<OperationId> {
        let mut start = Vec::new();
        if let Ok(mut state) = self.ops.lock() {
            for mut op in ops {
                if op.state.is_terminal() || state.active.contains_key(&op.id) || state.ended.contains_key(&op.id) {
                    continue;
                }
                state.taken.insert(op.id, Instant::now());
                if op.state != OperationState::Pending {
                    state.resumed.insert(op.id);
                    op.state = OperationState::Pending;
                    op.waiting_for = None;
                }
                start.push(op.id);
                state.active.insert(op.id, op);
            }
        }
        start
    }

    /// Hands this node's operations of `device` to its new owner (group members still waiting
    /// for a slot of a group run here stay).
    async fn release(self: &Arc<Self>, device: &DeviceId, owner: &str) {
        let released: Vec<Operation> = {
            let Ok(mut guard) = self.ops.lock() else { return };
            let state = &mut *guard;
            let ids: Vec<OperationId> = state
                .active
                .values()
                .filter(|o| &o.device == device)
                .filter(|o| {
                    o.group_operation.and_then(|g| state.runs.get(&g)).is_none_or(|r| r.in_flight.contains(&o.id))
                })
                .map(|o| o.id)
                .collect();
            ids.iter()
                .filter_map(|id| {
                    state.resumed.remove(id);
                    state.active.remove(id)
                })
                .collect()
        };
        if released.is_empty() {
            return;
        }
        tracing::info!(device = %device, to = owner, operations = released.len(), "handing operations to the device's owner");
        let writes = released.iter().map(|op| Write::operation_to(op, owner)).collect();
        match self.persist(writes, Vec::new()).wait().await {
            Err(CoreError::Storage(StoreError::Unavailable(e))) => {
                tracing::warn!(device = %device, error = %e, "could not hand operations over; keeping them");
                self.adopt(released);
                return;
            }
            // Another node took them meanwhile (the store refused this node's write).
            Err(e) => tracing::debug!(device = %device, error = %e, "operations not handed over"),
            Ok(()) => {}
        }
        for op in released {
            if op.state != OperationState::Pending {
                self.tell_adapter_cancel(op.id, op.device);
            }
        }
    }

    /// Applies what another node committed, then publishes its events here.
    async fn apply_change(self: &Arc<Self>, keys: Vec<String>, events: Vec<String>) {
        let Some(c) = &self.cluster else { return };
        // What happens here meanwhile is newer than what is read back.
        let read_at = Instant::now();
        let reloaded = match c.api.reload(&keys).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not read another node's change; reading everything again");
                c.stale.store(true, Ordering::Relaxed);
                return;
            }
        };
        // Devices: documents and owners.
        let mut moved = Vec::new();
        let mut deleted = Vec::new();
        if let (Ok(mut devs), Ok(mut owners)) = (self.devices.write(), c.owners.write()) {
            for (id, entry) in reloaded.devices {
                let Ok(id) = DeviceId::parse(&id) else { continue };
                match entry {
                    Some((mut device, owner)) => {
                        let was_mine = owners.get(&id) == Some(&c.node);
                        if was_mine && devs.get(&id).is_some_and(|mine| mine.updated_at > device.updated_at) {
                            // Read back before this node's own newer write (a contact that made
                            // it the owner) was committed: not a move.
                            continue;
                        }
                        if let Some(mine) = devs.get(&id).filter(|_| was_mine) {
                            // Last-seen moves in memory on the owner: keep the newer.
                            if mine.presence.last_seen > device.presence.last_seen {
                                device.presence.last_seen = mine.presence.last_seen;
                            }
                        }
                        match owner {
                            Some(owner) => {
                                if was_mine && owner != c.node {
                                    moved.push((id.clone(), owner.clone()));
                                }
                                owners.insert(id.clone(), owner);
                            }
                            None => {
                                owners.remove(&id);
                            }
                        }
                        devs.insert(id, Box::new(device));
                    }
                    None => {
                        if devs.remove(&id).is_some() {
                            deleted.push(id.clone());
                        }
                        owners.remove(&id);
                    }
                }
            }
        }
        for (device, owner) in moved {
            self.release(&device, &owner).await;
        }
        if !deleted.is_empty() {
            let ids: Vec<OperationId> = self
                .ops
                .lock()
                .map(|s| s.active.values().filter(|o| deleted.contains(&o.device)).map(|o| o.id).collect())
                .unwrap_or_default();
            if let Err(e) = self.cancel_all(ids).await {
                tracing::warn!(error = %e, "could not cancel the operations of a device deleted on another node");
            }
        }
        // Operations: taken, let go, and followed by the group runs held here.
        let mut adopt = Vec::new();
        let mut dropped = Vec::new();
        let mut start = Vec::new();
        let mut group_events = Vec::new();
        if let Ok(mut guard) = self.ops.lock() {
            let state = &mut *guard;
            for (op, holder) in reloaded.operations {
                let mine = holder.as_deref() == Some(c.node.as_str());
                let taken_since = state.taken.get(&op.id).is_some_and(|t| *t >= read_at);
                if !mine && !taken_since && state.active.contains_key(&op.id) {
                    state.active.remove(&op.id);
                    state.resumed.remove(&op.id);
                    dropped.push((op.id, op.device.clone()));
                }
                if let Some(run) = op.group_operation.and_then(|g| state.runs.get_mut(&g)) {
                    // A member this node holds is followed by its own transitions.
                    // An ended member stays ended (a change read back earlier may say otherwise).
                    let known = run.states.get(&op.id).copied();
                    if !(mine && state.active.contains_key(&op.id))
                        && known != Some(op.state)
                        && !known.is_some_and(|s| s.is_terminal())
                    {
                        run.set_state(op.id, op.state);
                        start.extend(run.pump());
                        group_events.extend(run.progress());
                        if run.done() {
                            let g = run.op.id;
                            state.runs.remove(&g);
                        }
                    }
                }
                if mine && !op.state.is_terminal() && !state.active.contains_key(&op.id) {
                    adopt.push(op);
                }
            }
            for g in reloaded.group_operations {
                if let Some(run) = state.runs.get_mut(&g.id) {
                    run.op.cancelled = g.cancelled;
                }
            }
        }
        for (id, device) in dropped {
            self.tell_adapter_cancel(id, device);
        }
        self.adopt(adopt);
        for id in start {
            self.dispatch(id);
        }
        // Groups and rules.
        if let Ok(mut groups) = self.groups.write() {
            for (id, g) in reloaded.groups {
                match g {
                    Some(g) => groups.insert(id, g),
                    None => groups.remove(&id),
                };
            }
        }
        if let Ok(mut rules) = self.rules.write() {
            for (id, r) in reloaded.rules {
                match r {
                    Some(r) => rules.insert(id, r),
                    None => rules.remove(&id),
                };
            }
        }
        // Adapter and application state: their owners read it again.
        for ns in keys.iter().filter_map(|k| k.strip_prefix("s:")) {
            match self.adapters.iter().find(|(p, _)| p.as_str() == ns) {
                Some((_, adapter)) => {
                    let adapter = adapter.clone();
                    tokio::spawn(async move { adapter.state_changed().await });
                }
                None => {
                    let _ = self.state_changes.send(ns.to_owned());
                }
            }
        }
        for e in events {
            match serde_json::from_str::<Event>(&e) {
                Ok(e) => self.events.publish(e),
                Err(err) => tracing::warn!(error = %err, "unreadable event from another node"),
            }
        }
        if !group_events.is_empty() {
            // The aggregate moved here: every node hears of it.
            if let Err(e) = self.persist(Vec::new(), group_events).wait().await {
                tracing::debug!(error = %e, "group progress not told");
            }
        }
    }

    /// Reads everything again (the feed broke, or a change could not be read).
    async fn resync(self: &Arc<Self>) -> Result<(), CoreError> {
        let Some(c) = &self.cluster else { return Ok(()) };
        let devices = self.store.load_devices().await?;
        let owners = c.api.owners().await?;
        let groups = self.store.load_groups().await?;
        let rules = self.store.load_rules().await?;
        if let Ok(mut devs) = self.devices.write() {
            for d in devices {
                let keep_seen = c.owns(&d.id);
                let id = d.id.clone();
                let mut d = Box::new(d);
                if let Some(mine) = devs.get(&id).filter(|_| keep_seen) {
                    if mine.presence.last_seen > d.presence.last_seen {
                        d.presence.last_seen = mine.presence.last_seen;
                    }
                }
                devs.insert(id, d);
            }
        }
        c.set_owners(owners);
        if let Ok(mut g) = self.groups.write() {
            *g = groups.into_iter().map(|g| (g.id.clone(), g)).collect();
        }
        if let Ok(mut r) = self.rules.write() {
            *r = rules.into_iter().map(|r| (r.id.clone(), r)).collect();
        }
        let held = c.api.held().await?;
        // Member states may have been missed: the runs held here are built again.
        if let Ok(mut state) = self.ops.lock() {
            state.runs.clear();
        }
        self.take_over(held);
        c.stale.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Takes what this node now holds: group runs first (so that their waiting members wait),
    /// then the operations.
    pub(crate) fn take_over(self: &Arc<Self>, held: Held) {
        let Some(c) = &self.cluster else { return };
        let mut start = Vec::new();
        if let Ok(mut state) = self.ops.lock() {
            for (gop, members) in held.group_operations {
                if state.runs.contains_key(&gop.id) {
                    continue;
                }
                tracing::info!(group_operation = %gop.id, "running the group operation here");
                let mut run = GroupRun::resume(gop, members, &c.node);
                start.extend(run.pump());
                if !run.done() {
                    state.runs.insert(run.op.id, run);
                }
            }
        }
        self.adopt(held.operations);
        for id in start {
            self.dispatch(id);
        }
    }

    /// Asks the node holding `id` to cancel it, or takes it when no live node holds it; `None`
    /// when it has already ended.
    pub(crate) async fn cancel_elsewhere(self: &Arc<Self>, id: OperationId) -> Result<Option<Operation>, CoreError> {
        let Some(c) = &self.cluster else { return Ok(None) };
        if let Some(op) = c.api.claim_operation(id).await? {
            if let Ok(mut state) = self.ops.lock() {
                state.active.entry(op.id).or_insert(op);
            }
            return self.cancel_operation(id).await.map(Some);
        }
        let Some((holder, true)) = c.api.holder(id).await? else { return Ok(None) };
        if holder == c.node {
            return Ok(None);
        }
        c.api.send_cancel(&holder, id).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.store.get_operation(id).await? {
                Some(op) if op.state.is_terminal() => return Ok(Some(op)),
                Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                None => return Ok(None),
            }
        }
        Err(CoreError::Storage(StoreError::Unavailable(format!(
            "node `{holder}` holds operation {id} and did not cancel it within 10 s"
        ))))
    }

    /// The cluster's periodic work: the heartbeat, leadership, and for the leader what dead
    /// nodes left; then hands operations of devices that moved to their owners.
    pub(crate) async fn cluster_tick(self: &Arc<Self>) {
        let Some(c) = &self.cluster else { return };
        if let Err(e) = c.beat().await {
            tracing::debug!(error = %e, "heartbeat failed");
        }
        if c.stale.load(Ordering::Relaxed) {
            if let Err(e) = self.resync().await {
                tracing::debug!(error = %e, "reading everything again failed");
            }
        }
        let leader = c.api.lead().await.unwrap_or(false);
        if c.leader.swap(leader, Ordering::Relaxed) != leader {
            tracing::info!(node = %c.node, leader, "cluster leadership changed");
        }
        if leader {
            match c.api.take_orphans().await {
                Ok(held) => {
                    if !held.operations.is_empty() || !held.group_operations.is_empty() {
                        tracing::info!(
                            operations = held.operations.len(),
                            group_operations = held.group_operations.len(),
                            "took over the work of dead nodes"
                        );
                    }
                    self.take_over(held);
                }
                Err(e) => tracing::debug!(error = %e, "taking over dead nodes' work failed"),
            }
            let due = c.last_prune.lock().is_ok_and(|mut last| {
                let due = last.is_none_or(|t| t.elapsed() >= PRUNE_EVERY);
                if due {
                    *last = Some(Instant::now());
                }
                due
            });
            if due {
                if let Err(e) = c.api.prune(FEED_KEPT).await {
                    tracing::debug!(error = %e, "pruning the feed failed");
                }
            }
        }
        if let Ok(mut state) = self.ops.lock() {
            state.ended.retain(|_, at| at.elapsed() < ENDED_KEPT);
            state.taken.retain(|_, at| at.elapsed() < ENDED_KEPT);
        }
        // Operations held here for devices another live node owns (a hand-over that failed,
        // or raced with a claim) go to that node.
        let moved: HashSet<(DeviceId, String)> = self
            .ops
            .lock()
            .map(|s| s.active.values().filter_map(|o| Some((o.device.clone(), c.remote_owner(&o.device)?))).collect())
            .unwrap_or_default();
        for (device, owner) in moved {
            self.release(&device, &owner).await;
        }
    }

    /// Runs the feed and the cluster's ticker until the engine stops.
    pub(crate) fn start_cluster(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(c) = &self.cluster else { return Vec::new() };
        let mut tasks = Vec::new();
        if let Some(claimed) = c.claimed.lock().ok().and_then(|mut r| r.take()) {
            tasks.push(tokio::spawn(self.clone().run_claims(claimed)));
        }
        if let Some(mut feed) = c.api.take_feed() {
            let inner = self.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(item) = feed.recv().await {
                    match item {
                        FeedItem::Change { keys, events, .. } => inner.apply_change(keys, events).await,
                        FeedItem::Cancel(id) => match inner.cancel_operation(id).await {
                            Ok(_) | Err(CoreError::Conflict(_)) | Err(CoreError::NotFound { .. }) => {}
                            Err(e) => {
                                tracing::warn!(operation = %id, error = %e, "cancel asked by another node failed")
                            }
                        },
                        FeedItem::Resync => {
                            if let Err(e) = inner.resync().await {
                                tracing::warn!(error = %e, "reading everything again failed");
                                if let Some(c) = &inner.cluster {
                                    c.stale.store(true, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                }
            }));
        }
        let inner = self.clone();
        let every = (c.api.lease() / 5).max(Duration::from_millis(100));
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                inner.cluster_tick().await;
            }
        }));
        tasks
    }
}
