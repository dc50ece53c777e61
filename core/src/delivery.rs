//! Delivery: the protocol-free machinery that carries operations to devices, shared by every
//! adapter so that an adapter holds only its protocol.
//!
//! A [`Delivery`] keeps, per device, the queue of operations not yet sent; the operations sent
//! and not yet answered; and the operations parked on a *durable wait*: the device took the
//! request and the outcome comes later, in a message that names it by a [`Correlator`] (a CWMP
//! CommandKey in `TransferComplete` or `M Reboot`, an LwM2M token or path of a notification,
//! an OMA DM Correlator of a Generic Alert). It gives:
//!
//! - **Duplicate suppression across restarts.** The engine hands every unfinished operation
//!   back after a restart; an operation parked on a wait carries its wait in
//!   [`unidm_models::Operation::adapter_state`] (stored with the `waiting` commit), so [`Delivery::submit`]
//!   parks it again instead of sending its request twice. An id already held is refused.
//! - **Attempt accounting.** A request left unanswered (session ended, connection dropped,
//!   exchange timed out) is a failed attempt of the operation that sent it
//!   ([`Delivery::unanswered`]): the engine retries it per its policy and, after its attempts,
//!   fails it, so the queue moves on. A restart is not an attempt (the engine resumes it).
//! - **Wake-up when the device is reachable**: [`Delivery::reachable`] wakes whatever waits for
//!   that one device ([`Delivery::until_reachable`]); nothing else is woken.
//! - **No-progress limits per step**: a wait may carry a limit; [`Delivery::check_stalls`]
//!   fails an operation whose device reported nothing for that long, naming the step and what
//!   the device last reported ([`Delivery::progressed`]).
//!
//! Everything here is in memory behind one lock never held across an await, except what the
//! engine stores: the operation's state (`waiting` with what it waits for) and its wait.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use unidm_models::{DeviceId, ErrorKind, Operation, OperationError, OperationId};

use crate::adapter::AdapterHandle;
use crate::CoreError;

/// The protocol's own name for what an operation waits for: a CWMP CommandKey, an LwM2M token
/// or path, an OMA DM Correlator. Unique among the waits of one device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Correlator(pub String);

impl Correlator {
    /// A correlator from any text.
    pub fn new(text: impl Into<String>) -> Self {
        Correlator(text.into())
    }
}

impl std::fmt::Display for Correlator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A durable wait: what an operation waits for and the adapter's own step data. Stored as the
/// operation's adapter state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wait {
    /// The correlator the answer will carry.
    pub correlator: Correlator,
    /// What the operation waits for, in words (shown as `waitingFor`).
    pub waiting_for: String,
    /// The adapter's own data about the step (which phase, what it sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step: Vec<u8>,
    /// Fail the operation when the device reports nothing for this long, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after_ms: Option<u64>,
}

impl Wait {
    /// A wait for `correlator`, described as `waiting_for`.
    pub fn new(correlator: Correlator, waiting_for: impl Into<String>) -> Self {
        Wait { correlator, waiting_for: waiting_for.into(), step: Vec::new(), stall_after_ms: None }
    }

    /// With the adapter's own step data.
    pub fn with_step(mut self, step: Vec<u8>) -> Self {
        self.step = step;
        self
    }

    /// With a no-progress limit.
    pub fn stall_after(mut self, limit: Duration) -> Self {
        self.stall_after_ms = Some(limit.as_millis() as u64);
        self
    }

    fn encode(&self) -> Vec<u8> {
        // A struct of strings and numbers always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn decode(bytes: &[u8]) -> Option<Wait> {
        serde_json::from_slice(bytes).ok()
    }
}

/// What [`Delivery::submit`] did with an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Queued for the device's next chance to take it.
    Queued,
    /// It was parked on this wait before a restart and is parked again: nothing is sent.
    Resumed(Correlator),
    /// The delivery holds it already (queued, sent or parked): nothing changed.
    Duplicate,
}

/// An operation taken off a wait by the message that answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Woken {
    /// The operation.
    pub op: Operation,
    /// The wait it was parked on (its step data included).
    pub wait: Wait,
}

/// Limits of a [`Delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Most operations queued for one device; more are refused (`submit` errs, the engine
    /// fails the attempt and retries later).
    pub max_queued_per_device: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig { max_queued_per_device: 1024 }
    }
}

struct Parked {
    op: Operation,
    wait: Wait,
    /// Monotonic time of the last report from the device about it.
    last_progress: Duration,
    /// What the device last reported, for the stall error.
    last_report: Option<String>,
}

/// An operation [`Delivery::check_stalls`] failed: it, the wait it was on, and its error.
#[derive(Debug, Clone)]
pub struct Stalled {
    /// The operation, as it was parked.
    pub op: Operation,
    /// The wait it was on.
    pub wait: Wait,
    /// The error it failed with.
    pub error: OperationError,
}

#[derive(Default)]
struct State {
    queues: HashMap<DeviceId, VecDeque<Operation>>,
    sent: HashMap<OperationId, Operation>,
    parked: HashMap<OperationId, Parked>,
    by_correlator: BTreeMap<(DeviceId, Correlator), OperationId>,
    /// Every operation held, in whatever place: duplicate suppression.
    held: HashSet<OperationId>,
    wakers: HashMap<DeviceId, Arc<Notify>>,
}

impl State {
    /// Takes off the wait indexed under `key` (device, correlator) and its operation.
    fn unpark(&mut self, key: &(DeviceId, Correlator)) -> Option<Woken> {
        let id = self.by_correlator.remove(key)?;
        self.held.remove(&id);
        let p = self.parked.remove(&id)?;
        Some(Woken { op: p.op, wait: p.wait })
    }

    /// Drops operation `id`; `device`, when known, spares a look through every queue (an
    /// operation held is sent, parked or queued: not found on `device`, it is on another
    /// device's queue and stays there).
    fn forget(&mut self, id: OperationId, device: Option<&DeviceId>) -> Option<Operation> {
        if let Some(op) = self.sent.remove(&id) {
            self.held.remove(&id);
            return Some(op);
        }
        if let Some(p) = self.parked.remove(&id) {
            self.held.remove(&id);
            self.by_correlator.remove(&(p.op.device.clone(), p.wait.correlator));
            return Some(p.op);
        }
        if let Some(device) = device {
            let q = self.queues.get_mut(device)?;
            let op = q.iter().position(|o| o.id == id).and_then(|i| q.remove(i))?;
            if q.is_empty() {
                self.queues.remove(device);
            }
            self.held.remove(&id);
            return Some(op);
        }
        self.held.remove(&id);
        for (device, q) in self.queues.iter_mut() {
            if let Some(i) = q.iter().position(|o| o.id == id) {
                let op = q.remove(i);
                if q.is_empty() {
                    let device = device.clone();
                    self.queues.remove(&device);
                }
                return op;
            }
        }
        None
    }
}

/// Per-device queues, in-flight requests and durable waits of one adapter. Cheap to share
/// (`Arc`); see the module docs.
pub struct Delivery {
    handle: AdapterHandle,
    config: DeliveryConfig,
    state: Mutex<State>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state();
        f.debug_struct("Delivery")
            .field("queued", &st.queues.values().map(VecDeque::len).sum::<usize>())
            .field("sent", &st.sent.len())
            .field("parked", &st.parked.len())
            .finish()
    }
}

impl Delivery {
    /// A delivery reporting through `handle`.
    pub fn new(handle: AdapterHandle, config: DeliveryConfig) -> Self {
        Delivery { handle, config, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes an operation the engine submitted: parks it again when it carries a wait from
    /// before a restart, refuses an id already held, queues it otherwise and wakes whoever
    /// waits for its device.
    pub async fn submit(&self, op: Operation) -> Result<Submitted, OperationError> {
        let resumed = op.adapter_state.as_deref().and_then(Wait::decode);
        let (submitted, waker) = {
            let mut st = self.state();
            if st.held.contains(&op.id) {
                return Ok(Submitted::Duplicate);
            }
            match resumed {
                Some(wait) => {
                    st.held.insert(op.id);
                    let correlator = wait.correlator.clone();
                    st.by_correlator.insert((op.device.clone(), correlator.clone()), op.id);
                    let now = self.handle.monotonic();
                    st.parked.insert(op.id, Parked { op, wait, last_progress: now, last_report: None });
                    (Submitted::Resumed(correlator), None)
                }
                None => {
                    let q = st.queues.entry(op.device.clone()).or_default();
                    if q.len() >= self.config.max_queued_per_device {
                        return Err(OperationError::new(
                            ErrorKind::Transport,
                            format!(
                                "{} operations already wait for {}; try again later",
                                self.config.max_queued_per_device, op.device
                            ),
                        ));
                    }
                    let device = op.device.clone();
                    let id = op.id;
                    q.push_back(op);
                    st.held.insert(id);
                    (Submitted::Queued, st.wakers.get(&device).cloned())
                }
            }
        };
        if let Submitted::Resumed(c) = &submitted {
            tracing::debug!(correlator = %c, "operation parked again after a restart");
        }
        if let Some(w) = waker {
            w.notify_waiters();
        }
        Ok(submitted)
    }

    /// Whether operations wait to be sent to `device`.
    pub fn has_queued(&self, device: &DeviceId) -> bool {
        self.state().queues.get(device).is_some_and(|q| !q.is_empty())
    }

    /// How many operations are queued for `device`.
    pub fn queued(&self, device: &DeviceId) -> usize {
        self.state().queues.get(device).map_or(0, VecDeque::len)
    }

    /// The next operation to send to `device`, now held as sent until
    /// [`Delivery::answered`], [`Delivery::unanswered`], [`Delivery::park`] or
    /// [`Delivery::requeue`].
    pub fn next(&self, device: &DeviceId) -> Option<Operation> {
        let mut st = self.state();
        let q = st.queues.get_mut(device)?;
        let op = q.pop_front()?;
        if q.is_empty() {
            st.queues.remove(device);
        }
        st.sent.insert(op.id, op.clone());
        Some(op)
    }

    /// Puts a sent operation back at the head of its device's queue, unsent (its request was
    /// never handed to the device, e.g. the session ended before it went out).
    pub fn requeue(&self, id: OperationId) {
        let mut st = self.state();
        if let Some(op) = st.sent.remove(&id) {
            st.queues.entry(op.device.clone()).or_default().push_front(op);
        }
    }

    /// A sent operation was answered: the delivery forgets it (the adapter reports the outcome
    /// or parks it).
    pub fn answered(&self, id: OperationId) -> Option<Operation> {
        self.state().forget(id, None)
    }

    /// A sent request got no answer (`error` says how: session ended, connection dropped,
    /// exchange timed out): a failed attempt of its operation. The engine retries it per its
    /// policy (it comes back through `submit`) or, after its attempts, fails it.
    pub async fn unanswered(&self, id: OperationId, error: OperationError) {
        if self.state().forget(id, None).is_none() {
            return;
        }
        tracing::info!(operation = %id, error = %error.message, "request unanswered: attempt failed");
        if let Err(e) = self.handle.operation_failed(id, error).await {
            tracing::debug!(operation = %id, error = %e, "unanswered operation had already ended");
        }
    }

    /// Parks a sent (or queued) operation on a durable wait: it becomes `waiting` with
    /// `wait.waiting_for`, and the wait is stored with it in one commit, so that a restart
    /// neither loses it nor sends its request again.
    pub async fn park(&self, op: Operation, wait: Wait) -> Result<(), CoreError> {
        let id = op.id;
        let bytes = wait.encode();
        let waiting_for = wait.waiting_for.clone();
        {
            let mut st = self.state();
            st.forget(id, Some(&op.device));
            st.held.insert(id);
            st.by_correlator.insert((op.device.clone(), wait.correlator.clone()), id);
            let now = self.handle.monotonic();
            st.parked.insert(id, Parked { op, wait, last_progress: now, last_report: None });
        }
        self.handle.operation_waiting(id, waiting_for, Some(bytes)).await
    }

    /// The device reported on a parked operation's step (`report` in words, kept for a stall
    /// error): its no-progress timer starts again.
    pub fn progressed(&self, device: &DeviceId, correlator: &Correlator, report: impl Into<String>) {
        let now = self.handle.monotonic();
        let mut st = self.state();
        let Some(id) = st.by_correlator.get(&(device.clone(), correlator.clone())).copied() else { return };
        if let Some(p) = st.parked.get_mut(&id) {
            p.last_progress = now;
            p.last_report = Some(report.into());
        }
    }

    /// Takes the operation of `device` parked on `correlator` off its wait: the message that
    /// answers it came. `None` when nothing waits for it (a duplicate, or a late answer).
    pub fn wake(&self, device: &DeviceId, correlator: &Correlator) -> Option<Woken> {
        self.state().unpark(&(device.clone(), correlator.clone()))
    }

    /// The waits of `device` whose correlator satisfies `pred` (e.g. every wait for a
    /// `DIAGNOSTICS COMPLETE`), taken off as [`Delivery::wake`] does.
    /// Only that device's waits are looked at (the index by correlator is ordered by device
    /// first), not every parked operation: a CPE's session does this for each message.
    pub fn wake_all(&self, device: &DeviceId, pred: impl Fn(&Wait) -> bool) -> Vec<Woken> {
        let mut st = self.state();
        let from = (device.clone(), Correlator(String::new()));
        let keys: Vec<(DeviceId, Correlator)> = st
            .by_correlator
            .range(from..)
            .take_while(|((d, _), _)| d == device)
            .filter(|(_, id)| st.parked.get(id).is_some_and(|p| pred(&p.wait)))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|key| st.unpark(key)).collect()
    }

    /// The wait an operation is parked on, if it is.
    pub fn wait_of(&self, id: OperationId) -> Option<Wait> {
        self.state().parked.get(&id).map(|p| p.wait.clone())
    }

    /// Forgets an operation that was cancelled, expired or ended; answers whether it was held.
    pub fn forget(&self, id: OperationId) -> bool {
        self.state().forget(id, None).is_some()
    }

    /// [`Delivery::forget`] of an operation on `device` (as an adapter's `cancel` is told):
    /// only that device's queue is looked through.
    pub fn forget_on(&self, id: OperationId, device: &DeviceId) -> bool {
        self.state().forget(id, Some(device)).is_some()
    }

    /// Whether the delivery holds the operation (queued, sent or parked).
    pub fn holds(&self, id: OperationId) -> bool {
        self.state().held.contains(&id)
    }

    /// `device` can be reached now (it registered, opened a session): wakes whatever waits in
    /// [`Delivery::until_reachable`] for it, and only that.
    pub fn reachable(&self, device: &DeviceId) {
        let waker = self.state().wakers.remove(device);
        if let Some(w) = waker {
            w.notify_waiters();
        }
    }

    /// Waits until [`Delivery::reachable`] is called for `device` or an operation is queued
    /// for it, whichever comes first. Check the condition you wait for after this returns.
    pub async fn until_reachable(&self, device: &DeviceId) {
        let waker = self.state().wakers.entry(device.clone()).or_insert_with(|| Arc::new(Notify::new())).clone();
        waker.notified().await;
    }

    /// Fails every parked operation whose device reported nothing within its wait's
    /// no-progress limit, naming the step and what the device last reported; answers those
    /// operations (with the wait they were on), so that the adapter can move what it shows of
    /// them, such as a firmware snapshot, to failed.
    pub async fn check_stalls(&self) -> Vec<Stalled> {
        let now = self.handle.monotonic();
        let stalled: Vec<Stalled> = {
            let mut st = self.state();
            let ids: Vec<OperationId> = st
                .parked
                .iter()
                .filter(|(_, p)| {
                    p.wait
                        .stall_after_ms
                        .is_some_and(|l| now.saturating_sub(p.last_progress) >= Duration::from_millis(l))
                })
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| {
                    let p = st.parked.get(&id)?;
                    let limit = Duration::from_millis(p.wait.stall_after_ms.unwrap_or_default());
                    let last = p.last_report.as_deref().map_or_else(String::new, |r| format!("; last reported: {r}"));
                    let error = OperationError::new(
                        ErrorKind::Stalled,
                        format!("no progress for {} while {}{last}", human(limit), p.wait.waiting_for),
                    );
                    let (op, wait) = (p.op.clone(), p.wait.clone());
                    st.forget(id, Some(&op.device));
                    Some(Stalled { op, wait, error })
                })
                .collect()
        };
        for s in &stalled {
            let id = s.op.id;
            tracing::warn!(operation = %id, error = %s.error.message, "operation stalled");
            if let Err(e) = self.handle.operation_failed(id, s.error.clone()).await {
                tracing::debug!(operation = %id, error = %e, "stalled operation had already ended");
            }
        }
        stalled
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else if s > 0 {
        format!("{s} s")
    } else {
        format!("{} ms", d.as_millis())
    }
}
