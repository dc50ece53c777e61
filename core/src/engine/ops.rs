//! Durable operations: create, dispatch to the adapter, progress, retry, deadline, cancel, and
//! recovery after a restart.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use unidm_models::{
    Action, Aggregate, Device, DeviceId, Event, GroupOperation, Operation, OperationError, OperationId, OperationState,
    Progress, RetryPolicy, Timestamp,
};

use super::{Commit, Engine, Inner};
use crate::store::{OperationQuery, Page, Write};
use crate::CoreError;

/// Options of a new operation.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// How long the operation may take before it expires (default: the engine's).
    pub timeout: Option<Duration>,
    /// Retry policy (default: the engine's).
    pub retry: Option<RetryPolicy>,
}

/// Unfinished operations and the group operations fanning out.
#[derive(Default)]
pub(crate) struct OpsState {
    pub(crate) active: HashMap<OperationId, Operation>,
    pub(crate) runs: HashMap<OperationId, GroupRun>,
    /// Operations taken back after a restart whose attempt was interrupted: handing them to the
    /// adapter again resumes that attempt, it does not start a new one.
    pub(crate) resumed: HashSet<OperationId>,
    /// On a cluster, operations that ended here lately: a change of another node read back
    /// before they ended (so naming them unfinished, held here) does not take them again.
    pub(crate) ended: HashMap<OperationId, std::time::Instant>,
    /// On a cluster, when operations were taken here lately: a change read back before that
    /// (so naming another holder) does not take them away.
    pub(crate) taken: HashMap<OperationId, std::time::Instant>,
}

/// A group operation in progress: which members wait, which are in flight, counts per state.
pub(crate) struct GroupRun {
    pub(crate) op: GroupOperation,
    pub(crate) queue: VecDeque<OperationId>,
    pub(crate) in_flight: HashSet<OperationId>,
    pub(crate) states: HashMap<OperationId, OperationState>,
    pub(crate) counts: BTreeMap<OperationState, usize>,
    /// When the aggregate was last told, and whether members moved since.
    told: Option<std::time::Instant>,
    untold: bool,
}

/// How often a running group operation's aggregate is told while its members move: a
/// campaign of 100,000 members makes about half a million member transitions, and the
/// watchers of its progress need a few updates a second, not an event per transition. The
/// last change is told by the engine's next tick; the end at once.
pub(crate) const GROUP_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl GroupRun {
    pub(crate) fn new(op: GroupOperation, states: HashMap<OperationId, OperationState>) -> Self {
        let mut counts = BTreeMap::new();
        for s in states.values() {
            *counts.entry(*s).or_insert(0) += 1;
        }
        let queue = op.members.iter().copied().filter(|m| states.get(m) == Some(&OperationState::Pending)).collect();
        GroupRun { op, queue, in_flight: HashSet::new(), states, counts, told: None, untold: false }
    }

    pub(crate) fn set_state(&mut self, id: OperationId, state: OperationState) {
        if let Some(old) = self.states.insert(id, state) {
            if let Some(c) = self.counts.get_mut(&old) {
                *c = c.saturating_sub(1);
            }
        }
        *self.counts.entry(state).or_insert(0) += 1;
        if state.is_terminal() {
            self.in_flight.remove(&id);
        }
    }

    /// Members to start now, within the concurrency limit.
    pub(crate) fn pump(&mut self) -> Vec<OperationId> {
        let mut start = Vec::new();
        // A cancelled group operation starts nothing more (its members are being cancelled).
        if self.op.cancelled {
            return start;
        }
        while self.in_flight.len() < self.op.concurrency.max(1) as usize {
            let Some(id) = self.queue.pop_front() else { break };
            if self.states.get(&id).is_some_and(|s| s.is_terminal()) {
                continue;
            }
            self.in_flight.insert(id);
            start.push(id);
        }
        start
    }

    /// Whether every member has ended (from the counts: no scan of the members).
    pub(crate) fn done(&self) -> bool {
        self.counts.iter().all(|(s, n)| s.is_terminal() || *n == 0)
    }

    /// The aggregate's event after members moved: when the run ended, or when the last one
    /// told is [`GROUP_PROGRESS_EVERY`] old; otherwise nothing yet ([`GroupRun::untold`]).
    pub(crate) fn progress(&mut self) -> Option<Event> {
        let now = std::time::Instant::now();
        if self.done() || self.told.is_none_or(|t| now.duration_since(t) >= GROUP_PROGRESS_EVERY) {
            self.told = Some(now);
            self.untold = false;
            Some(self.event())
        } else {
            self.untold = true;
            None
        }
    }

    /// The aggregate's event when members moved since it was last told.
    pub(crate) fn untold(&mut self) -> Option<Event> {
        std::mem::take(&mut self.untold).then(|| {
            self.told = Some(std::time::Instant::now());
            self.event()
        })
    }

    pub(crate) fn event(&self) -> Event {
        let counts: BTreeMap<String, usize> =
            self.counts.iter().filter(|(_, n)| **n > 0).map(|(s, n)| (s.as_str().to_owned(), *n)).collect();
        Event::GroupOperationChanged {
            id: self.op.id,
            aggregate: Aggregate { total: self.states.len(), counts, done: self.done(), results: Vec::new() },
        }
    }
}

impl Inner {
    pub(crate) fn new_operation(
        &self,
        id: OperationId,
        device: DeviceId,
        action: Action,
        opts: &CreateOptions,
        now: Timestamp,
    ) -> Operation {
        let timeout = opts.timeout.or(self.config.default_deadline);
        let mut op = Operation::new(id, device, action, opts.retry.unwrap_or(self.config.default_retry), now);
        op.deadline = timeout.map(|t| now.plus(t));
        op
    }

    pub(crate) async fn create_operation(
        self: &Arc<Self>,
        device: &DeviceId,
        action: Action,
        opts: CreateOptions,
        rule: Option<String>,
    ) -> Result<Operation, CoreError> {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(CoreError::Shutdown);
        }
        {
            let devs = self.devices.read().map_err(|_| CoreError::Shutdown)?;
            check_new(&devs, device, &action)?;
        }
        let id = self.allocate_ids(1).await?.pop().ok_or(CoreError::Shutdown)?;
        let now = self.clock.now();
        let mut op = self.new_operation(id, device.clone(), action, &opts, now);
        op.rule = rule;
        let commit = {
            let mut ops = self.ops.lock().map_err(|_| CoreError::Shutdown)?;
            ops.active.insert(op.id, op.clone());
            self.persist(vec![Write::operation(&op)], vec![Event::OperationChanged { operation: Box::new(op.clone()) }])
        };
        self.created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        commit.wait().await?;
        self.dispatch(op.id);
        Ok(op)
    }

    /// [`Self::create_operation`] for many at once: each request is checked on its own, the
    /// accepted ones are committed together (one store submission, one wait), then dispatched.
    pub(crate) async fn create_operations(
        self: &Arc<Self>,
        requests: Vec<NewOperation>,
    ) -> Result<Vec<Result<Operation, CoreError>>, CoreError> {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(CoreError::Shutdown);
        }
        let mut ids = self.allocate_ids(requests.len()).await?.into_iter();
        let now = self.clock.now();
        let results: Vec<Result<Operation, CoreError>> = {
            let devs = self.devices.read().map_err(|_| CoreError::Shutdown)?;
            requests
                .into_iter()
                .map(|r| {
                    check_new(&devs, &r.device, &r.action)?;
                    let id = ids.next().ok_or(CoreError::Shutdown)?;
                    Ok(self.new_operation(id, r.device, r.action, &r.options, now))
                })
                .collect()
        };
        let accepted = results.iter().filter_map(|r| r.as_ref().ok());
        let (mut writes, mut events) = (Vec::with_capacity(results.len()), Vec::with_capacity(results.len()));
        let commit = {
            let mut ops = self.ops.lock().map_err(|_| CoreError::Shutdown)?;
            for op in accepted {
                ops.active.insert(op.id, op.clone());
                writes.push(Write::operation(op));
                events.push(Event::OperationChanged { operation: Box::new(op.clone()) });
            }
            self.persist(writes, events)
        };
        let created = results.iter().filter(|r| r.is_ok()).count();
        self.created.fetch_add(created as u64, std::sync::atomic::Ordering::Relaxed);
        commit.wait().await?;
        for op in results.iter().flatten() {
            self.dispatch(op.id);
        }
        Ok(results)
    }

    /// Hands a pending operation to its adapter, in the background.
    pub(crate) fn dispatch(self: &Arc<Self>, id: OperationId) {
        let inner = self.clone();
        tokio::spawn(async move { inner.dispatch_now(id).await });
    }

    pub(crate) async fn dispatch_now(self: &Arc<Self>, id: OperationId) {
        let now = self.clock.now();
        let mut handed = None;
        let dispatched = {
            let Ok(mut guard) = self.ops.lock() else { return };
            // A stopping engine takes no new work: the operation stays pending in the store and
            // is dispatched at the next start.
            if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let ops = &mut *guard;
            let resumed = ops.resumed.remove(&id);
            let Some(op) = ops.active.get_mut(&id) else { return };
            if op.state != OperationState::Pending || op.not_before.is_some_and(|t| t > now) {
                return;
            }
            if let Some(g) = op.group_operation {
                // A member runs only while it holds one of its group's slots (a member handed
                // here by the node running its group got its slot there).
                if ops.runs.get(&g).is_some_and(|r| !r.in_flight.contains(&id)) {
                    return;
                }
            }
            // Another live node has the device's session: the operation runs there.
            if let Some(owner) = self.cluster.as_ref().and_then(|c| c.remote_owner(&op.device)) {
                let op = op.clone();
                ops.active.remove(&id);
                handed = Some((self.persist(vec![Write::operation_to(&op, &owner)], Vec::new()), op, owner, resumed));
                None
            } else {
                // Without an adapter for its protocol the operation stays pending until its
                // deadline.
                let Some(adapter) = self.adapter(op.device.protocol()) else { return };
                op.state = OperationState::Dispatched;
                if !resumed || op.attempts == 0 {
                    op.attempts += 1;
                }
                op.not_before = None;
                op.updated_at = now;
                let op = op.clone();
                let mut events = vec![Event::OperationChanged { operation: Box::new(op.clone()) }];
                if let Some(run) = op.group_operation.and_then(|g| ops.runs.get_mut(&g)) {
                    run.set_state(id, op.state);
                    events.extend(run.progress());
                }
                Some((adapter, op.clone(), self.persist(vec![Write::operation(&op)], events)))
            }
        };
        if let Some((commit, op, owner, resumed)) = handed {
            // An attempt this node's adapter had (before a restart or a move) is not its own any
            // more.
            if resumed {
                self.tell_adapter_cancel(id, op.device.clone());
            }
            match commit.wait().await {
                Ok(()) => tracing::debug!(operation = %id, to = %owner, "handed to the device's owner"),
                Err(CoreError::Storage(crate::StoreError::Unavailable(e))) => {
                    // Kept here: the cluster's tick hands it over again.
                    tracing::warn!(operation = %id, error = %e, "could not hand the operation over");
                    if let Ok(mut ops) = self.ops.lock() {
                        ops.active.entry(id).or_insert(op);
                    }
                }
                // Another node took it meanwhile.
                Err(e) => tracing::debug!(operation = %id, error = %e, "operation not handed over"),
            }
            return;
        }
        let Some((adapter, op, commit)) = dispatched else { return };
        if let Err(e) = commit.wait().await {
            if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                tracing::debug!(operation = %id, error = %e, "dispatch not stored while stopping");
            } else {
                tracing::error!(operation = %id, error = %e, "could not store dispatch");
            }
            return;
        }
        if let Err(e) = adapter.submit(op).await {
            if let Err(e2) = self.operation_failed(id, e).await {
                tracing::debug!(operation = %id, error = %e2, "rejected operation already ended");
            }
        }
    }

    /// Applies `change` to an unfinished operation, stores it, keeps group bookkeeping, and
    /// starts whatever the change frees a slot for.
    fn transition(
        self: &Arc<Self>,
        id: OperationId,
        change: impl FnOnce(&mut Operation),
    ) -> Result<(Commit, Operation), CoreError> {
        let now = self.clock.now();
        let (commit, start, op) = {
            let mut guard = self.ops.lock().map_err(|_| CoreError::Shutdown)?;
            let ops = &mut *guard;
            let op = ops
                .active
                .get_mut(&id)
                .ok_or_else(|| CoreError::Conflict(format!("operation {id} is not in progress")))?;
            let before = op.clone();
            change(op);
            // A step that changes nothing (the same progress reported again) is not stored
            // again, nor told.
            if *op == before {
                return Ok((Commit::done(), before));
            }
            op.updated_at = now;
            if op.state != OperationState::Waiting {
                op.waiting_for = None;
            }
            if op.state.is_terminal() {
                op.adapter_state = None;
            }
            let op = op.clone();
            if op.state.is_terminal() {
                ops.active.remove(&id);
                if self.cluster.is_some() {
                    ops.ended.insert(id, std::time::Instant::now());
                }
                if let Ok(mut f) = self.finished.lock() {
                    *f.entry(op.state.as_str().to_owned()).or_insert(0) += 1;
                }
            }
            let mut events = vec![Event::OperationChanged { operation: Box::new(op.clone()) }];
            let mut start = Vec::new();
            if let Some(g) = op.group_operation {
                if let Some(run) = ops.runs.get_mut(&g) {
                    run.set_state(id, op.state);
                    start = run.pump();
                    events.extend(run.progress());
                    if run.done() {
                        ops.runs.remove(&g);
                    }
                }
            }
            (self.persist(vec![Write::operation(&op)], events), start, op)
        };
        for s in start {
            self.dispatch(s);
        }
        Ok((commit, op))
    }

    pub(crate) async fn operation_running(
        self: &Arc<Self>,
        id: OperationId,
        progress: Progress,
    ) -> Result<(), CoreError> {
        self.transition(id, |op| {
            op.state = OperationState::Running;
            op.progress = Some(progress);
        })?
        .0
        .wait()
        .await
    }

    /// [`Inner::operation_running`] that also stores the adapter's state of the operation in the
    /// same commit (`None` keeps what was stored).
    pub(crate) async fn operation_step(
        self: &Arc<Self>,
        id: OperationId,
        state: OperationState,
        progress: Option<Progress>,
        waiting_for: Option<String>,
        adapter_state: Option<Vec<u8>>,
    ) -> Result<(), CoreError> {
        debug_assert!(matches!(state, OperationState::Running | OperationState::Waiting));
        self.transition(id, |op| {
            op.state = state;
            if progress.is_some() {
                op.progress = progress;
            }
            op.waiting_for = waiting_for;
            if adapter_state.is_some() {
                op.adapter_state = adapter_state;
            }
        })?
        .0
        .wait()
        .await
    }

    pub(crate) async fn operation_succeeded(
        self: &Arc<Self>,
        id: OperationId,
        result: Option<serde_json::Value>,
    ) -> Result<(), CoreError> {
        self.transition(id, |op| {
            op.state = OperationState::Succeeded;
            op.result = result;
            op.error = None;
            op.not_before = None;
        })?
        .0
        .wait()
        .await
    }

    pub(crate) async fn operation_failed(
        self: &Arc<Self>,
        id: OperationId,
        error: OperationError,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        self.transition(id, |op| {
            if error.kind.is_retryable() && op.attempts < op.retry.max_attempts {
                op.state = OperationState::Pending;
                op.not_before = Some(now.plus(Duration::from_millis(op.retry.delay_after(op.attempts))));
            } else {
                op.state = OperationState::Failed;
            }
            op.error = Some(error);
        })?
        .0
        .wait()
        .await
    }

    /// Expires operations past their deadline and dispatches retries that are due.
    pub(crate) async fn tick_operations(self: &Arc<Self>, now: Timestamp) {
        let (expired, due): (Vec<_>, Vec<_>) = {
            let Ok(mut ops) = self.ops.lock() else { return };
            // Group aggregates whose last moves went untold: told now, behind the commits
            // of those moves (an empty batch in the writer's order).
            let untold: Vec<Event> = ops.runs.values_mut().filter_map(GroupRun::untold).collect();
            if !untold.is_empty() {
                drop(self.persist(Vec::new(), untold));
            }
            let expired = ops.active.values().filter(|o| o.deadline.is_some_and(|d| d <= now)).map(|o| o.id).collect();
            let due = ops
                .active
                .values()
                .filter(|o| o.state == OperationState::Pending && o.not_before.is_some_and(|t| t <= now))
                .map(|o| o.id)
                .collect();
            (expired, due)
        };
        for id in expired {
            let commit = self.transition(id, |op| {
                op.state = OperationState::Expired;
                op.error = Some(OperationError::new(
                    unidm_models::ErrorKind::Timeout,
                    "the deadline passed before the operation finished",
                ));
            });
            if let Ok((c, op)) = commit {
                if let Err(e) = c.wait().await {
                    tracing::warn!(operation = %id, error = %e, "expiry not stored");
                }
                self.tell_adapter_cancel(id, op.device);
            }
        }
        for id in due {
            self.dispatch_now(id).await;
        }
    }

    /// Tells the adapter of `device`'s protocol, and only it, that an operation was cancelled
    /// or expired.
    pub(crate) fn tell_adapter_cancel(self: &Arc<Self>, id: OperationId, device: DeviceId) {
        let Some(adapter) = self.adapter(device.protocol()) else { return };
        tokio::spawn(async move { adapter.cancel(id, &device).await });
    }

    /// Cancels each of `ids` still unfinished: the transitions are queued together and their
    /// commits awaited together (a device deleted with thousands of operations waits for one
    /// group commit, not one per operation). Those already ended are skipped.
    pub(crate) async fn cancel_all(self: &Arc<Self>, ids: Vec<OperationId>) -> Result<(), CoreError> {
        let mut cancelled = Vec::with_capacity(ids.len());
        for id in ids {
            match self.transition(id, |op| op.state = OperationState::Cancelled) {
                Ok(c) => cancelled.push(c),
                Err(CoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for (commit, op) in cancelled {
            commit.wait().await?;
            self.tell_adapter_cancel(op.id, op.device);
        }
        Ok(())
    }

    pub(crate) async fn cancel_operation(self: &Arc<Self>, id: OperationId) -> Result<Operation, CoreError> {
        match self.transition(id, |op| op.state = OperationState::Cancelled) {
            Ok((commit, op)) => {
                commit.wait().await?;
                self.tell_adapter_cancel(id, op.device);
                self.store.get_operation(id).await?.ok_or_else(|| CoreError::not_found("operation", id))
            }
            Err(CoreError::Conflict(_)) => {
                // Another node may hold it.
                if let Some(op) = Box::pin(self.cancel_elsewhere(id)).await? {
                    return Ok(op);
                }
                match self.store.get_operation(id).await? {
                    Some(op) => Err(CoreError::Conflict(format!("operation {id} already {}", op.state))),
                    None => Err(CoreError::not_found("operation", id)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Takes back every unfinished operation after a restart: each is pending again and is
    /// handed to its adapter anew; group operations resume within their concurrency limits.
    pub(crate) async fn recover(self: &Arc<Self>, unfinished: Vec<Operation>) -> Result<(), CoreError> {
        let group_ids: BTreeSet<OperationId> = unfinished.iter().filter_map(|o| o.group_operation).collect();
        let mut runs = HashMap::new();
        if !group_ids.is_empty() {
            for g in self.store.load_group_operations().await? {
                if !group_ids.contains(&g.id) {
                    continue;
                }
                let members = self
                    .store
                    .list_operations(OperationQuery {
                        group_operation: Some(g.id),
                        limit: usize::MAX >> 1,
                        ..Default::default()
                    })
                    .await?;
                let states = members
                    .items
                    .into_iter()
                    .map(|o| (o.id, if o.state.is_terminal() { o.state } else { OperationState::Pending }))
                    .collect();
                runs.insert(g.id, GroupRun::new(g, states));
            }
        }
        let now = self.clock.now();
        let mut writes = Vec::new();
        let mut start = Vec::new();
        {
            let mut ops = self.ops.lock().map_err(|_| CoreError::Shutdown)?;
            for mut op in unfinished {
                if op.state != OperationState::Pending {
                    // The attempt the restart interrupted goes on: it is not a new one.
                    ops.resumed.insert(op.id);
                    op.state = OperationState::Pending;
                    op.waiting_for = None;
                    op.updated_at = now;
                    writes.push(Write::operation(&op));
                }
                if op.group_operation.is_none() {
                    start.push(op.id);
                }
                ops.active.insert(op.id, op);
            }
            for run in runs.values_mut() {
                start.extend(run.pump());
            }
            ops.runs = runs;
        }
        if !writes.is_empty() {
            self.persist(writes, Vec::new()).wait().await?;
        }
        for id in start {
            self.dispatch(id);
        }
        Ok(())
    }

    pub(crate) async fn operation(&self, id: OperationId) -> Result<Operation, CoreError> {
        let active = self.ops.lock().map_err(|_| CoreError::Shutdown)?.active.get(&id).cloned();
        match active {
            Some(op) => Ok(op),
            None => self.store.get_operation(id).await?.ok_or_else(|| CoreError::not_found("operation", id)),
        }
    }
}

/// One request of [`Engine::create_operations`].
#[derive(Debug, Clone)]
pub struct NewOperation {
    /// The device.
    pub device: DeviceId,
    /// What to do.
    pub action: Action,
    /// Deadline and retries.
    pub options: CreateOptions,
}

/// Whether an operation doing `action` on `device` may be created: a valid action, a known
/// device that supports its function (or whose capabilities are not known yet).
fn check_new(devs: &BTreeMap<DeviceId, Box<Device>>, device: &DeviceId, action: &Action) -> Result<(), CoreError> {
    action.validate().map_err(|(field, msg)| CoreError::bad_input(format!("action.{field}"), msg))?;
    let function = action.function();
    if !devs.get(device).ok_or_else(|| CoreError::not_found("device", device))?.supports(function) {
        return Err(CoreError::NotSupported { device: device.clone(), function });
    }
    Ok(())
}

impl Engine {
    /// Creates a durable operation on a device: validated, committed to the store, then handed
    /// to the device's adapter. A device that is offline is not an error: the operation waits.
    pub async fn create_operation(
        &self,
        device: &DeviceId,
        action: Action,
        opts: CreateOptions,
    ) -> Result<Operation, CoreError> {
        self.inner().create_operation(device, action, opts, None).await
    }

    /// Creates many operations in one go, as [`Self::create_operation`] would one by one, but
    /// committed together: the answer holds each request's operation or error, in order. Fails
    /// as a whole only when the engine stops or the store cannot commit.
    pub async fn create_operations(
        &self,
        requests: Vec<NewOperation>,
    ) -> Result<Vec<Result<Operation, CoreError>>, CoreError> {
        self.inner().create_operations(requests).await
    }

    /// One operation.
    pub async fn operation(&self, id: OperationId) -> Result<Operation, CoreError> {
        self.inner().operation(id).await
    }

    /// A page of operations, newest first.
    pub async fn operations(&self, q: OperationQuery) -> Result<Page<Operation>, CoreError> {
        Ok(self.inner().store.list_operations(q).await?)
    }

    /// Cancels an unfinished operation (409 `Conflict` when it has already ended).
    pub async fn cancel_operation(&self, id: OperationId) -> Result<Operation, CoreError> {
        self.inner().cancel_operation(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidm_models::Timestamp;

    fn run(members: u64) -> GroupRun {
        let ids: Vec<OperationId> = (1..=members).map(OperationId).collect();
        let op = GroupOperation {
            id: OperationId(100),
            group: "g".into(),
            action: Action::Reboot,
            concurrency: 2,
            members: ids.clone(),
            cancelled: false,
            created_at: Timestamp(0),
        };
        GroupRun::new(op, ids.into_iter().map(|i| (i, OperationState::Pending)).collect())
    }

    fn counts(e: &Event) -> (BTreeMap<String, usize>, bool) {
        match e {
            Event::GroupOperationChanged { aggregate, .. } => (aggregate.counts.clone(), aggregate.done),
            other => panic!("{other:?}"),
        }
    }

    /// Member moves are told at most every GROUP_PROGRESS_EVERY; a move in between is told by
    /// `untold` (the tick), and the end at once, whatever the time.
    #[test]
    fn the_aggregate_is_told_at_a_bounded_rate_and_the_end_at_once() {
        let mut r = run(3);
        assert!(!r.done());
        r.set_state(OperationId(1), OperationState::Running);
        let first = r.progress().expect("the first move is told");
        assert_eq!(counts(&first).0["running"], 1);
        r.set_state(OperationId(1), OperationState::Succeeded);
        assert!(r.progress().is_none(), "too soon after the last");
        let late = r.untold().expect("told by the tick");
        assert_eq!(counts(&late).0["succeeded"], 1);
        assert!(r.untold().is_none(), "nothing new since");
        std::thread::sleep(GROUP_PROGRESS_EVERY);
        r.set_state(OperationId(2), OperationState::Failed);
        assert!(r.progress().is_some(), "the interval passed");
        r.set_state(OperationId(3), OperationState::Succeeded);
        let end = r.progress().expect("the end is told at once");
        assert_eq!(counts(&end), ([("failed".to_owned(), 1), ("succeeded".to_owned(), 2)].into(), true));
        assert!(r.done());
    }
}
